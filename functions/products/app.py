"""Products: create, update, delete and find Product2 records (and get one by id)."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("products")
lambda_handler = build_lambda_handler(app)
