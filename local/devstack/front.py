"""The HTTP front: an API Gateway stand-in on 127.0.0.1 that invokes the template's functions.

:class:`Gateway` is the request -> response logic (routing, events, the function call, API
Gateway's own error answers, its size and time limits); :class:`FrontServer` is the socket side
(a threading HTTP/1.1 server with keep-alive, ``Expect: 100-continue`` and chunked bodies).
Paths under ``/__devstack__/`` belong to the local stack itself (health, routes, events,
schedules) and are never routed to functions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

from devstack.apigw import (
    ApiContext,
    HttpRequest,
    HttpResponse,
    MalformedResponseError,
    RouteTable,
    build_event,
    convert_response,
    gateway_error,
    new_request_id,
)
from devstack.lambdas import MAX_SYNC_PAYLOAD, FunctionRuntime
from devstack.sigv4 import SignatureError, SigV4Verifier

MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""API Gateway's REST payload limit."""

MAX_URL_CHARS = 10_240
"""API Gateway's limit on the URL of a regional REST API."""

MAX_METHOD_ARN_BYTES = 1600
"""API Gateway's limit on the method ARN of an IAM-authorised route (the path parameters count)."""

GATEWAY_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""The methods a REST API can declare (``ANY`` is these); any other never reaches a function."""

INTEGRATION_TIMEOUT_S = 29.0
"""API Gateway's default integration timeout for REST APIs."""

ADMIN_PREFIX = "/__devstack__/"

AdminHandler = Callable[[HttpRequest], Any]


_SENSITIVE = ("code", "state", "token", "secret", "password", "signature", "key", "credential", "session")


def loggable_target(target: str) -> str:
    """The request target with sensitive query values masked (OAuth codes, tokens, signatures)."""
    path, sep, query = target.partition("?")
    if not sep:
        return path
    pieces = []
    for piece in query.split("&"):
        name, eq, _ = piece.partition("=")
        sensitive = eq and any(word in name.lower() for word in _SENSITIVE)
        pieces.append(f"{name}=***" if sensitive else piece)
    return f"{path}?{'&'.join(pieces)}"


def json_response(status: int, payload: Any, request_id: str | None = None) -> HttpResponse:
    headers = [("Content-Type", "application/json")]
    if request_id:
        headers.append(("x-amzn-RequestId", request_id))
    return HttpResponse(status, headers, json.dumps(payload, indent=2, default=str).encode())


