"""Composite API requests (``POST /composite``): up to 25 subrequests in ONE API call.

Later subrequests refer to earlier results with ``@{ref.id}`` (:func:`reference`), so "create, then
read the record back" costs one call. Salesforce's limits are checked while building: at most 25
subrequests, at most 5 of them queries or sObject Collections.

Upserts by an External ID put the value in the URL only when :func:`external_id_fits_url` says it
is safe there; any other value travels in the body of a one-record sObject Collections upsert
(:meth:`CompositeRequest.upsert_in_body`, result read by :func:`collection_upsert_outcome`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

from sfconnector import API_VERSION
from sfconnector.salesforce.errors import (
    MultipleMatchesError,
    SalesforceError,
    SalesforceErrorItem,
    error_from_body,
)
from sfconnector.salesforce.soql import field_list, identifier, sobject_name

__all__ = [
    "MAX_QUERIES",
    "MAX_SUBREQUESTS",
    "CompositeLimitError",
    "CompositeRequest",
    "CompositeResponse",
    "SubResponse",
    "collection_upsert_outcome",
    "external_id_fits_url",
    "reference",
]

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5

Method = Literal["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"]
_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE", "HEAD")
_REF = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_REF_EXPR = re.compile(r"@\{[A-Za-z][A-Za-z0-9_]*(?:\[\d+\])*(?:\.[A-Za-z0-9_\[\]]+)+\}")
_REF_PATH = re.compile(r"(?:\[\d+\])*(?:\.?[A-Za-z0-9_]+(?:\[\d+\])*)+")
_URL_SAFE_EXTERNAL_ID = re.compile(r"[A-Za-z0-9_\-]{1,255}")
_RECORD_IDS_IN_TEXT = re.compile(r"\b[A-Za-z0-9]{18}\b|\b[A-Za-z0-9]{15}\b")
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
# Codes Salesforce gives subrequests that did not fail themselves but were rolled back / skipped.
_FOLLOW_ON_CODES = frozenset({"PROCESSING_HALTED", "ALL_OR_NONE_OPERATION_ROLLED_BACK"})


class CompositeLimitError(ValueError):
    """A composite request would break one of Salesforce's limits (the message names it)."""


def reference(ref: str, path: str = "id") -> str:
    """``@{ref.path}``: a later subrequest's reference to an earlier one's result.

    A path starting with an index refers into a result that is a JSON array (an sObject
    Collections result): ``reference("write", "[0].id")`` is ``@{write[0].id}``.
    """
    if not _REF.fullmatch(ref):
        raise ValueError(f"{ref!r} is not a valid composite reference id")
    if path.startswith(".") or not _REF_PATH.fullmatch(path):
        raise ValueError(f"{path!r} is not a valid reference path")
    return f"@{{{ref}{path}}}" if path.startswith("[") else f"@{{{ref}.{path}}}"


def external_id_fits_url(value: str) -> bool:
    """Whether an External ID value can be the last segment of an upsert URL.

    In the URL Salesforce reads a ``.json`` ending as the response format (the value loses it),
    answers 404 to endings that clash with blocked file types (``ops@acme.inc``), and an encoded
    ``/`` or ``?`` does not survive every hop; letters, digits, ``-`` and ``_`` always do.
    """
    return bool(_URL_SAFE_EXTERNAL_ID.fullmatch(value))


def collection_upsert_outcome(status: int, body: Any) -> tuple[str, bool]:
    """``(id, created)`` of a one-record sObject Collections upsert; raises its typed error
    (several records with the value: :class:`MultipleMatchesError` with the candidate ids)."""
    if not 200 <= status < 300:
        raise error_from_body(status, body)
    result = body[0] if isinstance(body, list) and body and isinstance(body[0], Mapping) else None
    if result is None:
        raise SalesforceError(
            status, [SalesforceErrorItem("UNEXPECTED_RESPONSE", "the upsert response carries no result")]
        )
    if result.get("success") and result.get("id"):
        return str(result["id"]), bool(result.get("created"))
    error = error_from_body(400, result)
    if error.error_code == "DUPLICATE_EXTERNAL_ID":
        raise MultipleMatchesError(_RECORD_IDS_IN_TEXT.findall(error.message))
    raise error


