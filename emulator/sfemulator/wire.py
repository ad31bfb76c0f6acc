"""Framework-free HTTP request and response values passed between the server and the handlers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from sfemulator.store import FileBlob

__all__ = ["JSON_TYPE", "Request", "Response", "dumps"]

JSON_TYPE = "application/json;charset=UTF-8"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""
    raw_path: str | None = None
    """The path as sent (percent-encoded), so segments can be split before decoding."""
    body_file: Path | None = None
    """A large multipart body, spooled to this file by the server (``body`` is then empty)."""
    body_size: int = 0

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False
    file: FileBlob | None = None
    """A body streamed from disk instead of ``body`` (file contents)."""

    @classmethod
    def json(cls, status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
        return cls(status, dumps(obj), [("Content-Type", JSON_TYPE), *(headers or [])])

    @classmethod
    def html(cls, status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Response:
        return cls(
            status, text.encode("utf-8"), [("Content-Type", "text/html;charset=UTF-8"), *(headers or [])]
        )

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode("utf-8"), [("Content-Type", "text/plain;charset=UTF-8")])

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status)

    @classmethod
    def redirect(cls, location: str, params: Mapping[str, str] | None = None) -> Response:
        if params:
            location = location + ("&" if "?" in location else "?") + urlencode(params)
        return cls(302, b"", [("Location", location), ("Cache-Control", "no-cache,no-store")])

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)
