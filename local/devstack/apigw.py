"""API Gateway (REST API, Lambda proxy integration) emulated: routing, events, responses.

Pure functions over plain data, so each rule is unit-tested on its own:

* :class:`RouteTable` picks the route API Gateway would pick: per path segment a static segment beats
  ``{param}``, which beats a greedy ``{proxy+}``; on the same resource a method beats ``ANY``.
* :func:`build_event` builds the version 1.0 proxy event exactly as a deployed REST API sends it:
  ``path`` and ``pathParameters`` keep the request's percent-encoding (API Gateway REST does not
  decode them), query parameters are decoded, ``headers`` keep the last value of a repeated header
  and ``multiValueHeaders`` all of them, absent maps are ``null``, ``requestContext.path`` carries
  the stage prefix, and a body is base64-encoded only when its Content-Type matches the API's
  ``BinaryMediaTypes``.
* :func:`convert_response` turns the function's result into the HTTP response, rejecting a
  malformed result with API Gateway's own 502 ``Internal server error`` (:func:`gateway_error`: in the
  API's error shape, as template.yaml's ``GatewayResponses`` make API Gateway answer).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from devstack.template import ApiSpec, RouteSpec

_STATIC, _PARAM, _GREEDY = 2, 1, 0


@dataclass(frozen=True)
class HttpRequest:
    """One request as it arrived at the front, before any interpretation."""

    method: str
    target: str  # path and query exactly as on the request line
    headers: Sequence[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    scheme: str = "http"
    port: int = 3000

    @property
    def raw_path(self) -> str:
        path = self.target.split("?", 1)[0].split("#", 1)[0]
        return path or "/"

    @property
    def raw_query(self) -> str:
        return self.target.split("?", 1)[1].split("#", 1)[0] if "?" in self.target else ""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        found = [v for k, v in self.headers if k.lower() == wanted]
        return found[-1] if found else None


@dataclass(frozen=True)
class RouteMatch:
    route: RouteSpec
    path_parameters: dict[str, str]


def _template_segments(path: str) -> list[tuple[int, str]]:
    segments: list[tuple[int, str]] = []
    for part in [p for p in path.split("/") if p]:
        if part.startswith("{") and part.endswith("+}"):
            segments.append((_GREEDY, part[1:-2]))
        elif part.startswith("{") and part.endswith("}"):
            segments.append((_PARAM, part[1:-1]))
        else:
            segments.append((_STATIC, part))
    return segments


@dataclass
class RouteTable:
    """The routes of the API served by the front, and API Gateway's choice among them."""

    routes: Sequence[RouteSpec]
    _compiled: list[tuple[RouteSpec, list[tuple[int, str]]]] = field(init=False)

    def __post_init__(self) -> None:
        self._compiled = [(r, _template_segments(r.path)) for r in self.routes]

    @staticmethod
    def _match_segments(template: list[tuple[int, str]], parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for index, (kind, text) in enumerate(template):
            if kind == _GREEDY:
                rest = parts[index:]
                if not rest:
                    return None  # {proxy+} needs at least one segment
                params[text] = "/".join(rest)
                return params
            if index >= len(parts):
                return None
            if kind == _STATIC:
                if unquote(parts[index]) != text:
                    return None
            else:
                params[text] = parts[index]
        return params if len(template) == len(parts) else None

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """The route serving ``method raw_path``, or None (API Gateway then answers 403)."""
        parts = [p for p in raw_path.split("/") if p]
        method = method.upper()
        best: tuple[tuple[tuple[int, ...], int], RouteMatch] | None = None
        for route, template in self._compiled:
            if route.method not in (method, "ANY"):
                continue
            params = self._match_segments(template, parts)
            if params is None:
                continue
            score = (tuple(kind for kind, _ in template), 1 if route.method == method else 0)
            if best is None or score > best[0]:
                best = (score, RouteMatch(route, params))
        return best[1] if best else None

    def conflicts(self) -> list[str]:
        """Routes declared twice (same method and path): only one can be served locally."""
        seen: dict[tuple[str, str], RouteSpec] = {}
        problems: list[str] = []
        for route in self.routes:
            shape = "/".join(
                text if kind == _STATIC else "{}" if kind == _PARAM else "{+}"
                for kind, text in _template_segments(route.path)
            )
            key = (route.method, shape)
            if key in seen:
                problems.append(
                    f"{route.method} {route.path}: {seen[key].function_id} and {route.function_id}"
                )
            seen.setdefault(key, route)
        return problems


def media_type_matches(content_type: str | None, media_types: Sequence[str]) -> bool:
    """Whether a Content-Type (parameters ignored) is one of the API's binary media types."""
    if not content_type or not media_types:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(mime, pattern.strip().lower()) for pattern in media_types)


