"""One poll cycle of a connection, the I/O shell around the decision core: re-send the outbox
(``publish.py``), plan (``plan.py``), fetch (``fetch.py``), decide (``decide.py``,
``membership.py``, ``snapshots.py``), publish stream by stream within the time left
(``publish.py`` sends), and commit per page, conditional on the lease (this module).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sfconnector.catalog import ChangeEvent, Stream
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.cursors import (
    MEMBER_BYTES,
    LeaseLostError,
    snapshot_bucket,
)
from sfconnector.stores.outbox import OutboxStore
from sfconnector.stores.relay_stats import RelayStats
from sfconnector.stores.relayed import RelayedSeen
from sfconnector.triggers import relay_health, snapshots, streams
from sfconnector.triggers.decide import Candidate, Fire, decide, settle, unseen
from sfconnector.triggers.fetch import Bounds, Fetcher, share_used
from sfconnector.triggers.membership import MEMBERS_MAX_BYTES, decide_entries, record_membership
from sfconnector.triggers.plan import Plan, StreamRun, plan_cycle, progress_of, reconciliation
from sfconnector.triggers.ports import PollerPorts, PollerSettings, PollReport, StreamReport
from sfconnector.triggers.position import Position
from sfconnector.triggers.publish import Sender
from sfconnector.triggers.reconcile import RelayedCheck, RelayMarks, relayed_lookup

if TYPE_CHECKING:
    from sfconnector.stores.connections import ConnectionRecord
    from sfconnector.stores.cursors import StreamState

__all__ = ["Cycle", "record_polling"]

logger = logging.getLogger(__name__)

_DEFAULT_PAGE_ROWS = 2000
"""Rows of a query page when ``POLL_QUERY_BATCH_SIZE`` is not set (Salesforce's default)."""

_PUBLISH_CHUNK = 100
"""Messages per publish step (ten PublishBatch requests): the time is checked between steps."""


def record_polling(
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
        self.describes: dict[str, dict[str, Any]] = {}
        """The sObjects' describes read this cycle (their field lists are stored with the stream)."""
        self.bounds = Bounds(settings, self.report, remaining_ms)
        self.probe = False
        """The usage last seen is over the budget but may be stale: this cycle's first Composite
        (sent anyway) reads it again from its Sforce-Limit-Info."""
        cursors = ports.cursors
        outbox = ports.outbox or OutboxStore(lambda: cursors.client, cursors.table_name)
        self.relayed = ports.relayed or RelayedSeen(lambda: cursors.client, cursors.table_name)
        self.marks: dict[str, RelayMarks] = {}
        """The relayed sObjects reconciled this cycle: what the relay left for each."""
        self.sender = Sender(
            connection, ports.publisher, outbox, settings=settings, report=self.report, now=self.now
        )

    def _candidates(self, run: StreamRun) -> list[Candidate]:
        """Every change of the stream's rows not emitted yet, with its events (the pure core)."""
        kinds: dict[Stream, list[Subscription]] = {}
        for sub in run.subs:
            stream = streams.stream_of(sub)
            if stream is not None:
                kinds.setdefault(stream, []).append(sub)
        self._load_snapshots(run, kinds)
        return decide(
            progress_of(run.state),
            run.rows,
            kinds,
            lookback=self.settings.lookback_seconds,
            user_id=self.connection.user_id,
            org_id=self.connection.org_id,
            snapshot=snapshots.lookup(run.snapshots) if run.snapshots else None,
            relayed=self._relayed_check(run.state.sobject),
        )

    def _relayed_check(self, sobject: str) -> RelayedCheck | None:
        """The relayed-seen lookup of a reconciled sObject (None: not relayed), counting its hits."""
        marks = self.marks.get(sobject)
        if marks is None:
            return None
        check = relayed_lookup(marks)

        def counted(key: str, version: int, deleted: bool) -> bool:
            known = check(key, version, deleted)
            self.report.relayed_known += known
            return known

        return counted

    def _load_snapshots(self, run: StreamRun, kinds: dict[Stream, list[Subscription]]) -> None:
        """Fetch the snapshot buckets of the records whose row change is not processed yet (rows
        re-read inside the lookback cost nothing)."""
        fields = snapshots.watched_fields(run.subs)
        matched = next((s for s in kinds if s.event is ChangeEvent.MATCHED), None)
        if not fields or matched is None:
            return
        buckets = set()
        progress = progress_of(run.state)
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

    def _over_budget(self) -> bool:
        """The budget guard, before any call. The usage last seen may be stale (a skipped cycle
        sends no call, and the allowance is a rolling 24 hours): at most once per
        ``budget_probe_seconds`` while it stays high (the time of the last probe is the
        connection's ``polling.at``), the cycle goes ahead as a probe: its first Composite, which
        it sends anyway, brings a fresh Sforce-Limit-Info, and the guard after each call stops
        the cycle there if the usage is still high. No ``GET /limits``: that would be one more
        counted call."""
        share = share_used(self.connection, self.client)
        if share is None or share < self.settings.budget_share:
            return False
        polling = self.connection.polling
        probed_at = polling.at if polling is not None and polling.state == "skipped_budget" else None
        if probed_at is not None and int(self.now) - probed_at < self.settings.budget_probe_seconds:
            return True  # probed recently: no call until the next probe is due
        self.probe = True
        return False

    def _budget_reason(self) -> str:
        share = share_used(self.connection, self.client) or 1.0
        return f"daily API usage {share:.0%} is above the polling budget {self.settings.budget_share:.0%}"

    def run(self) -> PollReport:
        self.sender.resend_outbox()
        if self._over_budget():
            self.report.outcome, self.report.reason = "skipped", "api_budget"
            self.report.dynamodb_writes += record_polling(
                self.ports, self.connection, "skipped_budget", self._budget_reason()
            )
            return self.report
        stored, views = self.ports.cursors.load_all(self.cid)
        uppers, skip = self._reconciliation(stored)
        self.plan = plan_cycle(
            self.cid, stored, views, self.all_subs, upper=self.upper, lookback=self.settings.lookback_seconds,
            uppers=uppers, skip=skip,
        )  # fmt: skip
        fetcher = Fetcher(
            self.connection, self.client, self.plan, settings=self.settings, bounds=self.bounds,
            report=self.report, now=self.now, probe=self.probe,
        )  # fmt: skip
        fetcher.fetch()
        self.describes = fetcher.describes
        for view in self.plan.views:
            decide_entries(view, user_id=self.connection.user_id, org_id=self.connection.org_id)
        per_run = [(run, self._candidates(run)) for run in self.plan.runs]
        accepted = self._publish(per_run)
        # A stream cut short by the time decides nothing about the rows it left for the next cycle.
        per_run = [(run, [c for c in cands if c.index < len(run.rows)]) for run, cands in per_run]
        if self.marks:  # reconciled relayed objects: what the relay missed (GET .../realtime shows it)
            self.report.dynamodb_writes += relay_health.record_reconciliation(
                RelayStats(lambda: self.ports.cursors.client, self.ports.cursors.table_name), self.cid,
                self.now, [(r.state.sobject, c) for r, c in per_run], self.marks, accepted,
                self.report.relayed_known,
            )  # fmt: skip
        held: dict[int, list[int]] = {}
        for view in self.plan.views:
            membership = record_membership(view, accepted)
            view.state, view.error = membership.state, view.error or membership.error
            held.setdefault(id(view.run), []).extend(membership.held)
        for run, candidates in per_run:
            self._advance(run, candidates, accepted, held.get(id(run), []))
        self._merge_catchups()
        self._finish()
        self._clear_reconcile_markers()
        return self.report

    def _reconciliation(self, stored: dict[str, StreamState]) -> tuple[dict[str, int], frozenset[str]]:
        """The relayed sObjects (the connection's realtime state says so and its bus is
        associated): what the relay left for each (one Query per sObject, no Salesforce call),
        which are due (plan.py decides), and their windows' end, a grace period behind "now"."""
        realtime = self.connection.realtime
        if realtime is None or realtime.association != "associated":
            return {}, frozenset()
        upper = int(self.now - self.settings.reconcile_grace_seconds)
        lookback = self.settings.lookback_seconds
        marks: dict[str, RelayMarks] = {}
        for sobject in sorted({s.sobject for s in self.all_subs if s.status == "active"}):
            if not realtime.is_relayed(sobject):
                continue
            states = [st for st in stored.values() if st.sobject == sobject]
            # From the oldest change any of its streams may still owe (a new stream: its start).
            starts = [Position.of(st).horizon(lookback) for st in states] or [
                min(streams.receives_from(s) for s in self.all_subs if s.sobject == sobject) - lookback
            ]
            seen, since, dirty, requests = self.relayed.window(self.cid, sobject, min(starts))
            self.report.dynamodb_reads += requests
            marks[sobject] = RelayMarks(seen, since, dirty)
        skip = reconciliation(stored, self.all_subs, marks, upper=upper, interval=realtime.reconcile_seconds)
        self.marks = {k: v for k, v in marks.items() if k not in skip}
        self.report.reconciled = sorted(self.marks)
        self.report.relayed_skipped = sorted(skip)
        return {sobject: upper for sobject in self.marks}, skip

    def _clear_reconcile_markers(self) -> None:
        """A reconciliation that read its sObject's windows to their end covered the marker it
        read: delete it, conditional on its value (a marker written since stays)."""
        for sobject, marks in self.marks.items():
            runs = [r for r in self.plan.runs if r.state.sobject == sobject]
            if marks.reconcile_since is None or not runs or not all(r.complete for r in runs):
                continue
            self.relayed.clear_reconcile(self.cid, sobject, marks.reconcile_since)
            self.report.dynamodb_writes += 1

    def _publish(self, per_run: list[tuple[StreamRun, list[Candidate]]]) -> set[str]:
        """Publish stream by stream, in row order, a chunk at a time, checking the time left
        before each chunk: out of time, each stream keeps the rows whose events all went out and
        resumes after the last of them next cycle. Returns the ids SNS accepted or the outbox
        keeps (the streams move past both). The streams with the fewest events go first: a
        backlog on one sObject spends the time it has left, never the others' turn."""
        sent: set[str] = set()
        out_of_time = False

        def load(item: tuple[StreamRun, list[Candidate]]) -> int:
            run, candidates = item
            entries = sum(len(e.events) for view in self.plan.views if view.run is run for e in view.entries)
            return sum(len(c.events) for c in candidates) + entries

        per_run = sorted(per_run, key=load)  # stable: equal loads keep the plan's order
        for index, (run, candidates) in enumerate(per_run):
            units: list[tuple[int, tuple[Fire, ...]]] = [(c.index, c.events) for c in candidates]
            for view in self.plan.views:
                if view.run is run:
                    units += [(e.index, e.events) for e in view.entries]
            units.sort(key=lambda u: u[0])
            done_upto = 0  # units[:done_upto] are sent
            page = self.settings.batch_size or _DEFAULT_PAGE_ROWS
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
                while end < len(units) and (count == 0 or count + len(units[end][1]) <= _PUBLISH_CHUNK):
                    count += len(units[end][1])
                    end += 1
                sent |= self.sender.send([fire for _, fires in units[done_upto:end] for fire in fires])
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

    def _checkpoint(self, run: StreamRun, keep: int, sent: set[str], candidates: list[Candidate]) -> None:
        """Commit, mid-cycle, the state the cycle would commit had it stopped after the first
        ``keep`` rows of ``run`` (all of whose events are sent): the same decisions as at the
        cycle's end (``record_membership``, ``settle``, ``snapshots.remembered``), on a copy of
        the stream's state, then written in the same order (snapshots, list views, the stream
        item; conditional on the lease). The live objects are untouched: the cycle's final
        commit covers at least as much."""
        views = [view for view in self.plan.views if view.run is run]
        memberships = [record_membership(view, sent, keep) for view in views]
        state = run.state.model_copy(deep=True)
        held = [stamp for membership in memberships for stamp in membership.held]
        settled, _dropped = self._settle(
            run, state, [c for c in candidates if c.index < keep], sent, held, keep
        )
        for name, buckets in sorted(snapshots.remembered(run.snapshots, settled).items()):
            self.report.dynamodb_writes += self.ports.cursors.save_snapshot(self.cid, state.sk, name, buckets)
        for view, membership in zip(views, memberships, strict=True):
            membership.state.updated_at = int(self.now)
            item = membership.state.to_item(self.cid)
            if item != view.original:
                self.ports.cursors.save(self.cid, membership.state, lease_owner=self.owner)
                self.report.dynamodb_writes += 1
                view.original = item
        state.updated_at = int(self.now)
        self.ports.cursors.save(self.cid, state, lease_owner=self.owner)
        self.report.dynamodb_writes += 1
        self.report.checkpoints += 1
        run.original = state.to_item(self.cid)

    def _cut(self, run: StreamRun, keep: int) -> None:
        """The stream processes only its first ``keep`` rows this cycle (a keyset resume after
        them next cycle); its list views forget what they decided about the rest."""
        if keep >= len(run.rows):
            return
        gone = {str(row.get("Id") or "")[:15] for row in run.rows[keep:]}
        run.rows, run.done = run.rows[:keep], False
        for view in self.plan.views:
            if view.run is run:
                view.entries = [e for e in view.entries if e.index < keep]
                view.exits -= gone
                if view.baseline:
                    view.done = False  # a baseline is recorded whole or not at all

    def _settle(
        self,
        run: StreamRun,
        state: StreamState,
        candidates: list[Candidate],
        accepted: set[str],
        held: list[int],
        keep: int,
    ) -> tuple[list[Candidate], int]:
        """Move ``state`` (the stream's, or a checkpoint's copy of it) past the first ``keep``
        rows, decided into ``candidates`` (the core's ``settle``); also its field list and its
        bound. Returns the settled candidates and the seen-set entries the bound dropped."""
        rows = run.rows[:keep]
        progress, settled = settle(
            progress_of(state),
            candidates,
            accepted,
            lookback=self.settings.lookback_seconds,
            upper=run.upper,
            complete=run.complete and keep >= len(run.rows),
            last=rows[-1] if rows else None,
            held=held,
        )
        progress.position.store(state)
        state.seen = dict(progress.seen)
        state.pending = {key: list(subs) for key, subs in progress.pending.items()}
        if state.catchup_for is None and state.sobject in self.describes:
            state.fields = streams.queryable_fields(self.describes[state.sobject])
            state.fields_at = int(self.now)
        return settled, state.fit(self.cid, self.settings.seen_max, read_before=progress.position.read_before)

    def _advance(
        self, run: StreamRun, candidates: list[Candidate], accepted: set[str], held: list[int]
    ) -> None:
        """The cycle's end for one stream: its state moves past the rows it processed, its
        snapshot takes their values, and the report says what it did."""
        state = run.state
        settled, dropped = self._settle(run, state, candidates, accepted, held, len(run.rows))
        for name, buckets in snapshots.remembered(run.snapshots, settled).items():
            run.snapshots[name].update(buckets)
            run.dirty.setdefault(name, set()).update(buckets)
        if dropped:
            logger.warning(
                "seen-set of %s overflowed; versions up to %s count as seen", run.label, state.seen_floor
            )
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

    def _save_snapshots(self) -> None:
        """Snapshots first, the stream items after: a crash between the two leaves a change
        unseen whose snapshot already holds its value (re-read, it fires nothing: its event was
        published before either write), never a seen change with a stale snapshot."""
        for run in self.plan.runs:
            state = run.state
            for name, buckets in sorted(run.dirty.items()):
                if run.merged:
                    continue
                self.report.dynamodb_writes += self.ports.cursors.save_snapshot(
                    self.cid, state.sk, name, {b: run.snapshots[name][b] for b in buckets}
                )
            watched = set() if run.merged else snapshots.watched_fields(run.subs)
            for name in sorted(set(state.snapshots) - watched):
                self.report.dynamodb_writes += self.ports.cursors.delete_snapshot(self.cid, state.sk, name)
            state.snapshots = sorted(watched)

    def _save_views(self) -> None:
        """The list view groups' items whose membership changed. Before the stream items, as the
        snapshots: a cycle killed between them re-decides its entries (same ids) instead of
        moving past them undecided."""
        for view in self.plan.views:
            view.state.updated_at = int(self.now)
            item = view.state.to_item(self.cid)
            if view.error is not None and len(view.state.members) * MEMBER_BYTES > MEMBERS_MAX_BYTES:
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
        for run in self.plan.runs:
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
            # A reconciled stream is always written: its cursor says when it is next due.
            if (
                unchanged
                and state.sobject not in self.marks
                and run.original
                and state.cursor - int(run.original["cursor"]) < self.settings.lookback_seconds
            ):
                continue
            self.ports.cursors.save(self.cid, state, lease_owner=self.owner)
            self.report.dynamodb_writes += 1
        view_errors = {
            sub.subscription_id: f"{view.label}: {view.error}"[:500]
            for view in self.plan.views
            if view.error is not None
            for sub in view.subs
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
        cursors = [r.state.cursor for r in self.plan.runs if r.state.catchup_for is None]
        if cursors:
            self.report.lag_seconds = max(0.0, self.now - min(cursors))
        share = share_used(self.connection, self.client)
        if self.probe and share is not None and share >= self.settings.budget_share:
            # The probe's answer confirmed the usage: what it read was processed; the next
            # probe is due budget_probe_seconds from now.
            self.report.reason, self.report.error = "api_budget", None
            self.report.dynamodb_writes += record_polling(
                self.ports, self.connection, "skipped_budget", self._budget_reason(), force=True
            )
            return
        state_name = "polling" if self.report.error is None else "error"
        self.report.dynamodb_writes += record_polling(
            self.ports, self.connection, state_name, self.report.error
        )
