"""Campaigns: add leads and contacts to Salesforce campaigns, remove them, list a campaign's members."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("campaigns")
lambda_handler = build_lambda_handler(app)
