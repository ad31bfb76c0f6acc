"""The emulator's HTTP server: stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive.

``EmulatorServer(org).start()`` serves on a background thread (port 0 picks a free port); with
``tls=True`` the same port also answers HTTPS (see ``sfemulator.tls``). ``stop()`` closes the
listener and every open keep-alive connection, then saves the state file if one is configured.
Responses are written with a single ``send`` (status line, headers and body together) and
TCP_NODELAY, which keeps keep-alive latency free of Nagle/delayed-ACK stalls.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import re
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sfemulator.app import EmulatorApp
from sfemulator.bulk import MAX_UPLOAD_BYTES
from sfemulator.oauth import ConnectedApp
from sfemulator.org import Org, OrgConfig
from sfemulator.wire import Request, Response

__all__ = ["EmulatorServer", "demo_org"]

log = logging.getLogger("sfemulator")
MAX_BODY = 64 * 1024 * 1024
MAX_UPLOAD = 2 * 1024 * 1024 * 1024 + 1024 * 1024
"""A multipart body (a ContentVersion's 2 GB plus its entity part), spooled to disk as it arrives."""
_SPOOL_CHUNK = 1024 * 1024


MAX_URI = 16 * 1024
_INGEST_UPLOAD = re.compile(r"^/services/data/v\d+\.\d/jobs/ingest/[^/]+/batches/?$")
_REASONS = {code.value: code.phrase for code in HTTPStatus}


def demo_org(config: OrgConfig | None = None) -> Org:
    """A freshly seeded demo org."""
    return Org(config)


class _TooLarge(Exception):
    """A request body over its cap (the handler answers 413 without reading it)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # Idle keep-alive connections are dropped after this many seconds.
    timeout = 120

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines may carry OAuth codes in query strings: log the path only, at debug level.
        path = getattr(self, "path", None)
        log.debug("%s %s", getattr(self, "command", "-"), urlsplit(path).path if path else format % args)

    def _read_body(self) -> bytes | None:
        # A Bulk API 2.0 upload may carry up to 150 MB; every other request keeps the smaller cap.
        cap = MAX_UPLOAD_BYTES if _INGEST_UPLOAD.search(urlsplit(self.path).path) else MAX_BODY
        try:
            return b"".join(self._body_pieces(cap))
        except _TooLarge:
            return None

    def _spool_body(self) -> tuple[Path, int] | None:
        """A multipart body written to a file as it arrives (never whole in memory); None: too large."""
        fd, name = tempfile.mkstemp(prefix="upload-", dir=self.server.spool_dir)
        path = Path(name)
        total = 0
        try:
            with open(fd, "wb") as out:
                for piece in self._body_pieces(MAX_UPLOAD):
                    out.write(piece)
                    total += len(piece)
        except _TooLarge:
            path.unlink(missing_ok=True)
            return None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, total

    def _body_pieces(self, cap: int) -> Iterator[bytes]:
        """The request body as it arrives, ``_SPOOL_CHUNK`` bytes at most at a time (a chunked
        transfer decoded); :class:`_TooLarge` past ``cap`` bytes, before reading them."""
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            length = int(self.headers.get("Content-Length") or 0)
            if length > cap:
                raise _TooLarge
            yield from self._pieces(length)
            return
        total = 0
        while True:
            line = self.rfile.readline(65537)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return
            total += size
            if total > cap:
                raise _TooLarge
            yield from self._pieces(size)
            self.rfile.readline(65537)

    def _pieces(self, size: int) -> Iterator[bytes]:
        left = size
        while left > 0:
            chunk = self.rfile.read(min(_SPOOL_CHUNK, left))
            if not chunk:
                raise ValueError("the request body ended early")
            yield chunk
            left -= len(chunk)

    def _serve(self) -> None:
        spooled: tuple[Path, int] | None = None
        multipart = (self.headers.get("Content-Type") or "").lower().startswith("multipart/")
        try:
            if multipart and self.command in ("POST", "PATCH"):
                spooled = self._spool_body()
                body = None if spooled is None else b""
            else:
                body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(
                Response.json(400, [{"errorCode": "JSON_PARSER_ERROR", "message": "Malformed request body"}])
            )
            return
        if body is None:
            self.close_connection = True
            self._send(
                Response.json(413, [{"errorCode": "REQUEST_TOO_LARGE", "message": "Request body too large"}])
            )
            return
        if len(self.path) > MAX_URI:
            # Salesforce's front end refuses long URIs (very long SOQL must travel in a composite body).
            self._send(Response.html(414, "<html><body><h1>414 Request-URI Too Large</h1></body></html>"))
            return
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=unquote(split.path),
            raw_path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            body_file=spooled[0] if spooled else None,
            body_size=spooled[1] if spooled else 0,
        )
        try:
            response = self.server.app.handle(req)
        finally:
            if spooled is not None and not self.server.app.keeps(spooled[0]):
                spooled[0].unlink(missing_ok=True)
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        reason = _REASONS.get(response.status, "")
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        for key, value in response.headers:
            lines.append(f"{key}: {value}")
        body = b"" if self.command == "HEAD" else response.body
        length = response.file.length if response.file is not None else len(response.body)
        lines.append(f"Content-Length: {length}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if response.file is None:
            self.wfile.write(head + body)
            return
        # A file's content goes out a chunk at a time: a 100 MB file is never whole in memory.
        self.wfile.write(head)
        if self.command != "HEAD":
            for chunk in response.file.chunks():
                self.wfile.write(chunk)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        app: EmulatorApp,
        tls: ssl.SSLContext | None = None,
        spool_dir: str = "",
    ) -> None:
        self.app = app
        self.tls = tls
        self.spool_dir = spool_dir or None
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        wrapped: ssl.SSLSocket | None = None
        if self.tls is not None:
            request.settimeout(_Handler.timeout)
            try:
                first = request.recv(1, socket.MSG_PEEK)
            except OSError:
                return
            if first == b"\x16":  # a TLS handshake record: this connection speaks HTTPS
                try:
                    wrapped = self.tls.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                request = wrapped
        try:
            _Handler(request, client_address, self)
        finally:
            if wrapped is not None:
                with contextlib.suppress(OSError):
                    wrapped.close()

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class EmulatorServer:
    """A running emulator for one org (tests start several for multi-org scenarios)."""

    def __init__(
        self,
        org: Org | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        state_file: Path | None = None,
        save_interval: float = 1.0,
        tls: bool = False,
    ) -> None:
        self.org = org or demo_org()
        self.host = host
        self.port = port
        self.state_file = state_file
        self.save_interval = save_interval
        self.app = EmulatorApp(self.org)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._stopping = threading.Event()
        self._saved_generation = -1
        self.tls = tls
        self.ca_file: Path | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self._spool: tempfile.TemporaryDirectory[str] | None = None
        if state_file is not None and state_file.exists():
            self.org.load(state_file)
            self._saved_generation = self.org.generation

    @property
    def base_url(self) -> str:
        return self.org.base_url

    @property
    def demo_connected_app(self) -> ConnectedApp:
        return self.org.connected_app

    def start(self) -> EmulatorServer:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        context: ssl.SSLContext | None = None
        if self.tls:
            from sfemulator.tls import make_server_context

            self._tls_dir = tempfile.TemporaryDirectory(prefix="sfemulator-tls-")
            context, self.ca_file = make_server_context(Path(self._tls_dir.name))
        # Multipart uploads (file bodies) live here for the server's lifetime.
        self._spool = tempfile.TemporaryDirectory(prefix="sfemulator-files-")
        self._server = _Server((self.host, self.port), self.app, context, self._spool.name)
        self.port = self._server.server_address[1]
        shown_host = self.host if self.host not in ("0.0.0.0", "") else "127.0.0.1"  # noqa: S104
        self.org.base_url = f"http://{shown_host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="sfemulator", daemon=True
        )
        self._thread.start()
        if self.state_file is not None:
            self.org.state_saver = self.save
            self._saver = threading.Thread(target=self._save_loop, name="sfemulator-saver", daemon=True)
            self._saver.start()
        return self

    def save(self) -> None:
        if self.state_file is None:
            return
        with self.org.lock:
            generation = self.org.generation
            self.org.save(self.state_file)
        self._saved_generation = generation

    def _save_loop(self) -> None:
        while not self._stopping.wait(self.save_interval):
            if self.org.generation != self._saved_generation:
                try:
                    self.save()
                except OSError:
                    log.exception("could not save the emulator state to %s", self.state_file)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._saver is not None:
            self._saver.join(timeout=5)
        self.org.relay.close()  # the event relay's delivery thread goes with the server
        if self.state_file is not None:
            self.save()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None
        if self._spool is not None:
            # The org keeps no file body past its server: bodies still needed move into memory.
            self.org.data.materialize_blobs()
            self._spool.cleanup()
            self._spool = None

    @property
    def https_url(self) -> str:
        """The same server over TLS (only with ``tls=True``; trust ``ca_file``)."""
        return self.base_url.replace("http://", "https://", 1)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
