"""The SSRF guard of the URL fetcher.

Two kinds of test:
* the guard itself, with a resolver that answers what the test needs and a transport that RECORDS
  every request and REFUSES to send it; a socket-level guard also refuses any connect() and any DNS
  lookup outside loopback for the whole module, so no packet can leave the machine;
* allowed fetches, against real HTTP(S) servers on 127.0.0.1 with the test-only loopback allowance.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sfconnector.urlfetch import (
    FetchError,
    ForbiddenUrlError,
    PayloadTooLargeError,
    UrlFetcher,
    UrlFetchSettings,
    address_problem,
    redact_url,
    system_resolver,
)

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"

# --------------------------------------------------------------------------------------------
# No packet leaves the machine: refuse connect() and DNS outside loopback for every test here.


class NetworkAttempts:
    def __init__(self) -> None:
        self.connects: list[Any] = []
        self.lookups: list[str] = []


def _is_loopback(addr: Any) -> bool:
    if isinstance(addr, tuple) and addr:
        try:
            return ipaddress.ip_address(str(addr[0]).split("%")[0]).is_loopback
        except ValueError:
            return False
    return False


@pytest.fixture(autouse=True)
def no_external_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkAttempts]:
    attempts = NetworkAttempts()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            attempts.connects.append(address)
            raise ConnectionRefusedError(f"test guard: refused connect to {address!r}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            attempts.connects.append(address)
            raise ConnectionRefusedError(f"test guard: refused connect to {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "::1", "localhost"):
            attempts.lookups.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "test guard: no DNS")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts.connects == [], "a test tried to connect outside loopback"


class RecordingResolver:
    """Answers from a table; a list of answers per host is served one call after the other."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = {h: list(a) for h, a in answers.items()}
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        queue = self._answers.get(host)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, f"unknown host {host}")
        return queue.pop(0) if len(queue) > 1 else queue[0]


class RecordingTransport(httpx.BaseTransport):
    """Records every request; answers from ``script`` (keyed by URL path) or refuses to send."""

    def __init__(self, script: dict[str, httpx.Response] | None = None) -> None:
        self.script = script or {}
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.script.get(request.url.path)
        if response is None:
            raise httpx.ConnectError("refusing transport: nothing is sent", request=request)
        return httpx.Response(
            response.status_code, headers=response.headers, content=response.content, request=request
        )


def guarded(
    resolver: Callable[[str, int], Sequence[str]] | None = None,
    transport: httpx.BaseTransport | None = None,
    **overrides: Any,
) -> UrlFetcher:
    return UrlFetcher(
        UrlFetchSettings(**overrides),
        resolver=resolver or RecordingResolver({}),
        transport=transport or RecordingTransport(),
    )


# --------------------------------------------------------------------------------------------
# The guard: refused before anything is sent


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://files.example.com/a.pdf", "scheme 'http' is not allowed"),
        ("ftp://files.example.com/a.pdf", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://files.example.com/", "scheme 'gopher'"),
        ("https://user:pw@files.example.com/a.pdf", "credentials"),
        ("https://localhost/a.pdf", "'localhost' is internal"),
        ("https://LOCALHOST./a.pdf", "'localhost' is internal"),
        ("https://api.localhost/a.pdf", "internal"),
        ("https://metadata.google.internal/computeMetadata/v1/", "internal"),
        ("https://db.corp.internal/x", "internal"),
        ("https://printer.local/x", "internal"),
        ("https://intranet/x", "not a fully qualified domain name"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://127.1/x", "loopback"),
        ("https://2130706433/x", "loopback"),
        ("https://0x7f000001/x", "loopback"),
        ("https://[::1]/x", "loopback"),
        ("https://10.1.2.3/x", "private"),
        ("https://172.16.0.9/x", "private"),
        ("https://192.168.1.1/x", "private"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://169.254.170.2/v2/credentials", "metadata"),
        ("https://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("https://169.254.1.1/x", "link-local"),
        ("https://[fe80::1]/x", "link-local"),
        ("https://100.64.0.1/x", "CGNAT"),
        ("https://0.0.0.0/x", "unspecified"),
        ("https://[::]/x", "unspecified"),
        ("https://224.0.0.1/x", "multicast"),
        ("https://[ff02::1]/x", "multicast"),
        ("https://240.0.0.1/x", "reserved"),
        ("https://[::ffff:127.0.0.1]/x", "IPv4-mapped"),
        ("https://[::ffff:169.254.169.254]/x", "metadata"),
        ("https://[::ffff:10.0.0.1]/x", "private"),
        ("https://[2002:a00:1::]/x", "6to4"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "NAT64"),
        ("https://[fd12:3456::1]/x", "private"),
        ("not a url", "scheme"),
        ("https:///no-host", "no host"),
    ],
)
def test_forbidden_urls_are_refused_before_anything_is_sent(url: str, reason: str) -> None:
    resolver = RecordingResolver({})
    transport = RecordingTransport()
    fetcher = guarded(resolver, transport)

    with pytest.raises(ForbiddenUrlError) as err:
        fetcher.fetch(url)

    assert reason in err.value.reason
    assert err.value.status == 422
    assert err.value.code == "forbidden_url"
    assert err.value.field == "url"
    assert transport.requests == []
    assert resolver.calls == []  # refused on the literal/name alone: no DNS either


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (["10.0.0.5"], "private"),
        (["127.0.0.1"], "loopback"),
        (["169.254.169.254"], "metadata"),
        (["fd00:ec2::254"], "metadata"),
        (["::ffff:192.168.0.1"], "IPv4-mapped"),
        (["100.100.100.200"], "CGNAT"),
        ([PUBLIC_V4, "10.0.0.5"], "private"),  # every address is checked, not just the first
        ([PUBLIC_V6, "::1"], "loopback"),
    ],
)
def test_a_name_resolving_to_a_forbidden_address_is_refused(answer: list[str], reason: str) -> None:
    resolver = RecordingResolver({"files.example.com": [answer]})
    transport = RecordingTransport()

    with pytest.raises(ForbiddenUrlError) as err:
        guarded(resolver, transport).fetch("https://files.example.com/report.pdf")

    assert reason in err.value.reason
    assert "files.example.com" in err.value.reason
    assert resolver.calls == [("files.example.com", 443)]
    assert transport.requests == []


