"""Which streams a poll cycle reads (pure, no I/O): the connection's stored stream states and its
subscriptions in, the cycle's :class:`Plan` out.

One shared stream per sObject serves every subscription on it; a subscription whose start lies
before the shared cursor first reads its own catch-up stream; the entered-list-view
subscriptions on one list view form a group riding with their sObject's shared stream. The
runs are the cycle's working records: the fetch fills their rows (the page), the stream's
variants (``variants.py``) decide them. In the flow: **plan** -> fetch -> decide -> publish ->
settle -> commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.cursors import ListViewState, StreamState, stream_sk
from sfconnector.triggers import reconcile, relay, streams
from sfconnector.triggers.decide import Fire, Progress
from sfconnector.triggers.ports import PollerSettings, PollReport
from sfconnector.triggers.position import Position
from sfconnector.triggers.reconcile import RelayMarks

__all__ = [
    "CycleContext",
    "Entry",
    "Plan",
    "StreamRun",
    "ViewRun",
    "is_list_view",
    "plan_cycle",
    "progress_of",
    "reconciliation",
]


@dataclass(frozen=True)
class CycleContext:
    """What every stream's variants share in one cycle."""

    connection_id: str
    user_id: str | None
    org_id: str | None
    now: float
    settings: PollerSettings
    report: PollReport
    describes: dict[str, dict[str, Any]]
    """The sObjects' describes read this cycle (their field lists are stored with the stream)."""


@dataclass
class StreamRun:
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
    held: dict[str, str] = field(default_factory=dict)
    """Subscriptions held out of the query (they name a field Salesforce no longer has) -> why."""
    retries: int = 0

    @property
    def label(self) -> str:
        return self.state.sobject + (
            f" (catch-up {self.state.catchup_for})" if self.state.catchup_for else ""
        )

    @property
    def complete(self) -> bool:
        """The window was read to its end without a failure."""
        return self.done and self.error is None


@dataclass(frozen=True)
class Entry:
    """A record that entered a list view in this window, with its events."""

    index: int
    """Its row's position in the stream's page."""
    record_id: str
    row: dict[str, Any]
    events: tuple[Fire, ...]
    rank: ClassVar[int] = 1
    """Published after the row's own changes."""


@dataclass
class ViewRun:
    """One entered-list-view group (the subscriptions on one list view) in this cycle: its query
    rides with its sObject's shared stream, over the same window."""

    state: ListViewState
    subs: list[Subscription]
    run: StreamRun
    baseline: bool = False
    """This cycle reads the whole membership (first cycle, or the list view's filter changed)."""
    rows: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    error: str | None = None
    started: bool = False
    original: dict[str, Any] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    """The records that entered this window."""
    exits: set[str] = field(default_factory=set)
    newcomers: set[str] = field(default_factory=set)
    """The first read's members changed after its window (see ``ListViewState.newcomers``)."""

    @property
    def label(self) -> str:
        return f"{self.state.sobject} list view {self.state.list_view_id}"


@dataclass
class Plan:
    shared: dict[str, StreamState] = field(default_factory=dict)
    """Per sObject, its shared stream's state (also when none of its runs is read this cycle)."""
    runs: list[StreamRun] = field(default_factory=list)
    views: list[ViewRun] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    """Catch-up items left by a crash after their merge, or of deleted subscriptions."""


def progress_of(state: StreamState) -> Progress:
    pending = {key: tuple(subs) for key, subs in state.pending.items()}
    return Progress(Position.of(state), state.seen, pending)


def is_list_view(sub: Subscription) -> bool:
    stream = streams.stream_of(sub)
    return stream is not None and stream.list_view


