"""HTTP routes of the connections function (Powertools REST resolver with request validation), over
the authorisation service (connect, callback) and the connection administration service.

``GET /oauth/callback`` is public (the user's browser lands there from Salesforce) and answers
HTML; every other route is IAM-authorised and answers JSON. Errors go through the one error
mapping of the API (``sfconnector.api.errors``): ``{"error": {...}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from pydantic import BaseModel

from sfconnector.api.app import PUBLIC_ROUTE, new_resolver
from sfconnector.api.responses import json_response as _json
from sfconnector.api.routing import ApiResolver
from sfconnector.api.tenancy import current_caller
from sfconnector.oauth.authorization import (
    CallbackParams,
    CreateConnectionRequest,
    ReauthorizeRequest,
    StartedAuthorization,
)
from sfconnector.oauth.pages import SECURITY_HEADERS, CallbackPage
from sfconnector.oauth.server import NewConnectionRequest
from sfconnector.oauth.service import ConnectionView, DeletedConnection, ObjectFields
from sfconnector.runtime import get_runtime

__all__ = ["CALLBACK_PATH", "build_connections_app", "build_connections_router", "callback_url_for"]

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/oauth/callback"


def _first_header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower() and value:
            return value.split(",")[0].strip()
    return None


def callback_url_for(event: BaseProxyEvent) -> str | None:
    """This deployment's public ``/oauth/callback`` URL, as reached by the current request.

    ``OAUTH_CALLBACK_URL`` wins when set. Otherwise the request's own host (``domainName``, which is
    the custom domain when one is used) and the part of ``requestContext.path`` in front of the
    route (the stage, or a custom domain's base path) give the base URL.
    """
    configured = get_runtime().connections_settings.callback_url
    if configured:
        return configured
    if not isinstance(event, APIGatewayProxyEvent):
        event = APIGatewayProxyEvent(event.raw_event)
    context = event.request_context
    domain = context.domain_name or _first_header(event.headers, "Host")
    if not domain:
        return None
    scheme = (_first_header(event.headers, "X-Forwarded-Proto") or "https").lower()
    if scheme not in ("http", "https"):
        scheme = "https"
    full_path = context.path or ""
    route_path = event.path or ""
    if full_path and route_path and full_path.endswith(route_path):
        base = full_path[: len(full_path) - len(route_path)]
    else:
        base = f"/{context.stage}" if context.stage else ""
    return f"{scheme}://{domain}{base.rstrip('/')}{CALLBACK_PATH}"


def _page(page: CallbackPage) -> Response[str]:
    return Response(
        status_code=page.status_code,
        content_type="text/html; charset=utf-8",
        body=page.render(),
        headers=dict(SECURITY_HEADERS),
    )


class ConnectionList(BaseModel):
    connections: list[ConnectionView]


def _documented(status: int, description: str, model: Any) -> dict[int, Any]:
    """OpenAPI responses of a route: its answer and the shared error shape."""
    from sfconnector.models import ErrorResponse  # documents only (see build_connections_router)

    error = {"application/json": {"model": ErrorResponse}}
    return {
        status: {"description": description, "content": {"application/json": {"model": model}}},
        401: {"description": "The connection must be re-authorised in Salesforce", "content": error},
        404: {"description": "Unknown connection", "content": error},
        409: {"description": "The connection is still pending (not authorised yet)", "content": error},
        422: {"description": "Invalid request: the fields and problems are listed", "content": error},
        502: {"description": "Salesforce answered something unexpected", "content": error},
        503: {"description": "Salesforce or AWS is temporarily unavailable; retry", "content": error},
    }


# Documented only (the service checks the name with its own message).
_SObjectName = Annotated[str, Path(json_schema_extra={"pattern": r"^[A-Za-z][A-Za-z0-9_]{0,119}$"})]

_PAGES: dict[int, str] = {
    200: "Connected: the page says which org and user.",
    400: "The callback's parameters are missing, malformed, expired or already used.",
    403: "The user denied access in Salesforce.",
    404: "The connection was deleted meanwhile.",
    409: "The connection is being completed by another callback.",
    500: "Something failed while finishing the connection (logged).",
    502: "Salesforce's token endpoint refused or failed.",
}


def _pages() -> dict[int, Any]:
    """The callback's answers: an HTML page whatever happened (the browser shows it)."""
    html = {"text/html": {"schema": {"type": "string"}}}
    return {status: {"description": text, "content": html} for status, text in _PAGES.items()}


def build_connections_app() -> ApiResolver:
    """The function's resolver (routes only; the service behind it is built on the first request)."""
    from sfconnector.api.realtime import build_realtime_router
    from sfconnector.api.subscriptions import build_subscriptions_router

    app = new_resolver()
    app.include_router(build_connections_router(documented=False))
    app.include_router(build_subscriptions_router(documented=False))
    app.include_router(build_realtime_router(documented=False))
    return app


def build_connections_router(*, documented: bool = True) -> Router:
    """The connections routes, also for the API-wide OpenAPI document.

    ``documented=False`` leaves the response models out: only the OpenAPI document (served by the
    meta function) reads them, and Powertools would build a validator for each one of a route on
    its first request.
    """
    app = Router()  # type: ignore[no-untyped-call]

    def docs(status: int, description: str, model: Any) -> dict[int, Any] | None:
        return _documented(status, description, model) if documented else None

    @app.post(
        "/connections",
        summary="Connect a Salesforce org (web_server: returns authorize_url; jwt_bearer, "
        "client_credentials: connected at once)",
        responses=docs(
            201,
            "web_server: the connection (pending) and the URL to send the user to; jwt_bearer and "
            "client_credentials: the connection, connected",
            StartedAuthorization | ConnectionView,
        ),
    )
    def create_connection(request: Annotated[NewConnectionRequest, Body()]) -> Response[str]:
        if not isinstance(request, CreateConnectionRequest):
            view = get_runtime().server_connections.create(request, tenant_id=current_caller().tenant_id)
            return _json(HTTPStatus.CREATED, view)
        started = get_runtime().authorization.create(
            request,
            tenant_id=current_caller().tenant_id,
            default_redirect_uri=callback_url_for(app.current_event),
        )
        return _json(HTTPStatus.CREATED, started)

    @app.get(
        "/connections",
        summary="List connections",
        responses=docs(200, "The caller's connections (the admin principal: every one)", ConnectionList),
    )
    def list_connections() -> Response[str]:
        connections = get_runtime().connection_admin.list(current_caller())
        return _json(HTTPStatus.OK, ConnectionList(connections=connections))

    @app.get(
        "/connections/<connection_id>",
        summary="A connection's status, org, user and API usage",
        responses=docs(200, "The connection (never a token)", ConnectionView),
    )
    def get_connection(connection_id: str) -> Response[str]:
        return _json(HTTPStatus.OK, get_runtime().connection_admin.get(connection_id))

    @app.delete(
        "/connections/<connection_id>",
        summary="Revoke at Salesforce and delete everything",
        responses=docs(200, "Deleted; whether Salesforce confirmed the revocation", DeletedConnection),
    )
    def delete_connection(connection_id: str) -> Response[str]:
        return _json(HTTPStatus.OK, get_runtime().connection_admin.delete(connection_id))

    @app.post(
        "/connections/<connection_id>/reauthorize",
        summary="Authorise a connection again (server-to-server: run its grant again)",
        responses=docs(
            200,
            "web_server: a new authorize_url; jwt_bearer and client_credentials: the connection, "
            "connected again",
            StartedAuthorization | ConnectionView,
        ),
    )
    def reauthorize_connection(connection_id: str, request: ReauthorizeRequest) -> Response[str]:
        runtime = get_runtime()
        if runtime.connection_admin.get(connection_id).flow != "web_server":
            view = runtime.server_connections.reconnect(connection_id, client_secret=request.client_secret)
            return _json(HTTPStatus.OK, view)
        started = runtime.connection_admin.reauthorize(
            connection_id, request, default_redirect_uri=callback_url_for(app.current_event)
        )
        return _json(HTTPStatus.OK, started)

    @app.get(
        "/connections/<connection_id>/objects/<sobject>/fields",
        summary="The fields of an sObject for mapping UIs (cached describe)",
        responses=docs(200, "The object's fields", ObjectFields),
    )
    def object_fields(connection_id: str, sobject: _SObjectName) -> Response[str]:
        return _json(HTTPStatus.OK, get_runtime().connection_admin.fields(connection_id, sobject))

    @app.get(
        CALLBACK_PATH,
        summary="OAuth callback (public; answers an HTML page)",
        openapi_extensions=PUBLIC_ROUTE,
        responses=_pages() if documented else None,
    )
    def oauth_callback() -> Response[str]:
        event = app.current_event
        query = event.query_string_parameters or {}
        params = CallbackParams(
            state=query.get("state") or None,
            code=query.get("code") or None,
            error=query.get("error") or None,
            error_description=query.get("error_description") or None,
        )
        try:
            page = get_runtime().authorization.complete(params, callback_url=callback_url_for(event))
        except Exception as exc:  # the browser gets a page, never a JSON error or a stack trace
            logger.error("OAuth callback failed: %s", type(exc).__name__, exc_info=exc)
            page = CallbackPage(
                ok=False,
                status_code=500,
                title="Salesforce connection failed",
                message="Something went wrong while finishing the connection.",
                reason="internal_error",
                hint="Try again in a moment; if it keeps failing, the connector's logs say why.",
            )
        return _page(page)

    return app
