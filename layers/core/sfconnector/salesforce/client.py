"""The Salesforce REST client: one pinned API version over one pooled httpx client.

Behaviour a caller can rely on:

* the Authorization header is set per request from the injected :class:`TokenProvider`; on
  ``INVALID_SESSION_ID`` the client asks it to refresh ONCE and retries ONCE;
* 502/503/504, timeouts and connection errors are retried with exponential backoff and full jitter,
  but only for requests that are safe to repeat (GET, HEAD, DELETE, PATCH updates and external-id
  upserts, read-only composites). A create is never re-sent: the caller gets the error and decides;
* ``REQUEST_LIMIT_EXCEEDED`` raises :class:`RequestLimitExceededError` at once, never retried;
* ``Sforce-Limit-Info`` is parsed from every response into :attr:`SalesforceClient.limit_info`;
* query iterators follow ``nextRecordsUrl`` lazily, one page per need;
* describes are cached per (org, sObject) with a TTL in a module-level cache shared by warm
  invocations;
* tokens never reach logs, reprs or exception messages.
"""

from __future__ import annotations

import json as json_module
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sfconnector import API_VERSION
from sfconnector.salesforce.composite import (
    CompositeRequest,
    CompositeResponse,
    collection_upsert_outcome,
    external_id_fits_url,
)
from sfconnector.salesforce.errors import (
    SalesforceError,
    SalesforceErrorItem,
    SalesforceTransportError,
    SessionExpiredError,
    error_from_response,
)
from sfconnector.salesforce.ids import InvalidIdError
from sfconnector.salesforce.soql import field_list, identifier, sobject_name

__all__ = [
    "DEFAULT_TIMEOUT",
    "AccessToken",
    "DescribeCache",
    "LimitInfo",
    "QueryPage",
    "RetryPolicy",
    "SalesforceClient",
    "StaticTokenProvider",
    "TokenProvider",
    "UpsertResult",
    "default_describe_cache",
    "reset_shared_http_client",
    "shared_http_client",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=25.0, write=25.0, pool=5.0)
USER_AGENT = "sfconnector/0.1 (+https://github.com/; workflow automation connector)"
# Beyond ~16 KB Salesforce answers 414/431; a longer query travels inside a composite body.
MAX_QUERY_URL_CHARS = 15_000
RETRYABLE_STATUSES = frozenset({502, 503, 504})
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


# ------------------------------------------------------------------------------------------ tokens