def plan_cycle(
    connection_id: str,
    states: dict[str, StreamState],
    views: dict[str, ListViewState],
    subscriptions: Sequence[Subscription],
    *,
    upper: int,
    lookback: int,
    uppers: Mapping[str, int] | None = None,
    skip: frozenset[str] = frozenset(),
) -> Plan:
    """The cycle's streams (their windows end at ``upper``, or at ``uppers[sObject]``: a relayed
    object's reconciliation stays a grace period behind) and list view groups. ``skip``: relayed
    sObjects whose reconciliation is not due (none of their streams is read this cycle)."""
    out = Plan()
    subs = [s for s in subscriptions if streams.stream_of(s) is not None]
    _orphans(out, states, {s.subscription_id for s in subscriptions})
    by_sobject: dict[str, list[Subscription]] = {}
    for sub in subs:
        by_sobject.setdefault(sub.sobject, []).append(sub)
    for sobject, group in by_sobject.items():
        active = [s for s in group if s.status == "active"]
        if not active or sobject in skip:
            continue
        end = (uppers or {}).get(sobject, upper)
        shared = _shared(states.get(stream_sk(sobject)), sobject, group, active, end)
        out.shared[sobject] = shared
        catching_up: list[Subscription] = []
        for sub in group:
            if sub.subscription_id in shared.members:
                continue
            if streams.receives_from(sub) >= shared.cursor or is_list_view(sub):
                # Nothing it wants was processed yet (a list view's membership is "now": it has
                # nothing to backfill).
                shared.members.append(sub.subscription_id)
            elif sub.status == "active":
                catching_up.append(sub)
        members = [s for s in active if s.subscription_id in shared.members]
        if members:
            run = _run(connection_id, shared, members, end, lookback, stored=stream_sk(sobject) in states)
            out.runs.append(run)
            out.views += _views(connection_id, run, views)
        for sub in catching_up:
            state = states.get(stream_sk(sobject, sub.subscription_id))
            stored = state is not None
            if state is None:
                start = streams.receives_from(sub)
                state = StreamState(
                    sobject=sobject, catchup_for=sub.subscription_id, cursor=start, prev_cursor=start,
                    members=[sub.subscription_id],
                )  # fmt: skip
            out.runs.append(_run(connection_id, state, [sub], end, lookback, stored=stored))
    return out


def _orphans(out: Plan, states: dict[str, StreamState], known: set[str]) -> None:
    for sk, state in states.items():
        owner = state.catchup_for
        if owner is None:
            continue
        joined = states.get(stream_sk(state.sobject))
        if owner not in known or (joined is not None and owner in joined.members):
            out.orphans.append(sk)


def _shared(
    shared: StreamState | None,
    sobject: str,
    group: list[Subscription],
    active: list[Subscription],
    upper: int,
) -> StreamState:
    existing = {s.subscription_id for s in group}
    if shared is None:
        start = min(min(streams.receives_from(s) for s in active), upper)
        return StreamState(sobject=sobject, cursor=start, prev_cursor=start, members=sorted(existing))
    shared.members = [m for m in shared.members if m in existing]
    if not any(s.subscription_id in shared.members for s in active):
        # Nobody active was served: rewind to the earliest start and forget what was seen (it
        # was delivered to no active subscription).
        start = min([shared.cursor, *(streams.receives_from(s) for s in active)])
        shared.cursor = shared.prev_cursor = start
        shared.seen, shared.pending, shared.seen_floor = {}, {}, 0
        shared.members = sorted(existing)
    return shared


def _run(
    connection_id: str,
    state: StreamState,
    subs: list[Subscription],
    upper: int,
    lookback: int,
    *,
    stored: bool,
) -> StreamRun:
    original = state.to_item(connection_id) if stored else {}
    low = Position.of(state).low(lookback)
    return StreamRun(state=state, subs=subs, low=low, upper=max(upper, state.cursor), original=original)


def _views(connection_id: str, run: StreamRun, stored: dict[str, ListViewState]) -> list[ViewRun]:
    """One group per list view among a shared stream's subscriptions."""
    groups: dict[str, list[Subscription]] = {}
    for sub in run.subs:
        if is_list_view(sub):
            groups.setdefault(str(sub.params.get("list_view_id") or "")[:15], []).append(sub)
    out = []
    for view_id, subs in groups.items():
        state = ListViewState(sobject=run.state.sobject, list_view_id=view_id)
        known = stored.get(state.sk)
        view = ViewRun(state=known or state, subs=subs, run=run)
        view.original = known.to_item(connection_id) if known is not None else {}
        if not view_id:
            view.error = "params.list_view_id is missing"
        out.append(view)
    return out


def reconciliation(
    states: Mapping[str, StreamState],
    subscriptions: Sequence[Subscription],
    marks: Mapping[str, RelayMarks],
    *,
    upper: int,
    interval: int,
) -> frozenset[str]:
    """The relayed sObjects (the keys of ``marks``) whose reconciliation is not due this cycle:
    :func:`sfconnector.triggers.reconcile.is_due` on their shared stream, ``upper`` being the
    end of the window a reconciliation would read now."""
    skip = set()
    for sobject, relayed in marks.items():
        subs = [s for s in subscriptions if s.sobject == sobject and s.status == "active"]
        shared = states.get(stream_sk(sobject))
        due = reconcile.is_due(
            relayed,
            cursor=None if shared is None else shared.cursor,
            upper=upper,
            interval=interval,
            prompted=any(relay.prompted(s) for s in subs),
        )
        if not due:
            skip.add(sobject)
    return frozenset(skip)
