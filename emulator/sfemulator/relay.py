"""Event Relay: the org's change events put on an Amazon EventBridge partner event bus (moto).

Per channel the relay keeps the stored change events (72 hours, by the org's clock) with increasing,
non-contiguous replay ids. Each EventRelayConfig (``sfemulator.tooling``) has a state and a
position: while RUN it hands every event past its position to the delivery worker; PAUSE keeps the
position; STOP discards it, and RUN after STOP starts at the newest event (``ReplayRecovery``
LATEST) or replays every stored one (EARLIEST). Handing over counts against the delivery
allocation (rolling 24 h, ``event_delivery_limit``, ``DailyDeliveredPlatformEvents`` in
``/limits``); past it an event is stored but not delivered.

The delivery worker is one background thread with a queue, started on first use and stopped with
the server, so a write's response never waits for AWS. It builds its boto3 client lazily from the
org's ``aws_endpoint_url`` (moto server mode in the local stack; empty: boto3's defaults, which an
in-process ``moto.mock_aws`` intercepts because the emulator's threads run in the test process). On
relay creation it creates the partner event source ``aws.partner/salesforce.com/<org>/<channel>``
in the NamedCredential's account and region; an event goes out with ``put_events`` on the event bus
named after the source when that bus exists (a user associated the source), else it is dropped as
AWS drops events of an unassociated source. (moto's ``put_partner_events`` would route to the
default bus, hence ``put_events``.)

Faults (admin API ``/__emulator__/relay/faults``), each for the next ``count`` events, a seeded
``rate`` of them, or all: ``drop``, ``delay`` (``seconds``), ``duplicate``, ``reorder`` (hold one
event and send it after the next), ``gap`` (the change becomes a GAP_* event) and ``overflow``
(a transaction's changes become one GAP_OVERFLOW per entity).
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import datetime as dt
import hashlib
import heapq
import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sfemulator.cdc import OVERFLOW_RECORD_ID, Change, ChangeEvent, Header, transaction_events
from sfemulator.clock import format_datetime
from sfemulator.tooling import CONFIG, FEEDBACK, entity_of

if TYPE_CHECKING:
    from sfemulator.org import Org
    from sfemulator.store import Committed

__all__ = ["EventRelay", "RelayFaultSpec", "Writer"]

log = logging.getLogger("sfemulator.relay")
RETENTION_SECONDS = 72 * 3600
ALLOCATION_WINDOW_SECONDS = 24 * 3600
_MAX_ENTRIES = 10  # put_events takes up to 10 entries
_BUS_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Writer:
    """Who commits the current transaction: the header's ``commitUser`` and ``changeOrigin``."""

    user_id: str
    origin: str = ""

    @classmethod
    def from_call(cls, user_id: str, api: str, version: str, call_options: str | None) -> Writer:
        """``changeOrigin`` from the call's ``Sforce-Call-Options: client=<name>`` (empty without it)."""
        client = ""
        for part in (call_options or "").split(","):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == "client":
                client = value.strip()
        origin = f"com/salesforce/api/{api}/{version.removeprefix('v')};client={client}" if client else ""
        return cls(user_id, origin)


class RelayFaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["drop", "delay", "duplicate", "reorder", "gap", "overflow"]
    count: int | None = Field(default=None, ge=1)
    """The next ``count`` events (transactions for ``overflow``); with neither count nor rate: all."""
    rate: float | None = Field(default=None, ge=0, le=1)
    """A share of them, drawn from the org's ``fault_seed`` (repeatable)."""
    seconds: float = Field(default=0, ge=0, le=300)
    entity: str | None = None
    """Only events of this sObject (e.g. Account)."""


@dataclass
class _Fault:
    id: int
    spec: RelayFaultSpec
    used: int = 0

    def public(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec.model_dump(exclude_none=True), "used": self.used}


@dataclass
class StoredEvent:
    replay_id: int
    entity: str
    event_name: str
    payload: dict[str, Any]
    stored_at: float