@dataclass
class Gateway:
    """Turns HTTP requests into function invocations the way API Gateway does."""

    routes: RouteTable
    runtime: FunctionRuntime
    apis: Mapping[str, ApiContext]
    log: Callable[[str], None] = print
    admin: dict[str, AdminHandler] = field(default_factory=dict)
    integration_timeout_s: float = INTEGRATION_TIMEOUT_S
    verifier: SigV4Verifier | None = None
    """Verifies SigV4-signed requests of IAM-authorised routes (None: every caller is the local one)."""

    def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        request_id = new_request_id()
        if request.raw_path.startswith(ADMIN_PREFIX):
            return self._admin(request, request_id)
        response, served_by = self._route(request, request_id)
        elapsed = (time.monotonic() - started) * 1000
        self.log(
            f"{datetime.now().strftime('%H:%M:%S')} {request.method} {loggable_target(request.target)} -> "
            f"{served_by} {response.status} ({elapsed:.0f} ms)"
        )
        return response

    def _admin(self, request: HttpRequest, request_id: str) -> HttpResponse:
        name = request.raw_path[len(ADMIN_PREFIX) :].strip("/")
        handler = self.admin.get(name)
        if handler is None or request.method not in {"GET", "HEAD"}:
            return json_response(404, {"message": f"no local stack endpoint {request.raw_path}"}, request_id)
        return json_response(200, handler(request), request_id)

    def _route(self, request: HttpRequest, request_id: str) -> tuple[HttpResponse, str]:
        if len(request.target) > MAX_URL_CHARS:
            return self._uri_too_long(request_id), "gateway"
        if len(request.body) > MAX_REQUEST_BYTES:
            return gateway_error(413, "Request Too Long", "RequestTooLongException", request_id), "gateway"
        path = request.raw_path
        match = self.routes.match(request.method, path) if request.method in GATEWAY_METHODS else None
        if match is None:
            # The deployed URL carries the stage (/v1/connections): accept that form as well.
            for api_id, api_context in self.apis.items():
                prefix = f"/{api_context.api.stage_name}"
                if path == prefix or path.startswith(prefix + "/"):
                    staged = self.routes.match(request.method, path[len(prefix) :] or "/")
                    if staged is not None and staged.route.api_id == api_id:
                        match, path = staged, path[len(prefix) :] or "/"
                        break
        if match is None:
            # What a deployed REST API answers for any unknown method/path, confusing as it is.
            return (
                gateway_error(
                    403, "Missing Authentication Token", "MissingAuthenticationTokenException", request_id
                ),
                "no route",
            )
        route = match.route
        spec = self.runtime.functions[route.function_id]
        api = self.apis[route.api_id]
        if (
            not route.public
            and len(self._method_arn(api, request.method, path).encode()) > MAX_METHOD_ARN_BYTES
        ):
            return self._uri_too_long(request_id), spec.logical_id
        identity = None
        if self.verifier is not None and not route.public and route.auth == "AWS_IAM":
            try:
                identity = self.verifier.identity(request)
            except SignatureError as exc:
                return gateway_error(403, exc.message, exc.error_type, request_id), "gateway"
        event = build_event(request, match, api, request_id=request_id, path=path, identity=identity)
        if len(json.dumps(event).encode()) > MAX_SYNC_PAYLOAD:
            return gateway_error(
                413, "Request Too Long", "RequestTooLongException", request_id
            ), spec.logical_id
        result = self.runtime.invoke(
            spec, event, request_id=request_id, wait_s=min(spec.timeout_s, self.integration_timeout_s)
        )
        if result.timed_out and spec.timeout_s > self.integration_timeout_s:
            return (
                gateway_error(504, "Endpoint request timed out", "IntegrationTimeoutException", request_id),
                spec.logical_id,
            )
        if not result.ok:
            return gateway_error(502, "Internal server error", "InternalServerErrorException", request_id), (
                spec.logical_id
            )
        try:
            response = convert_response(result.value, request=request, api=api.api, request_id=request_id)
        except MalformedResponseError as exc:
            self.log(f"{spec.logical_id}: malformed Lambda proxy response: {exc}")
            return gateway_error(502, "Internal server error", "InternalServerErrorException", request_id), (
                spec.logical_id
            )
        return response, spec.logical_id

    @staticmethod
    def _uri_too_long(request_id: str) -> HttpResponse:
        return gateway_error(414, "Request-URI Too Long", "RequestUriTooLongException", request_id)

    @staticmethod
    def _method_arn(api: ApiContext, method: str, path: str) -> str:
        region = "us-east-1"
        return (
            f"arn:aws:execute-api:{region}:{api.account_id}:{api.api_id}/{api.api.stage_name}/{method}{path}"
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FrontServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the gateway prints one line per request itself

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with an HTML 501; every method goes
        # to the gateway instead, which answers the ones API Gateway does not route (TRACE...).
        if name.startswith("do_") and name[3:].isupper():
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a request line over 64 KiB is a 414, bad framing a 400) in
        the API's JSON error shape, never its HTML page."""
        phrase = message or _phrase(code)
        error_type = {414: "RequestUriTooLongException", 400: "BadRequestException"}.get(
            code, "InternalFailure"
        )
        response = gateway_error(code, phrase, error_type, new_request_id())
        self.close_connection = True
        self.send_response(code)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(response.body)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537).split(b";", 1)[0].strip()
                size = int(size_line or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "bad request body framing")
            return
        headers = [(k, v) for k, v in self.headers.items() if k.lower() != "transfer-encoding"]
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=headers,
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
            port=self.server.server_address[1],
        )
        try:
            response = self.server.gateway.handle(request)
        except Exception as exc:  # the front itself must never drop a connection without an answer
            self.server.gateway.log(
                f"front error on {self.command} {loggable_target(self.path)}: {type(exc).__name__}: {exc}"
            )
            response = gateway_error(500, "Internal server error", "InternalFailure", new_request_id())
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve


class FrontServer(ThreadingHTTPServer):
    """A threading HTTP server bound to the gateway; ``allow_reuse_address`` for quick restarts."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, gateway: Gateway | None = None) -> None:
        # The socket is bound here, so the port is known before the gateway is wired and served.
        self._gateway = gateway
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            raise RuntimeError("the front has no gateway yet")
        return self._gateway

    @gateway.setter
    def gateway(self, gateway: Gateway) -> None:
        self._gateway = gateway

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        if self._gateway is None:
            raise RuntimeError("set the gateway before starting the front")
        self._thread = threading.Thread(target=self.serve_forever, name="front", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], list[bytes]]


def wsgi_app(gateway: Gateway) -> WsgiApp:
    """The gateway as a WSGI application, for in-process HTTP clients (test clients, fuzzers):
    the same routing, events, functions and API Gateway answers as over the front's socket."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        query = environ.get("QUERY_STRING") or ""
        target = environ.get("REQUEST_URI") or environ.get("RAW_URI")
        if not target:
            target = quote(str(environ.get("PATH_INFO") or "/"), safe="/%:@!$&'()*+,;=-._~")
        if query and "?" not in target:
            # Werkzeug's test environ (what schemathesis calls through) gives REQUEST_URI without the
            # query string: without this, no fuzzed query parameter ever reached a function.
            target += f"?{query}"
        headers: list[tuple[str, str]] = []
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers.append((key[5:].replace("_", "-").title(), str(value)))
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                headers.append((key.replace("_", "-").title(), str(value)))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        method = str(environ.get("REQUEST_METHOD") or "GET").upper()
        request = HttpRequest(method=method, target=target, headers=headers, body=body)
        response = gateway.handle(request)
        out = [(k, v) for k, v in response.headers if k.lower() not in {"content-length", "connection"}]
        payload = b"" if method == "HEAD" else response.body
        out.append(("Content-Length", str(len(payload))))
        start_response(f"{response.status} {_phrase(response.status)}", out)
        return [payload]

    return app


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
