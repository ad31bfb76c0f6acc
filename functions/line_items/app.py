"""Line items: create, update, delete and find OpportunityLineItems (and get one by id)."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("line_items")
lambda_handler = build_lambda_handler(app)
