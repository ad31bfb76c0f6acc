"""One poll cycle of a connection, the I/O shell around the decision core. The flow, one module
per step: re-send the outbox (``publish.py``), plan (``plan.py``, with ``reconciling.py`` for
relayed objects), fetch (``fetch.py``), then for every stream the same loop over its variants
(``variants.py``: list view membership, field snapshot, record rows): decide, publish within the
time left (``publish.py`` sends), settle and commit per page, conditional on the lease; at the
end, settle and commit what the cycle did (this module knows no variant by name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.cursors import LeaseLostError
from sfconnector.stores.outbox import OutboxStore
from sfconnector.stores.relayed import RelayedSeen
from sfconnector.triggers.budget import budget_reason, over_budget, record_polling
from sfconnector.triggers.fetch import Bounds, Fetcher, share_used
from sfconnector.triggers.plan import CycleContext, Plan, plan_cycle
from sfconnector.triggers.ports import PollerPorts, PollerSettings, PollReport
from sfconnector.triggers.publish import Sender
from sfconnector.triggers.reconciling import Reconciler
from sfconnector.triggers.variants import Track, tracks

if TYPE_CHECKING:
    from sfconnector.stores.connections import ConnectionRecord

__all__ = ["Cycle"]

_DEFAULT_PAGE_ROWS = 2000
"""Rows of a query page when ``POLL_QUERY_BATCH_SIZE`` is not set (Salesforce's default)."""

_PUBLISH_CHUNK = 100
"""Messages per publish step (ten PublishBatch requests): the time is checked between steps."""


class Cycle:
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
        self.client = ports.salesforce(self.cid)
        self.calls_before = self.client.api_calls
        self.report = PollReport(connection_id=self.cid, outcome="polled")
        self.now = ports.clock()
        self.upper = int(self.now - settings.safety_margin_seconds)
        self.plan = Plan()
        self.tracks: list[Track] = []
        self.bounds = Bounds(settings, self.report, remaining_ms)
        self.probe = False
        """The usage last seen is over the budget but may be stale: this cycle's first Composite
        (sent anyway) reads it again from its Sforce-Limit-Info."""
        cursors = ports.cursors
        outbox = ports.outbox or OutboxStore(lambda: cursors.client, cursors.table_name)
        relayed = ports.relayed or RelayedSeen(lambda: cursors.client, cursors.table_name)
        self.reconciler = Reconciler(connection, relayed, settings=settings, report=self.report, now=self.now)
        self.sender = Sender(
            connection, ports.publisher, outbox, settings=settings, report=self.report, now=self.now
        )

    def run(self) -> PollReport:
        self.sender.resend_outbox()
        skipped, self.probe = over_budget(self.connection, self.client, self.settings, self.now)
        if skipped:
            self.report.outcome, self.report.reason = "skipped", "api_budget"
            self.report.dynamodb_writes += record_polling(
                self.ports,
                self.connection,
                "skipped_budget",
                budget_reason(self.client, self.connection, self.settings),
            )
            return self.report
        stored, views = self.ports.cursors.load_all(self.cid)
        uppers, skip = self.reconciler.due(stored, self.all_subs)
        self.plan = plan_cycle(
            self.cid, stored, views, self.all_subs, upper=self.upper, lookback=self.settings.lookback_seconds,
            uppers=uppers, skip=skip,
        )  # fmt: skip
        fetcher = Fetcher(
            self.connection, self.client, self.plan, settings=self.settings, bounds=self.bounds,
            report=self.report, now=self.now, probe=self.probe,
        )  # fmt: skip
        fetcher.fetch()
        context = CycleContext(
            self.cid, self.connection.user_id, self.connection.org_id, self.now, self.settings, self.report,
            fetcher.describes,
        )  # fmt: skip
        self.tracks = tracks(self.plan, context, relayed=self.reconciler.checks())
        for track in self.tracks:
            self.report.dynamodb_reads += track.decide(self.ports.cursors)
        accepted = self._publish()
        self.report.dynamodb_writes += self.reconciler.record(self.tracks, accepted)
        for track in self.tracks:
            track.settle(len(track.run.rows), accepted, final=True)
        self._merge_catchups()
        for track in self.tracks:
            self.report.dynamodb_writes += track.commit(self.ports.cursors, self.owner, final=True)
        self._finish()
        self.reconciler.clear(self.plan.runs)
        return self.report

    def _publish(self) -> set[str]:
        """Publish stream by stream, in row order, a chunk at a time, checking the time left
        before each chunk: out of time, each stream keeps the rows whose events all went out and
        resumes after the last of them next cycle. Returns the ids SNS accepted or the outbox
        keeps (the streams move past both). The streams with the fewest events go first: a
        backlog on one sObject spends the time it has left, never the others' turn."""
        sent: set[str] = set()
        out_of_time = False
        page = self.settings.batch_size or _DEFAULT_PAGE_ROWS
        # Stable: equal loads keep the plan's order.
        ordered = sorted(self.tracks, key=lambda track: track.load)
        for position, track in enumerate(ordered):
            units, rows = track.units, len(track.run.rows)
            done_upto = 0  # units[:done_upto] are sent
            committed = 0  # the rows a checkpoint covers (all their events went out)
            while done_upto < len(units) and not out_of_time:
                if not self.bounds.time_left(first=not sent):
                    out_of_time = True
                    break
                self.report.dynamodb_reads += self.owner is not None
                if self.owner is not None and not self.ports.cursors.holds_lease(self.cid, self.owner):
                    # Overtaken: the run holding the lease now decides (and sends) the rest.
                    raise LeaseLostError(self.cid)
                end, count = done_upto, 0
                while end < len(units) and (count == 0 or count + len(units[end].events) <= _PUBLISH_CHUNK):
                    count += len(units[end].events)
                    end += 1
                sent |= self.sender.send([fire for unit in units[done_upto:end] for fire in unit.events])
                done_upto = end
                covered = units[done_upto].index if done_upto < len(units) else rows
                if covered // page > committed // page and covered < rows:
                    # A page's events are out: commit the state that covers them, so a cycle
                    # killed later (Lambda's timeout, a crash) re-sends at most the page in flight.
                    self._checkpoint(track, covered, sent)
                    committed = covered
            if not out_of_time and units and position < len(ordered) - 1:
                # The stream is published whole: commit it before the next stream's events go out.
                self._checkpoint(track, rows, sent)
            if out_of_time:
                # The first row with an unsent event: the stream stops right before it.
                track.cut(units[done_upto].index if done_upto < len(units) else rows)
        return sent

    def _checkpoint(self, track: Track, keep: int, sent: set[str]) -> None:
        self.report.dynamodb_writes += track.checkpoint(keep, sent, self.ports.cursors, self.owner)
        self.report.checkpoints += 1

    def _merge_catchups(self) -> None:
        """A catch-up stream that completed the same window as its shared stream hands its
        subscription over (the shared item is written first, then the catch-up item deleted)."""
        for run in self.plan.runs:
            state = run.state
            if state.catchup_for is None:
                continue
            shared = self.plan.shared[state.sobject]
            shared_runs = [r for r in self.plan.runs if r.state is shared]
            shared_done = all(r.done and r.error is None for r in shared_runs)
            caught_up = run.done and run.error is None and not state.pending
            if caught_up and shared_runs and shared_done and state.cursor >= shared.cursor:
                shared.members.append(state.catchup_for)
                run.merged = True
                for rep in self.report.streams:
                    if rep.catchup_for == state.catchup_for:
                        rep.merged = True

    def _finish(self) -> None:
        # The subscriptions a variant could not serve this cycle (a list view group's error).
        variant_errors = {
            sid: message[:500]
            for track in self.tracks
            for variant in track.variants
            for sid, message in variant.errors().items()
        }
        for run in self.plan.runs:
            if run.merged:
                self.ports.cursors.delete(self.cid, run.state.sk)
                self.report.dynamodb_writes += 1
        for sk in self.plan.orphans:
            self.ports.cursors.delete(self.cid, sk)
            self.report.dynamodb_writes += 1
        for run in self.plan.runs:
            for sid, held in run.held.items():
                sub = next((s for s in self.all_subs if s.subscription_id == sid), None)
                if sub is not None and held != sub.last_error:
                    self.ports.subscriptions.record_error(self.cid, sid, held[:500])
                    self.report.dynamodb_writes += 1
            for sub in run.subs:
                message = (
                    f"{run.label}: {run.error}"[:500]
                    if run.error is not None
                    else variant_errors.get(sub.subscription_id)
                )
                if message is not None and message != sub.last_error:  # written once, not every cycle
                    self.ports.subscriptions.record_error(self.cid, sub.subscription_id, message)
                    self.report.dynamodb_writes += 1
                elif message is None and sub.last_error is not None and run.done:
                    self.ports.subscriptions.record_error(self.cid, sub.subscription_id, None)
                    self.report.dynamodb_writes += 1
        self.report.salesforce_calls = self.client.api_calls - self.calls_before
        # Catch-up streams lie behind by design (a backfill): the lag is the shared streams'.
        cursors = [r.state.cursor for r in self.plan.runs if r.state.catchup_for is None]
        if cursors:
            self.report.lag_seconds = max(0.0, self.now - min(cursors))
        share = share_used(self.connection, self.client)
        if self.probe and share is not None and share >= self.settings.budget_share:
            # The probe's answer confirmed the usage: what it read was processed; the next
            # probe is due budget_probe_seconds from now.
            self.report.reason, self.report.error = "api_budget", None
            self.report.dynamodb_writes += record_polling(
                self.ports,
                self.connection,
                "skipped_budget",
                budget_reason(self.client, self.connection, self.settings),
                force=True,
            )
            return
        state_name = "polling" if self.report.error is None else "error"
        self.report.dynamodb_writes += record_polling(
            self.ports, self.connection, state_name, self.report.error
        )
