"""SSRF-safe download of a file from a user-supplied URL (the "add attachment from URL" action).

The connector runs inside the platform's AWS account, so a URL chosen by a workflow author must
never reach anything the Lambda can reach but the internet cannot: the instance/task metadata
services, VPC-private hosts, loopback. The guard therefore:

* allows ``https`` only (``http`` needs an explicit setting) and refuses credentials in URLs;
* refuses hostnames that only ever name internal things (``localhost``, ``*.internal``, ...);
* resolves the host itself and checks EVERY resolved address (private, loopback, link-local incl.
  the metadata addresses, multicast, reserved, unspecified, CGNAT, and IPv4 embedded in IPv6);
* connects to the vetted address itself (the URL's host is replaced by the IP, the ``Host`` header
  and TLS SNI carry the name, so the certificate is still verified against the name): there is no
  second DNS lookup an attacker could answer differently (DNS rebinding);
* follows redirects by hand, re-running every check for each hop (at most ``max_redirects``);
* enforces the size cap while streaming and a deadline over the whole fetch, DNS included.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field

from sfconnector.errors import ConnectorError, Fault
from sfconnector.salesforce.errors import redact

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    import httpx

# Imported by every attachments function, so the stdlib modules only a download needs
# (concurrent.futures, email, mimetypes) are imported when a download happens.

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FetchError",
    "FetchStream",
    "FetchedFile",
    "ForbiddenUrlError",
    "PayloadTooLargeError",
    "Resolver",
    "UrlFetchError",
    "UrlFetchSettings",
    "UrlFetcher",
    "address_problem",
    "redact_url",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> addresses``: every address the name resolves to, as strings."""

# Salesforce takes at most ~37.5 MB of base64 in a JSON body (25 MB of content is the documented
# Attachment size); anything bigger could never be stored, so downloading it would be waste.
DEFAULT_MAX_BYTES = 25 * 1024 * 1024

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Names that only ever point at internal things; checked before DNS so that a resolver quirk
# (e.g. /etc/hosts, a search domain) cannot turn them into something that passes.
_FORBIDDEN_HOSTS = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "kubernetes.default",
        "kubernetes.default.svc",
    }
)
_FORBIDDEN_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa", ".svc")

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# IETF protocol assignments: Python calls a few of these global (192.0.0.9 PCP anycast,
# 192.0.0.10 TURN anycast), but no attachment lives on an anycast service address.
_IETF_PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # EC2 / GCP / Azure instance metadata
        "169.254.170.2",  # ECS task metadata and credentials
        "169.254.170.23",  # EKS pod identity agent
        "fd00:ec2::254",  # EC2 instance metadata over IPv6
        "fd00:ec2::23",  # EKS pod identity agent over IPv6
    )
)


class UrlFetchError(ConnectorError):
    """Base of the typed errors of this module; ``fault`` and ``code`` say how the API answers.

    ``field`` names the input the error is about; ``message`` never contains a URL's query
    string or credentials (see :func:`redact_url`), nor anything that looks like a token.
    """

    code: ClassVar[str] = "url_fetch_failed"

    def __init__(self, message: str, *, status: int = 422, field: str = "url") -> None:
        super().__init__(redact(message), fields=[field])
        self.fault = Fault(status)
        self.field = field


class ForbiddenUrlError(UrlFetchError):
    """The URL (or a redirect hop, or an address its host resolves to) is not allowed."""

    code: ClassVar[str] = "forbidden_url"

    def __init__(self, reason: str, *, field: str = "url") -> None:
        super().__init__(f"URL refused: {reason}", status=422, field=field)
        self.reason = reason


class FetchError(UrlFetchError):
    """The URL was allowed but could not be fetched.

    ``status`` is 422 when the URL is the caller's problem (the remote answered 4xx, the host does
    not exist, too many redirects) and 502 when the remote failed (timeout, 5xx, broken connection).
    """

    code: ClassVar[str] = "url_fetch_failed"

    def __init__(self, message: str, *, status: int = 502, field: str = "url") -> None:
        super().__init__(message, status=status, field=field)


class PayloadTooLargeError(UrlFetchError):
    """Content larger than the allowed size (a download, inline base64, or an upload)."""

    code: ClassVar[str] = "payload_too_large"

    def __init__(self, limit: int, *, field: str = "url", what: str = "the content") -> None:
        super().__init__(f"{what} is larger than the limit of {limit} bytes", status=413, field=field)
        self.limit = limit


