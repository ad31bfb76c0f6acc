"""Typed exceptions built from Salesforce's error bodies.

Salesforce reports errors in several shapes, all funnelled through :func:`error_from_response` (a
raw HTTP response) or :func:`error_from_body` (an already parsed body, e.g. a composite
sub-response):

* REST: a JSON array ``[{"message", "errorCode", "fields"?}]``;
* sObject Collections: ``[{"success": false, "errors": [{"statusCode", "message", "fields"}]}]``;
* OAuth: ``{"error": "invalid_grant", "error_description": "..."}``;
* a 300 from an external-id upsert: a JSON array of the matching records' URLs;
* 5xx from the edge: HTML or plain text. The raw body is never copied into the exception (it can be
  huge, and it is not ours to echo), only a short description of it.

Messages are scrubbed of anything that looks like a Salesforce session id or a bearer token, and
capped in length, so ``str(error)`` is always safe to log and to return to a caller.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthorizationRevokedError",
    "EntityDeletedError",
    "MultipleMatchesError",
    "NotFoundError",
    "OAuthError",
    "RequestLimitExceededError",
    "SalesforceError",
    "SalesforceErrorItem",
    "SalesforceTransportError",
    "SalesforceUnavailableError",
    "SessionExpiredError",
    "error_from_body",
    "error_from_response",
    "redact",
]

MAX_MESSAGE_CHARS = 2000

# A Salesforce session id / access token: the org id, "!", then an opaque string.
_SESSION_ID = re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]{10,}")
_BEARER = re.compile(r"(?i)\b(bearer|oauth)\s+[A-Za-z0-9._\-!~+/=]{8,}")
_TOKEN_PARAM = re.compile(
    r"(?i)\b(access_token|refresh_token|client_secret|code_verifier|token|code)=([^&\s\"']+)"
)


def redact(text: str) -> str:
    """Remove anything that looks like a token from ``text`` and cap its length."""
    text = _SESSION_ID.sub("[REDACTED]", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} [REDACTED]", text)
    text = _TOKEN_PARAM.sub(lambda m: f"{m.group(1)}=[REDACTED]", text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "..."
    return text


@dataclass(frozen=True)
class SalesforceErrorItem:
    """One entry of a Salesforce error body."""

    error_code: str
    message: str
    fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The item in Salesforce's own wire shape (``errorCode``, ``message``, ``fields``)."""
        return {"errorCode": self.error_code, "message": self.message, "fields": list(self.fields)}


class SalesforceError(Exception):
    """An error reported by Salesforce (or met while talking to it).

    ``status`` is the HTTP status (0 when no response was received), ``errors`` the items of the
    body, ``error_code`` / ``message`` those of the first item.
    """

    default_code = "UNKNOWN_ERROR"

    def __init__(
        self,
        status: int,
        errors: Sequence[SalesforceErrorItem] = (),
        *,
        message: str | None = None,
    ) -> None:
        self.status = status
        self.errors: list[SalesforceErrorItem] = [
            SalesforceErrorItem(e.error_code, redact(e.message), tuple(e.fields)) for e in errors
        ]
        if not self.errors:
            self.errors = [SalesforceErrorItem(self.default_code, redact(message or "Salesforce error"))]
        self._summary = redact(message) if message else None
        super().__init__(str(self))

    @property
    def error_code(self) -> str:
        return self.errors[0].error_code

    @property
    def message(self) -> str:
        return self._summary or self.errors[0].message

    @property
    def fields(self) -> list[str]:
        """Every field named by any item, in order, without duplicates."""
        seen: dict[str, None] = {}
        for item in self.errors:
            for name in item.fields:
                seen.setdefault(name, None)
        return list(seen)

    def __str__(self) -> str:
        status = f"HTTP {self.status}" if self.status else "no response"
        text = f"{self.error_code} ({status}): {self.message}"
        if len(self.errors) > 1:
            text += f" (+{len(self.errors) - 1} more)"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, error_code={self.error_code!r})"


