"""Leads: create, update, delete, find and upsert Salesforce Leads (and get one by id)."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("leads")
lambda_handler = build_lambda_handler(app)