class UrlFetchSettings(BaseModel):
    """Limits and switches of the fetcher (validated; defaults are the production ones)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow_http: bool = False
    """Plain http is refused unless this is set explicitly."""
    allow_loopback_for_tests: bool = False
    """Lets 127.0.0.0/8 and ::1 (nothing else) through, for tests' local servers. Never in production."""
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=15.0, gt=0)
    total_timeout: float = Field(default=30.0, gt=0)
    dns_timeout: float = Field(default=5.0, gt=0)
    allowed_ports: frozenset[int] | None = None
    """If set, only these ports may be contacted (None: any port)."""
    user_agent: str = "sfconnector-urlfetch/1.0"


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """A downloaded file; ``filename`` and ``content_type`` come from the response headers or the URL."""

    content: bytes
    filename: str
    content_type: str
    final_url: str
    """The URL of the last hop, with its query string removed (it may carry tokens)."""

    @property
    def size(self) -> int:
        return len(self.content)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, through the system resolver (``socket.getaddrinfo``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        addr = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if addr not in out:
            out.append(addr)
    return out


def redact_url(url: httpx.URL | str) -> str:
    """The URL without userinfo, query and fragment: safe to put in errors and logs."""
    import httpx

    try:
        u = httpx.URL(url) if isinstance(url, str) else url
    except Exception:
        return "<unparseable URL>"
    port = f":{u.port}" if u.port is not None else ""
    host = u.host if ":" not in u.host else f"[{u.host}]"
    return f"{u.scheme}://{host}{port}{u.path}"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> Iterable[tuple[str, ipaddress.IPv4Address]]:
    if ip.ipv4_mapped is not None:
        yield "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        yield "6to4", ip.sixtofour
    if ip.teredo is not None:
        server, client = ip.teredo
        yield "Teredo", server
        yield "Teredo", client
    if ip in _NAT64:
        yield "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def address_problem(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why connecting to ``ip`` is not allowed, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        for kind, v4 in _embedded_ipv4(ip):
            inner = address_problem(v4, allow_loopback=allow_loopback)
            if inner is not None:
                return f"{inner} ({kind} in IPv6)"
        if ip.ipv4_mapped is not None:
            return None  # the mapped IPv4 address is public
    if ip in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a shared (CGNAT) address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _IETF_PROTOCOL_ASSIGNMENTS:
        return "an IETF protocol-assignment address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def _host_problem(host: str) -> str | None:
    if not host:
        return "the URL has no host"
    if host in _FORBIDDEN_HOSTS or host.endswith(_FORBIDDEN_SUFFIXES):
        return f"host {host!r} is internal"
    if "." not in host:
        # A single label is completed by the resolver's search domains: an internal name.
        return f"host {host!r} is not a fully qualified domain name"
    return None


_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}")