class SessionExpiredError(SalesforceError):
    """``INVALID_SESSION_ID``: the access token is expired or invalid (after one refresh, if any)."""

    default_code = "INVALID_SESSION_ID"


class RequestLimitExceededError(SalesforceError):
    """``REQUEST_LIMIT_EXCEEDED``: the org's API allowance is used up. Never retried."""

    default_code = "REQUEST_LIMIT_EXCEEDED"


class NotFoundError(SalesforceError):
    """``NOT_FOUND`` (404): the record or resource does not exist (a deleted record also reads so)."""

    default_code = "NOT_FOUND"


class EntityDeletedError(SalesforceError):
    """``ENTITY_IS_DELETED``: the record is in the recycle bin."""

    default_code = "ENTITY_IS_DELETED"


class SalesforceUnavailableError(SalesforceError):
    """A 5xx from Salesforce (after the retries allowed for the request)."""

    default_code = "SERVER_UNAVAILABLE"


class SalesforceTransportError(SalesforceError):
    """No usable response: timeout or connection error (after the retries allowed)."""

    default_code = "TRANSPORT_ERROR"

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        self.timeout = timeout
        code = "TIMEOUT" if timeout else self.default_code
        super().__init__(0, [SalesforceErrorItem(code, message)])


class OAuthError(SalesforceError):
    """An error object from the OAuth endpoints (``{"error", "error_description"}``)."""

    default_code = "invalid_request"


class AuthorizationRevokedError(OAuthError):
    """``invalid_grant`` on refresh: the refresh token is revoked or expired; the user must reconnect."""

    default_code = "invalid_grant"


class MultipleMatchesError(SalesforceError):
    """300 from an external-id upsert: more than one record matches; ``candidate_ids`` lists them."""

    default_code = "MULTIPLE_CHOICES"

    def __init__(self, candidate_ids: Sequence[str], *, status: int = 300) -> None:
        self.candidate_ids = list(candidate_ids)
        count = len(self.candidate_ids)
        super().__init__(
            status,
            [SalesforceErrorItem(self.default_code, f"{count} records match the external id value")],
        )


_BY_CODE: dict[str, type[SalesforceError]] = {
    "INVALID_SESSION_ID": SessionExpiredError,
    "REQUEST_LIMIT_EXCEEDED": RequestLimitExceededError,
    "NOT_FOUND": NotFoundError,
    "ENTITY_IS_DELETED": EntityDeletedError,
    "SERVER_UNAVAILABLE": SalesforceUnavailableError,
}