def test_connects_to_the_vetted_ip_with_host_header_and_sni_so_dns_rebinding_cannot_switch() -> None:
    # A rebinding resolver answers public first and private afterwards: only one lookup may happen,
    # and the connection must go to the address that was checked.
    resolver = RecordingResolver({"files.example.com": [[PUBLIC_V4], ["169.254.169.254"]]})
    transport = RecordingTransport(
        {"/report.pdf": httpx.Response(200, content=b"%PDF-1.7", headers={"Content-Type": "application/pdf"})}
    )

    got = guarded(resolver, transport).fetch("https://files.example.com/report.pdf?sig=secret")

    assert got.content == b"%PDF-1.7"
    assert resolver.calls == [("files.example.com", 443)]
    [sent] = transport.requests
    assert sent.url.host == PUBLIC_V4
    assert sent.url.scheme == "https"
    assert sent.url.query == b"sig=secret"
    assert sent.headers["host"] == "files.example.com"
    assert sent.extensions["sni_hostname"] == "files.example.com"
    assert got.final_url == "https://files.example.com/report.pdf"  # no query string: may be a token


def test_ipv6_vetted_address_and_non_default_port_are_kept() -> None:
    resolver = RecordingResolver({"files.example.com": [[PUBLIC_V6]]})
    transport = RecordingTransport({"/a.txt": httpx.Response(200, content=b"hi")})

    guarded(resolver, transport).fetch("https://files.example.com:8443/a.txt")

    [sent] = transport.requests
    assert sent.url.host == PUBLIC_V6
    assert sent.url.port == 8443
    assert sent.headers["host"] == "files.example.com:8443"
    assert resolver.calls == [("files.example.com", 8443)]


def test_rebinding_on_a_redirect_to_the_same_name_is_refused() -> None:
    resolver = RecordingResolver({"files.example.com": [[PUBLIC_V4], ["10.0.0.7"]]})
    transport = RecordingTransport({"/start": httpx.Response(302, headers={"Location": "/next"})})

    with pytest.raises(ForbiddenUrlError, match=r"10\.0\.0\.7 which is a private address"):
        guarded(resolver, transport).fetch("https://files.example.com/start")

    assert [r.url.path for r in transport.requests] == ["/start"]
    assert len(resolver.calls) == 2


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data/iam/", "metadata"),
        ("https://internal.example.com/", "private"),
        ("http://files.example.com/plain", "scheme 'http'"),
        ("https://localhost:8080/", "internal"),
        ("file:///etc/passwd", "scheme 'file'"),
    ],
)
def test_every_redirect_hop_is_checked(location: str, reason: str) -> None:
    resolver = RecordingResolver(
        {"files.example.com": [[PUBLIC_V4]], "internal.example.com": [["192.168.10.10"]]}
    )
    transport = RecordingTransport({"/start": httpx.Response(301, headers={"Location": location})})

    with pytest.raises(ForbiddenUrlError) as err:
        guarded(resolver, transport).fetch("https://files.example.com/start")

    assert reason in err.value.reason
    assert [r.url.path for r in transport.requests] == ["/start"]


