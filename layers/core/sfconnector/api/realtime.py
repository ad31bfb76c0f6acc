"""HTTP routes of a connection's real-time triggers (served by the connections function):
``PUT``/``GET``/``DELETE /connections/{connection_id}/realtime`` over
:class:`~sfconnector.triggers.realtime_setup.RealtimeSetupService` (docs/realtime.md).

Thin: the tenant check is the resolver's (``tenant_guard``: another tenant's connection is a 404),
the body is validated against :class:`~sfconnector.models.realtime_api.RealtimeInput`, errors go
through the one error mapping (``sfconnector.api.errors``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from sfconnector.api.responses import json_response as _json
from sfconnector.api.subscriptions import BASE, ConnectionId
from sfconnector.models.realtime_api import RealtimeDeleted, RealtimeInput, RealtimeSetupResult, RealtimeView
from sfconnector.runtime import get_runtime

if TYPE_CHECKING:
    from sfconnector.salesforce.client import SalesforceClient

__all__ = ["build_realtime_router"]

TAGS = ["Real-time triggers"]


def _client(connection_id: str) -> SalesforceClient:
    # The connections function reads connection secrets with its own role (as its describe and
    # subscription routes do); the tenant check is the resolver's guard.
    return get_runtime().salesforce(connection_id)


def _documented(status: int, description: str, model: type[BaseModel]) -> dict[int, Any]:
    from sfconnector.models import ErrorResponse  # documents only

    error = {"application/json": {"model": ErrorResponse}}
    return {
        status: {"description": description, "content": {"application/json": {"model": model}}},
        401: {"description": "The connection must be re-authorised in Salesforce", "content": error},
        403: {"description": "Salesforce refused the connection's user (permissions)", "content": error},
        404: {"description": "Unknown connection", "content": error},
        409: {
            "description": "The connection is not authorised yet, or the org cannot relay "
            "(`realtime_unavailable`: Salesforce's reason; nothing was left behind, polling goes on)",
            "content": error,
        },
        422: {"description": "Invalid request: the fields and problems are listed", "content": error},
        502: {"description": "Salesforce answered something unexpected", "content": error},
        503: {"description": "Salesforce or AWS is temporarily unavailable; retry", "content": error},
    }


def _resync(connection_id: str) -> None:
    """The poll schedule follows the realtime state (reconciliation interval when all is relayed)."""
    runtime = get_runtime()
    if runtime.manages_schedules:
        runtime.polling.sync_quietly(connection_id)


def build_realtime_router(*, documented: bool = True) -> Router:
    """The realtime routes. ``documented=False`` leaves out what only the OpenAPI document reads."""
    app = Router()  # type: ignore[no-untyped-call]

    def docs(status: int, summary: str, description: str, model: type[BaseModel]) -> dict[str, Any]:
        if not documented:
            return {}
        return {"summary": summary, "tags": TAGS, "responses": _documented(status, description, model)}

    @app.put(
        f"{BASE}/realtime",
        **docs(
            200,
            "Relay objects' changes in real time (Change Data Capture through Event Relay)",
            "Each step run, and per object: relayed, or on polling with the reason",
            RealtimeSetupResult,
        ),
    )
    def put_realtime(connection_id: ConnectionId, body: RealtimeInput) -> Response[str]:
        runtime = get_runtime()
        result = runtime.realtime_setup.put(connection_id, body, _client(connection_id))
        _resync(connection_id)
        return _json(HTTPStatus.OK, result)

    @app.get(
        f"{BASE}/realtime",
        **docs(
            200,
            "A connection's real-time setup, the relay's status and the org's event delivery usage",
            "The stored setup (null: none), EventRelayFeedback and the delivery allocation "
            "(two counted Salesforce calls)",
            RealtimeView,
        ),
    )
    def get_realtime(connection_id: ConnectionId) -> Response[str]:
        service = get_runtime().realtime_setup
        return _json(HTTPStatus.OK, service.get(connection_id, _client(connection_id)))

    @app.delete(
        f"{BASE}/realtime",
        **docs(
            200,
            "Tear the real-time setup down (its objects go back to polling)",
            "Each step (deleted, or absent when already gone)",
            RealtimeDeleted,
        ),
    )
    def delete_realtime(connection_id: ConnectionId) -> Response[str]:
        result = get_runtime().realtime_setup.delete(connection_id, _client(connection_id))
        _resync(connection_id)
        return _json(HTTPStatus.OK, result)

    return app
