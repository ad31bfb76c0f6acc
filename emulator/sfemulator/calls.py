"""What one REST call is, shared by the REST dispatcher and the Composite API that re-enters it.

:class:`Result` (status, JSON-able body, headers), :class:`CallContext` (who calls, under which API
version), the request-body parser with Salesforce's Jackson messages, and :class:`Dispatcher`, the
port through which ``composite`` runs subrequests (so composite never imports the REST module).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sfemulator.errors import ApiError
from sfemulator.store import Blob
from sfemulator.values import Locator

if TYPE_CHECKING:
    from sfemulator.org import Org
    from sfemulator.schema import SObjectDef

__all__ = ["CallContext", "Dispatcher", "Result", "Upload", "first", "make_locator", "parse_json_body"]


@dataclass
class Result:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: Blob | None = None
    raw_type: str | None = None


@dataclass
class CallContext:
    user_id: str
    version: str
    in_composite: bool = False
    query_options: str | None = None
    upload: Upload | None = None
    """A multipart request body, spooled to disk by the server (blob inserts)."""


@dataclass(frozen=True)
class Upload:
    content_type: str
    path: Path
    size: int


def _json_error(text: str, exc: json.JSONDecodeError) -> ApiError:
    ch = text[exc.pos] if exc.pos < len(text) else None
    detail = "Unexpected end-of-input" if ch is None else f"Unexpected character ('{ch}' (code {ord(ch)}))"
    return ApiError(400, "JSON_PARSER_ERROR", f"{detail} at [line:{exc.lineno}, column:{exc.colno}]")


def parse_json_body(body: bytes) -> tuple[Any, str]:
    """Parse a request body as Salesforce's Jackson-based parser would, with its error messages."""
    text = body.decode("utf-8", "replace")
    if not text.strip():
        raise ApiError(
            400, "JSON_PARSER_ERROR", "No content to map due to end-of-input at [line:1, column:0]"
        )
    try:
        return json.loads(text), text
    except json.JSONDecodeError as exc:
        raise _json_error(text, exc) from None


def first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def make_locator(text: str) -> Locator:
    def locate(field_name: str) -> str:
        m = re.search(r'"' + re.escape(field_name) + r'"\s*:\s*', text, re.IGNORECASE)
        if not m:
            return ""
        pos = m.end()
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return f" at [line:{line}, column:{col}]"

    return locate


class Dispatcher(Protocol):
    """The REST API as the Composite API uses it (``sfemulator.rest.RestApi`` implements it)."""

    org: Org

    def dispatch(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes, ctx: CallContext
    ) -> Result: ...

    def sobject(self, name: str) -> SObjectDef: ...

    def resolve_fields(self, sobj: SObjectDef, spec: str | None) -> list[str] | None: ...

    def render(
        self, sobj: SObjectDef, rec: dict[str, Any], version: str, fields: list[str] | None = None
    ) -> dict[str, Any]: ...
