"""One poll cycle of a connection: :func:`poll_connection`.

1. Skip without calling Salesforce when the connection is not ``connected``, has no active
   subscription, another run holds its lease, or the org's daily API usage is above the budget.
2. Group the active subscriptions by sObject: ONE query per sObject serves all of them (created,
   updated, deleted, any number of subscriptions), ``queryAll`` so deletions come in it. A
   subscription whose ``start_at`` lies before the sObject's cursor first catches up on its own
   stream, then joins the shared one.
3. Send the queries five per Composite request (one API call each); follow ``nextRecordsUrl`` as
   Composite subrequests too, batched with the other pending pages; a stale describe rides along.
4. Decide which rows fire which subscription (:mod:`sfconnector.triggers.streams`), skipping
   changes already emitted (the stream's seen-set), and publish the envelopes with PublishBatch,
   stream by stream in row order, the time checked before every step; what SNS refuses goes to
   the outbox (re-sent first next cycle, same ids).
5. Commit what the published events cover, conditional on the lease: after each page of a
   stream's rows whose events are all out, after each stream, and at the cycle's end (each
   stream's cursor and seen-set, its list views and snapshots). A crash or Lambda's timeout
   re-emits at most the page in flight, with the same ids; nothing is lost. Rows, bytes and time
   per cycle are bounded: a backlog drains over several cycles, each making progress.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, Field

from sfconnector.catalog import REPLICATION_KEY, STREAMS, ChangeEvent, Stream, TriggerKind
from sfconnector.errors import ConnectorError
from sfconnector.events import BatchEventPublisher, OutboundMessage
from sfconnector.models.subscriptions import Subscription
from sfconnector.models.tenancy import tenant_prefix
from sfconnector.models.trigger_events import TriggerEvent
from sfconnector.salesforce import soql
from sfconnector.salesforce.client import QueryPage
from sfconnector.salesforce.composite import MAX_QUERIES, MAX_SUBREQUESTS, CompositeRequest
from sfconnector.salesforce.errors import SalesforceError
from sfconnector.settings import EnvSettings
from sfconnector.stores.cursors import (
    MEMBER_BYTES,
    LeaseLostError,
    ListViewState,
    StreamState,
    snapshot_bucket,
    stream_sk,
)
from sfconnector.stores.outbox import OutboxEntry, OutboxStore
from sfconnector.stores.tokens import ConnectionSecretNotFoundError
from sfconnector.triggers import streams
from sfconnector.triggers.decide import Candidate, Fire, Progress, decide, row_key, settle, unseen
from sfconnector.triggers.position import Position

if TYPE_CHECKING:
    from sfconnector.salesforce.client import SalesforceClient
    from sfconnector.stores.connections import ConnectionRecord, ConnectionRepository
    from sfconnector.stores.cursors import CursorStore
    from sfconnector.stores.subscriptions import SubscriptionRepository

__all__ = ["PollReport", "PollerPorts", "PollerSettings", "StreamReport", "poll_connection"]

logger = logging.getLogger(__name__)

_MEMBERS_MAX_BYTES = 380_000
"""A list view group's members in one item (DynamoDB's 400 KB, less the query and keys)."""

_MATCHED = STREAMS[TriggerKind.FIELD_MATCHED]

_NO_SUCH_COLUMN = re.compile(r"No such column '([\w.]+)'")
"""How Salesforce names the field of an ``INVALID_FIELD`` query error."""
_FIELD_RETRIES = 3
"""Missing fields one stream drops and retries its query for in one cycle."""

_FAILURES = (SalesforceError, ConnectorError, ConnectionSecretNotFoundError)

_DEFAULT_PAGE_ROWS = 2000
"""Rows of a query page when ``POLL_QUERY_BATCH_SIZE`` is not set (Salesforce's default)."""

_PUBLISH_CHUNK = 100
"""Messages per publish step (ten PublishBatch requests): the time is checked between steps."""


class PollerSettings(EnvSettings):
    lookback_seconds: int = Field(300, alias="POLL_LOOKBACK_SECONDS", ge=0, le=3600)
    """How far before the cursor each window re-reads: a transaction committing late is stamped
    when it started, up to this long ago."""
    safety_margin_seconds: int = Field(15, alias="POLL_SAFETY_MARGIN_SECONDS", ge=0, le=600)
    """The window ends this long before "now": rows stamped later may still be committing."""
    budget_share: float = Field(0.8, alias="POLL_BUDGET_SHARE", gt=0, le=1)
    """Skip polling while the org has used this share of its daily API allowance (actions go on)."""
    lease_seconds: int = Field(180, alias="POLL_LEASE_SECONDS", ge=10, le=3600)
    max_calls: int = Field(20, alias="POLL_MAX_CALLS_PER_CYCLE", ge=1, le=500)
    """Salesforce calls one cycle may spend (the rest of a long backlog waits for the next)."""
    seen_max: int = Field(12_000, alias="POLL_SEEN_MAX", ge=100, le=15_000)
    """Entries a stream's seen-set keeps (23 bytes each: 12 000 is ~276 KB of the 400 KB item)."""
    budget_probe_seconds: int = Field(300, alias="POLL_BUDGET_PROBE_SECONDS", ge=0, le=86_400)
    """While over budget, how often a cycle probes whether the allowance came back (its first Composite,
    sent anyway, reads the usage; no separate call)."""
    describe_refresh_seconds: int = Field(3600, alias="POLL_DESCRIBE_REFRESH_SECONDS", ge=60)
    list_view_refresh_seconds: int = Field(300, alias="POLL_LIST_VIEW_REFRESH_SECONDS", ge=60)
    """How often a list view's describe is re-read (riding in a query Composite: no extra call),
    so a changed filter is picked up."""
    batch_size: int | None = Field(None, alias="POLL_QUERY_BATCH_SIZE", ge=200, le=2000)
    """Sforce-Query-Options batchSize of the queries (None: Salesforce's default, 2000)."""
    min_remaining_ms: int = Field(10_000, alias="POLL_MIN_REMAINING_MS", ge=0)
    """No further Salesforce call when the invocation has less time left than this."""
    max_rows: int = Field(10_000, alias="POLL_MAX_ROWS_PER_CYCLE", ge=200, le=200_000)
    """Rows one cycle reads at most (every stream's first page is read whatever this says, so
    one sObject's backlog never holds up the others); the rest waits for the next cycle."""
    max_bytes: int = Field(64_000_000, alias="POLL_MAX_BYTES_PER_CYCLE", ge=1_000_000)
    """Bytes of rows (as JSON) one cycle reads at most, the same way (512 MB of memory holds the
    rows, their envelopes and the encoded messages)."""
    max_cycle_seconds: float = Field(60.0, alias="POLL_MAX_CYCLE_SECONDS", gt=0, le=900)
    """A cycle's own time: past it no further call or publish starts, and the cycle commits what
    it published (well inside the function's 120 s timeout and the 180 s lease)."""
    outbox_max_age_seconds: int = Field(900, alias="POLL_OUTBOX_MAX_AGE_SECONDS", ge=60)
    """An outbox entry (an event SNS refused) older than this counts as stale: the
    ``TriggerOutboxStale`` metric and its alarm."""
    outbox_per_cycle: int = Field(1000, alias="POLL_OUTBOX_PER_CYCLE", ge=10, le=10_000)
    """Outbox items one cycle re-sends at most (the rest waits for the next cycle)."""


class StreamReport(BaseModel):
    sobject: str
    catchup_for: str | None = None
    subscriptions: int
    records: int = 0
    events: int = 0
    complete: bool = False
    error: str | None = None
    cursor: str | None = None
    merged: bool = False


class PollReport(BaseModel):
    """What one cycle did (the handler's answer and the source of its metrics)."""

    connection_id: str
    outcome: Literal["polled", "skipped"]
    reason: str | None = None
    salesforce_calls: int = 0
    records_seen: int = 0
    events_published: int = 0
    events_failed: int = 0
    sns_requests: int = 0
    dynamodb_writes: int = 0
    """PutItem / UpdateItem / DeleteItem requests (the lease's two included). Reads: the
    connection, the subscriptions and the stream states, one request each (more pages only past
    1 MB)."""
    dynamodb_reads: int = 0
    """Reads beyond the cycle's three: the field snapshot buckets of the records read."""
    lag_seconds: float | None = None
    """Age of the oldest stream cursor after the cycle (how far behind "now" the events are)."""
    outbox_resent: int = 0
    """Events SNS had refused earlier, accepted from the outbox this cycle (in ``events_published``)."""
    outbox_kept: int = 0
    """Events in the outbox after the cycle (refused again, or refused for the first time)."""
    outbox_stale: int = 0
    checkpoints: int = 0
    """Mid-cycle commits: after each page's events and each stream's (a cycle stopped later
    re-sends at most the page in flight)."""
    """Of those, the ones refused longer than ``POLL_OUTBOX_MAX_AGE_SECONDS`` ago."""
    outbox_oldest_seconds: float | None = None
    error: str | None = None
    stopped: Literal["rows", "bytes", "time"] | None = None
    """Why the cycle left part of a backlog to the next one (each cycle makes progress)."""
    streams: list[StreamReport] = Field(default_factory=list)


@dataclass
class PollerPorts:
    connections: ConnectionRepository
    subscriptions: SubscriptionRepository
    cursors: CursorStore
    publisher: BatchEventPublisher
    salesforce: Callable[[str], SalesforceClient]
    clock: Callable[[], float] = time.time
    """The poller's "now" (Salesforce stamps are compared with it; Lambda's clock is NTP-synced)."""
    outbox: OutboxStore | None = None
    """Where refused events wait (None: the cursors' table, through the same client)."""
    on_idle: Callable[[str], None] | None = None
    """Called with the connection id when a cycle finds nothing to poll (unknown connection, not
    ``connected``, no active subscription): the schedule is brought in line with that state (a
    connection flagged by an action function, a stray schedule of a deleted connection)."""


@dataclass
class _Run:
    """One stream being polled in this cycle."""

    state: StreamState
    subs: list[Subscription]
    low: int
    upper: int
    soql: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    error: str | None = None
    started: bool = False
    original: dict[str, Any] = field(default_factory=dict)
    """The stored item as loaded ({} for a stream not stored yet)."""
    merged: bool = False
    """A catch-up stream whose subscription joined the shared stream this cycle."""
    snapshots: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    """Field matched without History: per watched field (lower case), the snapshot buckets
    loaded this cycle (``{bucket: {15-char id: value hash}}``)."""
    dirty: dict[str, set[str]] = field(default_factory=dict)
    """The buckets of each field whose entries changed (written before the stream's item)."""
    held: dict[str, str] = field(default_factory=dict)
    """Subscriptions held out of the query (they name a field Salesforce no longer has) -> why."""
    retries: int = 0

    @property
    def label(self) -> str:
        return self.state.sobject + (
            f" (catch-up {self.state.catchup_for})" if self.state.catchup_for else ""
        )


@dataclass(frozen=True)
class _Entry:
    """A record that entered a list view in this window, with its events."""

    index: int
    """Its row's position in the stream's page."""
    record_id: str
    row: dict[str, Any]
    events: tuple[Fire, ...]


@dataclass
class _ListRun:
    """One entered-list-view group (the subscriptions on one list view) in this cycle: its query
    rides with its sObject's shared stream, over the same window."""

    state: ListViewState
    subs: list[Subscription]
    run: _Run
    baseline: bool = False
    """This cycle reads the whole membership (first cycle, or the list view's filter changed)."""
    rows: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    error: str | None = None
    started: bool = False
    original: dict[str, Any] = field(default_factory=dict)
    entries: list[_Entry] = field(default_factory=list)
    """The records that entered this window."""
    exits: set[str] = field(default_factory=set)
    newcomers: set[str] = field(default_factory=set)
    """The first read's members changed after its window (see ``ListViewState.newcomers``)."""

    @property
    def label(self) -> str:
        return f"{self.state.sobject} list view {self.state.list_view_id}"


def _progress(state: StreamState) -> Progress:
    pending = {key: tuple(subs) for key, subs in state.pending.items()}
    return Progress(Position.of(state), state.seen, pending)


def _is_list_view(sub: Subscription) -> bool:
    stream = streams.stream_of(sub)
    return stream is not None and stream.list_view


def _describe_failure(error: SalesforceError | None, status: int) -> str:
    """A query's failure in words that stay the same from cycle to cycle (Salesforce repeats the
    query, with this window's bounds, before its explanation on the last line)."""
    if error is None:
        return f"HTTP {status}"
    lines = [line.strip() for line in error.message.splitlines() if line.strip()]
    return f"{error.error_code}: {lines[-1] if lines else ''}"[:300]


def _share(connection: ConnectionRecord, client: SalesforceClient) -> float | None:
    usage = client.limit_info or connection.api_usage
    return None if usage is None else usage.share_used


def _record_polling(
    ports: PollerPorts, connection: ConnectionRecord, state: str, reason: str | None, *, force: bool = False
) -> int:
    """Report the polling state on the connection when it changed (one UpdateItem then);
    ``force``: also when only its time moved (a budget probe, whose time paces the next one)."""
    current = connection.polling
    if not force and current is not None and current.state == state and current.reason == reason:
        return 0
    if current is None and state == "polling":
        return 0
    try:
        ports.connections.update(
            connection.connection_id, polling={"state": state, "reason": reason, "at": int(ports.clock())}
        )
    except Exception as exc:  # the report is a convenience: never fail a cycle on it
        logger.warning(
            "could not record the polling state of %s (%s)", connection.connection_id, type(exc).__name__
        )
        return 0
    return 1


def poll_connection(
    connection_id: str,
    *,
    ports: PollerPorts,
    settings: PollerSettings,
    remaining_ms: Callable[[], int] | None = None,
) -> PollReport:
    """Run one poll cycle of a connection (see the module doc)."""
    connection = ports.connections.get(connection_id)
    subscriptions = [] if connection is None else ports.subscriptions.list(connection_id)
    active = [s for s in subscriptions if s.status == "active" and streams.stream_of(s) is not None]
    if connection is None:
        idle: str | None = "unknown_connection"
    elif connection.status != "connected":
        idle = f"connection_{connection.status}"
    else:
        idle = None if active else "no_active_subscriptions"
    if idle is not None or connection is None:
        if ports.on_idle is not None:
            ports.on_idle(connection_id)
        return PollReport(connection_id=connection_id, outcome="skipped", reason=idle)
    owner = uuid.uuid4().hex
    if not ports.cursors.acquire_lease(
        connection_id, owner, now=ports.clock(), seconds=settings.lease_seconds
    ):
        return PollReport(connection_id=connection_id, outcome="skipped", reason="another_poll_running")
    try:
        report = _Cycle(connection, subscriptions, ports, settings, remaining_ms, owner).run()
    except LeaseLostError as exc:
        # Another run holds the connection now (or it was deleted): what this one published is
        # re-decided by it with the same ids; nothing of this run's state is written.
        logger.warning("poll of %s lost its lease: %s", connection_id, exc)
        return PollReport(connection_id=connection_id, outcome="polled", error=str(exc))
    finally:
        ports.cursors.release_lease(connection_id, owner)
    report.dynamodb_writes += 2  # the lease: taken and given back
    return report


class _Cycle:
    def __init__(
        self,
        connection: ConnectionRecord,
        subscriptions: list[Subscription],
        ports: PollerPorts,
        settings: PollerSettings,
        remaining_ms: Callable[[], int] | None,
        owner: str | None = None,
    ) -> None:
        self.owner = owner
        """The lease this run holds: every state write is conditional on it."""
        self.connection = connection
        self.cid = connection.connection_id
        self.all_subs = subscriptions
        self.ports = ports
        self.settings = settings
        self.remaining_ms = remaining_ms
        self.client = ports.salesforce(self.cid)
        self.calls_before = self.client.api_calls
        self.report = PollReport(connection_id=self.cid, outcome="polled")
        self.now = ports.clock()
        self.upper = int(self.now - settings.safety_margin_seconds)
        self.shared: dict[str, StreamState] = {}
        self.runs: list[_Run] = []
        self.describes: dict[str, dict[str, Any]] = {}
        self.views: list[_ListRun] = []
        self.orphans: list[str] = []
        """Catch-up items left by a crash after their merge, or of deleted subscriptions."""
        self.started = time.monotonic()
        self.rows_read = 0
        self.bytes_read = 0
        self.probe = False
        """The usage last seen is over the budget but may be stale: this cycle's first Composite
        (sent anyway) reads it again from its Sforce-Limit-Info."""
        cursors = ports.cursors
        self.outbox = ports.outbox or OutboxStore(lambda: cursors.client, cursors.table_name)

    # ---- planning --------------------------------------------------------------------------------

    def _plan(self, states: dict[str, StreamState]) -> None:
        by_id = {s.subscription_id: s for s in self.all_subs}
        for sk, stored_state in states.items():
            owner = stored_state.catchup_for
            if owner is None:
                continue
            joined = states.get(stream_sk(stored_state.sobject))
            if owner not in by_id or (joined is not None and owner in joined.members):
                self.orphans.append(sk)
        by_sobject: dict[str, list[Subscription]] = {}
        for sub in self.all_subs:
            if streams.stream_of(sub) is not None:
                by_sobject.setdefault(sub.sobject, []).append(sub)
        for sobject, subs in by_sobject.items():
            active = [s for s in subs if s.status == "active"]
            if not active:
                continue
            existing = {s.subscription_id for s in subs}
            shared = states.get(stream_sk(sobject))
            if shared is None:
                start = min(streams.receives_from(s) for s in active)
                start = min(start, self.upper)
                shared = StreamState(
                    sobject=sobject, cursor=start, prev_cursor=start, members=sorted(existing)
                )
            else:
                shared.members = [m for m in shared.members if m in existing]
                if not any(s.subscription_id in shared.members for s in active):
                    # Nobody active was served: rewind to the earliest start and forget what was
                    # seen (it was delivered to no active subscription).
                    start = min([shared.cursor, *(streams.receives_from(s) for s in active)])
                    shared.cursor = shared.prev_cursor = start
                    shared.seen, shared.pending, shared.seen_floor = {}, {}, 0
                    shared.members = sorted(existing)
            self.shared[sobject] = shared
            catching_up: list[Subscription] = []
            for sub in subs:
                if sub.subscription_id in shared.members:
                    continue
                if streams.receives_from(sub) >= shared.cursor or _is_list_view(sub):
                    # Nothing it wants was processed yet (a list view's membership is "now": it
                    # has nothing to backfill).
                    shared.members.append(sub.subscription_id)
                elif sub.status == "active":
                    catching_up.append(sub)
            members = [s for s in active if s.subscription_id in shared.members]
            if members:
                self.runs.append(self._run(shared, members, stored=stream_sk(sobject) in states))
            for sub in catching_up:
                state = states.get(stream_sk(sobject, sub.subscription_id))
                stored = state is not None
                if state is None:
                    start = streams.receives_from(sub)
                    state = StreamState(
                        sobject=sobject, catchup_for=sub.subscription_id, cursor=start, prev_cursor=start,
                        members=[sub.subscription_id],
                    )  # fmt: skip
                self.runs.append(self._run(state, [sub], stored=stored))

    def _plan_views(self, stored: dict[str, ListViewState]) -> None:
        """One group per (sObject, list view) among the shared streams' subscriptions."""
        for run in self.runs:
            if run.state.catchup_for is not None:
                continue
            groups: dict[str, list[Subscription]] = {}
            for sub in run.subs:
                if _is_list_view(sub):
                    groups.setdefault(str(sub.params.get("list_view_id") or "")[:15], []).append(sub)
            for view_id, subs in groups.items():
                state = ListViewState(sobject=run.state.sobject, list_view_id=view_id)
                known = stored.get(state.sk)
                view = _ListRun(state=known or state, subs=subs, run=run)
                view.original = known.to_item(self.cid) if known is not None else {}
                if not view_id:
                    view.error = "params.list_view_id is missing"
                self.views.append(view)

    def _view_describe(self, view: _ListRun, sub: Any) -> None:
        """A list view's describe answered: keep its ``query``; a changed filter re-reads the
        membership whole next cycle (the members known belong to the old filter)."""
        if not sub.ok:
            view.error = f"the list view's describe failed: {_describe_failure(sub.error(), sub.status)}"
            return
        query = sub.body.get("query") if isinstance(sub.body, dict) else None
        if not isinstance(query, str) or not query:
            view.error = "the list view's describe has no query"
            return
        state = view.state
        if state.query is not None and query != state.query:
            state.baselined, state.members, state.newcomers = False, set(), set()
        state.query, state.query_at = query, int(self.now)

    def _run(self, state: StreamState, subs: list[Subscription], *, stored: bool) -> _Run:
        low = max(0, state.cursor - self.settings.lookback_seconds)
        original = state.to_item(self.cid) if stored else {}
        return _Run(state=state, subs=subs, low=low, upper=max(self.upper, state.cursor), original=original)

    # ---- fetching --------------------------------------------------------------------------------

    def _every_field(self, sobject: str) -> list[str] | None:
        shared = self.shared[sobject]
        if sobject in self.describes:
            return streams.queryable_fields(self.describes[sobject])
        return shared.fields

    def _budget_left(self) -> bool:
        calls = self.client.api_calls - self.calls_before
        if calls >= self.settings.max_calls:
            return False
        share = _share(self.connection, self.client)
        if share is not None and share >= self.settings.budget_share and not (self.probe and calls == 0):
            return False
        return self._time_left(first=calls == 0)

    def _time_left(self, *, first: bool) -> bool:
        """Whether another call or publish may start: the cycle's own bound (not for its first
        call or publish step: every cycle makes progress), and the invocation's remaining time
        (what follows is the commit)."""
        if not first and time.monotonic() - self.started >= self.settings.max_cycle_seconds:
            self.report.stopped = "time"
            return False
        if self.remaining_ms is not None and self.remaining_ms() < self.settings.min_remaining_ms:
            self.report.stopped = "time"
            return False
        return True

    def _read_enough(self) -> bool:
        """The cycle's row and byte bounds: past them no further page of a window is read."""
        if self.rows_read >= self.settings.max_rows:
            self.report.stopped = "rows"
        elif self.bytes_read >= self.settings.max_bytes:
            self.report.stopped = "bytes"
        return self.report.stopped in ("rows", "bytes")

    def _send(self, request: CompositeRequest) -> Any:
        """One Composite call; None when the cycle must stop (the failure is in the report)."""
        try:
            return self.client.composite(request)
        except _FAILURES as exc:
            self.report.error = f"{type(exc).__name__}: {str(exc)[:300]}"
            logger.warning("poll of %s stopped part-way: %s", self.cid, self.report.error)
            return None

    def _fetch_describes(self) -> None:
        """Subscriptions wanting every field of an sObject never described yet: its describe, up to
        25 per Composite call (once per sObject; later refreshes ride with the queries)."""
        missing: list[str | _ListRun] = [
            s for s, st in self.shared.items() if st.fields is None and self._wants_every_field(s)
        ]
        # A list view never described yet: its describe (for its query) rides in the same call.
        missing += [v for v in self.views if v.state.query is None and v.error is None]
        for start in range(0, len(missing), MAX_SUBREQUESTS):
            request = CompositeRequest(all_or_none=False)
            chunk = missing[start : start + MAX_SUBREQUESTS]
            for i, target in enumerate(chunk):
                request.add("GET", self._describe_url(target), f"d{i}")
            response = self._send(request)
            if response is None:
                return
            for i, target in enumerate(chunk):
                sub = response.by_ref(f"d{i}")
                if isinstance(target, _ListRun):
                    self._view_describe(target, sub)
                elif sub.ok and isinstance(sub.body, dict):
                    self.describes[target] = sub.body

    @staticmethod
    def _describe_url(target: str | _ListRun) -> str:
        if isinstance(target, _ListRun):
            return f"sobjects/{target.state.sobject}/listviews/{target.state.list_view_id}/describe"
        return f"sobjects/{target}/describe"

    def _history_subquery(self, run: _Run) -> soql.Subquery | None:
        """Field matched subscriptions' History rows, riding in the stream's own query."""
        watched: dict[str, set[str]] = {}
        for sub in run.subs:
            stream = streams.stream_of(sub)
            field_name = sub.params.get("field")
            if stream is not None and stream.history and isinstance(field_name, str):
                watched.setdefault(stream.history, set()).add(field_name)
        if not watched:
            return None
        relationship, names = next(iter(watched.items()))  # one History relationship per object
        # From the horizon, not the window's low: a change the stream may still owe can be older.
        horizon = Position.of(run.state).horizon(self.settings.lookback_seconds)
        return streams.history_subquery(relationship, names, horizon)

    def _wants_every_field(self, sobject: str) -> bool:
        return any(s.fields is None for run in self.runs if run.state.sobject == sobject for s in run.subs)

    def _query(self, run: _Run) -> bool:
        """The stream's query (``run.soql``), without the fields Salesforce refused and without
        the subscriptions that name one of them (field isolation); False: none (``run.error``)."""
        missing = run.state.missing
        for sub in list(run.subs):
            named = [
                *(sub.fields or ()),
                *([sub.params["field"]] if isinstance(sub.params.get("field"), str) else []),
            ]
            gone = sorted({n for n in named if n.lower() in missing})
            if gone:
                run.subs.remove(sub)
                run.held[sub.subscription_id] = (
                    f"{run.label}: INVALID_FIELD: {', '.join(gone)} no longer exists in Salesforce; "
                    "this subscription is held out of the query until it does again or its fields change"
                )
        if not run.subs:
            run.error = run.error or "every subscription names a field Salesforce no longer has"
            return False
        every = self._every_field(run.state.sobject)
        if every is None and any(s.fields is None for s in run.subs):
            run.error = "the sObject's describe could not be read"
            return False
        every = None if every is None else [f for f in every if f.lower() not in missing]
        resume = run.state.resume_at
        after = (resume, run.state.cursor_id) if resume is not None and run.state.cursor_id else None
        fields = streams.select_fields(run.subs, every)
        try:
            run.soql = streams.change_query(
                run.state.sobject, fields, run.low, run.upper, after, self._history_subquery(run)
            )
        except soql.QueryTooLongError as exc:  # this sObject only: the others go on
            run.error = str(exc)
            return False
        return True

    def _isolate(self, run: _Run, error: SalesforceError | None) -> bool:
        """``INVALID_FIELD`` on a stream's query: remember the field as missing, re-describe the
        sObject (the describe rides along) and query again without it; True when re-queued."""
        found = (
            _NO_SUCH_COLUMN.search(error.message) if error and error.error_code == "INVALID_FIELD" else None
        )
        if found is None or run.retries >= _FIELD_RETRIES or run.started:
            return False
        run.retries += 1
        run.state.missing[found.group(1).split(".")[-1].lower()] = int(self.now)
        self.describes.pop(run.state.sobject, None)
        return self._query(run)

    def _fetch(self) -> None:
        self._fetch_describes()
        pending: list[tuple[str, _Run | _ListRun | str, str]] = []  # (kind, target, url or SOQL)
        for run in self.runs:
            expiry = int(self.now) - self.settings.describe_refresh_seconds
            run.state.missing = {n: at for n, at in run.state.missing.items() if at > expiry}
            if self._query(run):
                pending.append(("query", run, run.soql))
        for view in self.views:
            if view.error is not None or view.state.query is None:
                view.error = view.error or "the list view's describe could not be read"
                continue
            run = view.run
            view.baseline = not view.state.baselined
            resume = run.state.resume_at
            after = (resume, run.state.cursor_id) if resume is not None and run.state.cursor_id else None
            try:
                text = streams.list_view_query(
                    view.state.query, None if view.baseline else run.low, run.upper, after
                )
            except ValueError as exc:
                view.error = str(exc)
                continue
            pending.append(("live", view, text))  # query, not queryAll: the recycle bin is no member
        stale_views = [
            v for v in self.views
            if v.error is None and int(self.now) - v.state.query_at >= self.settings.list_view_refresh_seconds
        ]  # fmt: skip
        stale: list[str | _ListRun] = [
            s for s, st in self.shared.items()
            if st.fields is not None and s not in self.describes and self._wants_every_field(s)
            and int(self.now) - (st.fields_at or 0) >= self.settings.describe_refresh_seconds
        ]  # fmt: skip
        stale += stale_views
        headers = (
            {"Sforce-Query-Options": f"batchSize={self.settings.batch_size}"}
            if self.settings.batch_size
            else None
        )
        while pending and self._budget_left():
            if self._read_enough():
                # First pages still go: every other stream makes progress beside a backlog.
                pending = [p for p in pending if p[0] != "more"]
                if not pending:
                    break
            request = CompositeRequest(all_or_none=False)
            taken: dict[str, tuple[str, _Run | _ListRun | str, str]] = {}
            rest: list[tuple[str, _Run | _ListRun | str, str]] = []
            for item in pending:
                kind, target, text = item
                if len(taken) < MAX_QUERIES:
                    ref = f"r{len(taken)}"
                    # queryAll: deleted rows (IsDeleted) come in the same query as the others.
                    resource = {"query": "queryAll", "live": "query"}.get(kind)
                    url = f"{resource}?{urlencode({'q': text}, quote_via=quote)}" if resource else text
                    request.add("GET", url, ref, headers=headers)
                    taken[ref] = item
                else:
                    rest.append(item)
            while stale and len(request) < MAX_SUBREQUESTS:
                target = stale.pop()
                ref = f"d{len(taken)}"
                request.add("GET", self._describe_url(target), ref)
                taken[ref] = ("describe", target, "")
            pending = rest
            response = self._send(request)
            if response is None:
                return
            for ref, (kind, target, _text) in taken.items():
                sub = response.by_ref(ref)
                if kind == "describe":
                    if isinstance(target, _ListRun):
                        self._view_describe(target, sub)
                    elif sub.ok and isinstance(sub.body, dict) and isinstance(target, str):
                        self.describes[target] = sub.body
                    continue
                assert isinstance(target, _Run | _ListRun)
                if not sub.ok:
                    if kind == "query" and isinstance(target, _Run) and self._isolate(target, sub.error()):
                        pending.append(("query", target, target.soql))
                        if target.state.catchup_for is None and self._wants_every_field(target.state.sobject):
                            stale.append(target.state.sobject)  # re-described in the retry's call
                        continue
                    target.error = _describe_failure(sub.error(), sub.status)
                    continue
                page = QueryPage.from_json(sub.body)
                target.started = True
                target.rows.extend(page.records)
                self.rows_read += len(page.records)
                self.bytes_read += len(json.dumps(sub.body, separators=(",", ":"), default=str))
                if page.done or not page.next_records_url:
                    target.done = True
                else:
                    pending.append(("more", target, page.next_records_url))
        if pending and self.report.error is None:
            share = _share(self.connection, self.client)
            if share is not None and share >= self.settings.budget_share:
                self.report.error = "budget: the org's daily API usage reached the polling budget mid-cycle"

    # ---- events ----------------------------------------------------------------------------------

    def _candidates(self, run: _Run) -> list[Candidate]:
        """Every change of the stream's rows not emitted yet, with its events (the pure core)."""
        kinds: dict[Stream, list[Subscription]] = {}
        for sub in run.subs:
            stream = streams.stream_of(sub)
            if stream is not None:
                kinds.setdefault(stream, []).append(sub)
        self._load_snapshots(run, kinds)
        return decide(
            _progress(run.state),
            run.rows,
            kinds,
            lookback=self.settings.lookback_seconds,
            user_id=self.connection.user_id,
            org_id=self.connection.org_id,
            snapshot=self._snapshot_lookup(run) if run.snapshots else None,
        )

    @staticmethod
    def _snapshot_fields(run: _Run) -> set[str]:
        """The fields (lower case) ``changed_to`` subscriptions watch: their snapshot decides the
        transitions no History row covers (a field without history tracking)."""
        return {
            str(sub.params["field"]).lower()
            for sub in run.subs
            if sub.kind == TriggerKind.FIELD_MATCHED.value
            and sub.params.get("mode", "changed_to") == "changed_to"
            and sub.params.get("field")
        }

    def _load_snapshots(self, run: _Run, kinds: dict[Stream, list[Subscription]]) -> None:
        """Fetch the snapshot buckets of the records whose row change is not processed yet (rows
        re-read inside the lookback cost nothing)."""
        fields = self._snapshot_fields(run)
        matched = next((s for s in kinds if s.event is ChangeEvent.MATCHED), None)
        if not fields or matched is None:
            return
        buckets = set()
        progress = _progress(run.state)
        for row in run.rows:
            rid, version = str(row.get("Id") or "")[:15], streams.row_version(row, matched)
            if rid and version is not None and unseen(progress, streams.seen_key(rid, matched), version):
                buckets.add(snapshot_bucket(rid))
        for name in sorted(fields):
            loaded, requests = (
                ({b: {} for b in buckets}, 0)
                if not buckets
                else self.ports.cursors.load_snapshot(self.cid, run.state.sk, name, buckets)
            )
            run.snapshots[name] = loaded
            self.report.dynamodb_reads += requests

    @staticmethod
    def _snapshot_lookup(run: _Run) -> Callable[[str], dict[str, str | None]]:
        def held(rid: str) -> dict[str, str | None]:
            bucket = snapshot_bucket(rid)
            return {name: buckets.get(bucket, {}).get(rid) for name, buckets in run.snapshots.items()}

        return held

    def _remember(self, run: _Run, row: Mapping[str, Any]) -> None:
        """The record's watched values as processed: the snapshot the next change is compared with."""
        rid = str(row.get("Id") or "")[:15]
        bucket = snapshot_bucket(rid)
        for name, buckets in run.snapshots.items():
            entries = buckets.setdefault(bucket, {})
            digest = streams.value_hash(streams.field_value(row, name))
            if entries.get(rid) != digest:
                entries[rid] = digest
                run.dirty.setdefault(name, set()).add(bucket)

    def _settle_view(self, view: _ListRun) -> None:
        """Decide entries and exits of a list view group from its query's rows and the sObject's
        rows of the same window: in the results and not a member: entered; changed in the window
        (in the sObject's rows) and not in the results: left."""
        run = view.run
        if view.error is not None or run.error is not None or not view.started:
            return
        if not view.done:
            if view.baseline:
                return  # the membership was not read whole: read it again next cycle
            # Rows after the list view's last answered row are undecided: the stream stops there
            # this cycle and resumes right after it (a keyset) next cycle.
            position = row_key(view.rows[-1])
            run.rows = [r for r in run.rows if row_key(r) <= position]
            run.done = False
        inside = {str(r.get("Id") or "")[:15] for r in view.rows}
        stream = streams.stream_of(view.subs[0])
        assert stream is not None
        members, newcomers = view.state.members, view.state.newcomers
        if view.baseline:
            # A member changed after the window (stamped past its end) has no row in the sObject's
            # rows yet: it cannot be told from an entry now, so it is decided when its row is read.
            view.newcomers = {
                str(r.get("Id") or "")[:15] for r in view.rows
                if (streams.parse_stamp(r.get(REPLICATION_KEY)) or 0) > run.upper
            }  # fmt: skip
            members, newcomers = inside - view.newcomers, view.newcomers
        for index, row in enumerate(run.rows):
            rid = str(row.get("Id") or "")[:15]
            if not rid:
                continue
            if rid not in inside or row.get("IsDeleted"):
                if rid in members or rid in newcomers:
                    view.exits.add(rid)
                continue
            version = streams.parse_stamp(row.get(REPLICATION_KEY))
            if version is None or (rid in members and not view.baseline):
                continue
            first_read = view.baseline or rid in newcomers
            created = streams.parse_stamp(row.get("CreatedDate")) or 0
            change = streams.Change("", version, str(version))
            events = tuple(
                (sub, streams.build_event(sub, stream, row, change, self.connection.org_id))
                for sub in view.subs
                if streams.subscriber_fires(sub, stream, row, change, self.connection.user_id)
                # The first read of the membership cannot tell who entered since the start:
                # only records created since then did for sure.
                and (not first_read or created >= streams.receives_from(sub))
            )
            if events or not view.baseline or rid in newcomers:
                view.entries.append(_Entry(index, rid, row, events))

    def _apply_view(self, view: _ListRun, accepted: set[str]) -> list[int]:
        """Record the membership SNS allows: an entry whose event SNS did not accept stays out of
        the members (it fires again next cycle, same id) and holds the cursor before its row."""
        run, state = view.run, view.state
        if view.error is not None or run.error is not None or not view.started:
            return []
        if view.baseline and not view.done:
            return []
        held: list[int] = []
        if view.baseline:
            state.members = {str(r.get("Id") or "")[:15] for r in view.rows} - view.newcomers
            state.newcomers = set(view.newcomers)
            state.baselined = True
        state.members -= view.exits
        state.newcomers -= view.exits
        for entry in view.entries:
            if all(event.id in accepted for _sub, event in entry.events):
                state.members.add(entry.record_id)
                state.newcomers.discard(entry.record_id)
            else:  # not a member yet (a newcomer whose entry SNS refused stays one)
                state.members.discard(entry.record_id)
                held.append(streams.parse_stamp(entry.row.get(REPLICATION_KEY)) or run.state.cursor)
        if len(state.members) * MEMBER_BYTES > _MEMBERS_MAX_BYTES:
            view.error = f"the list view has more than {_MEMBERS_MAX_BYTES // MEMBER_BYTES} members"
        return held

    def _over_budget(self) -> bool:
        """The budget guard, before any call. The usage last seen may be stale (a skipped cycle
        sends no call, and the allowance is a rolling 24 hours): at most once per
        ``budget_probe_seconds`` while it stays high (the time of the last probe is the
        connection's ``polling.at``), the cycle goes ahead as a probe: its first Composite, which
        it sends anyway, brings a fresh Sforce-Limit-Info, and the guard after each call stops
        the cycle there if the usage is still high. No ``GET /limits``: that would be one more
        counted call."""
        share = _share(self.connection, self.client)
        if share is None or share < self.settings.budget_share:
            return False
        polling = self.connection.polling
        probed_at = polling.at if polling is not None and polling.state == "skipped_budget" else None
        if probed_at is not None and int(self.now) - probed_at < self.settings.budget_probe_seconds:
            return True  # probed recently: no call until the next probe is due
        self.probe = True
        return False

    def _budget_reason(self) -> str:
        share = _share(self.connection, self.client) or 1.0
        return f"daily API usage {share:.0%} is above the polling budget {self.settings.budget_share:.0%}"

    def _resend_outbox(self) -> None:
        """Send again, with their ids, the events SNS refused in earlier cycles (they do not wait
        for their rows to come back: the streams moved past them when they were kept)."""
        entries, broken = self.outbox.load(self.cid, limit=self.settings.outbox_per_cycle)
        if broken:
            self.report.dynamodb_writes += self.outbox.delete(self.cid, broken)
        if not entries:
            return
        outcome = self.ports.publisher.publish_batch(
            [
                OutboundMessage(id=e.id, body=e.body, attributes=e.attributes, claim_key=e.claim_key)
                for e in entries
            ]
        )
        self.report.sns_requests += outcome.calls
        sent = [e for e in entries if e.id in outcome.accepted]
        self.report.outbox_resent += len(sent)
        self.report.events_published += len(sent)
        self.report.dynamodb_writes += self.outbox.delete(self.cid, [k for e in sent for k in e.stored_keys])
        self._count_outbox([e for e in entries if e.id not in outcome.accepted])

    def _keep(self, refused: list[OutboundMessage]) -> None:
        """Refused events go to the outbox before the stream state that moves past them is
        committed (a crash in between re-decides them with the same ids)."""
        entries = [
            OutboxEntry(
                id=m.id, body=m.body, attributes=m.attributes, claim_key=m.claim_key, created_at=int(self.now)
            )
            for m in refused
        ]
        self.report.dynamodb_writes += self.outbox.save(self.cid, entries)
        self._count_outbox(entries)

    def _count_outbox(self, kept: list[OutboxEntry]) -> None:
        if not kept:
            return
        self.report.outbox_kept += len(kept)
        oldest = max(0.0, self.now - min(e.created_at for e in kept))
        self.report.outbox_oldest_seconds = max(self.report.outbox_oldest_seconds or 0.0, oldest)
        stale = [e for e in kept if self.now - e.created_at > self.settings.outbox_max_age_seconds]
        if stale:
            self.report.outbox_stale += len(stale)
            logger.error(
                "%d trigger events of %s were refused by SNS more than %d s ago and are still in the outbox",
                len(stale), self.cid, self.settings.outbox_max_age_seconds,
            )  # fmt: skip

    def run(self) -> PollReport:
        self._resend_outbox()
        if self._over_budget():
            self.report.outcome, self.report.reason = "skipped", "api_budget"
            self.report.dynamodb_writes += _record_polling(
                self.ports, self.connection, "skipped_budget", self._budget_reason()
            )
            return self.report
        stored, views = self.ports.cursors.load_all(self.cid)
        self._plan(stored)
        self._plan_views(views)
        self._fetch()
        for view in self.views:
            self._settle_view(view)
        per_run = [(run, self._candidates(run)) for run in self.runs]
        accepted = self._publish(per_run)
        # A stream cut short by the time decides nothing about the rows it left for the next cycle.
        per_run = [(run, [c for c in cands if c.index < len(run.rows)]) for run, cands in per_run]
        held: dict[int, list[int]] = {}
        for view in self.views:
            for stamp in self._apply_view(view, accepted):
                held.setdefault(id(view.run), []).append(stamp)
        for run, candidates in per_run:
            self._advance(run, candidates, accepted, held.get(id(run), []))
        self._merge_catchups()
        self._finish()
        return self.report

    def _message(self, sub: Subscription, event: TriggerEvent) -> OutboundMessage:
        tenant = self.connection.tenant_id
        claims = tenant_prefix(tenant)  # large events' claim checks under the tenant's prefix
        return OutboundMessage(
            id=event.id,
            body=event.model_copy(update={"tenant_id": tenant}).to_json_dict(),
            attributes={
                "trigger": sub.trigger,
                "connection_id": self.cid,
                "tenant_id": tenant or "",
                "subscription_id": sub.subscription_id,
                "sobject": sub.sobject,
                "event_type": event.event_type,
            },
            claim_key=f"{claims}trigger-events/{self.cid}/{event.id}.json",
        )

    def _publish(self, per_run: list[tuple[_Run, list[Candidate]]]) -> set[str]:
        """Publish stream by stream, in row order, a chunk at a time, checking the time left
        before each chunk: out of time, each stream keeps the rows whose events all went out and
        resumes after the last of them next cycle. Returns the ids SNS accepted or the outbox
        keeps (the streams move past both). The streams with the fewest events go first: a
        backlog on one sObject spends the time it has left, never the others' turn."""
        sent: set[str] = set()
        out_of_time = False

        def load(item: tuple[_Run, list[Candidate]]) -> int:
            run, candidates = item
            entries = sum(len(e.events) for view in self.views if view.run is run for e in view.entries)
            return sum(len(c.events) for c in candidates) + entries

        per_run = sorted(per_run, key=load)  # stable: equal loads keep the plan's order
        for index, (run, candidates) in enumerate(per_run):
            units: list[tuple[int, tuple[Fire, ...]]] = [(c.index, c.events) for c in candidates]
            for view in self.views:
                if view.run is run:
                    units += [(e.index, e.events) for e in view.entries]
            units.sort(key=lambda u: u[0])
            done_upto = 0  # units[:done_upto] are sent
            page = self.settings.batch_size or _DEFAULT_PAGE_ROWS
            committed = 0  # the rows a checkpoint covers (all their events went out)
            while done_upto < len(units) and not out_of_time:
                if not self._time_left(first=not sent):
                    out_of_time = True
                    break
                self.report.dynamodb_reads += self.owner is not None
                if self.owner is not None and not self.ports.cursors.holds_lease(self.cid, self.owner):
                    # Overtaken: the run holding the lease now decides (and sends) the rest.
                    raise LeaseLostError(self.cid)
                end, count = done_upto, 0
                while end < len(units) and (count == 0 or count + len(units[end][1]) <= _PUBLISH_CHUNK):
                    count += len(units[end][1])
                    end += 1
                messages = [
                    self._message(sub, event) for _, events in units[done_upto:end] for sub, event in events
                ]
                if messages:
                    outcome = self.ports.publisher.publish_batch(messages)
                    self.report.sns_requests += outcome.calls
                    self.report.events_published += len(outcome.accepted)
                    refused = [m for m in messages if m.id not in outcome.accepted]
                    self.report.events_failed += len(refused)
                    if refused:
                        self._keep(refused)
                    sent.update(m.id for m in messages)
                done_upto = end
                covered = units[done_upto][0] if done_upto < len(units) else len(run.rows)
                if covered // page > committed // page and covered < len(run.rows):
                    # A page's events are out: commit the state that covers them, so a cycle
                    # killed later (Lambda's timeout, a crash) re-sends at most the page in flight.
                    self._checkpoint(run, covered, sent, candidates)
                    committed = covered
            if not out_of_time and units and index < len(per_run) - 1:
                # The stream is published whole: commit it before the next stream's events go out.
                self._checkpoint(run, len(run.rows), sent, candidates)
            if out_of_time:
                # The first row with an unsent event: the stream stops right before it.
                first = units[done_upto][0] if done_upto < len(units) else len(run.rows)
                self._cut(run, first)
        return sent

    def _checkpoint(self, run: _Run, keep: int, sent: set[str], candidates: list[Candidate]) -> None:
        """Commit, mid-cycle, the state the cycle would commit had it stopped after the first
        ``keep`` rows of ``run`` (all of whose events are sent): the same decisions (``_cut``,
        ``_apply_view``, ``_advance``) made on copies, then written as at the cycle's end
        (snapshots, list views, the stream item; conditional on the lease). The live objects are
        untouched: the cycle's final commit covers at least as much."""
        shadow = dataclasses.replace(
            run,
            state=copy.deepcopy(run.state),
            rows=list(run.rows),
            snapshots=copy.deepcopy(run.snapshots),
            dirty={name: set(buckets) for name, buckets in run.dirty.items()},
        )
        views = [
            dataclasses.replace(
                view,
                run=shadow,
                state=copy.deepcopy(view.state),
                entries=list(view.entries),
                exits=set(view.exits),
                newcomers=set(view.newcomers),
            )
            for view in self.views
            if view.run is run
        ]
        self._cut(shadow, keep, views)
        held: list[int] = []
        for view in views:
            held += self._apply_view(view, sent)
        self._advance(shadow, [c for c in candidates if c.index < keep], sent, held, report=False)
        for name, buckets in sorted(shadow.dirty.items()):
            self.report.dynamodb_writes += self.ports.cursors.save_snapshot(
                self.cid, shadow.state.sk, name, {b: shadow.snapshots[name][b] for b in buckets}
            )
        for view, live in zip(views, [v for v in self.views if v.run is run], strict=True):
            view.state.updated_at = int(self.now)
            item = view.state.to_item(self.cid)
            if item != live.original:
                self.ports.cursors.save(self.cid, view.state, lease_owner=self.owner)
                self.report.dynamodb_writes += 1
                live.original = item
        shadow.state.updated_at = int(self.now)
        self.ports.cursors.save(self.cid, shadow.state, lease_owner=self.owner)
        self.report.dynamodb_writes += 1
        self.report.checkpoints += 1
        run.original = shadow.state.to_item(self.cid)

    def _cut(self, run: _Run, keep: int, views: list[_ListRun] | None = None) -> None:
        """The stream processes only its first ``keep`` rows this cycle (a keyset resume after
        them next cycle); its list views forget what they decided about the rest."""
        if keep >= len(run.rows):
            return
        gone = {str(row.get("Id") or "")[:15] for row in run.rows[keep:]}
        run.rows, run.done = run.rows[:keep], False
        for view in self.views if views is None else views:
            if view.run is run:
                view.entries = [e for e in view.entries if e.index < keep]
                view.exits -= gone
                if view.baseline:
                    view.done = False  # a baseline is recorded whole or not at all

    def _advance(
        self,
        run: _Run,
        candidates: list[Candidate],
        accepted: set[str],
        held: list[int],
        *,
        report: bool = True,
    ) -> None:
        state = run.state
        progress, settled = settle(
            _progress(state),
            candidates,
            accepted,
            lookback=self.settings.lookback_seconds,
            upper=run.upper,
            complete=run.done and run.error is None,
            last=run.rows[-1] if run.rows else None,
            held=held,
        )
        progress.position.store(state)
        state.seen = dict(progress.seen)
        state.pending = {key: list(subs) for key, subs in progress.pending.items()}
        if run.snapshots:
            for candidate in settled:
                if candidate.key == streams.seen_key(str(candidate.row.get("Id") or ""), _MATCHED):
                    # Only once SNS took its events: a re-send decides from the same old value.
                    self._remember(run, candidate.row)
        if run.state.catchup_for is None and run.state.sobject in self.describes:
            state.fields = streams.queryable_fields(self.describes[run.state.sobject])
            state.fields_at = int(self.now)
        if state.fit(self.cid, self.settings.seen_max) and report:
            logger.warning(
                "seen-set of %s overflowed; versions up to %s count as seen", run.label, state.seen_floor
            )
        if not report:
            return
        rep = StreamReport(
            sobject=state.sobject, catchup_for=state.catchup_for, subscriptions=len(run.subs),
            records=len(run.rows), events=sum(1 for c in candidates for s, e in c.events if e.id in accepted),
            complete=run.done and run.error is None, error=run.error, cursor=streams.iso(state.cursor),
        )  # fmt: skip
        self.report.streams.append(rep)
        self.report.records_seen += len(run.rows)

    def _merge_catchups(self) -> None:
        """A catch-up stream that completed the same window as its shared stream hands its
        subscription over (the shared item is written first, then the catch-up item deleted)."""
        for run in self.runs:
            state = run.state
            if state.catchup_for is None:
                continue
            shared = self.shared[state.sobject]
            shared_runs = [r for r in self.runs if r.state is shared]
            shared_done = all(r.done and r.error is None for r in shared_runs)
            caught_up = run.done and run.error is None and not state.pending
            if caught_up and shared_runs and shared_done and state.cursor >= shared.cursor:
                shared.members.append(state.catchup_for)
                run.merged = True
                for rep in self.report.streams:
                    if rep.catchup_for == state.catchup_for:
                        rep.merged = True

    def _save_snapshots(self) -> None:
        """Snapshots first, the stream items after: a crash between the two leaves a change
        unseen whose snapshot already holds its value (re-read, it fires nothing: its event was
        published before either write), never a seen change with a stale snapshot."""
        for run in self.runs:
            state = run.state
            for name, buckets in sorted(run.dirty.items()):
                if run.merged:
                    continue
                self.report.dynamodb_writes += self.ports.cursors.save_snapshot(
                    self.cid, state.sk, name, {b: run.snapshots[name][b] for b in buckets}
                )
            watched = set() if run.merged else self._snapshot_fields(run)
            for name in sorted(set(state.snapshots) - watched):
                self.report.dynamodb_writes += self.ports.cursors.delete_snapshot(self.cid, state.sk, name)
            state.snapshots = sorted(watched)

    def _save_views(self) -> None:
        """The list view groups' items whose membership changed. Before the stream items, as the
        snapshots: a cycle killed between them re-decides its entries (same ids) instead of
        moving past them undecided."""
        for view in self.views:
            view.state.updated_at = int(self.now)
            item = view.state.to_item(self.cid)
            if view.error is not None and len(view.state.members) * MEMBER_BYTES > _MEMBERS_MAX_BYTES:
                continue  # too big to store: the group reports its error instead
            if {k: v for k, v in item.items() if k != "updated_at"} != {
                k: v for k, v in view.original.items() if k != "updated_at"
            }:
                self.ports.cursors.save(self.cid, view.state, lease_owner=self.owner)
                self.report.dynamodb_writes += 1

    def _finish(self) -> None:
        self._save_snapshots()
        self._save_views()
        written: set[int] = set()
        for run in self.runs:
            state = run.state
            if run.merged or id(state) in written:
                continue
            written.add(id(state))
            state.updated_at = int(self.now)
            item = state.to_item(self.cid)
            unchanged = {
                k: v for k, v in item.items() if k not in ("cursor", "prev_cursor", "updated_at")
            } == {k: v for k, v in run.original.items() if k not in ("cursor", "prev_cursor", "updated_at")}
            # An idle stream is written only when its cursor lags a lookback behind: the window
            # it re-reads stays short, and an idle connection costs no DynamoDB write per cycle.
            if (
                unchanged
                and run.original
                and state.cursor - int(run.original["cursor"]) < self.settings.lookback_seconds
            ):
                continue
            self.ports.cursors.save(self.cid, state, lease_owner=self.owner)
            self.report.dynamodb_writes += 1
        view_errors = {
            sub.subscription_id: f"{view.label}: {view.error}"[:500]
            for view in self.views
            if view.error is not None
            for sub in view.subs
        }
        for run in self.runs:
            if run.merged:
                self.ports.cursors.delete(self.cid, run.state.sk)
                self.report.dynamodb_writes += 1
        for sk in self.orphans:
            self.ports.cursors.delete(self.cid, sk)
            self.report.dynamodb_writes += 1
        for run in self.runs:
            for sid, held in run.held.items():
                sub = next((s for s in self.all_subs if s.subscription_id == sid), None)
                if sub is not None and held != sub.last_error:
                    self.ports.subscriptions.record_error(self.cid, sid, held[:500])
                    self.report.dynamodb_writes += 1
            for sub in run.subs:
                message = (
                    f"{run.label}: {run.error}"[:500]
                    if run.error is not None
                    else view_errors.get(sub.subscription_id)
                )
                if message is not None and message != sub.last_error:  # written once, not every cycle
                    self.ports.subscriptions.record_error(self.cid, sub.subscription_id, message)
                    self.report.dynamodb_writes += 1
                elif message is None and sub.last_error is not None and run.done:
                    self.ports.subscriptions.record_error(self.cid, sub.subscription_id, None)
                    self.report.dynamodb_writes += 1
        self.report.salesforce_calls = self.client.api_calls - self.calls_before
        # Catch-up streams lie behind by design (a backfill): the lag is the shared streams'.
        cursors = [r.state.cursor for r in self.runs if r.state.catchup_for is None]
        if cursors:
            self.report.lag_seconds = max(0.0, self.now - min(cursors))
        share = _share(self.connection, self.client)
        if self.probe and share is not None and share >= self.settings.budget_share:
            # The probe's answer confirmed the usage: what it read was processed; the next
            # probe is due budget_probe_seconds from now.
            self.report.reason, self.report.error = "api_budget", None
            self.report.dynamodb_writes += _record_polling(
                self.ports, self.connection, "skipped_budget", self._budget_reason(), force=True
            )
            return
        state_name = "polling" if self.report.error is None else "error"
        self.report.dynamodb_writes += _record_polling(
            self.ports, self.connection, state_name, self.report.error
        )
