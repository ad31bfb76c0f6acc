"""THE error mapping of the API: every failure becomes one JSON shape with the right status.

``{"error": {"code", "message", "fields", "salesforce": [...], "details"?}}``

The status is decided one way: every failure is classified into a :class:`~sfconnector.errors.Fault`
and answered with ``int(fault)``. The connector's own errors (:class:`~sfconnector.errors.ConnectorError`)
carry their fault and code; Salesforce's are classified by :data:`SALESFORCE_CODES` (its
``errorCode``) or by their type and HTTP status; Powertools' request validation and routing errors
are classified here too.

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

from sfconnector.api.bodies import MAX_PROBLEMS
from sfconnector.errors import ConnectorError, Fault
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
    from sfconnector.api.routing import ApiResolver

__all__ = [
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


def _spec(
    fault: Fault,
    code: str,
    message: str,
    fields: Sequence[str] = (),
    salesforce: Sequence[dict[str, Any]] = (),
    details: Mapping[str, Any] | None = None,
    retry_after: int | None = None,
) -> ApiErrorSpec:
    """THE place a status is chosen: the fault's. Problem lists are capped here too, so an error
    stays small whatever the request (the total is given beside the first ones)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    problems = (details or {}).get("problems")
    if isinstance(problems, list) and len(problems) > MAX_PROBLEMS:
        details = {**(details or {}), "problems": problems[:MAX_PROBLEMS], "problems_total": len(problems)}
    if len(fields) > MAX_PROBLEMS:
        fields = fields[:MAX_PROBLEMS]
    return ApiErrorSpec(int(fault), code, message, tuple(fields), tuple(salesforce), details, headers)


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

_INTERNAL_MESSAGES: dict[str, str] = {
    "configuration_error": "The connector is not configured correctly; see its logs.",
}


def _connector_error(exc: ConnectorError) -> ApiErrorSpec:
    message = exc.message
    if exc.fault is Fault.INTERNAL:
        # The connector's own fault (e.g. a missing variable): the logs say which, the caller not.
        logger.error("%s: %s", exc.code, exc)
        message = _INTERNAL_MESSAGES.get(exc.code, "Internal error. It has been logged.")
    return _spec(exc.fault, exc.code, message, exc.fields, details=exc.details, retry_after=exc.retry_after)


# -------------------------------------------------------------------------- Salesforce's errors

