"""Files: Salesforce Files (ContentVersion) added to records, listed, read, versioned."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("files")
lambda_handler = build_lambda_handler(app)
