"""Attachments: list a record's attachment ids, get content, add from base64 or a URL; feed comments."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("attachments")
lambda_handler = build_lambda_handler(app)
