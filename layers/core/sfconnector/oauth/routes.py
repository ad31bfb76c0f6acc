"""HTTP routes of the connections function (Powertools REST resolver with request validation).

``GET /oauth/callback`` is public (the user's browser lands there from Salesforce) and answers
HTML; every other route is IAM-authorised and answers JSON, errors as ``{"error": {...}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from sfconnector.connections import ConnectionNotFoundError
from sfconnector.oauth.errors import ConnectionNeedsReauthError, ConnectionPendingError
from sfconnector.oauth.pages import SECURITY_HEADERS, CallbackPage
from sfconnector.oauth.service import (
    CallbackParams,
    ConnectionView,
    CreateConnectionRequest,
    DeletedConnection,
    InvalidFieldError,
    ObjectFields,
    ReauthorizeRequest,
    StartedAuthorization,
)
from sfconnector.oauth.wiring import connection_service, settings
from sfconnector.salesforce.errors import NotFoundError, SalesforceError
from sfconnector.tokens import ConnectionSecretNotFoundError

__all__ = ["callback_url_for", "connections_resolver"]

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/oauth/callback"


def _first_header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower() and value:
            return value.split(",")[0].strip()
    return None


def callback_url_for(event: APIGatewayProxyEvent) -> str | None:
    """This deployment's public ``/oauth/callback`` URL, as reached by the current request.

    ``OAUTH_CALLBACK_URL`` wins when set. Otherwise the request's own host (``domainName``, which is
    the custom domain when one is used) and the part of ``requestContext.path`` in front of the
    route (the stage, or a custom domain's base path) give the base URL.
    """
    configured = settings().callback_url
    if configured:
        return configured
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


def _json(status: int, model: BaseModel | dict[str, Any]) -> Response[str]:
    body = model.model_dump_json() if isinstance(model, BaseModel) else _dumps(model)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), default=str)


def _error(
    status: int,
    code: str,
    message: str,
    fields: list[str] | None = None,
    salesforce: list[dict[str, Any]] | None = None,
) -> Response[str]:
    payload: dict[str, Any] = {"code": code, "message": message, "fields": fields or []}
    if salesforce:
        payload["salesforce"] = salesforce
    return _json(status, {"error": payload})


def _validation_fields(errors: Any) -> list[str]:
    names: list[str] = []
    for error in errors or []:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        if loc:
            names.append(".".join(loc))
    return list(dict.fromkeys(names))


def _invalid_request(exc: RequestValidationError) -> Response[str]:
    errors = exc.errors()
    fields = _validation_fields(errors)
    detail = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('body', 'query', 'path')) or 'body'}: "
        f"{e.get('msg')}"
        for e in errors[:10]
    )
    return _error(422, "invalid_request", f"Invalid request: {detail}", fields)


def _invalid_field(exc: InvalidFieldError) -> Response[str]:
    return _error(422, "invalid_request", str(exc), [exc.field])


def _not_found(exc: ConnectionNotFoundError | ConnectionSecretNotFoundError) -> Response[str]:
    return _error(
        404, "connection_not_found", f"There is no connection {exc.connection_id!r}.", ["connection_id"]
    )


def _not_usable(exc: ConnectionNeedsReauthError | ConnectionPendingError) -> Response[str]:
    # Same status as the action functions give an unusable connection (sfconnector.api.errors).
    status = 401 if isinstance(exc, ConnectionNeedsReauthError) else 409
    return _error(status, exc.error_code.lower(), exc.message, ["connection_id"])


def _salesforce(exc: SalesforceError) -> Response[str]:
    items = [e.to_dict() for e in exc.errors]
    if isinstance(exc, NotFoundError):
        return _error(404, "not_found", exc.message, [], items)
    status = 503 if exc.status in (0, 503) else 502
    return _error(status, "salesforce_error", str(exc), [], items)


def _unexpected(exc: Exception) -> Response[str]:
    # The traceback goes to the logs only; the caller gets no internals.
    logger.error("Unhandled error: %s", type(exc).__name__, exc_info=exc)
    return _error(500, "internal_error", "Internal error. It has been logged.")


_ERROR_HANDLERS: list[tuple[Any, Callable[[Any], Response[str]]]] = [
    (RequestValidationError, _invalid_request),
    (InvalidFieldError, _invalid_field),
    ([ConnectionNotFoundError, ConnectionSecretNotFoundError], _not_found),
    ([ConnectionNeedsReauthError, ConnectionPendingError], _not_usable),
    (SalesforceError, _salesforce),
    (Exception, _unexpected),
]


@cache
def connections_resolver() -> APIGatewayRestResolver:
    """The resolver (routes only; the service behind it is built on the first request)."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.post("/connections")
    def create_connection(request: CreateConnectionRequest) -> Response[str]:
        started: StartedAuthorization = connection_service().create(
            request, default_redirect_uri=callback_url_for(app.current_event)
        )
        return _json(HTTPStatus.CREATED, started)

    @app.get("/connections")
    def list_connections() -> Response[str]:
        views: list[ConnectionView] = connection_service().list()
        return _json(HTTPStatus.OK, {"connections": [v.model_dump(mode="json") for v in views]})

    @app.get("/connections/<connection_id>")
    def get_connection(connection_id: str) -> Response[str]:
        return _json(HTTPStatus.OK, connection_service().get(connection_id))

    @app.delete("/connections/<connection_id>")
    def delete_connection(connection_id: str) -> Response[str]:
        deleted: DeletedConnection = connection_service().delete(connection_id)
        return _json(HTTPStatus.OK, deleted)

    @app.post("/connections/<connection_id>/reauthorize")
    def reauthorize_connection(connection_id: str, request: ReauthorizeRequest) -> Response[str]:
        started = connection_service().reauthorize(
            connection_id, request, default_redirect_uri=callback_url_for(app.current_event)
        )
        return _json(HTTPStatus.OK, started)

    @app.get("/connections/<connection_id>/objects/<sobject>/fields")
    def object_fields(connection_id: str, sobject: str) -> Response[str]:
        described: ObjectFields = connection_service().fields(connection_id, sobject)
        return _json(HTTPStatus.OK, described)

    @app.get(CALLBACK_PATH)
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
            page = connection_service().complete(params, callback_url=callback_url_for(event))
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
        return Response(
            status_code=page.status_code,
            content_type="text/html; charset=utf-8",
            body=page.render(),
            headers=dict(SECURITY_HEADERS),
        )

    for exc_class, handler in _ERROR_HANDLERS:
        app.exception_handler(exc_class)(handler)

    @app.not_found
    def _no_route(_exc: Exception) -> Response[str]:
        return _error(404, "route_not_found", "No such route.")

    return app