def test_redirects_are_followed_up_to_the_limit() -> None:
    resolver = RecordingResolver({"files.example.com": [[PUBLIC_V4]], "cdn.example.net": [[PUBLIC_V6]]})
    script = {f"/r{i}": httpx.Response(302, headers={"Location": f"/r{i + 1}"}) for i in range(5)}
    script["/r5"] = httpx.Response(307, headers={"Location": "https://cdn.example.net/final.png"})
    script["/final.png"] = httpx.Response(200, content=b"\x89PNG")
    transport = RecordingTransport(script)

    with pytest.raises(FetchError, match="more than 5 redirects") as err:
        guarded(resolver, transport).fetch("https://files.example.com/r0")
    assert err.value.status == 422
    assert len(transport.requests) == 6

    transport.requests.clear()
    got = guarded(resolver, transport).fetch("https://files.example.com/r1")
    assert got.content == b"\x89PNG"
    assert got.filename == "final.png"
    assert got.content_type == "image/png"  # guessed from the name when the header is missing
    assert transport.requests[-1].headers["host"] == "cdn.example.net"
    assert transport.requests[-1].url.host == PUBLIC_V6


def test_a_redirect_does_not_carry_anything_but_the_target() -> None:
    resolver = RecordingResolver({"files.example.com": [[PUBLIC_V4]], "cdn.example.net": [[PUBLIC_V4]]})
    transport = RecordingTransport(
        {
            "/start": httpx.Response(
                302,
                headers={"Location": "https://cdn.example.net/x.bin#frag", "Set-Cookie": "session=abc"},
            ),
            "/x.bin": httpx.Response(200, content=b"x"),
        }
    )

    guarded(resolver, transport).fetch("https://files.example.com/start")

    second = transport.requests[1]
    assert "cookie" not in second.headers
    assert "authorization" not in second.headers
    assert second.url.fragment == ""


def test_oversized_declared_length_is_refused_without_reading() -> None:
    resolver = RecordingResolver({"files.example.com": [[PUBLIC_V4]]})
    transport = RecordingTransport({"/big": httpx.Response(200, content=b"x" * 2048)})

    with pytest.raises(PayloadTooLargeError) as err:
        guarded(resolver, transport, max_bytes=1024).fetch("https://files.example.com/big")

    assert err.value.status == 413
    assert err.value.code == "payload_too_large"
    assert err.value.limit == 1024


def test_port_allow_list() -> None:
    fetcher = guarded(RecordingResolver({}), allowed_ports=frozenset({443}))
    with pytest.raises(ForbiddenUrlError, match="port 8443"):
        fetcher.fetch("https://files.example.com:8443/x")


def test_default_settings_refuse_http_and_loopback() -> None:
    s = UrlFetchSettings()
    assert s.allow_http is False
    assert s.allow_loopback_for_tests is False
    assert s.max_redirects == 5


def test_unknown_host_is_the_callers_error() -> None:
    with pytest.raises(FetchError, match="could not be resolved") as err:
        guarded(RecordingResolver({})).fetch("https://nonexistent.example.org/x")
    assert err.value.status == 422


def test_dns_lookup_is_bounded_by_a_timeout() -> None:
    def slow_resolver(host: str, port: int) -> Sequence[str]:
        time.sleep(1.0)
        return [PUBLIC_V4]

    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        guarded(slow_resolver, dns_timeout=0.2).fetch("https://files.example.com/x")
    assert time.monotonic() - started < 0.9


def test_system_resolver_returns_every_address_of_a_name() -> None:
    addresses = system_resolver("localhost", 443)
    assert addresses
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses)


def test_redact_url_drops_credentials_query_and_fragment() -> None:
    assert redact_url("https://u:p@h.example.com:8443/a/b?token=s3cr3t#f") == "https://h.example.com:8443/a/b"


# A property over the forbidden ranges, including their IPv6 spellings.
_FORBIDDEN_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_FORBIDDEN_V4), st.integers(min_value=0, max_value=2**32 - 1), st.integers(0, 3))
def test_no_address_in_a_forbidden_range_passes_in_any_spelling(net: str, offset: int, spelling: int) -> None:
    network = ipaddress.ip_network(net)
    v4 = network.network_address + offset % network.num_addresses
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    if spelling == 0:
        ip = v4
    elif spelling == 1:
        ip = ipaddress.IPv6Address(f"::ffff:{v4}")
    elif spelling == 2:
        ip = ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80))  # 6to4
    else:
        ip = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(v4))  # NAT64
    assert address_problem(ip) is not None