def _query_parameters(raw_query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not raw_query:
        return None, None
    multi: dict[str, list[str]] = {}
    for piece in raw_query.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        multi.setdefault(unquote(key), []).append(unquote(value))
    if not multi:
        return None, None
    return {k: v[-1] for k, v in multi.items()}, multi


def new_request_id() -> str:
    return (
        f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-"
        f"{secrets.token_hex(2)}-{secrets.token_hex(6)}"
    )


@dataclass(frozen=True)
class LocalIdentity:
    """The caller API Gateway reports for IAM-authorised routes (not verified locally)."""

    account_id: str = "123456789012"
    access_key: str = "ASIALOCALDEVSTACK0000"
    user: str = "AIDALOCALDEVSTACK0000"
    user_arn: str = "arn:aws:iam::123456789012:user/local-developer"


@dataclass(frozen=True)
class ApiContext:
    """Per-API values that a deployed API has and the front makes up consistently."""

    api: ApiSpec
    api_id: str
    account_id: str
    identity: LocalIdentity = LocalIdentity()


def build_event(
    request: HttpRequest,
    match: RouteMatch,
    api: ApiContext,
    *,
    request_id: str,
    path: str | None = None,
    now: datetime | None = None,
    identity: LocalIdentity | None = None,
) -> dict[str, Any]:
    """The Lambda proxy event API Gateway (REST, payload 1.0) sends for ``request``.

    ``path`` is the request path below the stage (default: the whole path, as when the API is
    served at the root like ``sam local start-api`` does); ``requestContext.path`` always carries
    the stage prefix, as on a deployed API's execute-api URL.
    """
    now = now or datetime.now(UTC)
    path = request.raw_path if path is None else path
    route = match.route
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    lower = {k.lower() for k in headers}
    trace = f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}"
    forwarded_for = request.header("X-Forwarded-For")
    added = {
        "X-Forwarded-For": f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip,
        "X-Forwarded-Port": str(request.port),
        "X-Forwarded-Proto": request.scheme,
        "X-Amzn-Trace-Id": trace,
    }
    for name, value in added.items():
        if name == "X-Forwarded-For" or name.lower() not in lower:
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
                del multi_headers[existing]
            headers[name] = value
            multi_headers[name] = [value]

    query, multi_query = _query_parameters(request.raw_query)
    content_type = request.header("Content-Type")
    is_binary = bool(request.body) and media_type_matches(content_type, api.api.binary_media_types)
    body: str | None
    if not request.body:
        body = None
    elif is_binary:
        body = base64.b64encode(request.body).decode("ascii")
    else:
        # API Gateway passes non-binary payloads as text; invalid UTF-8 does not survive there either.
        body = request.body.decode("utf-8", errors="replace")

    host = request.header("Host") or f"127.0.0.1:{request.port}"
    caller = identity or api.identity
    identity_context: dict[str, Any] = {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "sourceIp": request.source_ip,
        "principalOrgId": None,
        "accessKey": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": request.header("User-Agent"),
        "user": None,
    }
    if route.auth == "AWS_IAM":
        identity_context.update(
            accountId=caller.account_id,
            caller=caller.user,
            accessKey=caller.access_key,
            userArn=caller.user_arn,
            user=caller.user,
        )
    stage = api.api.stage_name
    request_context: dict[str, Any] = {
        "resourceId": _resource_id(route.path),
        "resourcePath": route.path,
        "httpMethod": request.method.upper(),
        "extendedRequestId": base64.b32encode(secrets.token_bytes(10)).decode("ascii")[:16],
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "path": f"/{stage}{path}",
        "accountId": api.account_id,
        "protocol": request.protocol,
        "stage": stage,
        "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "requestId": request_id,
        "identity": identity_context,
        "domainName": host,
        "deploymentId": "local",
        "apiId": api.api_id,
    }
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": request.method.upper(),
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": is_binary,
    }


