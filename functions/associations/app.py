"""Associations: Opportunity Contact Roles by id, and find all by a guarded SOQL condition."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("associations")
lambda_handler = build_lambda_handler(app)