class AccessToken(BaseModel):
    """An access token and the org's instance URL. The token never shows in repr/str/dumps."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    instance_url: str

    @field_validator("instance_url")
    @classmethod
    def _instance_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("instance_url must be an http(s) URL")
        return f"{parts.scheme}://{parts.netloc}"


@runtime_checkable
class TokenProvider(Protocol):
    """Where the client gets its access token; ``refresh`` is called once per INVALID_SESSION_ID."""

    def current(self) -> AccessToken: ...

    def refresh(self, stale: AccessToken) -> AccessToken: ...


class StaticTokenProvider:
    """A fixed token (scripts, tests): refreshing is impossible, so it raises SessionExpiredError."""

    def __init__(self, access_token: str | SecretStr, instance_url: str) -> None:
        secret = access_token if isinstance(access_token, SecretStr) else SecretStr(access_token)
        self._token = AccessToken(access_token=secret, instance_url=instance_url)

    def current(self) -> AccessToken:
        return self._token

    def refresh(self, stale: AccessToken) -> AccessToken:
        raise SessionExpiredError(
            401, [SalesforceErrorItem("INVALID_SESSION_ID", "Session expired and no refresh is possible")]
        )

    def __repr__(self) -> str:
        return f"StaticTokenProvider(instance_url={self._token.instance_url!r})"


# ---------------------------------------------------------------------------------- retry & limits


def full_jitter(delay: float) -> float:
    """AWS's "full jitter": a uniform delay between 0 and the exponential cap."""
    return random.uniform(0.0, delay)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before re-sending a request that is safe to repeat."""

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    jitter: Callable[[float], float] = full_jitter
    sleep: Callable[[float], None] = time.sleep
    budget: float | None = 20.0
    """No retry is started when it would begin more than ``budget`` seconds after the first attempt:
    API Gateway gives up after 29 s, so a late success would reach nobody. None: no budget."""
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def allows(self, attempt: int, started: float, delay: float) -> bool:
        """Whether another attempt may follow failed attempt ``attempt`` after sleeping ``delay``."""
        if attempt >= self.max_attempts:
            return False
        return self.budget is None or self.clock() - started + delay <= self.budget

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(self.max_delay, retry_after)
        return min(self.max_delay, self.jitter(min(self.max_delay, self.base_delay * 2 ** (attempt - 1))))


_LIMIT_HEADER = re.compile(r"(?:^|[;,\s])api-usage\s*=\s*(\d+)\s*/\s*(\d+)", re.IGNORECASE)


class LimitInfo(BaseModel):
    """The org's daily API usage, as reported by ``Sforce-Limit-Info: api-usage=used/max``."""

    model_config = ConfigDict(frozen=True)

    used: int = Field(ge=0)
    max: int = Field(ge=0)

    @property
    def remaining(self) -> int:
        return max(0, self.max - self.used)

    @property
    def share_used(self) -> float:
        """Fraction of the allowance used (1.0 when the maximum is 0)."""
        return 1.0 if self.max <= 0 else self.used / self.max

    @classmethod
    def parse(cls, header: str | None) -> LimitInfo | None:
        """``api-usage=18/15000`` (optionally followed by ``; per-app-api-usage=...``); None if absent."""
        if not header:
            return None
        match = _LIMIT_HEADER.search(header)
        if not match:
            return None
        return cls(used=int(match.group(1)), max=int(match.group(2)))


# --------------------------------------------------------------------------------- describe cache


class DescribeCache:
    """Describe results per (org key, sObject) for ``ttl`` seconds. Thread-safe, bounded."""

    def __init__(
        self, ttl: float = 900.0, *, max_entries: int = 512, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, org_key: str, sobject: str) -> dict[str, Any] | None:
        key = (org_key, sobject.lower())
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() >= entry[0]:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, org_key: str, sobject: str, value: dict[str, Any]) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                oldest = min(self._entries, key=lambda k: self._entries[k][0])
                del self._entries[oldest]
            self._entries[(org_key, sobject.lower())] = (self._clock() + self.ttl, value)

    def invalidate(self, org_key: str, sobject: str | None = None) -> None:
        """Forget one sObject of an org, or (``sobject`` None) everything of that org."""
        with self._lock:
            for key in list(self._entries):
                if key[0] == org_key and (sobject is None or key[1] == sobject.lower()):
                    del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_DEFAULT_DESCRIBE_CACHE = DescribeCache()


def default_describe_cache() -> DescribeCache:
    """The module-level cache shared by every client of a (warm) Lambda container."""
    return _DEFAULT_DESCRIBE_CACHE


# ------------------------------------------------------------------------------------ http client

_shared_http: httpx.Client | None = None
_shared_lock = threading.Lock()


def shared_http_client() -> httpx.Client:
    """One pooled keep-alive httpx client per process, created on first use (warm invocations reuse it)."""
    global _shared_http
    with _shared_lock:
        if _shared_http is None or _shared_http.is_closed:
            _shared_http = httpx.Client(
                timeout=DEFAULT_TIMEOUT,
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=55.0),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                follow_redirects=False,
            )
        return _shared_http


def reset_shared_http_client() -> None:
    """Close and forget the shared client (tests; never needed in Lambda)."""
    global _shared_http
    with _shared_lock:
        if _shared_http is not None:
            _shared_http.close()
        _shared_http = None


# ---------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class UpsertResult:
    id: str
    created: bool


