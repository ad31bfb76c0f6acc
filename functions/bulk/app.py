"""Bulk jobs (Bulk API 2.0) on any object: ingest jobs, query jobs, their state, results and abort."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("bulk")
lambda_handler = build_lambda_handler(app)
