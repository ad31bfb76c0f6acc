"""THE error mapping of the API: every failure becomes one JSON shape with the right status.

``{"error": {"code", "message", "fields", "salesforce": [...], "details"?}}``

* ``code``: stable, machine-readable (``validation_failed``, ``not_found``, ``ambiguous_match``...);
* ``message``: for the person building the workflow (names the field, says what is allowed);
* ``fields``: the fields (or parameters) the error is about;
* ``salesforce``: Salesforce's own error items (``errorCode``, ``message``, ``fields``) when
  Salesforce reported it;
* ``details``: extra data when there is some (``problems`` per field, ``candidate_ids`` of a 409).

:func:`register_error_handlers` installs one Powertools ``exception_handler`` per exception
family on a resolver. The catch-all logs the exception with the request id and answers a generic
500 without internals: no stack trace and no token ever reaches a caller.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from sfconnector.actions.errors import ActionError, AmbiguousMatchError
from sfconnector.salesforce.errors import (
    AuthorizationRevokedError,
    MultipleMatchesError,
    OAuthError,
    SalesforceError,
    SalesforceTransportError,
    SessionExpiredError,
    redact,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

__all__ = [
    "ERROR_STATUS",
    "SALESFORCE_CODES",
    "ApiErrorSpec",
    "error_body",
    "error_response",
    "map_exception",
    "method_not_allowed",
    "register_error_handlers",
]

logger = logging.getLogger(__name__)

JSON = "application/json"


@dataclass(frozen=True)
class ApiErrorSpec:
    """What the caller receives for one failure."""

    status: int
    code: str
    message: str
    fields: tuple[str, ...] = ()
    salesforce: tuple[dict[str, Any], ...] = ()
    details: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None


def error_body(spec: ApiErrorSpec) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": spec.code,
        "message": spec.message,
        "fields": list(spec.fields),
        "salesforce": list(spec.salesforce),
    }
    if spec.details:
        error["details"] = dict(spec.details)
    return {"error": error}


def error_response(spec: ApiErrorSpec) -> Response[str]:
    headers = {"Cache-Control": "no-store", **(spec.headers or {})}
    return Response(
        status_code=spec.status,
        content_type=JSON,
        body=json.dumps(error_body(spec), separators=(",", ":"), default=str),
        headers=headers,
    )


# ------------------------------------------------------------------------------ our own errors

ERROR_STATUS: dict[str, int] = {
    "validation_failed": 422,
    "invalid_input": 422,
    "not_found": 404,
    "sobject_not_found": 404,
    "connection_not_found": 404,
    "connection_needs_reauth": 401,
    "ambiguous_match": 409,
}
"""HTTP status of each :class:`~sfconnector.actions.errors.ActionError` code."""


def _action_error(exc: ActionError) -> ApiErrorSpec:
    status = getattr(exc, "status", None) or ERROR_STATUS.get(exc.code, 422)
    return ApiErrorSpec(int(status), exc.code, exc.message, tuple(exc.fields), details=exc.details)


# -------------------------------------------------------------------------- Salesforce's errors

_REJECTED = "rejected_by_salesforce"
SALESFORCE_CODES: dict[str, tuple[int, str]] = {
    # The record's data: Salesforce refused it (validation rules, types, references...).
    **{
        code: (422, _REJECTED)
        for code in (
            "REQUIRED_FIELD_MISSING",
            "INVALID_FIELD",
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "INVALID_FIELD_WHEN_USING_TEMPLATE",
            "STRING_TOO_LONG",
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "FIELD_FILTER_VALIDATION_EXCEPTION",
            "FIELD_INTEGRITY_EXCEPTION",
            "INVALID_EMAIL_ADDRESS",
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "INVALID_CROSS_REFERENCE_KEY",
            "INVALID_ID_FIELD",
            "MALFORMED_ID",
            "JSON_PARSER_ERROR",
            "CANNOT_UPDATE_CONVERTED_LEAD",
            "CIRCULAR_DEPENDENCY",
            "STANDARD_PRICE_NOT_DEFINED",
            "FIELD_INTEGRITY_EXCEPTION",
            "INVALID_INPUT",
            "INVALID_OPERATION",
            "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
            "DELETE_FAILED",
            "ENTITY_FAILED_IFLASTMODIFIED_ON_UPDATE",
            "STORAGE_LIMIT_EXCEEDED",
        )
    },
    "MALFORMED_QUERY": (400, "invalid_query"),
    "INVALID_QUERY_FILTER_OPERATOR": (400, "invalid_query"),
    "INVALID_QUERY_LOCATOR": (400, "invalid_query"),
    "NOT_FOUND": (404, "not_found"),
    "ENTITY_IS_DELETED": (404, "not_found"),
    "INVALID_TYPE": (404, "sobject_not_found"),
    "DUPLICATE_VALUE": (409, "duplicate"),
    "DUPLICATES_DETECTED": (409, "duplicate"),
    "DUPLICATE_EXTERNAL_ID": (409, "ambiguous_match"),
    "MULTIPLE_CHOICES": (409, "ambiguous_match"),
    "ENTITY_IS_LOCKED": (409, "record_locked"),
    "MAXIMUM_SIZE_OF_ATTACHMENT": (413, "payload_too_large"),
    "EXCEEDED_MAX_SIZE_REQUEST": (413, "payload_too_large"),
    "REQUEST_LIMIT_EXCEEDED": (429, "salesforce_rate_limited"),
    "INSUFFICIENT_ACCESS_OR_READONLY": (403, "salesforce_forbidden"),
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": (403, "salesforce_forbidden"),
    "INSUFFICIENT_ACCESS": (403, "salesforce_forbidden"),
    "API_DISABLED_FOR_ORG": (403, "salesforce_forbidden"),
    "API_CURRENTLY_DISABLED": (403, "salesforce_forbidden"),
    "FUNCTIONALITY_NOT_ENABLED": (403, "salesforce_forbidden"),
    "INVALID_SESSION_ID": (401, "connection_needs_reauth"),
    "UNABLE_TO_LOCK_ROW": (503, "salesforce_busy"),
    "SERVER_UNAVAILABLE": (503, "salesforce_unavailable"),
    "UNEXPECTED_RESPONSE": (502, "salesforce_bad_response"),
}
"""Salesforce ``errorCode`` -> (HTTP status, our code)."""

_MESSAGES: dict[str, str] = {
    "salesforce_rate_limited": "The Salesforce org has used up its API request allowance; retry later "
    "(the allowance is rolling over 24 hours).",
    "connection_needs_reauth": "Salesforce no longer accepts this connection's authorisation; reconnect it.",
    "salesforce_unavailable": "Salesforce is temporarily unavailable; retry shortly.",
    "salesforce_busy": "Salesforce could not lock the record (another update is running); retry shortly.",
    "salesforce_bad_response": "Salesforce returned a response the connector could not read.",
}


def _salesforce_error(exc: SalesforceError) -> ApiErrorSpec:
    items = tuple(item.to_dict() for item in exc.errors)
    if isinstance(exc, AuthorizationRevokedError):
        status, code = 401, "connection_needs_reauth"
    elif isinstance(exc, OAuthError):
        status, code = 502, "salesforce_auth_failed"
    elif isinstance(exc, SessionExpiredError):
        status, code = 401, "connection_needs_reauth"
    elif isinstance(exc, SalesforceTransportError):
        status, code = 503, "salesforce_unreachable"
    elif isinstance(exc, MultipleMatchesError):
        status, code = 409, "ambiguous_match"
    elif exc.error_code in SALESFORCE_CODES:
        status, code = SALESFORCE_CODES[exc.error_code]
    elif exc.status == 404:
        status, code = 404, "not_found"
    elif exc.status in (401, 403):
        status, code = (
            exc.status,
            ("connection_needs_reauth" if exc.status == 401 else "salesforce_forbidden"),
        )
    elif exc.status == 503 or exc.status == 0:
        status, code = 503, "salesforce_unavailable"
    elif exc.status >= 500:
        status, code = 502, "salesforce_error"
    else:
        status, code = 422, _REJECTED
    message = _MESSAGES.get(code) or exc.message
    if code == _REJECTED or code in ("not_found", "duplicate", "invalid_query", "salesforce_forbidden"):
        message = f"Salesforce: {exc.message}"
    details: dict[str, Any] | None = None
    if isinstance(exc, MultipleMatchesError):
        details = {"candidate_ids": exc.candidate_ids}
    headers = {"Retry-After": "5"} if status == 503 else None
    return ApiErrorSpec(status, code, message, tuple(exc.fields), items, details, headers)


# ------------------------------------------------------------------------ request validation

# Pydantic reports a failed union member by member ("str", "int"...): collapse those.
_UNION_TAGS = frozenset({"str", "bool", "int", "float", "none", "[key]", "function-after", "constrained-str"})


def _field_path(loc: Sequence[Any]) -> tuple[str, str]:
    """(source, field path) of a pydantic error location like ("body", "criteria", "Email", "str")."""
    source = str(loc[0]) if loc else "body"
    parts = [str(p) for p in loc[1:] if str(p) not in _UNION_TAGS and not str(p).startswith("function-")]
    return source, ".".join(parts)


def _validation_problems(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    problems: dict[str, dict[str, str]] = {}
    for error in errors:
        loc = tuple(error.get("loc") or ())
        kind = str(error.get("type") or "invalid")
        source, path = _field_path(loc)
        if kind == "json_invalid":
            problems["body"] = {
                "field": "body",
                "code": "invalid_json",
                "message": "The body is not valid JSON.",
            }
            continue
        if kind == "missing" and not path:
            name = "body" if source == "body" else source
            problems[name] = {"field": name, "code": "missing", "message": "A JSON body is required."}
            continue
        name = path or source
        if kind == "too_short" and name == "body":
            problems[name] = {
                "field": "body",
                "code": "empty",
                "message": "The body must contain at least one field.",
            }
            continue
        if len(loc) > 1 and str(loc[-1]) == "[key]":
            message = f"{name!r} is not a valid field name (letters, digits and underscores)"
            problems[name] = {"field": name, "code": "invalid_field_name", "message": message}
            continue
        if name in problems and kind.endswith("_type"):
            # One value failed every member of a union: it is not a JSON scalar.
            problems[name] = {
                "field": name,
                "code": "wrong_type",
                "message": f"{name} must be text, a number, a boolean or null",
            }
            continue
        text = str(error.get("msg") or kind)
        problems.setdefault(name, {"field": name, "code": kind, "message": f"{name}: {text}"})
    return list(problems.values())


def _request_validation(exc: RequestValidationError) -> ApiErrorSpec:
    problems = _validation_problems(exc.errors())
    fields = tuple(dict.fromkeys(p["field"] for p in problems))
    summary = "; ".join(p["message"] for p in problems[:10])
    return ApiErrorSpec(
        422, "invalid_request", f"Invalid request: {summary}", fields, details={"problems": problems}
    )


# ------------------------------------------------------------------------- everything together


def _optional_mappers(exc: Exception) -> ApiErrorSpec | None:
    """Errors of modules that may not be loaded in every function (imported only when present)."""
    import sys

    urlfetch = sys.modules.get("sfconnector.urlfetch")
    if urlfetch is not None and isinstance(exc, urlfetch.UrlFetchError):
        status = int(getattr(exc, "status", 422))
        code = str(getattr(exc, "code", "url_fetch_failed")).lower()
        field = getattr(exc, "field", None)
        return ApiErrorSpec(
            status, code, redact(str(getattr(exc, "message", exc))), (field,) if field else ()
        )
    condition = sys.modules.get("sfconnector.salesforce.condition")
    if condition is not None and isinstance(exc, condition.ConditionError):
        # The find-all guard refused the user's SOQL condition (422 naming the problem).
        return ApiErrorSpec(int(exc.status), str(exc.code), str(exc.message), (str(exc.field),))
    idempotency = sys.modules.get("aws_lambda_powertools.utilities.idempotency.exceptions")
    if idempotency is not None:
        if isinstance(exc, idempotency.IdempotencyAlreadyInProgressError):
            return ApiErrorSpec(
                409,
                "idempotency_in_progress",
                "A request with this Idempotency-Key is still running; retry after it finishes.",
                ("Idempotency-Key",),
                headers={"Retry-After": "2"},
            )
        if isinstance(exc, idempotency.IdempotencyValidationError):
            return ApiErrorSpec(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was already used with a different request body; use a new key.",
                ("Idempotency-Key",),
            )
        if isinstance(exc, idempotency.IdempotencyPersistenceLayerError):
            return ApiErrorSpec(
                503,
                "idempotency_store_unavailable",
                "The idempotency store is unavailable; retry shortly.",
                headers={"Retry-After": "2"},
            )
    connections = sys.modules.get("sfconnector.connections")
    if connections is not None and isinstance(exc, connections.ConnectionNotFoundError):
        return _action_error(_connection_not_found(exc))
    tokens = sys.modules.get("sfconnector.tokens")
    if tokens is not None and isinstance(exc, tokens.ConnectionSecretNotFoundError):
        return _action_error(_connection_not_found(exc))
    settings = sys.modules.get("sfconnector.settings")
    if settings is not None and isinstance(exc, settings.SettingsError):
        logger.error("Configuration error: %s", exc)
        return ApiErrorSpec(
            500, "configuration_error", "The connector is not configured correctly; see its logs."
        )
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None and isinstance(exc, botocore.BotoCoreError | botocore.ClientError):
        logger.error("AWS call failed: %s", redact(str(exc)))
        return ApiErrorSpec(
            503, "aws_unavailable", "An AWS service the connector needs failed; retry shortly.",
            headers={"Retry-After": "2"},
        )  # fmt: skip
    return None


def _connection_not_found(exc: Exception) -> ActionError:
    from sfconnector.actions.errors import ConnectionNotFoundError

    return ConnectionNotFoundError(str(getattr(exc, "connection_id", "?")))


_BODY_PARSER = "aws_lambda_powertools.event_handler.middlewares.openapi_validation"


def _unreadable_body(exc: Exception) -> bool:
    """A ValueError of Powertools' body parsing: a Content-Type it cannot read the body as (a
    multipart type without its boundary...)."""
    if not isinstance(exc, ValueError) or isinstance(exc, RequestValidationError):
        return False
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and frame.tb_frame.f_globals.get("__name__") == _BODY_PARSER


def map_exception(exc: Exception, *, request_id: str | None = None) -> ApiErrorSpec:
    """The caller's view of any exception (the catch-all logs what it cannot classify)."""
    if isinstance(exc, AmbiguousMatchError | ActionError):
        return _action_error(exc)
    if isinstance(exc, SalesforceError):
        return _salesforce_error(exc)
    if isinstance(exc, RequestUnsupportedContentType) or _unreadable_body(exc):
        return ApiErrorSpec(
            415, "unsupported_media_type", "The body must be JSON (Content-Type: application/json).",
            ("Content-Type",),
        )  # fmt: skip
    if isinstance(exc, RequestValidationError):
        return _request_validation(exc)
    if isinstance(exc, RouteNotFoundError):
        return ApiErrorSpec(404, "route_not_found", "No such route; see GET /openapi.json for the API.")
    if isinstance(exc, ServiceError):
        status = int(exc.status_code)
        message = exc.msg if isinstance(exc.msg, str) else HTTPStatus(status).phrase
        return ApiErrorSpec(status, HTTPStatus(status).phrase.lower().replace(" ", "_"), message)
    optional = _optional_mappers(exc)
    if optional is not None:
        return optional
    reference = f" (reference {request_id})" if request_id else ""
    # The exception (with its traceback) goes to the logs only; the caller learns nothing internal.
    logger.error("Unhandled error%s: %s", reference, type(exc).__name__, exc_info=exc)
    return ApiErrorSpec(500, "internal_error", f"Internal error{reference}. It has been logged.")


