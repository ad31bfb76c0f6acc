"""Events: create, update, delete and find calendar Events (and get one by id)."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("events")
lambda_handler = build_lambda_handler(app)
