"""Fault injection for tests: latency, error responses (503 HTML, 500 JSON, ...), dropped connections,
a session that expires mid-run and a daily allowance that runs out mid-run."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sfemulator.wire import Response

__all__ = ["FaultHit", "FaultInjector", "FaultSpec"]

FaultKind = Literal["latency", "error", "drop", "session_expired", "limit_exceeded"]
# Kinds whose effect is on the org (its sessions, its allowance): they apply to REST calls only.
ORG_EFFECTS = frozenset({"session_expired", "limit_exceeded"})

SERVICE_UNAVAILABLE_HTML = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<html><head>'
    "<title>Service Unavailable</title></head><body><h1>Service Unavailable</h1>"
    "<p>The server is temporarily unable to service your request due to maintenance downtime or "
    "capacity problems. Please try again later.</p></body></html>\n"
)


class FaultSpec(BaseModel):
    """One fault rule (admin API body).

    ``kind``: ``latency`` (sleep ``latency_ms`` then answer normally), ``error`` (answer ``status``
    with Salesforce's body for it, or ``body``), ``drop`` (close the connection without answering),
    ``session_expired`` (every access token of the org expires, as a session timeout does, and the
    request answers 401 ``INVALID_SESSION_ID``; refresh tokens keep working), ``limit_exceeded``
    (the daily allowance is used up from here on and the request answers 403
    ``REQUEST_LIMIT_EXCEEDED``). The last two apply to REST calls (``/services/data/...``) only.
    A rule applies to requests whose path matches the ``path`` regex (and ``method`` if given), after
    letting ``skip`` matching requests through, with probability ``rate``, at most ``count`` times;
    ``nth`` is shorthand for "only the Nth matching request" (``skip = nth - 1``, ``count = 1``).
    With ``subrequests``, a Composite request also matches through its subrequests' ``method`` and
    ``url`` (path and query as sent), and the whole Composite request gets the fault, as in an outage.
    """

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    status: int = Field(default=503, ge=400, le=599)
    path: str = ".*"
    method: str | None = None
    count: int | None = Field(default=None, ge=1)
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    skip: int = Field(default=0, ge=0)
    body: str | None = None
    content_type: str | None = None
    nth: int | None = Field(default=None, ge=1)
    subrequests: bool = False

    @field_validator("path")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _nth(self) -> FaultSpec:
        if self.nth is not None:
            if self.skip or self.count is not None:
                raise ValueError("nth: give nth, or skip and count, not both")
            self.skip, self.count = self.nth - 1, 1
        return self


@dataclass(frozen=True)
class FaultHit:
    """A fault that fired: ``response`` to send for error/drop; for the org effects the app answers."""

    kind: str
    response: Response | None = None


@dataclass
class _Rule:
    id: int
    spec: FaultSpec
    pattern: re.Pattern[str]
    seen: int = 0
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec.model_dump(), "seen": self.seen, "fired": self.fired}


def error_response(status: int, body: str | None = None, content_type: str | None = None) -> Response:
    if body is not None:
        return Response(
            status, body.encode("utf-8"), [("Content-Type", content_type or "text/plain;charset=UTF-8")]
        )
    if status == 503:
        return Response.html(503, SERVICE_UNAVAILABLE_HTML)
    if status == 500:
        return Response.json(
            500,
            [
                {
                    "message": "An unexpected error occurred. Please include this ErrorId if you "
                    "contact support: "
                    "1402745418-185337 (-1571331184)",
                    "errorCode": "UNKNOWN_EXCEPTION",
                }
            ],
        )
    if status == 502:
        return Response.html(
            502, "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
        )
    return Response.json(status, [{"message": "Injected fault", "errorCode": "SERVER_UNAVAILABLE"}])


@dataclass
class FaultInjector:
    seed: int = 0
    _rules: list[_Rule] = field(default_factory=list)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def add(self, spec: FaultSpec) -> dict[str, Any]:
        with self._lock:
            rule = _Rule(self._next_id, spec, re.compile(spec.path))
            self._next_id += 1
            self._rules.append(rule)
            return rule.describe()

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules = []
            self._random = random.Random(self.seed)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.describe() for r in self._rules]

    @property
    def wants_subrequests(self) -> bool:
        """True when a rule looks into Composite subrequests (the app then reads their URLs)."""
        return any(r.spec.subrequests for r in self._rules)

    def decide(
        self,
        method: str,
        path: str,
        *,
        rest: bool = True,
        subrequests: Sequence[tuple[str, str]] = (),
    ) -> tuple[float, FaultHit | None]:
        """Seconds of latency to add and the fault that fired (or None to answer normally).

        ``rest`` says the request is a REST call; ``subrequests`` are the (method, url) pairs of a
        Composite request.
        """
        if not self._rules:
            return 0.0, None
        delay = 0.0
        outcome: FaultHit | None = None
        with self._lock:
            for rule in self._rules:
                spec = rule.spec
                if spec.kind in ORG_EFFECTS and not rest:
                    continue
                if not self._matches(rule, method, path, subrequests):
                    continue
                rule.seen += 1
                if rule.seen <= spec.skip:
                    continue
                if spec.count is not None and rule.fired >= spec.count:
                    continue
                if spec.rate < 1.0 and self._random.random() >= spec.rate:
                    continue
                if spec.kind == "latency":
                    rule.fired += 1
                    delay += spec.latency_ms / 1000.0
                elif outcome is None:
                    rule.fired += 1
                    if spec.kind == "drop":
                        outcome = FaultHit("drop", Response(0, drop=True))
                    elif spec.kind == "error":
                        outcome = FaultHit("error", error_response(spec.status, spec.body, spec.content_type))
                    else:
                        outcome = FaultHit(spec.kind)
        return delay, outcome

    @staticmethod
    def _matches(rule: _Rule, method: str, path: str, subrequests: Sequence[tuple[str, str]]) -> bool:
        wanted = rule.spec.method.upper() if rule.spec.method else None
        if (wanted is None or wanted == method.upper()) and rule.pattern.search(path):
            return True
        if not rule.spec.subrequests:
            return False
        return any(
            (wanted is None or wanted == sub_method.upper()) and rule.pattern.search(sub_url)
            for sub_method, sub_url in subrequests
        )