def _id_or_reference(value: str) -> str:
    if isinstance(value, str) and (_RECORD_ID.fullmatch(value) or _REF_EXPR.fullmatch(value)):
        return value
    raise ValueError(f"{value!r} is neither a record id nor a composite reference")


def _is_query_or_collection(url: str) -> bool:
    path = url.split("?", 1)[0].rstrip("/")
    return bool(re.search(r"/(query|queryAll)(/|$)", path) or re.search(r"/composite/sobjects(/|$)", path))


@dataclass
class _Subrequest:
    method: str
    url: str
    reference_id: str
    body: Any = None
    headers: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "url": self.url, "referenceId": self.reference_id}
        if self.body is not None:
            out["body"] = self.body
        if self.headers:
            out["httpHeaders"] = self.headers
        return out


@dataclass
class CompositeRequest:
    """Builder for one ``POST /composite``.

    ``url`` arguments are relative to ``/services/data/<version>/`` (``sobjects/Account``) or
    absolute paths (``/services/data/v62.0/...``).
    """

    all_or_none: bool = True
    api_version: str = API_VERSION
    collate_subrequests: bool = False
    _subrequests: list[_Subrequest] = field(default_factory=list, init=False, repr=False)

    @property
    def subrequests(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self._subrequests]

    @property
    def reference_ids(self) -> list[str]:
        return [s.reference_id for s in self._subrequests]

    def __len__(self) -> int:
        return len(self._subrequests)

    @property
    def query_count(self) -> int:
        return sum(1 for s in self._subrequests if _is_query_or_collection(s.url))

    @property
    def is_read_only(self) -> bool:
        """True when every subrequest only reads (so the whole request is safe to repeat)."""
        return bool(self._subrequests) and all(s.method in ("GET", "HEAD") for s in self._subrequests)

    def _url(self, url: str) -> str:
        if url.startswith("/services/"):
            return url
        if url.startswith(("http://", "https://", "/")):
            raise ValueError(f"composite subrequest URL {url!r} must be a path under /services/")
        return f"/services/data/{self.api_version}/{url}"

    def add(
        self,
        method: Method | str,
        url: str,
        reference_id: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Add a subrequest; returns ``reference_id``."""
        method = method.upper()
        if method not in _METHODS:
            raise ValueError(f"{method!r} is not a composite subrequest method")
        if not _REF.fullmatch(reference_id):
            raise ValueError(
                f"{reference_id!r} is not a valid reference id (a letter, then letters, digits, underscores)"
            )
        if reference_id in self.reference_ids:
            raise ValueError(f"reference id {reference_id!r} is used twice")
        full_url = self._url(url)
        if len(self._subrequests) >= MAX_SUBREQUESTS:
            raise CompositeLimitError(f"a composite request holds at most {MAX_SUBREQUESTS} subrequests")
        if _is_query_or_collection(full_url) and self.query_count >= MAX_QUERIES:
            raise CompositeLimitError(
                f"a composite request holds at most {MAX_QUERIES} queries or sObject Collections"
            )
        self._subrequests.append(
            _Subrequest(method, full_url, reference_id, body, dict(headers) if headers else None)
        )
        return reference_id

    # ---- conveniences ----------------------------------------------------------------------------

    def create(self, sobject: str, record: Mapping[str, Any], ref: str) -> str:
        return self.add("POST", f"sobjects/{sobject_name(sobject)}", ref, dict(record))

    def update(self, sobject: str, record_id: str, record: Mapping[str, Any], ref: str) -> str:
        path = f"sobjects/{sobject_name(sobject)}/{_id_or_reference(record_id)}"
        return self.add("PATCH", path, ref, dict(record))

    def upsert(
        self, sobject: str, external_id_field: str, value: str, record: Mapping[str, Any], ref: str
    ) -> str:
        """``PATCH sobjects/X/Field/value``: only for values :func:`external_id_fits_url` accepts
        (use :meth:`upsert_in_body` for any value)."""
        field_name = identifier(external_id_field, allow_path=False)
        if not external_id_fits_url(str(value)):
            raise ValueError(f"this {field_name} value cannot travel in a URL; use upsert_in_body")
        return self.add("PATCH", f"sobjects/{sobject_name(sobject)}/{field_name}/{value}", ref, dict(record))

    def upsert_in_body(
        self, sobject: str, external_id_field: str, value: str, record: Mapping[str, Any], ref: str
    ) -> str:
        """A one-record sObject Collections upsert (``PATCH composite/sobjects/X/Field``), the value
        in the body, so any value works. Its result is a one-item list: refer to the record as
        ``reference(ref, "[0].id")`` and read the outcome with :func:`collection_upsert_outcome`."""
        name = sobject_name(sobject)
        field_name = identifier(external_id_field, allow_path=False)
        body = {
            "allOrNone": True,
            "records": [{"attributes": {"type": name}, **dict(record), field_name: str(value)}],
        }
        return self.add("PATCH", f"composite/sobjects/{name}/{field_name}", ref, body)

    def delete(self, sobject: str, record_id: str, ref: str) -> str:
        return self.add("DELETE", f"sobjects/{sobject_name(sobject)}/{_id_or_reference(record_id)}", ref)

    def get(self, sobject: str, id_or_reference: str, ref: str, fields: list[str] | None = None) -> str:
        path = f"sobjects/{sobject_name(sobject)}/{_id_or_reference(id_or_reference)}"
        if fields:
            path += "?" + urlencode({"fields": ",".join(field_list(fields))})
        return self.add("GET", path, ref)

    def query(self, soql: str, ref: str, *, include_deleted: bool = False) -> str:
        resource = "queryAll" if include_deleted else "query"
        return self.add("GET", f"{resource}?{urlencode({'q': soql}, quote_via=quote)}", ref)

    def to_json(self) -> dict[str, Any]:
        if not self._subrequests:
            raise ValueError("a composite request needs at least one subrequest")
        out: dict[str, Any] = {"allOrNone": self.all_or_none, "compositeRequest": self.subrequests}
        if self.collate_subrequests:
            out["collateSubrequests"] = True
        return out


@dataclass(frozen=True)
class SubResponse:
    """One subrequest's result."""

    reference_id: str
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> SalesforceError | None:
        return None if self.ok else error_from_body(self.status, self.body)

    @property
    def is_follow_on_failure(self) -> bool:
        """Failed only because another subrequest did (``PROCESSING_HALTED`` and the like)."""
        err = self.error()
        return err is not None and all(item.error_code in _FOLLOW_ON_CODES for item in err.errors)


@dataclass(frozen=True)
class CompositeResponse:
    """The parsed ``{"compositeResponse": [...]}``."""

    responses: list[SubResponse]

    @classmethod
    def from_json(cls, body: Any) -> CompositeResponse:
        if not isinstance(body, Mapping) or not isinstance(body.get("compositeResponse"), list):
            raise ValueError("not a composite response body")
        responses = []
        for entry in body["compositeResponse"]:
            headers = entry.get("httpHeaders") or {}
            responses.append(
                SubResponse(
                    reference_id=str(entry.get("referenceId", "")),
                    status=int(entry.get("httpStatusCode", 0)),
                    body=entry.get("body"),
                    headers={str(k): str(v) for k, v in headers.items()},
                )
            )
        return cls(responses)

    def __iter__(self) -> Iterator[SubResponse]:
        return iter(self.responses)

    def __len__(self) -> int:
        return len(self.responses)

    def by_ref(self, ref: str) -> SubResponse:
        for response in self.responses:
            if response.reference_id == ref:
                return response
        raise KeyError(ref)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.responses)

    def root_error(self) -> SalesforceError | None:
        """The first real failure (not a ``PROCESSING_HALTED`` follow-on), or None if all succeeded."""
        failed = [r for r in self.responses if not r.ok]
        if not failed:
            return None
        for response in failed:
            if not response.is_follow_on_failure:
                return response.error()
        return failed[0].error()

    def raise_for_ref(self, ref: str) -> SubResponse:
        """The subresponse for ``ref``; raises the typed error if it failed.

        When it failed only because another subrequest did (allOrNone), the error raised is the
        root cause, not the uninformative ``PROCESSING_HALTED``.
        """
        response = self.by_ref(ref)
        if response.ok:
            return response
        if response.is_follow_on_failure:
            root = self.root_error()
            if root is not None:
                raise root
        error = response.error()
        assert error is not None
        raise error

    def raise_for_errors(self) -> None:
        """Raise the root-cause error if any subrequest failed."""
        error = self.root_error()
        if error is not None:
            raise error