def _literal_ip(host: str) -> IPAddress | None:
    """The IP a host literal names, including the shorthand forms (``127.1``, ``2130706433``,
    ``0x7f000001``, octal) that C resolvers and browsers accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


_TOKEN_RE = re.compile(r"[\x00-\x1f\x7f]")


def _clean_filename(name: str) -> str:
    name = _TOKEN_RE.sub("", name).replace("\\", "/").rsplit("/", 1)[-1].strip().strip(".")
    return name[:255]


def filename_from(content_disposition: str | None, url: httpx.URL) -> str:
    """The file name from Content-Disposition (RFC 6266, ``filename*`` preferred), else the URL path."""
    if content_disposition:
        from email.message import Message

        msg = Message()
        msg["content-disposition"] = content_disposition
        raw = msg.get_filename()  # decodes filename*=UTF-8''... (RFC 2231)
        if raw:
            cleaned = _clean_filename(raw)
            if cleaned:
                return cleaned
    last = unquote(url.path.rsplit("/", 1)[-1])
    return _clean_filename(last) or "attachment"


def content_type_from(header: str | None, filename: str) -> str:
    """The media type (without parameters) from Content-Type, else guessed from the file name."""
    if header:
        media = header.split(";", 1)[0].strip().lower()
        if "/" in media and len(media) <= 120 and not _TOKEN_RE.search(media):
            return media
    import mimetypes

    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


class _Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._end = clock() + seconds
        self.seconds = seconds

    def remaining(self) -> float:
        left = self._end - self._clock()
        if left <= 0:
            raise FetchError(f"fetching the URL took longer than {self.seconds:g} s")
        return left


_dns_pool: ThreadPoolExecutor | None = None
_dns_pool_lock = threading.Lock()


def _dns_executor() -> ThreadPoolExecutor:
    global _dns_pool
    with _dns_pool_lock:
        if _dns_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _dns_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="urlfetch-dns")
        return _dns_pool


class UrlFetcher:
    """Fetches one URL at a time under the SSRF guard; cheap to keep for warm invocations.

    ``resolver`` and ``transport`` are the ports: tests pass a resolver that answers what the test
    needs and a transport that records (and refuses) requests, so no packet leaves the machine.
    """

    def __init__(
        self,
        settings: UrlFetchSettings | None = None,
        *,
        resolver: Resolver | None = None,
        transport: httpx.BaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or UrlFetchSettings()
        self._resolver: Resolver = resolver or system_resolver
        self._transport = transport
        self._ssl_context = ssl_context
        self._clock = clock
        self._client: httpx.Client | None = None

    # -- ports ---------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            transport = self._transport
            if transport is None:
                # httpx's context: certifi's CA bundle, as the Salesforce client uses.
                ctx = self._ssl_context or httpx.create_ssl_context()
                # No keep-alive: the pool is keyed by IP, and a connection opened for one name's
                # SNI must never be reused for another name on the same IP.
                transport = httpx.HTTPTransport(
                    verify=ctx, retries=0, limits=httpx.Limits(max_keepalive_connections=0)
                )
            # trust_env=False: an HTTP(S)_PROXY from the environment would connect for us and
            # void the address check.
            self._client = httpx.Client(transport=transport, trust_env=False, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the guard -----------------------------------------------------------------------------

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """Static checks of a URL (scheme, credentials, host name, port); raises ForbiddenUrlError."""
        import httpx

        try:
            u = httpx.URL(url) if isinstance(url, str) else url
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise ForbiddenUrlError(f"not a valid URL ({exc})") from None
        scheme = u.scheme.lower()
        if scheme != "https" and not (scheme == "http" and self.settings.allow_http):
            allowed = "https or http" if self.settings.allow_http else "https"
            raise ForbiddenUrlError(f"scheme {scheme or '(none)'!r} is not allowed (only {allowed})")
        if u.userinfo:
            raise ForbiddenUrlError("credentials in the URL are not allowed")
        host = u.raw_host.decode("ascii").lower().rstrip(".")
        if _literal_ip(host) is None:
            problem = _host_problem(host)
            if problem is not None:
                raise ForbiddenUrlError(problem)
        port = u.port or (443 if scheme == "https" else 80)
        allowed_ports = self.settings.allowed_ports
        if allowed_ports is not None and port not in allowed_ports:
            raise ForbiddenUrlError(f"port {port} is not allowed")
        return u

    def vetted_addresses(self, host: str, port: int, deadline: _Deadline | None = None) -> list[IPAddress]:
        """Resolve ``host`` once and check every address; all must be allowed."""
        allow_lo = self.settings.allow_loopback_for_tests
        literal = _literal_ip(host)
        if literal is not None:
            raw: Sequence[str] = [str(literal)]
        else:
            timeout = min(self.settings.dns_timeout, deadline.remaining() if deadline else float("inf"))
            future = _dns_executor().submit(self._resolver, host, port)
            try:
                raw = future.result(timeout=timeout)
            except TimeoutError:  # concurrent.futures.TimeoutError is this builtin since 3.11
                raise FetchError(f"resolving host {host!r} timed out") from None
            except (OSError, UnicodeError) as exc:
                raise FetchError(f"host {host!r} could not be resolved ({exc})", status=422) from None
        if not raw:
            raise FetchError(f"host {host!r} did not resolve to any address", status=422)
        addresses: list[IPAddress] = []
        for text in raw:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                raise ForbiddenUrlError(f"host {host!r} resolved to something that is not an IP") from None
            problem = address_problem(ip, allow_loopback=allow_lo)
            if problem is not None:
                shown = "" if literal is not None else f"host {host!r} resolves to "
                raise ForbiddenUrlError(f"{shown}{ip} which is {problem}")
            addresses.append(ip)
        return addresses

    # -- fetching ------------------------------------------------------------------------------

    def fetch(self, url: str) -> FetchedFile:
        """Download ``url`` under the guard; raises ForbiddenUrlError, FetchError or PayloadTooLargeError."""
        with self.open(url) as stream:
            content = b"".join(stream.chunks())
            return FetchedFile(
                content=content,
                filename=stream.filename,
                content_type=stream.content_type,
                final_url=stream.final_url,
            )

    @contextmanager
    def open(self, url: str, *, max_bytes: int | None = None) -> Iterator[FetchStream]:
        """``url`` under the same guard as :meth:`fetch`, as a stream of chunks (a large file is
        never whole in memory); ``max_bytes`` overrides the settings' cap."""
        import httpx

        deadline = _Deadline(self.settings.total_timeout, self._clock)
        current = self.check_url(url)
        for _hop in range(self.settings.max_redirects + 1):
            response = self._open(current, deadline)
            try:
                if response.status_code in _REDIRECT_STATUSES:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(
                            f"{redact_url(current)} answered {response.status_code} without a Location"
                        )
                    try:
                        target = current.join(location)
                    except (httpx.InvalidURL, ValueError):
                        raise ForbiddenUrlError("a redirect points to an invalid URL") from None
                    # check_url also refuses an https -> http downgrade unless http is allowed.
                    current = self.check_url(target.copy_with(fragment=None))
                    continue
                if response.status_code >= 400:
                    status = 422 if response.status_code < 500 else 502
                    raise FetchError(
                        f"{redact_url(current)} answered HTTP {response.status_code}", status=status
                    )
                if not 200 <= response.status_code < 300:
                    raise FetchError(f"{redact_url(current)} answered HTTP {response.status_code}")
                filename = filename_from(response.headers.get("content-disposition"), current)
                cap = self.settings.max_bytes if max_bytes is None else max_bytes
                yield FetchStream(
                    filename=filename,
                    content_type=content_type_from(response.headers.get("content-type"), filename),
                    final_url=redact_url(current),
                    declared_size=_declared_size(response),
                    _chunks=functools.partial(self._read_capped, response, current, deadline, cap),
                )
                return
            finally:
                response.close()
        raise FetchError(f"more than {self.settings.max_redirects} redirects", status=422)

    def _open(self, url: httpx.URL, deadline: _Deadline) -> httpx.Response:
        import httpx

        host = url.raw_host.decode("ascii").lower().rstrip(".")
        scheme = url.scheme.lower()
        port = url.port or (443 if scheme == "https" else 80)
        addresses = self.vetted_addresses(host, port, deadline)
        host_header = host if ":" not in host else f"[{host}]"
        if url.port is not None:
            host_header += f":{url.port}"
        headers = {
            "Host": host_header,
            "User-Agent": self.settings.user_agent,
            "Accept": "*/*",
            # The exact bytes are wanted; compressed transfer would also make the size cap about
            # something other than what is stored.
            "Accept-Encoding": "identity",
        }
        last_error: Exception | None = None
        for ip in addresses:
            remaining = deadline.remaining()
            timeout = httpx.Timeout(
                connect=min(self.settings.connect_timeout, remaining),
                read=min(self.settings.read_timeout, remaining),
                write=min(self.settings.read_timeout, remaining),
                pool=min(self.settings.connect_timeout, remaining),
            )
            # Connect to the vetted IP itself: the name is never resolved again.
            pinned = url.copy_with(host=str(ip), fragment=None)
            extensions: dict[str, Any] = {"timeout": timeout.as_dict()}
            if scheme == "https" and _literal_ip(host) is None:
                extensions["sni_hostname"] = host
            request = httpx.Request("GET", pinned, headers=headers, extensions=extensions)
            try:
                return self._http().send(request, stream=True)
            except httpx.ConnectError as exc:
                last_error = exc
                continue
            except httpx.TimeoutException:
                raise FetchError(f"{redact_url(url)} timed out") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{redact_url(url)} could not be fetched ({type(exc).__name__})") from None
        reason = type(last_error).__name__ if last_error else "no address"
        raise FetchError(f"could not connect to {redact_url(url)} ({reason})")

    def _read_capped(
        self, response: httpx.Response, url: httpx.URL, deadline: _Deadline, cap: int
    ) -> Iterator[bytes]:
        import httpx

        declared = _declared_size(response)
        if declared is not None and declared > cap:
            raise PayloadTooLargeError(cap)
        total = 0
        try:
            # No chunk_size: each network read comes back at once, so the cap and the deadline
            # are checked per read rather than per 64 KiB.
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > cap:
                    raise PayloadTooLargeError(cap)
                # A server dripping bytes just under the read timeout is stopped by the total one.
                deadline.remaining()
                yield chunk
        except httpx.TimeoutException:
            raise FetchError(f"{redact_url(url)} timed out while sending") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"the download broke off ({type(exc).__name__})") from None


def _declared_size(response: httpx.Response) -> int | None:
    declared = response.headers.get("content-length")
    return int(declared) if declared is not None and declared.strip().isdigit() else None


@dataclass(frozen=True, slots=True)
class FetchStream:
    """A download under way: its name and type from the headers, its chunks (capped, read once)."""

    filename: str
    content_type: str
    final_url: str
    declared_size: int | None
    """The Content-Length the server announced (None: chunked); the cap applies to the bytes read."""
    _chunks: Callable[[], Iterator[bytes]]

    def chunks(self) -> Iterator[bytes]:
        return self._chunks()