def method_not_allowed(method: str, allowed: Sequence[str]) -> ApiErrorSpec:
    """405 for a known path asked with another method; ``Allow`` lists the path's methods."""
    listed = ", ".join(allowed)
    return ApiErrorSpec(
        405,
        "method_not_allowed",
        f"{method} is not allowed here; this path accepts {listed}. See GET /openapi.json for the API.",
        headers={"Allow": listed},
    )


def _not_allowed(app: ApiGatewayResolver) -> ApiErrorSpec | None:
    """The 405 for the current request when its path is a route's but its method is not (None:
    no route has this path). Powertools answers an unmatched method like an unknown path, so the
    routes it matched against are asked again, with its own path handling (prefixes stripped)."""
    try:
        method = app.current_event.http_method.upper()
        path = app._remove_prefix(app.current_event.path)
        routes = [*app._static_routes, *app._dynamic_routes]
    except Exception:  # an event without a method or path: nothing to offer
        return None
    allowed = _methods_of(routes, path)
    if not allowed or method in allowed:
        return None
    return method_not_allowed(method, allowed)


def _methods_of(routes: Sequence[Any], path: str, *, fixed_only: bool = False) -> list[str]:
    """The methods of the routes matching ``path``; a path that is another operation's fixed path
    (``.../accounts/find``) has only that operation's methods, not those of ``{record_id}``."""
    matching = [route for route in routes if route.rule.match(path)]
    fixed = [route for route in matching if not route.path.rsplit("/", 1)[-1].startswith("<")]
    return sorted({route.method for route in (fixed if fixed or fixed_only else matching)})