@dataclass
class _Run:
    """One EventRelayConfig as the relay sees it."""

    config_id: str
    channel_id: str
    source: str
    account: str
    region: str
    state: str
    recovery: str
    position: int = 0
    held: dict[str, Any] | None = None  # a reordered entry waiting for the next one


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    kind: str = field(compare=False)
    run: str = field(compare=False)
    region: str = field(compare=False)
    account: str = field(compare=False)
    source: str = field(compare=False)
    entry: dict[str, Any] | None = field(compare=False, default=None)


class _Worker:
    """The delivery thread: due jobs in order, AWS calls outside the org lock."""

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint
        self._jobs: list[_Job] = []
        self._cond = threading.Condition()
        self._busy = False
        self._stop = False
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._clients: dict[str, Any] = {}
        self._buses: dict[str, float] = {}  # source -> until when its bus is known to exist
        self.stats = {"put": 0, "no_bus": 0, "failed": 0, "sources": 0}
        self.last_relayed: dict[str, float] = {}
        self.errors: dict[str, tuple[str, str, float]] = {}

    def submit(self, job: _Job) -> None:
        with self._cond:
            self._seq += 1
            job.seq = self._seq
            heapq.heappush(self._jobs, job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sfemulator-relay", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every job (delayed ones included) is done; False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._jobs or self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def discard(self) -> None:
        with self._cond:
            self._jobs.clear()
            self._clients.clear()
            self._buses.clear()
            self.stats = dict.fromkeys(self.stats, 0)
            self.last_relayed.clear()
            self.errors.clear()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._jobs.clear()
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        with self._cond:
            self._stop = False

    def _client(self, region: str) -> Any:
        client = self._clients.get(region)
        if client is None:
            import boto3  # only a relay needs AWS; the emulator starts without it
            from botocore.config import Config

            # An unreachable AWS fails a delivery in seconds instead of holding the queue for minutes.
            config = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2})
            client = boto3.client(
                "events", region_name=region, endpoint_url=self.endpoint or None, config=config
            )
            self._clients[region] = client
        return client

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (not self._jobs or self._jobs[0].due > time.monotonic()):
                    wait = self._jobs[0].due - time.monotonic() if self._jobs else None
                    self._cond.wait(wait)
                if self._stop:
                    return
                first = heapq.heappop(self._jobs)
                batch = [first]
                if first.kind == "put":
                    while (
                        len(batch) < _MAX_ENTRIES
                        and self._jobs
                        and self._jobs[0].due <= time.monotonic()
                        and self._jobs[0].kind == "put"
                        and (self._jobs[0].source, self._jobs[0].region) == (first.source, first.region)
                    ):
                        batch.append(heapq.heappop(self._jobs))
                self._busy = True
            try:
                self._run(batch)
            except Exception as exc:
                log.warning("event relay %s to %s failed: %s", first.kind, first.source, type(exc).__name__)
                with self._cond:
                    self.stats["failed"] += len(batch)
                    self.errors[first.run] = ("DELIVERY_FAILED", type(exc).__name__, time.time())
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _run(self, batch: list[_Job]) -> None:
        first = batch[0]
        client = self._client(first.region)
        if first.kind == "source":
            client.create_partner_event_source(Name=first.source, Account=first.account)
            with self._cond:
                self.stats["sources"] += 1
            return
        if first.kind == "delete_source":
            with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                client.delete_partner_event_source(Name=first.source, Account=first.account)
            return
        if self._buses.get(first.source, 0.0) < time.monotonic():
            try:
                client.describe_event_bus(Name=first.source)
            except client.exceptions.ResourceNotFoundException:
                with self._cond:
                    self.stats["no_bus"] += len(batch)
                return
            # An associated bus is looked up again after a second, not for every event.
            self._buses[first.source] = time.monotonic() + _BUS_CHECK_SECONDS
        entries = [job.entry for job in batch if job.entry is not None]
        answer = client.put_events(Entries=entries)
        with self._cond:
            self.stats["put"] += len(entries) - int(answer.get("FailedEntryCount", 0))
            self.stats["failed"] += int(answer.get("FailedEntryCount", 0))
            self.last_relayed[first.run] = time.time()