@dataclass(frozen=True)
class QueryPage:
    total_size: int
    done: bool
    records: list[dict[str, Any]]
    next_records_url: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> QueryPage:
        if not isinstance(body, Mapping) or "records" not in body:
            raise SalesforceError(
                0, [SalesforceErrorItem("UNEXPECTED_RESPONSE", "the query response has no records")]
            )
        return cls(
            total_size=int(body.get("totalSize", 0)),
            done=bool(body.get("done", True)),
            records=list(body["records"]),
            next_records_url=body.get("nextRecordsUrl") or None,
        )


@dataclass
class _Attempt:
    token: AccessToken
    started: float
    refreshed: bool = False
    attempt: int = 0


_MAX_QUERY_STRING = 12_000
"""Characters of ids and fields a collection read puts in its URL (Salesforce refuses URLs past
16 KB); more go in a POST body."""


def _record_path_id(record_id: str) -> str:
    if not isinstance(record_id, str) or not _RECORD_ID.fullmatch(record_id):
        raise InvalidIdError(record_id)
    return record_id


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------- client


class SalesforceClient:
    """Salesforce REST API of one org (one token provider). Paths are relative to
    ``{instance_url}/services/data/{api_version}/`` unless they start with ``/`` or a scheme."""

    def __init__(
        self,
        tokens: TokenProvider,
        *,
        http: httpx.Client | None = None,
        org_key: str = "",
        api_version: str = API_VERSION,
        retry: RetryPolicy | None = None,
        describe_cache: DescribeCache | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        if not re.fullmatch(r"v\d+\.\d", api_version):
            raise ValueError(f"{api_version!r} is not an API version like v62.0")
        self._tokens = tokens
        self._http = http
        self.org_key = org_key
        self.api_version = api_version
        self.retry = retry or RetryPolicy()
        self._describe_cache = describe_cache if describe_cache is not None else _DEFAULT_DESCRIBE_CACHE
        self.timeout = timeout
        self.limit_info: LimitInfo | None = None
        self.api_calls = 0
        """Requests that reached Salesforce and got an HTTP response (what the org's allowance counts)."""

    def __repr__(self) -> str:
        return f"SalesforceClient(org_key={self.org_key!r}, api_version={self.api_version!r})"

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = shared_http_client()
        return self._http

    # ---- plumbing --------------------------------------------------------------------------------

    def _url(self, instance_url: str, path_or_url: str) -> str:
        if path_or_url.startswith(("https://", "http://")):
            target = urlsplit(path_or_url)
            if f"{target.scheme}://{target.netloc}" != instance_url:
                # The bearer token must never travel to another host.
                raise ValueError("absolute URLs must point at the org's instance URL")
            return path_or_url
        if path_or_url.startswith("/"):
            return instance_url + path_or_url
        return f"{instance_url}/services/data/{self.api_version}/{path_or_url}"

    @staticmethod
    def _safe_path(url: str) -> str:
        # For logs and errors: the path only, never the query string (it can hold user data).
        return urlsplit(url).path

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterable[bytes] | Callable[[AccessToken], bytes | Iterable[bytes]] | None = None,
        retryable: bool | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request (refreshing the token once, retrying when safe) and return the 2xx/304
        response; any other status raises the typed :class:`SalesforceError`.

        ``content`` may be built from the token (a SOAP envelope carries the session in its body;
        a body streamed from elsewhere starts a fresh stream): each attempt builds it again, so the
        refresh-once retry re-sends it whole with the new token. With ``stream`` the response body
        is not read: the caller iterates it and closes the response."""
        method = method.upper()
        if retryable is None:
            retryable = method in ("GET", "HEAD", "DELETE", "OPTIONS")
        state = _Attempt(token=self._tokens.current(), started=self.retry.clock())
        while True:
            state.attempt += 1
            url = self._url(state.token.instance_url, path_or_url)
            request_headers = {"Accept": "application/json"}
            if headers:
                request_headers.update(headers)
            request_headers["Authorization"] = f"Bearer {state.token.access_token.get_secret_value()}"
            try:
                request = self.http.build_request(
                    method,
                    url,
                    json=json,
                    content=content(state.token) if callable(content) else content,
                    params=dict(params) if params else None,
                    headers=request_headers,
                    timeout=self.timeout,
                )
                response = self.http.send(request, stream=stream)
            except httpx.TransportError as exc:
                timeout = isinstance(exc, httpx.TimeoutException)
                kind = "timed out" if timeout else f"failed ({type(exc).__name__})"
                if retryable and self._waited_to_retry(state, f"{method} {self._safe_path(url)} {kind}"):
                    continue
                tried = f" after {state.attempt} attempts" if state.attempt > 1 else ""
                raise SalesforceTransportError(
                    f"{method} {self._safe_path(url)} {kind}{tried}", timeout=timeout
                ) from None

            self.api_calls += 1
            limits = LimitInfo.parse(response.headers.get("Sforce-Limit-Info"))
            if limits is not None:
                self.limit_info = limits
            status = response.status_code
            if 200 <= status < 300 or status == 304:
                return response

            response.read()
            error = error_from_response(status, response.content, response.headers.get("Content-Type"))
            if isinstance(error, SessionExpiredError) and not state.refreshed:
                state.refreshed = True
                state.attempt -= 1  # the refresh is not a retry of a failure
                logger.info("Salesforce session expired; refreshing the access token once")
                state.token = self._tokens.refresh(state.token)
                continue
            if (
                status in RETRYABLE_STATUSES
                and retryable
                and self._waited_to_retry(
                    state, f"{method} {self._safe_path(url)} answered {status}", _retry_after(response)
                )
            ):
                continue
            raise error

    def _waited_to_retry(self, state: _Attempt, what: str, retry_after: float | None = None) -> bool:
        """Sleep before the next attempt when the retry policy allows one (False: give up)."""
        delay = self.retry.delay(state.attempt, retry_after)
        if not self.retry.allows(state.attempt, state.started, delay):
            return False
        logger.warning(
            "Salesforce %s; retrying in %.2fs (attempt %d of %d)",
            what, delay, state.attempt, self.retry.max_attempts,
        )  # fmt: skip
        self.retry.sleep(delay)
        return True

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code in (204, 304) or not response.content:
            return None
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise SalesforceError(
                response.status_code,
                [SalesforceErrorItem("UNEXPECTED_RESPONSE", "Salesforce returned a body that is not JSON")],
            ) from None

    def get_json(self, path_or_url: str, *, params: Mapping[str, str | int] | None = None) -> Any:
        """GET and decode JSON."""
        return self._json(self.request("GET", path_or_url, params=params))

    # ---- records ---------------------------------------------------------------------------------

    def get_record(self, sobject: str, record_id: str, fields: list[str] | None = None) -> dict[str, Any]:
        # The same validated, de-duplicated field list a SELECT of these fields would have.
        params = {"fields": ",".join(field_list(fields))} if fields else None
        path = f"sobjects/{sobject_name(sobject)}/{_record_path_id(record_id)}"
        body = self.get_json(path, params=params)
        return dict(body)

    def create(self, sobject: str, record: Mapping[str, Any]) -> str:
        """Create a record and return its id. Never retried on 5xx / timeouts (see module doc)."""
        body = self._json(self.request("POST", f"sobjects/{sobject_name(sobject)}", json=dict(record)))
        if not isinstance(body, Mapping) or not body.get("id"):
            raise SalesforceError(
                0, [SalesforceErrorItem("UNEXPECTED_RESPONSE", "the create response carries no id")]
            )
        return str(body["id"])

    def update(self, sobject: str, record_id: str, record: Mapping[str, Any]) -> None:
        """Update fields of a record. Setting fields to given values is idempotent, so it is retried."""
        path = f"sobjects/{sobject_name(sobject)}/{_record_path_id(record_id)}"
        self.request("PATCH", path, json=dict(record), retryable=True)

    def delete(self, sobject: str, record_id: str) -> None:
        self.request("DELETE", f"sobjects/{sobject_name(sobject)}/{_record_path_id(record_id)}")

    def upsert(
        self, sobject: str, external_id_field: str, value: str, record: Mapping[str, Any]
    ) -> UpsertResult:
        """Upsert by an external-id field in one call. Several matches raise MultipleMatchesError.

        Values made of letters, digits, ``-`` and ``_`` go in the URL (``PATCH sobjects/{Obj}/{Field}/
        {value}``). Any other value goes in the body of an sObject Collections upsert instead: in the
        URL, Salesforce mis-routes values with ``/`` and some with file-extension-like endings
        (``a@b.inc`` answers 404), whatever the encoding.
        """
        name = sobject_name(sobject)
        field_name = identifier(external_id_field, allow_path=False)
        text = "" if value is None else str(value)
        if text == "":
            raise ValueError(f"the {field_name} value to upsert by is empty")
        if not external_id_fits_url(text):
            return self._collection_upsert(name, field_name, text, record)
        response = self.request(
            "PATCH", f"sobjects/{name}/{field_name}/{text}", json=dict(record), retryable=True
        )
        body = self._json(response)
        if isinstance(body, Mapping) and body.get("id"):
            created = bool(body.get("created", response.status_code == 201))
            return UpsertResult(id=str(body["id"]), created=created)
        raise SalesforceError(
            response.status_code,
            [SalesforceErrorItem("UNEXPECTED_RESPONSE", "the upsert response carries no id")],
        )

    def _collection_upsert(
        self, sobject: str, field_name: str, value: str, record: Mapping[str, Any]
    ) -> UpsertResult:
        payload = {
            "allOrNone": True,
            "records": [{"attributes": {"type": sobject}, **dict(record), field_name: value}],
        }
        response = self.request(
            "PATCH", f"composite/sobjects/{sobject}/{field_name}", json=payload, retryable=True
        )
        record_id, created = collection_upsert_outcome(response.status_code, self._json(response))
        return UpsertResult(id=record_id, created=created)

    def collection_write(
        self,
        operation: Literal["create", "update", "upsert", "delete"],
        sobject: str,
        records: Sequence[Mapping[str, Any]],
        *,
        all_or_none: bool,
        external_id_field: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to 200 writes in ONE call (sObject Collections); Salesforce's per-record results in
        input order. ``delete`` takes records holding only ``Id``. Only create is never retried
        (a retry could create twice); the others set the same values again."""
        name = sobject_name(sobject)
        if operation == "delete":
            ids = ",".join(_record_path_id(str(r["Id"])) for r in records)
            params = {"ids": ids, "allOrNone": "true" if all_or_none else "false"}
            response = self.request("DELETE", "composite/sobjects", params=params)
        else:
            typed = [{"attributes": {"type": name}, **dict(r)} for r in records]
            payload = {"allOrNone": all_or_none, "records": typed}
            path, method = "composite/sobjects", "PATCH" if operation == "update" else "POST"
            if operation == "upsert":
                if not external_id_field:
                    raise ValueError("an upsert collection needs its external id field")
                path, method = (
                    f"composite/sobjects/{name}/{identifier(external_id_field, allow_path=False)}",
                    "PATCH",
                )
            response = self.request(method, path, json=payload, retryable=operation != "create")
        body = self._json(response)
        if not isinstance(body, list) or len(body) != len(records):
            raise SalesforceError(
                response.status_code,
                [
                    SalesforceErrorItem(
                        "UNEXPECTED_RESPONSE", "the collection response has no result per record"
                    )
                ],
            )
        return [dict(item) if isinstance(item, Mapping) else {} for item in body]

    def collection_read(
        self, sobject: str, record_ids: Sequence[str], fields: Sequence[str]
    ) -> list[dict[str, Any] | None]:
        """Records by id, up to 200 per call (sObject Collections ``GET composite/sobjects/{O}?ids=
        &fields=``), in input order; None where a record is missing (deleted, or not visible)."""
        name = sobject_name(sobject)
        params_fields = ",".join(field_list(list(fields)))
        out: list[dict[str, Any] | None] = []
        for start in range(0, len(record_ids), 200):
            chunk = record_ids[start : start + 200]
            ids = ",".join(_record_path_id(str(i)) for i in chunk)
            if len(ids) + len(params_fields) <= _MAX_QUERY_STRING:
                body = self.get_json(
                    f"composite/sobjects/{name}", params={"ids": ids, "fields": params_fields}
                )
            else:  # an object with hundreds of fields: the same read as a POST body (one call too)
                payload = {"ids": ids.split(","), "fields": params_fields.split(",")}
                body = self._json(
                    self.request("POST", f"composite/sobjects/{name}", json=payload, retryable=True)
                )
            if not isinstance(body, list) or len(body) != len(chunk):
                raise SalesforceError(
                    0, [SalesforceErrorItem("UNEXPECTED_RESPONSE", "the collection read has no entry per id")]
                )
            out.extend(dict(item) if isinstance(item, Mapping) else None for item in body)
        return out

    # ---- queries ---------------------------------------------------------------------------------

    def _query_headers(self, batch_size: int | None) -> dict[str, str] | None:
        if batch_size is None:
            return None
        if isinstance(batch_size, bool) or not 200 <= batch_size <= 2000:
            raise ValueError("batch_size must be between 200 and 2000")
        return {"Sforce-Query-Options": f"batchSize={batch_size}"}

    def query_page(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> QueryPage:
        """The first page of a query (``include_deleted`` uses ``queryAll``)."""
        resource = "queryAll" if include_deleted else "query"
        if len(quote(soql)) > MAX_QUERY_URL_CHARS:
            return self._long_query_page(soql, include_deleted)
        response = self.request("GET", resource, params={"q": soql}, headers=self._query_headers(batch_size))
        return QueryPage.from_json(self._json(response))

    def _long_query_page(self, soql: str, include_deleted: bool) -> QueryPage:
        # The URL would be too long for Salesforce's front end; inside a composite body it is not.
        request = CompositeRequest(all_or_none=False, api_version=self.api_version)
        request.query(soql, "q", include_deleted=include_deleted)
        return QueryPage.from_json(self.composite(request).raise_for_ref("q").body)

    def query_more(self, next_records_url: str, *, batch_size: int | None = None) -> QueryPage:
        """The page at ``nextRecordsUrl`` (the batch size is sent again: it is a per-request header)."""
        if not next_records_url.startswith("/services/data/"):
            raise ValueError("nextRecordsUrl must be a /services/data/ path")
        response = self.request("GET", next_records_url, headers=self._query_headers(batch_size))
        return QueryPage.from_json(self._json(response))

    def _iterate(self, soql: str, include_deleted: bool, batch_size: int | None) -> Iterator[dict[str, Any]]:
        page = self.query_page(soql, include_deleted=include_deleted, batch_size=batch_size)
        while True:
            yield from page.records
            if page.done or not page.next_records_url:
                return
            page = self.query_more(page.next_records_url, batch_size=batch_size)

    def query(self, soql: str, *, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Every record of a query, fetching each page only when iteration reaches it."""
        return self._iterate(soql, False, batch_size)

    def query_all(self, soql: str, *, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Like :meth:`query`, including deleted and archived records (``queryAll``)."""
        return self._iterate(soql, True, batch_size)

    def count(self, soql: str) -> int:
        """``totalSize`` of a query (use ``SELECT COUNT() FROM ...``)."""
        return self.query_page(soql).total_size

    # ---- metadata --------------------------------------------------------------------------------

    def _cache_key(self, token: AccessToken | None = None) -> str:
        return self.org_key or (token or self._tokens.current()).instance_url

    def describe(self, sobject: str) -> dict[str, Any]:
        """The sObject's describe, cached per (org, sObject) for the cache's TTL. Do not mutate it."""
        name = sobject_name(sobject)
        return self._cached_describe(name, f"sobjects/{name}/describe")

    def describe_global(self) -> dict[str, Any]:
        """The global describe (``GET sobjects``), cached like :meth:`describe`."""
        return self._cached_describe("*global*", "sobjects")

    def _cached_describe(self, entry: str, path: str) -> dict[str, Any]:
        key = self._cache_key()
        cached = self._describe_cache.get(key, entry)
        if cached is not None:
            return cached
        body: dict[str, Any] = self.get_json(path)
        self._describe_cache.put(key, entry, body)
        return body

    def limits(self) -> dict[str, Any]:
        return dict(self.get_json("limits"))

    def list_views(self, sobject: str) -> dict[str, Any]:
        return dict(self.get_json(f"sobjects/{sobject_name(sobject)}/listviews"))

    def list_view_describe(self, sobject: str, list_view_id: str) -> dict[str, Any]:
        path = f"sobjects/{sobject_name(sobject)}/listviews/{_record_path_id(list_view_id)}/describe"
        return dict(self.get_json(path))

    def get_updated(self, sobject: str, start: str, end: str) -> dict[str, Any]:
        """``sobjects/{Obj}/updated/?start=&end=`` (ISO datetimes)."""
        return dict(
            self.get_json(f"sobjects/{sobject_name(sobject)}/updated/", params={"start": start, "end": end})
        )

    def get_deleted(self, sobject: str, start: str, end: str) -> dict[str, Any]:
        """``sobjects/{Obj}/deleted/?start=&end=`` (ISO datetimes)."""
        return dict(
            self.get_json(f"sobjects/{sobject_name(sobject)}/deleted/", params={"start": start, "end": end})
        )

    # ---- composite & blobs -----------------------------------------------------------------------

    def composite(self, request: CompositeRequest) -> CompositeResponse:
        """Send a composite request (ONE API call). Read-only composites are retried when safe."""
        body = request.to_json()
        response = self.request("POST", "composite", json=body, retryable=request.is_read_only)
        return CompositeResponse.from_json(self._json(response))

    def get_blob(self, path: str) -> bytes:
        """Raw bytes of a binary field (e.g. ``sobjects/Attachment/{id}/Body``)."""
        response = self.request("GET", path, headers={"Accept": "*/*"})
        return response.content

    @contextmanager
    def open_blob(self, path: str, chunk_size: int = 1024 * 1024) -> Iterator[Iterator[bytes]]:
        """A binary field as a stream of chunks (a large file never whole in memory). ONE call; a
        connection that breaks off mid-body is a :class:`SalesforceTransportError`."""
        response = self.request("GET", path, headers={"Accept": "*/*"}, stream=True)

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.iter_bytes(chunk_size)
            except httpx.TransportError as exc:
                raise SalesforceTransportError(
                    f"GET {self._safe_path(path)} broke off ({type(exc).__name__})",
                    timeout=isinstance(exc, httpx.TimeoutException),
                ) from None

        try:
            yield chunks()
        finally:
            response.close()

    def create_with_blob(
        self,
        sobject: str,
        record: Mapping[str, Any],
        *,
        blob_field: str,
        filename: str,
        size: int,
        chunks: Callable[[], Iterable[bytes]],
    ) -> str:
        """Create a record whose binary field travels as the second part of a ``multipart/form-data``
        request (the REST API's blob insert: up to 2 GB for ContentVersion, where a JSON body carries
        at most 37.5 MB of base64). The body is streamed from ``chunks`` with its length declared.
        ONE call; never retried (a create)."""
        boundary = f"sfconnector-{uuid.uuid4().hex}"
        safe_name = filename.replace('"', "'").replace("\r", " ").replace("\n", " ")
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="entity_content"\r\n'
            "Content-Type: application/json\r\n\r\n"
            f"{json_module.dumps(dict(record), separators=(',', ':'))}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Disposition: form-data; name="{identifier(blob_field)}"; filename="{safe_name}"\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode("ascii")

        def body(_token: AccessToken) -> Iterator[bytes]:
            yield head
            yield from chunks()
            yield tail

        response = self.request(
            "POST",
            f"sobjects/{sobject_name(sobject)}",
            content=body,
            headers={
                "Content-Type": f'multipart/form-data; boundary="{boundary}"',
                "Content-Length": str(len(head) + size + len(tail)),
            },
        )
        created = self._json(response)
        if not isinstance(created, Mapping) or not created.get("id"):
            raise SalesforceError(502, message="Salesforce returned no id for the created record")
        return str(created["id"])
