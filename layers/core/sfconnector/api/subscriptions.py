"""HTTP routes of trigger subscriptions and a connection's polling (served by the connections function).

Thin: each route parses the request (Powertools validates the body against the pydantic model)
and calls one method of :class:`~sfconnector.triggers.subscriptions.SubscriptionService`; errors
go through the API's one error mapping (``sfconnector.api.errors``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel

from sfconnector.api.responses import json_response as _json
from sfconnector.models import CONNECTION_ID_PATTERN
from sfconnector.models.subscriptions import (
    DEFAULT_PAGE_SIZE,
    DEMO_SUBSCRIPTION_ID,
    MAX_PAGE_SIZE,
    MAX_SAMPLE,
    SUBSCRIPTION_ID_PATTERN,
    DeletedSubscription,
    PollingSettingsInput,
    PollingView,
    SampleEvents,
    Subscription,
    SubscriptionCreate,
    SubscriptionList,
    SubscriptionPatch,
)
from sfconnector.runtime import get_runtime

if TYPE_CHECKING:
    from sfconnector.triggers.subscriptions import SubscriptionService

__all__ = ["build_subscriptions_router"]

BASE = "/connections/<connection_id>"
TAGS = ["Subscriptions"]

# The ids' formats are documented, not enforced by the request validation: the service answers an
# id that could never exist as not found (404), like a well-formed id that does not exist.
ConnectionId = Annotated[
    str,
    Path(
        description="The connection (Salesforce org and user).",
        json_schema_extra={"pattern": CONNECTION_ID_PATTERN},
    ),
]
SubscriptionId = Annotated[
    str,
    Path(
        description="The subscription (32 lowercase hex digits).",
        json_schema_extra={"pattern": SUBSCRIPTION_ID_PATTERN, "examples": [DEMO_SUBSCRIPTION_ID]},
    ),
]


def _service() -> SubscriptionService:
    # The service (and the catalog, describe checks, schedules behind it) loads with the first
    # subscriptions request, not with the connections function.
    return get_runtime().subscription_service


def _documented(status: int, description: str, model: type[BaseModel] | None) -> dict[int, Any]:
    from sfconnector.models import ErrorResponse  # documents only (see build_subscriptions_router)

    error = {"application/json": {"model": ErrorResponse}}
    answer: dict[str, Any] = {"description": description}
    if model is not None:
        answer["content"] = {"application/json": {"model": model}}
    return {
        status: answer,
        401: {"description": "The connection must be re-authorised in Salesforce", "content": error},
        404: {"description": "Unknown connection or subscription", "content": error},
        409: {
            "description": "The connection is not authorised yet, or has the most subscriptions allowed "
            "(subscription_limit_reached names the limit)",
            "content": error,
        },
        422: {"description": "Invalid request: the fields and problems are listed", "content": error},
        502: {"description": "Salesforce answered something unexpected", "content": error},
        503: {"description": "Salesforce or AWS is temporarily unavailable; retry", "content": error},
    }


def build_subscriptions_router(*, documented: bool = True) -> Router:
    """The subscriptions and polling routes. ``documented=False`` leaves out what only the
    OpenAPI document (the meta function's) reads."""
    app = Router()  # type: ignore[no-untyped-call]

    def docs(status: int, summary: str, description: str, model: type[BaseModel] | None) -> dict[str, Any]:
        if not documented:
            return {}
        return {"summary": summary, "tags": TAGS, "responses": _documented(status, description, model)}

    @app.post(
        f"{BASE}/subscriptions",
        **docs(201, "Subscribe to a trigger", "The subscription (its poll schedule exists)", Subscription),
    )
    def create_subscription(connection_id: ConnectionId, body: SubscriptionCreate) -> Response[str]:
        return _json(HTTPStatus.CREATED, _service().create(connection_id, body))

    @app.get(
        f"{BASE}/subscriptions",
        **docs(
            200,
            "List a connection's subscriptions",
            "A page of subscriptions, oldest first, and the next page's token",
            SubscriptionList,
        ),
    )
    def list_subscriptions(
        connection_id: ConnectionId,
        limit: Annotated[
            int,
            Query(ge=1, le=MAX_PAGE_SIZE, description=f"Subscriptions per page (at most {MAX_PAGE_SIZE})."),
        ] = DEFAULT_PAGE_SIZE,
        next_token: Annotated[
            str | None,
            Query(
                max_length=200,
                description="The next_token of the previous page (omit it for the first page).",
            ),
        ] = None,
    ) -> Response[str]:
        return _json(HTTPStatus.OK, _service().list(connection_id, limit, next_token))

    @app.get(
        f"{BASE}/subscriptions/<subscription_id>",
        **docs(200, "A subscription", "The subscription (with the poller's last error)", Subscription),
    )
    def get_subscription(connection_id: ConnectionId, subscription_id: SubscriptionId) -> Response[str]:
        return _json(HTTPStatus.OK, _service().get(connection_id, subscription_id))

    @app.patch(
        f"{BASE}/subscriptions/<subscription_id>",
        **docs(200, "Pause, resume or change a subscription", "The changed subscription", Subscription),
    )
    def update_subscription(
        connection_id: ConnectionId, subscription_id: SubscriptionId, body: SubscriptionPatch
    ) -> Response[str]:
        return _json(HTTPStatus.OK, _service().update(connection_id, subscription_id, body))

    @app.delete(
        f"{BASE}/subscriptions/<subscription_id>",
        **docs(
            200,
            "Delete a subscription",
            "Deleted (the last one also deletes the schedule)",
            DeletedSubscription,
        ),
    )
    def delete_subscription(connection_id: ConnectionId, subscription_id: SubscriptionId) -> Response[str]:
        return _json(HTTPStatus.OK, _service().delete(connection_id, subscription_id))

    @app.post(
        f"{BASE}/subscriptions/<subscription_id>/sample",
        **docs(
            200,
            "Sample events: the newest records that would fire it (published nowhere)",
            "The envelopes a subscriber would receive",
            SampleEvents,
        ),
    )
    def sample_subscription(
        connection_id: ConnectionId,
        subscription_id: SubscriptionId,
        limit: Annotated[int, Query(ge=1, le=MAX_SAMPLE, description="How many events at most.")] = 5,
    ) -> Response[str]:
        return _json(HTTPStatus.OK, _service().sample(connection_id, subscription_id, limit))

    @app.get(
        f"{BASE}/polling",
        **docs(200, "A connection's polling interval and schedule", "Interval and schedule", PollingView),
    )
    def get_polling(connection_id: ConnectionId) -> Response[str]:
        return _json(HTTPStatus.OK, _service().polling(connection_id))

    @app.put(
        f"{BASE}/polling",
        **docs(
            200, "Set a connection's polling interval (1-60 minutes)", "Interval and schedule", PollingView
        ),
    )
    def set_polling(connection_id: ConnectionId, body: PollingSettingsInput) -> Response[str]:
        return _json(HTTPStatus.OK, _service().set_polling(connection_id, body))

    return app
