"""A poll cycle's reconciliation of relayed objects (the I/O shell around ``reconcile.py``; flow:
**plan** -> fetch -> decide -> publish -> settle -> commit -> **clear**): before planning, what the
relay left for each relayed sObject (one Query each, no Salesforce call) and which are due; while
deciding, the relayed-seen check; after the publish, what the relay had missed (the relay's
health figures); after the commit, the reconcile markers the cycle covered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.relay_stats import RelayStats
from sfconnector.stores.relayed import RelayedSeen
from sfconnector.triggers import relay_health, streams
from sfconnector.triggers.decide import Candidate
from sfconnector.triggers.plan import StreamRun, reconciliation
from sfconnector.triggers.ports import PollerSettings, PollReport
from sfconnector.triggers.position import Position
from sfconnector.triggers.reconcile import RelayedCheck, RelayMarks, relayed_lookup

if TYPE_CHECKING:
    from sfconnector.stores.connections import ConnectionRecord
    from sfconnector.stores.cursors import StreamState
    from sfconnector.triggers.variants import Track

__all__ = ["Reconciler"]


class Reconciler:
    def __init__(
        self,
        connection: ConnectionRecord,
        relayed: RelayedSeen,
        *,
        settings: PollerSettings,
        report: PollReport,
        now: float,
    ) -> None:
        self.connection, self.relayed = connection, relayed
        self.settings, self.report, self.now = settings, report, now
        self.marks: dict[str, RelayMarks] = {}
        """The relayed sObjects reconciled this cycle: what the relay left for each."""

    def due(
        self, stored: dict[str, StreamState], subscriptions: Sequence[Subscription]
    ) -> tuple[dict[str, int], frozenset[str]]:
        """The relayed sObjects (the connection's realtime state says so and its bus is
        associated): what the relay left for each, which are due (plan.py decides), and their
        windows' end, a grace period behind "now". Returns (window ends, sObjects skipped)."""
        realtime = self.connection.realtime
        if realtime is None or realtime.association != "associated":
            return {}, frozenset()
        cid = self.connection.connection_id
        upper = int(self.now - self.settings.reconcile_grace_seconds)
        lookback = self.settings.lookback_seconds
        marks: dict[str, RelayMarks] = {}
        for sobject in sorted({s.sobject for s in subscriptions if s.status == "active"}):
            if not realtime.is_relayed(sobject):
                continue
            states = [st for st in stored.values() if st.sobject == sobject]
            # From the oldest change any of its streams may still owe (a new stream: its start).
            starts = [Position.of(st).horizon(lookback) for st in states] or [
                min(streams.receives_from(s) for s in subscriptions if s.sobject == sobject) - lookback
            ]
            seen, since, dirty, requests = self.relayed.window(cid, sobject, min(starts))
            self.report.dynamodb_reads += requests
            marks[sobject] = RelayMarks(seen, since, dirty)
        skip = reconciliation(stored, subscriptions, marks, upper=upper, interval=realtime.reconcile_seconds)
        self.marks = {k: v for k, v in marks.items() if k not in skip}
        self.report.reconciled = sorted(self.marks)
        self.report.relayed_skipped = sorted(skip)
        return {sobject: upper for sobject in self.marks}, skip

    def record(self, tracks: Sequence[Track], accepted: set[str]) -> int:
        """After the publish: what this reconciliation delivered that the relay had missed (GET
        /connections/{cid}/realtime shows it, ``relay_health``). One write when something was
        reconciled; returns the writes."""
        if not self.marks:
            return 0
        runs = [(t.run.state.sobject, [u for u in t.decided if isinstance(u, Candidate)]) for t in tracks]
        stats = RelayStats(lambda: self.relayed.client, self.relayed.table_name)
        return relay_health.record_reconciliation(
            stats,
            self.connection.connection_id,
            self.now,
            runs,
            self.marks,
            accepted,
            self.report.relayed_known,
        )

    def checks(self) -> dict[str, RelayedCheck]:
        """Per reconciled sObject, the relayed-seen lookup (counting its hits in the report)."""
        out: dict[str, RelayedCheck] = {}
        for sobject, marks in self.marks.items():
            check = relayed_lookup(marks)

            def counted(key: str, version: int, deleted: bool, check: RelayedCheck = check) -> bool:
                known = check(key, version, deleted)
                self.report.relayed_known += known
                return known

            out[sobject] = counted
        return out

    def clear(self, runs: Sequence[StreamRun]) -> None:
        """A reconciliation that read its sObject's windows to their end covered the marker it
        read: delete it, conditional on its value (a marker written since stays)."""
        for sobject, marks in self.marks.items():
            mine = [r for r in runs if r.state.sobject == sobject]
            if marks.reconcile_since is None or not mine or not all(r.complete for r in mine):
                continue
            self.relayed.clear_reconcile(self.connection.connection_id, sobject, marks.reconcile_since)
            self.report.dynamodb_writes += 1
