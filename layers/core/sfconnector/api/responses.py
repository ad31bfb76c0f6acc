"""The JSON answer of the connections and subscriptions routes (never cached: connection state)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from pydantic import BaseModel

__all__ = ["json_response"]


def json_response(status: int, payload: BaseModel | list[Any] | dict[str, Any]) -> Response[str]:
    body = (
        payload.model_dump_json()
        if isinstance(payload, BaseModel)
        else json.dumps(payload, separators=(",", ":"), default=str)
    )
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={"Cache-Control": "no-store"},
    )