def _shadowed(app: ApiGatewayResolver) -> ApiErrorSpec | None:
    """The 405 for a method on another operation's fixed path (``GET .../accounts/find``): the
    ``{record_id}`` route matched it and failed, but no record id is ever ``find``."""
    try:
        method = app.current_event.http_method.upper()
        path = app._remove_prefix(app.current_event.path)
        routes = [*app._static_routes, *app._dynamic_routes]
    except Exception:  # an event without a method or path: nothing to offer
        return None
    allowed = _methods_of(routes, path, fixed_only=True)
    if not allowed or method in allowed:
        return None
    return method_not_allowed(method, allowed)


def register_error_handlers(app: ApiGatewayResolver) -> None:
    """Install the mapping on a resolver: one handler for everything, most specific first."""

    def _request_id() -> str | None:
        try:
            context = app.current_event.raw_event.get("requestContext") or {}
            request_id = context.get("requestId")
            return str(request_id) if request_id else None
        except Exception:  # an event without a request context must still get its answer
            return None

    def handle(exc: Exception) -> Response[str]:
        spec = map_exception(exc, request_id=_request_id())
        if isinstance(exc, RouteNotFoundError):
            spec = _not_allowed(app) or spec
        elif 400 <= spec.status < 500:
            spec = _shadowed(app) or spec
        if spec.status >= 500:
            logger.warning("Answered %d %s", spec.status, spec.code)
        return error_response(spec)

    app.exception_handler(RequestValidationError)(handle)
    app.exception_handler(RouteNotFoundError)(handle)
    app.exception_handler(ServiceError)(handle)
    app.exception_handler(ActionError)(handle)
    app.exception_handler(SalesforceError)(handle)
    app.exception_handler(Exception)(handle)
