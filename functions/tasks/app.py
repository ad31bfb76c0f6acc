"""Tasks: create, update, delete and find Tasks (and get one by id)."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("tasks")
lambda_handler = build_lambda_handler(app)