def _resource_id(path: str) -> str:
    # Stable per resource, like a deployed API's resource ids.
    digest = base64.b32encode(path.encode()).decode("ascii").lower()
    return (digest + "aaaaaa")[:6]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        found = [v for k, v in self.headers if k.lower() == wanted]
        return found[-1] if found else None


class MalformedResponseError(ValueError):
    """The function returned something API Gateway cannot turn into an HTTP response."""


_ALLOWED_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}


GATEWAY_RESPONSE_TYPES: dict[str, str] = {
    "MissingAuthenticationTokenException": "MISSING_AUTHENTICATION_TOKEN",
    "RequestTooLongException": "REQUEST_TOO_LARGE",
    "RequestUriTooLongException": "REQUEST_URI_TOO_LONG",
    "BadRequestException": "BAD_REQUEST",
    "IntegrationTimeoutException": "INTEGRATION_TIMEOUT",
    "InternalServerErrorException": "INTEGRATION_FAILURE",
    "InternalFailure": "DEFAULT_5XX",
    "InvalidSignatureException": "INVALID_SIGNATURE",
    "UnrecognizedClientException": "UNAUTHORIZED",
    "IncompleteSignatureException": "MISSING_AUTHENTICATION_TOKEN",
}
"""``x-amzn-ErrorType`` -> the gateway response type (``$context.error.responseType``)."""


def gateway_error(status: int, message: str, error_type: str, request_id: str) -> HttpResponse:
    """A response API Gateway itself generates (no function involved), in the API's error shape:
    template.yaml's ``GatewayResponses`` give API Gateway's own answers the ``{"error": {...}}`` body
    of the functions' errors, with the gateway response type as the code."""
    code = GATEWAY_RESPONSE_TYPES.get(error_type, "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")
    error = {"code": code, "message": message, "fields": [], "salesforce": []}
    body = json.dumps({"error": error}).encode()
    return HttpResponse(
        status=status,
        headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", error_type),
        ],
        body=body,
    )


def convert_response(result: Any, *, request: HttpRequest, api: ApiSpec, request_id: str) -> HttpResponse:
    """The HTTP response for a function's proxy result; raises MalformedResponseError."""
    if not isinstance(result, Mapping):
        raise MalformedResponseError(f"the function returned {type(result).__name__}, not an object")
    extra = set(result) - _ALLOWED_KEYS
    if extra:
        raise MalformedResponseError(f"unexpected keys in the response: {', '.join(sorted(extra))}")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponseError(f"statusCode must be an integer HTTP status, got {status!r}")
    raw_body = result.get("body")
    if raw_body is not None and not isinstance(raw_body, str):
        raise MalformedResponseError(f"body must be a string, got {type(raw_body).__name__}")

    merged: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    multi = result.get("multiValueHeaders") or {}
    single = result.get("headers") or {}
    if not isinstance(multi, Mapping) or not isinstance(single, Mapping):
        raise MalformedResponseError("headers and multiValueHeaders must be objects")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponseError(f"multiValueHeaders[{name!r}] must be a list")
        names.setdefault(str(name).lower(), str(name))
        merged.setdefault(str(name).lower(), []).extend(str(v) for v in values)
    for name, value in single.items():
        key = str(name).lower()
        names.setdefault(key, str(name))
        # Documented: a pair present in both only appears once (multiValueHeaders' copy).
        if str(value) not in merged.get(key, []):
            merged.setdefault(key, []).append(str(value))

    body = (raw_body or "").encode("utf-8")
    if result.get("isBase64Encoded") is True and raw_body:
        accept = request.header("Accept") or ""
        wanted = [a.split(";", 1)[0].strip() for a in accept.split(",") if a.strip()]
        content_type = merged.get("content-type", [None])[-1]
        if media_type_matches(content_type, api.binary_media_types) or any(
            media_type_matches(a, api.binary_media_types) for a in wanted
        ):
            try:
                body = base64.b64decode(raw_body, validate=True)
            except ValueError as exc:
                raise MalformedResponseError("isBase64Encoded is true but the body is not base64") from exc

    headers = [(names[key], value) for key, values in merged.items() for value in values]
    if "content-type" not in merged:
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    return HttpResponse(status=status, headers=headers, body=body)
