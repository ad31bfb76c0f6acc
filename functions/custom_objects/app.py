"""Custom objects: create, update, delete and get records of any *__c object the org has."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("custom_objects")
lambda_handler = build_lambda_handler(app)
