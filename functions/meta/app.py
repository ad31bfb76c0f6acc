"""API documents: GET /catalog (every action and trigger with its input JSON Schema),
GET /openapi.json (the whole API, OpenAPI 3) and GET /docs (Swagger UI)."""

from sfconnector.api.app import build_lambda_handler
from sfconnector.api.meta import build_meta_app

app = build_meta_app()
lambda_handler = build_lambda_handler(app)
