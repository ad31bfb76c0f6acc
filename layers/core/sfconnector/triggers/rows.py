"""The record rows variant of a stream (flow: plan -> fetch -> **decide** -> publish -> **settle**
-> **commit**): its state is the stream's progress (position and seen-set, the stream item), its
units the changes the page's rows carry (the core's :func:`~sfconnector.triggers.decide.decide`),
its next state the core's :func:`~sfconnector.triggers.decide.settle`, written as the stream item
(``CURSOR#<sObject>``), last of the stream's variants.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sfconnector.catalog import Stream
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.cursors import StreamState
from sfconnector.triggers import streams
from sfconnector.triggers.decide import Candidate, Settlement, SnapshotLookup, Unit, decide, settle
from sfconnector.triggers.plan import CycleContext, StreamRun, progress_of
from sfconnector.triggers.ports import StreamReport
from sfconnector.triggers.reconcile import RelayedCheck

if TYPE_CHECKING:
    from sfconnector.stores.cursors import CursorStore

__all__ = ["RowsVariant", "kinds_of"]

logger = logging.getLogger(__name__)

_MOVING = ("cursor", "prev_cursor", "updated_at")
"""What an idle stream's item changes every cycle (it is not written for them alone)."""


def kinds_of(subscriptions: Sequence[Subscription]) -> dict[Stream, list[Subscription]]:
    """The subscriptions grouped by the stream kind (catalog definition) they read."""
    kinds: dict[Stream, list[Subscription]] = {}
    for sub in subscriptions:
        stream = streams.stream_of(sub)
        if stream is not None:
            kinds.setdefault(stream, []).append(sub)
    return kinds


class RowsVariant:
    def __init__(
        self,
        run: StreamRun,
        context: CycleContext,
        *,
        snapshot: Callable[[], SnapshotLookup | None],
        relayed: RelayedCheck | None,
        reconciled: bool,
    ) -> None:
        self.run, self.context = run, context
        self.snapshot = snapshot
        """The field snapshot's lookup, once its variant loaded it (None: no snapshot)."""
        self.relayed = relayed
        self.reconciled = reconciled
        """A reconciled stream's item is always written: its cursor says when it is next due."""
        self.candidates: list[Candidate] = []
        self.next: StreamState = run.state

    def load(self, store: CursorStore) -> int:
        return 0

    def decide(self) -> Sequence[Unit]:
        run = self.run
        self.candidates = decide(
            progress_of(run.state),
            run.rows,
            kinds_of(run.subs),
            lookback=self.context.settings.lookback_seconds,
            user_id=self.context.user_id,
            org_id=self.context.org_id,
            snapshot=self.snapshot(),
            relayed=self.relayed,
        )
        return self.candidates

    def cut(self, keep: int) -> None:
        self.candidates = [c for c in self.candidates if c.index < keep]

    def settle(self, settlement: Settlement, *, final: bool) -> None:
        """Move the stream's state (at the cycle's end) or a copy of it (a checkpoint) past the
        first ``keep`` rows; also its field list and its bound."""
        run, context, keep = self.run, self.context, settlement.keep
        state = run.state if final else run.state.model_copy(deep=True)
        rows = run.rows[:keep]
        candidates = [c for c in self.candidates if c.index < keep]
        progress, _settled = settle(
            progress_of(state),
            candidates,
            settlement.accepted,
            lookback=context.settings.lookback_seconds,
            upper=run.upper,
            complete=run.complete and keep >= len(run.rows),
            last=rows[-1] if rows else None,
            held=settlement.held,
        )
        progress.position.store(state)
        state.seen = dict(progress.seen)
        state.pending = {key: list(subs) for key, subs in progress.pending.items()}
        if state.catchup_for is None and state.sobject in context.describes:
            state.fields = streams.queryable_fields(context.describes[state.sobject])
            state.fields_at = int(context.now)
        read_before = progress.position.read_before
        dropped = state.fit(context.connection_id, context.settings.seen_max, read_before=read_before)
        self.next = state
        if not final:
            return
        if dropped:
            logger.warning(
                "seen-set of %s overflowed; versions up to %s count as seen", run.label, state.seen_floor
            )
        events = sum(1 for c in candidates for _s, e in c.events if e.id in settlement.accepted)
        context.report.streams.append(
            StreamReport(
                sobject=state.sobject, catchup_for=state.catchup_for, subscriptions=len(run.subs),
                records=len(run.rows), events=events,
                complete=run.done and run.error is None, error=run.error, cursor=streams.iso(state.cursor),
            )
        )  # fmt: skip
        context.report.records_seen += len(run.rows)

    def errors(self) -> dict[str, str]:
        return {}  # its failures are the stream's own (``run.error``)

    def commit(self, store: CursorStore, owner: str | None, *, final: bool) -> int:
        run, state, cid = self.run, self.next, self.context.connection_id
        state.updated_at = int(self.context.now)
        item = state.to_item(cid)
        if final:
            if run.merged:
                return 0  # its subscription joined the shared stream: the item is deleted
            unchanged = {k: v for k, v in item.items() if k not in _MOVING} == {
                k: v for k, v in run.original.items() if k not in _MOVING
            }
            # An idle stream is written only when its cursor lags a lookback behind: the window
            # it re-reads stays short, and an idle connection costs no DynamoDB write per cycle.
            lag = state.cursor - int(run.original.get("cursor") or 0)
            fresh = lag < self.context.settings.lookback_seconds
            if unchanged and not self.reconciled and run.original and fresh:
                return 0
        store.save(cid, state, lease_owner=owner)
        run.original = item
        return 1
