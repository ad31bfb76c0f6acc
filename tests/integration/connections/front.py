"""A tiny loopback HTTP front: turns browser requests into API Gateway REST proxy events for one
Lambda handler, the way a deployed stage does (``/<stage>/...`` URLs, stage-less ``path``).

Only for tests (the browser must be able to land on ``/oauth/callback``); the local stack has its
own, fuller front."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.integration.connections.apigw import api_event, lambda_context

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class LoopbackFront:
    def __init__(self, handler: Handler, *, stage: str = "v1", public_paths: tuple[str, ...] = ()) -> None:
        self._handler = handler
        self.stage = stage
        self._public = public_paths
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[str] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.stage}"

    def start(self) -> LoopbackFront:
        front = self

        class _Request(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output quiet (and free of query strings)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else None
                prefix = f"/{front.stage}"
                if not (self.path == prefix or self.path.startswith(prefix + "/")):
                    self._answer(403, {"Content-Type": "application/json"}, b'{"message":"Forbidden"}')
                    return
                target = self.path[len(prefix) :] or "/"
                path_only = target.split("?", 1)[0]
                front.requests.append(f"{self.command} {path_only}")
                host = f"127.0.0.1:{front.port}"
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                event = api_event(
                    self.command,
                    target,
                    body=body,
                    headers=headers,
                    domain=host,
                    stage=front.stage,
                    scheme="http",
                    iam=path_only not in front._public,
                )
                result = front._handler(event, lambda_context())
                raw = result.get("body") or ""
                payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
                out_headers = dict(result.get("headers") or {})
                for name, values in (result.get("multiValueHeaders") or {}).items():
                    out_headers[name] = values[-1]
                self._answer(int(result["statusCode"]), out_headers, payload)

            def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve
            do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Request)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-front", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def json_body(result: dict[str, Any]) -> Any:
    return json.loads(result.get("body") or "null")
