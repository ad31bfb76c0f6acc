"""I/O seams of the trigger engine's model test: crashes, lease takeovers and SNS refusals, all
installed below the engine (botocore's ``_make_api_call`` and httpx's transport), so the model
drives today's engine and any later one through the same public entry point unchanged.

* **Crash**: from the Nth AWS or Salesforce request of an armed poll on, every request raises
  :class:`Killed` (a BaseException no handler catches), before or after that request is answered;
  nothing more happens in that invocation, not even the lease's release (as a SIGKILL, or Lambda
  stopping a function at its timeout, would leave it).
* **Lease takeover**: at the Nth AWS request of an armed poll, ``takeover`` runs first (the model
  moves the clock past the lease and runs a whole second poll), then the first poll goes on with
  its stale "now": the lease it held has expired under it.
* **SNS refusal**: moto never fails a PublishBatch entry, so PublishBatch is split here: the
  entries ``refuse`` picks get a ``Failed`` answer (``InternalError``, not the sender's fault,
  as SNS answers when it throttles) and never reach moto; the others are published for real.

The emulator's admin API (``/__emulator__/``) is the test's own hand, not the engine's I/O: it is
never counted nor failed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from botocore.client import BaseClient


class Killed(BaseException):
    """The invocation dies here."""


@dataclass
class Gate:
    """One armed poll at a time (the model is single-threaded; the gate is per thread anyway)."""

    crash_at: int | None = None
    crash_after_answer: bool = False
    crash_at_publish: int | None = None
    """Killed at this PublishBatch request (Lambda's timeout reached inside the publish loop)."""
    publishes: int = 0
    takeover_at: int | None = None
    takeover: Callable[[], None] | None = None
    refuse: Callable[[dict[str, Any]], bool] | None = None
    calls: int = 0
    dead: bool = False
    took_over: bool = False
    refused: list[str] = field(default_factory=list)
    """Event ids whose publish SNS refused (every attempt)."""
    _local: threading.local = field(default_factory=threading.local)

    def arm(
        self,
        *,
        crash_at: int | None = None,
        after_answer: bool = False,
        crash_at_publish: int | None = None,
        takeover_at: int | None = None,
        takeover: Callable[[], None] | None = None,
    ) -> None:
        self.crash_at, self.crash_after_answer = crash_at, after_answer
        self.crash_at_publish, self.publishes = crash_at_publish, 0
        self.takeover_at, self.takeover = takeover_at, takeover
        self.calls, self.dead, self.took_over = 0, False, False
        self._local.armed = True

    def disarm(self) -> None:
        self._local.armed = False
        self.crash_at = self.takeover_at = self.crash_at_publish = None
        self.takeover = None

    @property
    def armed(self) -> bool:
        return bool(getattr(self._local, "armed", False))

    def step(self, call: Callable[[], Any], *, aws: bool, publish: bool = False) -> Any:
        if not self.armed:
            return call()
        if self.dead:
            raise Killed
        self.calls += 1
        self.publishes += 1 if publish else 0
        if publish and self.crash_at_publish is not None and self.publishes >= self.crash_at_publish:
            self.dead = True
            raise Killed
        if (
            aws
            and self.takeover is not None
            and self.takeover_at is not None
            and self.calls >= self.takeover_at
        ):
            takeover, self.takeover = self.takeover, None
            self._local.armed = False  # the second poll runs unharmed
            try:
                takeover()
            finally:
                self._local.armed = True
            self.took_over = True
        if self.crash_at is not None and self.calls >= self.crash_at:
            self.dead = True
            if self.crash_after_answer:
                call()
            raise Killed
        return call()

    def publish_batch(self, real: Callable[[dict[str, Any]], Any], params: dict[str, Any]) -> Any:
        refuse = self.refuse
        entries = params["PublishBatchRequestEntries"]
        if refuse is None:
            return real(params)
        failing = [e for e in entries if refuse(e)]
        passing = [e for e in entries if not refuse(e)]
        answer: dict[str, Any] = {"Successful": [], "Failed": []}
        if passing:
            answer = dict(real({**params, "PublishBatchRequestEntries": passing}))
            answer.setdefault("Failed", [])
        answer["Failed"] = list(answer["Failed"]) + [
            {"Id": e["Id"], "Code": "InternalError", "Message": "refused by the model", "SenderFault": False}
            for e in failing
        ]
        self.refused += [event_id(e) for e in failing]
        return answer


def event_id(entry: dict[str, Any]) -> str:
    """The CloudEvents id of a PublishBatch entry's message (the envelope is the message)."""
    try:
        return str(json.loads(entry["Message"]).get("id", ""))
    except (ValueError, TypeError, AttributeError):
        return ""


def install(monkeypatch: pytest.MonkeyPatch) -> Gate:
    gate = Gate()
    make_call = getattr(BaseClient, "_make_api_call")  # noqa: B009 (every boto3 operation goes through it)
    handle = httpx.HTTPTransport.handle_request

    def gated_call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "PublishBatch":
            return gate.step(
                lambda: gate.publish_batch(lambda p: make_call(self, operation, p), params),
                aws=True,
                publish=True,
            )
        return gate.step(lambda: make_call(self, operation, params), aws=True)

    def gated_handle(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/__emulator__/"):
            return handle(self, request)
        return gate.step(lambda: handle(self, request), aws=False)  # type: ignore[no-any-return]

    monkeypatch.setattr(BaseClient, "_make_api_call", gated_call)
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", gated_handle)
    return gate