_REJECTED = "rejected_by_salesforce"
SALESFORCE_CODES: dict[str, tuple[Fault, str]] = {
    # The record's data: Salesforce refused it (validation rules, types, references...).
    **{
        code: (Fault.INVALID, _REJECTED)
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
    "MALFORMED_QUERY": (Fault.MALFORMED, "invalid_query"),
    "INVALID_QUERY_FILTER_OPERATOR": (Fault.MALFORMED, "invalid_query"),
    "INVALID_QUERY_LOCATOR": (Fault.MALFORMED, "invalid_query"),
    "NOT_FOUND": (Fault.NOT_FOUND, "not_found"),
    "ENTITY_IS_DELETED": (Fault.NOT_FOUND, "not_found"),
    "INVALID_TYPE": (Fault.NOT_FOUND, "sobject_not_found"),
    "DUPLICATE_VALUE": (Fault.CONFLICT, "duplicate"),
    "DUPLICATES_DETECTED": (Fault.CONFLICT, "duplicate"),
    "DUPLICATE_EXTERNAL_ID": (Fault.CONFLICT, "ambiguous_match"),
    "MULTIPLE_CHOICES": (Fault.CONFLICT, "ambiguous_match"),
    "ENTITY_IS_LOCKED": (Fault.CONFLICT, "record_locked"),
    "MAXIMUM_SIZE_OF_ATTACHMENT": (Fault.TOO_LARGE, "payload_too_large"),
    "EXCEEDED_MAX_SIZE_REQUEST": (Fault.TOO_LARGE, "payload_too_large"),
    "REQUEST_LIMIT_EXCEEDED": (Fault.RATE_LIMITED, "salesforce_rate_limited"),
    "INSUFFICIENT_ACCESS_OR_READONLY": (Fault.FORBIDDEN, "salesforce_forbidden"),
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": (Fault.FORBIDDEN, "salesforce_forbidden"),
    "INSUFFICIENT_ACCESS": (Fault.FORBIDDEN, "salesforce_forbidden"),
    "API_DISABLED_FOR_ORG": (Fault.FORBIDDEN, "salesforce_forbidden"),
    "API_CURRENTLY_DISABLED": (Fault.FORBIDDEN, "salesforce_forbidden"),
    "FUNCTIONALITY_NOT_ENABLED": (Fault.FORBIDDEN, "salesforce_forbidden"),
    "INVALID_SESSION_ID": (Fault.NEEDS_REAUTH, "connection_needs_reauth"),
    "UNABLE_TO_LOCK_ROW": (Fault.UNAVAILABLE, "salesforce_busy"),
    "SERVER_UNAVAILABLE": (Fault.UNAVAILABLE, "salesforce_unavailable"),
    "UNEXPECTED_RESPONSE": (Fault.UPSTREAM, "salesforce_bad_response"),
}
"""Salesforce ``errorCode`` -> (the kind of failure, our code)."""

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
    fault, code = _classify_salesforce(exc)
    message = _MESSAGES.get(code) or exc.message
    if code == _REJECTED or code in ("not_found", "duplicate", "invalid_query", "salesforce_forbidden"):
        message = f"Salesforce: {exc.message}"
    details: dict[str, Any] | None = None
    if isinstance(exc, MultipleMatchesError):
        details = {"candidate_ids": exc.candidate_ids}
    retry_after = 5 if fault is Fault.UNAVAILABLE else None
    return _spec(fault, code, message, exc.fields, items, details, retry_after)


def _classify_salesforce(exc: SalesforceError) -> tuple[Fault, str]:
    if isinstance(exc, AuthorizationRevokedError | SessionExpiredError):
        return Fault.NEEDS_REAUTH, "connection_needs_reauth"
    if isinstance(exc, OAuthError):
        return Fault.UPSTREAM, "salesforce_auth_failed"
    if isinstance(exc, SalesforceTransportError):
        return Fault.UNAVAILABLE, "salesforce_unreachable"
    if isinstance(exc, MultipleMatchesError):
        return Fault.CONFLICT, "ambiguous_match"
    if exc.error_code in SALESFORCE_CODES:
        return SALESFORCE_CODES[exc.error_code]
    if exc.status == 404:
        return Fault.NOT_FOUND, "not_found"
    if exc.status == 401:
        return Fault.NEEDS_REAUTH, "connection_needs_reauth"
    if exc.status == 403:
        return Fault.FORBIDDEN, "salesforce_forbidden"
    if exc.status in (0, 503):
        return Fault.UNAVAILABLE, "salesforce_unavailable"
    if exc.status >= 500:
        return Fault.UPSTREAM, "salesforce_error"
    return Fault.INVALID, _REJECTED


# ------------------------------------------------------------------------ request validation

# Pydantic reports a failed union member by member ("str", "int"...): collapse those.
_UNION_TAGS = frozenset(
    {
        "str",
        "bool",
        "int",
        "float",
        "none",
        "[key]",
        "function-after",
        "constrained-str",
        "constrained-int",
        "constrained-float",
    }
)


_FLOW_TAGS = frozenset({"web_server", "jwt_bearer", "client_credentials"})


def _field_path(loc: Sequence[Any]) -> tuple[str, str]:
    """(source, field path) of a pydantic error location like ("body", "criteria", "Email", "str")."""
    source = str(loc[0]) if loc else "body"
    parts = [str(p) for p in loc[1:] if str(p) not in _UNION_TAGS and not str(p).startswith("function-")]
    if source == "body" and parts and parts[0] in _FLOW_TAGS:
        parts = parts[1:]  # POST /connections' union member (its flow), not a field
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
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            # A tagged union (a batch's operation): the problem is the tag field, name it.
            tag = str((error.get("ctx") or {}).get("discriminator") or "").strip("'")
            name = ".".join(p for p in (path, tag) if p) or source
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
    return _spec(
        Fault.INVALID,
        "invalid_request",
        f"Invalid request: {summary}",
        fields,
        details={"problems": problems},
    )


# ------------------------------------------------------------------------- everything together


def _aws_error(exc: Exception) -> ApiErrorSpec | None:
    """An AWS call that failed (botocore's errors). botocore is imported here, on an error path
    only: a function that fails before it built an AWS client has no botocore error to classify,
    and the import then costs nothing that matters."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not isinstance(exc, BotoCoreError | ClientError):
        return None
    logger.error("AWS call failed: %s", redact(str(exc)))
    return _spec(
        Fault.UNAVAILABLE,
        "aws_unavailable",
        "An AWS service the connector needs failed; retry shortly.",
        retry_after=2,
    )


def map_exception(exc: Exception, *, request_id: str | None = None) -> ApiErrorSpec:
    """The caller's view of any exception (the catch-all logs what it cannot classify)."""
    if isinstance(exc, ConnectorError):
        return _connector_error(exc)
    if isinstance(exc, SalesforceError):
        return _salesforce_error(exc)
    if isinstance(exc, RequestUnsupportedContentType):
        return _spec(
            Fault.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The body must be JSON (Content-Type: application/json).",
            ("Content-Type",),
        )
    if isinstance(exc, RequestValidationError):
        return _request_validation(exc)
    if isinstance(exc, RouteNotFoundError):
        return _spec(Fault.NOT_FOUND, "route_not_found", "No such route; see GET /openapi.json for the API.")
    if isinstance(exc, ServiceError):
        # Powertools' own HTTP errors carry the status they mean.
        status = int(exc.status_code)
        message = exc.msg if isinstance(exc.msg, str) else HTTPStatus(status).phrase
        return ApiErrorSpec(status, HTTPStatus(status).phrase.lower().replace(" ", "_"), message)
    aws = _aws_error(exc)
    if aws is not None:
        return aws
    reference = f" (reference {request_id})" if request_id else ""
    # The exception (with its traceback) goes to the logs only; the caller learns nothing internal.
    logger.error("Unhandled error%s: %s", reference, type(exc).__name__, exc_info=exc)
    return _spec(Fault.INTERNAL, "internal_error", f"Internal error{reference}. It has been logged.")


def method_not_allowed(method: str, allowed: Sequence[str]) -> ApiErrorSpec:
    """405 for a known path asked with another method; ``Allow`` lists the path's methods."""
    listed = ", ".join(allowed)
    return ApiErrorSpec(
        405,
        "method_not_allowed",
        f"{method} is not allowed here; this path accepts {listed}. See GET /openapi.json for the API.",
        headers={"Allow": listed},
    )


def _not_allowed(app: ApiResolver) -> ApiErrorSpec | None:
    """The 405 for the current request when its path is a route's but its method is not (None:
    no route has this path). Powertools answers an unmatched method like an unknown path."""
    try:
        method = app.current_event.http_method.upper()
        path = app.current_event.path
    except Exception:  # an event without a method or path: nothing to offer
        return None
    allowed = _methods_of(app, path)
    if not allowed or method in allowed:
        return None
    return method_not_allowed(method, allowed)


def _methods_of(app: ApiResolver, path: str, *, fixed_only: bool = False) -> list[str]:
    """The methods of the routes matching ``path``; a path that is another operation's fixed path
    (``.../accounts/find``) has only that operation's methods, not those of ``{record_id}``."""
    matching = app.matching_routes(path)
    fixed = [(rule, methods) for rule, methods in matching if not rule.rsplit("/", 1)[-1].startswith("<")]
    return sorted({m for _, methods in (fixed if fixed or fixed_only else matching) for m in methods})


def _shadowed(app: ApiResolver) -> ApiErrorSpec | None:
    """The 405 for a method on another operation's fixed path (``GET .../accounts/find``): the
    ``{record_id}`` route matched it and failed, but no record id is ever ``find``."""
    try:
        method = app.current_event.http_method.upper()
        path = app.current_event.path
    except Exception:  # an event without a method or path: nothing to offer
        return None
    allowed = _methods_of(app, path, fixed_only=True)
    if not allowed or method in allowed:
        return None
    return method_not_allowed(method, allowed)


def register_error_handlers(app: ApiResolver) -> None:
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
    app.exception_handler(ConnectorError)(handle)
    app.exception_handler(SalesforceError)(handle)
    app.exception_handler(Exception)(handle)