@pytest.mark.parametrize("addr", ["192.0.0.9", "192.0.0.10", "::ffff:192.0.0.9"])
def test_anycast_protocol_assignment_addresses_are_refused(addr: str) -> None:
    # Python's ipaddress calls these global; the guard must not.
    assert address_problem(ipaddress.ip_address(addr)) is not None


@pytest.mark.parametrize("addr", [PUBLIC_V4, "8.8.8.8", "1.1.1.1", PUBLIC_V6, "::ffff:8.8.8.8"])
def test_public_unicast_addresses_pass(addr: str) -> None:
    assert address_problem(ipaddress.ip_address(addr)) is None


def test_loopback_allowance_lets_only_loopback_through() -> None:
    assert address_problem(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert address_problem(ipaddress.ip_address("::1"), allow_loopback=True) is None
    for other in ("10.0.0.1", "169.254.169.254", "0.0.0.0", "192.168.1.1"):  # noqa: S104
        assert address_problem(ipaddress.ip_address(other), allow_loopback=True) is not None


# --------------------------------------------------------------------------------------------
# Allowed fetches against real servers on 127.0.0.1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str | None]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Host")))
        path = self.path.split("?", 1)[0]
        if path == "/report":
            self._send(
                200,
                b"%PDF-1.7 report",
                {
                    "Content-Type": "application/pdf; charset=binary",
                    "Content-Disposition": "attachment; filename*=UTF-8''Q3%20r%C3%A9sum%C3%A9.pdf",
                },
            )
        elif path == "/hop":
            self._send(302, headers={"Location": "/report"})
        elif path == "/loop":
            self._send(302, headers={"Location": "/loop"})
        elif path == "/to-metadata":
            self._send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path == "/declared-big":
            self._send(200, b"y" * 5000)
        elif path == "/stream-big":
            # No Content-Length: the cap must hold while streaming.
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"400\r\n" + b"z" * 1024 + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/stall":
            time.sleep(1.5)
            self._send(200, b"late")
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"d")
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/missing":
            self._send(404, b"nope")
        elif path == "/broken":
            self._send(503, b"down")
        else:
            self._send(200, b"plain", {"Content-Type": "text/plain"})


class LocalServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        handler = type("Handler", (_Handler,), {"seen": []})
        self.handler: type[_Handler] = handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen(self) -> list[tuple[str, str | None]]:
        return self.handler.seen

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    server = LocalServer()
    yield server
    server.stop()


def loopback_fetcher(**overrides: Any) -> UrlFetcher:
    values: dict[str, Any] = {
        "allow_http": True,
        "allow_loopback_for_tests": True,
        "connect_timeout": 2,
        "read_timeout": 2,
        "total_timeout": 5,
    }
    values.update(overrides)
    return UrlFetcher(UrlFetchSettings(**values))


def test_loopback_is_refused_without_the_test_allowance_even_with_a_server_there(
    http_server: LocalServer,
) -> None:
    with pytest.raises(ForbiddenUrlError, match="loopback"):
        UrlFetcher(UrlFetchSettings(allow_http=True)).fetch(f"http://127.0.0.1:{http_server.port}/report")
    assert http_server.seen == []


def test_fetches_content_name_and_type_from_a_real_server(http_server: LocalServer) -> None:
    got = loopback_fetcher().fetch(f"http://127.0.0.1:{http_server.port}/hop?token=abc")

    assert got.content == b"%PDF-1.7 report"
    assert got.size == len(b"%PDF-1.7 report")
    assert got.filename == "Q3 résumé.pdf"
    assert got.content_type == "application/pdf"
    assert got.final_url == f"http://127.0.0.1:{http_server.port}/report"
    assert [p for p, _ in http_server.seen] == ["/hop?token=abc", "/report"]


def test_name_resolved_once_to_loopback_is_pinned_with_host_header(http_server: LocalServer) -> None:
    resolver = RecordingResolver({"files.test": [["127.0.0.1"], ["10.0.0.1"]]})
    fetcher = UrlFetcher(
        UrlFetchSettings(allow_http=True, allow_loopback_for_tests=True, total_timeout=5), resolver=resolver
    )

    got = fetcher.fetch(f"http://files.test:{http_server.port}/plain.txt")

    assert got.content == b"plain"
    assert got.filename == "plain.txt"
    assert got.content_type == "text/plain"
    assert http_server.seen == [("/plain.txt", f"files.test:{http_server.port}")]
    assert resolver.calls == [("files.test", http_server.port)]


