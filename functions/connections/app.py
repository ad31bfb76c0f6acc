"""Connections: OAuth connect and callback, connection status and deletion, object describes."""

from sfconnector.api.app import build_lambda_handler
from sfconnector.api.connections import build_connections_app

app = build_connections_app()
lambda_handler = build_lambda_handler(app)