def _run_of(config: dict[str, Any], state: str, position: int) -> _Run:
    return _Run(
        config_id=config["Id"],
        channel_id=config["EventChannel"],
        source=config["RemoteResource"],
        account=config["Account"],
        region=config["Region"],
        state=state,
        recovery=config["ReplayRecovery"],
        position=position,
    )


def _endpoint(setting: str | None) -> str | None:
    """boto3's ``endpoint_url`` for the org's setting (``default``: boto3's own endpoints)."""
    return None if setting in (None, "", "default") else setting


def _schema_id(event_name: str) -> str:
    digest = hashlib.sha256(event_name.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class EventRelay:
    """The org's change-event streams, relays, delivery allocation and relay faults (org lock held)."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.streams: dict[str, list[StoredEvent]] = {}
        self.runs: dict[str, _Run] = {}
        self.faults: list[_Fault] = []
        self._fault_ids = 0
        self._random = random.Random(org.config.fault_seed)
        self._replay = 1000
        self._commit_number = 10_000_000_000
        self._delivered: deque[float] = deque()
        self.counts = {
            "stored": 0,
            "handed": 0,
            "over_allocation": 0,
            "dropped": 0,
            "duplicated": 0,
            "no_aws": 0,
        }
        self._worker: _Worker | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def worker(self) -> _Worker:
        if self._worker is None:
            self._worker = _Worker(_endpoint(self.org.config.aws_endpoint_url))
        return self._worker

    def use_endpoint(self, endpoint: str | None) -> None:
        """Where deliveries go from now on (clients are rebuilt)."""
        if self._worker is not None:
            self._worker.drain(10.0)
            self._worker.discard()
            self._worker.endpoint = _endpoint(endpoint)

    def clear(self) -> None:
        self.streams.clear()
        self.runs.clear()
        self.faults.clear()
        self._random = random.Random(self.org.config.fault_seed)
        self._delivered.clear()
        self.counts = dict.fromkeys(self.counts, 0)
        if self._worker is not None:
            self._worker.discard()
            self._worker.endpoint = _endpoint(self.org.config.aws_endpoint_url)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()

    def flush(self, timeout: float = 10.0) -> bool:
        """Send held (reordered) events and wait for every queued delivery."""
        for run in self.runs.values():
            self._release(run)
        return self._worker.drain(timeout) if self._worker is not None else True

    # -- relay configs (from the Tooling API) ---------------------------------------------------
    def config_created(self, config: dict[str, Any]) -> None:
        run = self.runs[config["Id"]] = _run_of(config, "STOP", 0)
        self._submit(run, "source")
        self._set_state(run, config["State"])

    def restore(self) -> None:
        """Relays for the configs of a loaded state file (their sources exist already)."""
        self.runs.clear()
        for config in self.org.tooling.of(CONFIG).values():
            self.runs[config["Id"]] = _run_of(config, config["State"], self._replay)

    def config_changed(self, config: dict[str, Any]) -> None:
        run = self.runs.get(config["Id"])
        if run is None:
            return
        run.recovery = config["ReplayRecovery"]
        self._set_state(run, config["State"])

    def config_deleted(self, config: dict[str, Any]) -> None:
        run = self.runs.pop(config["Id"], None)
        if run is not None:
            self._submit(run, "delete_source")

    def _set_state(self, run: _Run, state: str) -> None:
        previous, run.state = run.state, state
        if state != "RUN" or previous == "RUN":
            return
        if previous == "STOP":
            stream = self.streams.get(run.channel_id, [])
            run.position = (
                0 if run.recovery == "EARLIEST" else (stream[-1].replay_id if stream else self._replay)
            )
        self._pump(run)

    # -- capture (the store's commit hook) --------------------------------------------------------
    def capture(self, committed: Committed) -> None:
        objects = self.org.tooling
        members = objects.of("PlatformEventChannelMember")
        if not members:
            return
        channels: dict[str, dict[str, list[str]]] = {}
        for member in members.values():
            entity = entity_of(member["SelectedEntity"])
            channels.setdefault(member["EventChannel"], {})[entity] = list(member["EnrichedFields"])
        changes = [Change(s, rid, before, after) for s, rid, before, after in committed]
        writer = self.org.writer
        now = self.org.clock.now()
        self._commit_number += 1 + self._commit_number % 3
        header = Header(
            transaction_key=str(uuid.uuid4()),
            commit_timestamp=int(now.timestamp() * 1000),
            commit_user=writer.user_id,
            commit_number=self._commit_number,
            change_origin=writer.origin,
        )
        for channel_id, enriched in channels.items():
            events = transaction_events(changes, self.org.schema.sobjects, enriched)
            if events:
                self._store(channel_id, self._generation_faults(events), header, now.timestamp())

    def _generation_faults(self, events: list[ChangeEvent]) -> list[ChangeEvent]:
        entities = dict.fromkeys(e.entity for e in events)  # one overflow per entity and transaction
        overflow = {entity for entity in entities if self._fault_hits("overflow", entity)}
        if overflow:
            kept = [e for e in events if e.entity not in overflow]
            gaps = [
                ChangeEvent(entity, "GAP_OVERFLOW", [OVERFLOW_RECORD_ID], {}) for entity in sorted(overflow)
            ]
            events = kept + gaps
        gap = [not e.change_type.startswith("GAP_") and self._fault_hits("gap", e.entity) for e in events]
        return [e.as_gap() if hit else e for e, hit in zip(events, gap, strict=True)]

    def _store(self, channel_id: str, events: list[ChangeEvent], header: Header, now: float) -> None:
        stream = self.streams.setdefault(channel_id, [])
        while stream and stream[0].stored_at < now - RETENTION_SECONDS:
            stream.pop(0)
        for sequence, event in enumerate(events, start=1):
            # Replay ids increase but are not contiguous, as Salesforce's.
            self._replay += 1 + (self._replay * 7) % 5
            stream.append(
                StoredEvent(
                    self._replay, event.entity, event.event_name, event.payload(header, sequence), now
                )
            )
            self.counts["stored"] += 1
        for run in self.runs.values():
            if run.channel_id == channel_id:
                self._pump(run)

    # -- delivery ----------------------------------------------------------------------------------
    def allocation_used(self) -> int:
        horizon = self.org.clock.now().timestamp() - ALLOCATION_WINDOW_SECONDS
        while self._delivered and self._delivered[0] < horizon:
            self._delivered.popleft()
        return len(self._delivered)

    def _pump(self, run: _Run) -> None:
        if run.state != "RUN":
            return
        now = self.org.clock.now()
        retained = now.timestamp() - RETENTION_SECONDS
        stream = self.streams.get(run.channel_id, [])
        # Replay ids increase along a stream: start past the position, not at the oldest event.
        for event in stream[bisect.bisect_right(stream, run.position, key=lambda e: e.replay_id) :]:
            if event.stored_at < retained:
                continue
            run.position = event.replay_id
            if self.allocation_used() >= self.org.config.event_delivery_limit:
                self.counts["over_allocation"] += 1
                continue
            self._delivered.append(now.timestamp())
            self.counts["handed"] += 1
            self._deliver(run, event, now)

    def _deliver(self, run: _Run, event: StoredEvent, now: dt.datetime) -> None:
        entry = {
            "EventBusName": run.source,
            "Source": run.source,
            "DetailType": event.event_name,
            "Time": dt.datetime.fromtimestamp(
                event.payload["ChangeEventHeader"]["commitTimestamp"] / 1000, dt.UTC
            ),
            "Detail": json.dumps(
                {
                    "payload": event.payload,
                    "schema": _schema_id(event.event_name),
                    "event": {"replayId": event.replay_id},
                },
                separators=(",", ":"),
            ),
        }
        if self._fault_hits("drop", event.entity):
            self.counts["dropped"] += 1
            return
        delay = self._delay(event.entity)
        copies = 2 if self._fault_hits("duplicate", event.entity) else 1
        self.counts["duplicated"] += copies - 1
        if run.held is None and self._fault_hits("reorder", event.entity):
            run.held = entry
            return
        for _ in range(copies):
            self._submit(run, "put", entry, delay)
        self._release(run)

    def _release(self, run: _Run) -> None:
        held, run.held = run.held, None
        if held is not None:
            self._submit(run, "put", held)

    def _submit(self, run: _Run, kind: str, entry: dict[str, Any] | None = None, delay: float = 0) -> None:
        if self.org.config.aws_endpoint_url is None:
            self.counts["no_aws"] += 1  # no AWS configured: nothing leaves the emulator
            return
        self.worker.submit(
            _Job(time.monotonic() + delay, 0, kind, run.config_id, run.region, run.account, run.source, entry)
        )

    # -- faults ------------------------------------------------------------------------------
    def add_fault(self, spec: RelayFaultSpec) -> dict[str, Any]:
        self._fault_ids += 1
        fault = _Fault(self._fault_ids, spec)
        self.faults.append(fault)
        return fault.public()

    def remove_faults(self) -> None:
        self.faults.clear()

    def _delay(self, entity: str) -> float:
        fault = self._fault("delay", entity)
        return fault.spec.seconds if fault is not None else 0.0

    def _fault_hits(self, kind: str, entity: str) -> bool:
        return self._fault(kind, entity) is not None

    def _fault(self, kind: str, entity: str) -> _Fault | None:
        for fault in self.faults:
            spec = fault.spec
            if spec.kind != kind or (spec.entity is not None and spec.entity != entity):
                continue
            if spec.count is not None and fault.used >= spec.count:
                continue
            if spec.rate is not None and self._random.random() >= spec.rate:
                continue
            fault.used += 1
            return fault
        return None

    # -- what the admin API, /limits and EventRelayFeedback show ------------------------------------
    def refresh_feedback(self) -> None:
        """Copy the worker's last relayed times and errors into the EventRelayFeedback records."""
        worker = self._worker
        if worker is None:
            return
        feedback = self.org.tooling.of(FEEDBACK)
        configs = self.org.tooling.of(CONFIG)
        with worker._cond:
            relayed = dict(worker.last_relayed)
            errors = dict(worker.errors)
        for record in feedback.values():
            config_id = record["EventRelayConfigId"]
            if config_id in relayed:
                record["LastRelayedEventTime"] = _stamp(relayed[config_id])
            if config_id in errors and config_id in configs:
                code, message, when = errors[config_id]
                record.update(Status="ERROR", ErrorCode=code, ErrorMessage=message, ErrorTime=_stamp(when))

    def status(self) -> dict[str, Any]:
        worker = self._worker
        stats: dict[str, int] = {}
        if worker is not None:
            with worker._cond:
                stats = dict(worker.stats)
        return {
            "allocation": {"max": self.org.config.event_delivery_limit, "used": self.allocation_used()},
            "counts": dict(self.counts),
            "worker": stats,
            "relays": [
                {"config_id": r.config_id, "source": r.source, "state": r.state, "position": r.position}
                for r in self.runs.values()
            ],
            "streams": {channel: len(events) for channel, events in self.streams.items()},
            "faults": [f.public() for f in self.faults],
        }

    def stored(self, channel_id: str) -> list[dict[str, Any]]:
        return [{"replayId": e.replay_id, "payload": e.payload} for e in self.streams.get(channel_id, [])]


def _stamp(epoch: float) -> str:
    return format_datetime(dt.datetime.fromtimestamp(epoch, dt.UTC))
