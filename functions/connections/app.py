"""Connections: OAuth connect and callback, connection status and deletion, object describes."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from sfconnector.oauth.routes import connections_resolver


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return connections_resolver().resolve(event, context)
