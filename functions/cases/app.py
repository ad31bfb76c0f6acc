"""Cases: create, update, delete and find Cases, add a CaseComment (and get a Case by id)."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("cases")
lambda_handler = build_lambda_handler(app)
