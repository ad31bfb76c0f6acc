"""Any object: create, get, update, delete, upsert, find many and batch writes of any sObject the
org has (Campaign, User, Order, Pricebook2, ...), validated against its describe."""

from sfconnector.api.app import build_family_app, build_lambda_handler

app = build_family_app("objects")
lambda_handler = build_lambda_handler(app)