def test_redirect_from_a_real_server_to_the_metadata_address_is_refused(http_server: LocalServer) -> None:
    with pytest.raises(ForbiddenUrlError, match="metadata"):
        loopback_fetcher().fetch(f"http://127.0.0.1:{http_server.port}/to-metadata")
    assert [p for p, _ in http_server.seen] == ["/to-metadata"]


def test_redirect_loop_stops_at_the_limit(http_server: LocalServer) -> None:
    with pytest.raises(FetchError, match="more than 5 redirects"):
        loopback_fetcher().fetch(f"http://127.0.0.1:{http_server.port}/loop")
    assert len(http_server.seen) == 6


def test_size_cap_holds_while_streaming(http_server: LocalServer) -> None:
    with pytest.raises(PayloadTooLargeError) as err:
        loopback_fetcher(max_bytes=10_000).fetch(f"http://127.0.0.1:{http_server.port}/stream-big")
    assert err.value.limit == 10_000


def test_size_cap_uses_the_declared_length(http_server: LocalServer) -> None:
    with pytest.raises(PayloadTooLargeError):
        loopback_fetcher(max_bytes=4096).fetch(f"http://127.0.0.1:{http_server.port}/declared-big")
    got = loopback_fetcher(max_bytes=5000).fetch(f"http://127.0.0.1:{http_server.port}/declared-big")
    assert got.size == 5000


def test_a_server_that_does_not_answer_times_out(http_server: LocalServer) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out") as err:
        loopback_fetcher(read_timeout=0.3).fetch(f"http://127.0.0.1:{http_server.port}/stall")
    assert err.value.status == 502
    assert time.monotonic() - started < 1.4


def test_a_server_dripping_bytes_is_stopped_by_the_total_timeout(http_server: LocalServer) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"longer than 0\.6 s"):
        loopback_fetcher(read_timeout=1, total_timeout=0.6).fetch(f"http://127.0.0.1:{http_server.port}/drip")
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(("path", "status"), [("/missing", 422), ("/broken", 502)])
def test_error_statuses_of_the_remote(http_server: LocalServer, path: str, status: int) -> None:
    with pytest.raises(FetchError, match=f"HTTP {404 if status == 422 else 503}") as err:
        loopback_fetcher().fetch(f"http://127.0.0.1:{http_server.port}{path}?sig=secret")
    assert err.value.status == status
    assert "secret" not in str(err.value)


def test_connection_refused_is_a_fetch_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match="could not connect") as err:
        loopback_fetcher().fetch(f"http://127.0.0.1:{port}/x")
    assert err.value.status == 502


# --- https with a self-signed certificate: SNI and certificate checks use the name, not the IP


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[LocalServer, Path, list[str | None]]]:
    cert, key = _self_signed(tmp_path, "files.test")
    sni_seen: list[str | None] = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda _sock, name, _ctx: sni_seen.append(name)
    server = LocalServer(tls=ctx)
    yield server, cert, sni_seen
    server.stop()


def _client_ctx(cert: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    return ctx


def test_https_pins_the_ip_and_verifies_the_certificate_for_the_name(
    https_server: tuple[LocalServer, Path, list[str | None]],
) -> None:
    server, cert, sni_seen = https_server
    resolver = RecordingResolver({"files.test": [["127.0.0.1"]]})
    fetcher = UrlFetcher(
        UrlFetchSettings(allow_loopback_for_tests=True, total_timeout=5),
        resolver=resolver,
        ssl_context=_client_ctx(cert),
    )

    got = fetcher.fetch(f"https://files.test:{server.port}/report")

    assert got.content == b"%PDF-1.7 report"
    assert sni_seen == ["files.test"]
    assert server.seen == [("/report", f"files.test:{server.port}")]


def test_https_certificate_for_another_name_is_rejected(
    https_server: tuple[LocalServer, Path, list[str | None]],
) -> None:
    server, cert, _ = https_server
    resolver = RecordingResolver({"other.test": [["127.0.0.1"]]})
    fetcher = UrlFetcher(
        UrlFetchSettings(allow_loopback_for_tests=True, total_timeout=5),
        resolver=resolver,
        ssl_context=_client_ctx(cert),
    )

    with pytest.raises(FetchError):
        fetcher.fetch(f"https://other.test:{server.port}/report")
    assert server.seen == []