_STATUS_CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "INVALID_SESSION_ID",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    431: "REQUEST_HEADER_FIELDS_TOO_LARGE",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVER_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def _as_fields(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def _item(obj: Mapping[str, Any]) -> SalesforceErrorItem | None:
    code = obj.get("errorCode") or obj.get("statusCode")
    if isinstance(code, str) and code:
        return SalesforceErrorItem(code, str(obj.get("message") or ""), _as_fields(obj.get("fields")))
    return None


def _items(body: Any) -> list[SalesforceErrorItem]:
    """Error items of any of Salesforce's JSON error shapes (empty when none is recognised)."""
    found: list[SalesforceErrorItem] = []
    if isinstance(body, Mapping):
        item = _item(body)
        if item is not None:
            return [item]
        nested = body.get("errors")
        if isinstance(nested, list):
            return _items(nested)
        if isinstance(body.get("error"), str):
            description = body.get("error_description") or body.get("message") or body["error"]
            return [SalesforceErrorItem(body["error"], str(description))]
        return []
    if isinstance(body, list):
        for entry in body:
            if isinstance(entry, Mapping):
                item = _item(entry)
                if item is not None:
                    found.append(item)
                elif isinstance(entry.get("errors"), list):
                    found.extend(_items(entry["errors"]))
    return found


def _candidate_ids(body: Any) -> list[str] | None:
    """Record ids of a 300 body (a list of record URLs), or None if the body is not that shape."""
    if not isinstance(body, list) or not body or not all(isinstance(u, str) for u in body):
        return None
    return [u.rstrip("/").rsplit("/", 1)[-1] for u in body]


def error_from_body(status: int, body: Any) -> SalesforceError:
    """The typed error for an already parsed body (``None`` when the body was not JSON)."""
    if status == 300:
        candidates = _candidate_ids(body)
        if candidates is not None:
            return MultipleMatchesError(candidates, status=status)
    items = _items(body)
    is_oauth = isinstance(body, Mapping) and isinstance(body.get("error"), str) and "errorCode" not in body
    if not items:
        code = _STATUS_CODES.get(status, f"HTTP_{status}")
        items = [SalesforceErrorItem(code, f"Salesforce answered HTTP {status} without an error body")]
    code = items[0].error_code
    cls: type[SalesforceError]
    if is_oauth:
        cls = AuthorizationRevokedError if code == "invalid_grant" else OAuthError
    elif code in _BY_CODE:
        cls = _BY_CODE[code]
    elif status == 404:
        cls = NotFoundError
    elif status == 401:
        cls = SessionExpiredError
    elif status >= 500:
        cls = SalesforceUnavailableError
    else:
        cls = SalesforceError
    return cls(status, items)


def _describe_non_json(status: int, body: bytes, content_type: str) -> str:
    kind = (content_type.split(";", 1)[0].strip() or "unknown type") if content_type else "unknown type"
    size = len(body)
    if status >= 500:
        return f"Salesforce is unavailable (HTTP {status}, non-JSON {kind} body of {size} bytes)"
    return f"Salesforce answered HTTP {status} with a non-JSON {kind} body of {size} bytes"


_SOAP_FAULT_CODE = re.compile(rb"<faultcode>(?:[A-Za-z0-9]+:)?([A-Z_]{1,80})</faultcode>")
_SOAP_FAULT_STRING = re.compile(rb"<faultstring>([^<]{0,2000})</faultstring>")


def _soap_fault(body: bytes) -> dict[str, str] | None:
    """A SOAP API fault (``<faultcode>sf:INVALID_SESSION_ID</faultcode>``) as a REST error item:
    the SOAP calls (lead conversion) then share the REST calls' typed errors and refresh-once."""
    code = _SOAP_FAULT_CODE.search(body)
    if code is None:
        return None
    text = _SOAP_FAULT_STRING.search(body)
    message = html.unescape(text.group(1).decode("utf-8", errors="replace")) if text else ""
    return {"errorCode": code.group(1).decode("ascii"), "message": message}


def error_from_response(status: int, body: bytes, content_type: str | None = None) -> SalesforceError:
    """The typed error for a raw HTTP response (JSON, a SOAP fault, or neither)."""
    content_type = content_type or ""
    parsed: Any = None
    is_json = False
    stripped = body.lstrip()
    fault = _soap_fault(body) if "xml" in content_type.lower() else None
    if fault is not None:
        return error_from_body(status, fault)
    if "json" in content_type.lower() or stripped[:1] in (b"[", b"{"):
        try:
            parsed = json.loads(body.decode("utf-8", errors="replace"))
            is_json = True
        except ValueError:
            is_json = False
    if is_json:
        return error_from_body(status, parsed)
    if not stripped:
        return error_from_body(status, None)
    code = _STATUS_CODES.get(status, f"HTTP_{status}")
    item = SalesforceErrorItem(code, _describe_non_json(status, body, content_type))
    if status == 404:
        return NotFoundError(status, [item])
    if status == 401:
        return SessionExpiredError(status, [item])
    if status >= 500:
        return SalesforceUnavailableError(status, [item])
    return SalesforceError(status, [item])
