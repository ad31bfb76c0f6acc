"""A poll cycle's reading of Salesforce (the I/O shell's fetch): the planned streams' queries,
their list view groups' and the describes they need, five queries per Composite call, pages
followed as subrequests, within the cycle's bounds (calls, API budget, rows, bytes, time).

What it reads lands in the plan's runs (``rows``, ``done``, ``error``); deciding is the core's.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from sfconnector.errors import ConnectorError
from sfconnector.salesforce import soql
from sfconnector.salesforce.client import QueryPage
from sfconnector.salesforce.composite import MAX_QUERIES, MAX_SUBREQUESTS, CompositeRequest
from sfconnector.salesforce.errors import SalesforceError
from sfconnector.stores.tokens import ConnectionSecretNotFoundError
from sfconnector.triggers import streams
from sfconnector.triggers.plan import Plan, StreamRun, ViewRun
from sfconnector.triggers.ports import PollerSettings, PollReport
from sfconnector.triggers.position import Position

if TYPE_CHECKING:
    from sfconnector.salesforce.client import SalesforceClient
    from sfconnector.stores.connections import ConnectionRecord

__all__ = ["Bounds", "Fetcher", "share_used"]

logger = logging.getLogger(__name__)

_NO_SUCH_COLUMN = re.compile(r"No such column '([\w.]+)'")
"""How Salesforce names the field of an ``INVALID_FIELD`` query error."""
_FIELD_RETRIES = 3
"""Missing fields one stream drops and retries its query for in one cycle."""

_FAILURES = (SalesforceError, ConnectorError, ConnectionSecretNotFoundError)


def share_used(connection: ConnectionRecord, client: SalesforceClient) -> float | None:
    """The org's daily API usage as last seen (this cycle's answers, else the connection's record)."""
    usage = client.limit_info or connection.api_usage
    return None if usage is None else usage.share_used


def describe_failure(error: SalesforceError | None, status: int) -> str:
    """A query's failure in words that stay the same from cycle to cycle (Salesforce repeats the
    query, with this window's bounds, before its explanation on the last line)."""
    if error is None:
        return f"HTTP {status}"
    lines = [line.strip() for line in error.message.splitlines() if line.strip()]
    return f"{error.error_code}: {lines[-1] if lines else ''}"[:300]


@dataclass
class Bounds:
    """The cycle's own bounds on reading and publishing: rows, bytes and time."""

    settings: PollerSettings
    report: PollReport
    remaining_ms: Callable[[], int] | None
    started: float = field(default_factory=time.monotonic)
    rows_read: int = 0
    bytes_read: int = 0

    def time_left(self, *, first: bool) -> bool:
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

    def read_enough(self) -> bool:
        """The cycle's row and byte bounds: past them no further page of a window is read."""
        if self.rows_read >= self.settings.max_rows:
            self.report.stopped = "rows"
        elif self.bytes_read >= self.settings.max_bytes:
            self.report.stopped = "bytes"
        return self.report.stopped in ("rows", "bytes")


class Fetcher:
    def __init__(
        self,
        connection: ConnectionRecord,
        client: SalesforceClient,
        plan: Plan,
        *,
        settings: PollerSettings,
        bounds: Bounds,
        report: PollReport,
        now: float,
        probe: bool,
    ) -> None:
        self.connection = connection
        self.cid = connection.connection_id
        self.client = client
        self.calls_before = client.api_calls
        self.plan = plan
        self.settings = settings
        self.bounds = bounds
        self.report = report
        self.now = now
        self.probe = probe
        """The usage last seen is over the budget but may be stale: this cycle's first Composite
        (sent anyway) reads it again from its Sforce-Limit-Info."""
        self.describes: dict[str, dict[str, Any]] = {}

    def _view_describe(self, view: ViewRun, sub: Any) -> None:
        """A list view's describe answered: keep its ``query``; a changed filter re-reads the
        membership whole next cycle (the members known belong to the old filter)."""
        if not sub.ok:
            view.error = f"the list view's describe failed: {describe_failure(sub.error(), sub.status)}"
            return
        query = sub.body.get("query") if isinstance(sub.body, dict) else None
        if not isinstance(query, str) or not query:
            view.error = "the list view's describe has no query"
            return
        state = view.state
        if state.query is not None and query != state.query:
            state.baselined, state.members, state.newcomers = False, set(), set()
        state.query, state.query_at = query, int(self.now)

    def _every_field(self, sobject: str) -> list[str] | None:
        shared = self.plan.shared[sobject]
        if sobject in self.describes:
            return streams.queryable_fields(self.describes[sobject])
        return shared.fields

    def _budget_left(self) -> bool:
        calls = self.client.api_calls - self.calls_before
        if calls >= self.settings.max_calls:
            return False
        share = share_used(self.connection, self.client)
        if share is not None and share >= self.settings.budget_share and not (self.probe and calls == 0):
            return False
        return self.bounds.time_left(first=calls == 0)

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
        missing: list[str | ViewRun] = [
            s for s, st in self.plan.shared.items() if st.fields is None and self._wants_every_field(s)
        ]
        # A list view never described yet: its describe (for its query) rides in the same call.
        missing += [v for v in self.plan.views if v.state.query is None and v.error is None]
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
                if isinstance(target, ViewRun):
                    self._view_describe(target, sub)
                elif sub.ok and isinstance(sub.body, dict):
                    self.describes[target] = sub.body

    @staticmethod
    def _describe_url(target: str | ViewRun) -> str:
        if isinstance(target, ViewRun):
            return f"sobjects/{target.state.sobject}/listviews/{target.state.list_view_id}/describe"
        return f"sobjects/{target}/describe"

    def _history_subquery(self, run: StreamRun) -> soql.Subquery | None:
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
        return any(
            s.fields is None for run in self.plan.runs if run.state.sobject == sobject for s in run.subs
        )

    def _query(self, run: StreamRun) -> bool:
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

    def _isolate(self, run: StreamRun, error: SalesforceError | None) -> bool:
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

    def fetch(self) -> None:
        """Read every planned stream's window (and its list view groups') within the cycle's bounds."""
        self._fetch_describes()
        pending: list[tuple[str, StreamRun | ViewRun | str, str]] = []  # (kind, target, url or SOQL)
        for run in self.plan.runs:
            expiry = int(self.now) - self.settings.describe_refresh_seconds
            run.state.missing = {n: at for n, at in run.state.missing.items() if at > expiry}
            if self._query(run):
                pending.append(("query", run, run.soql))
        for view in self.plan.views:
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
            v for v in self.plan.views
            if v.error is None and int(self.now) - v.state.query_at >= self.settings.list_view_refresh_seconds
        ]  # fmt: skip
        stale: list[str | ViewRun] = [
            s for s, st in self.plan.shared.items()
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
            if self.bounds.read_enough():
                # First pages still go: every other stream makes progress beside a backlog.
                pending = [p for p in pending if p[0] != "more"]
                if not pending:
                    break
            request = CompositeRequest(all_or_none=False)
            taken: dict[str, tuple[str, StreamRun | ViewRun | str, str]] = {}
            rest: list[tuple[str, StreamRun | ViewRun | str, str]] = []
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
                    if isinstance(target, ViewRun):
                        self._view_describe(target, sub)
                    elif sub.ok and isinstance(sub.body, dict) and isinstance(target, str):
                        self.describes[target] = sub.body
                    continue
                assert isinstance(target, StreamRun | ViewRun)
                if not sub.ok:
                    if (
                        kind == "query"
                        and isinstance(target, StreamRun)
                        and self._isolate(target, sub.error())
                    ):
                        pending.append(("query", target, target.soql))
                        if target.state.catchup_for is None and self._wants_every_field(target.state.sobject):
                            stale.append(target.state.sobject)  # re-described in the retry's call
                        continue
                    target.error = describe_failure(sub.error(), sub.status)
                    continue
                page = QueryPage.from_json(sub.body)
                target.started = True
                target.rows.extend(page.records)
                self.bounds.rows_read += len(page.records)
                self.bounds.bytes_read += len(json.dumps(sub.body, separators=(",", ":"), default=str))
                if page.done or not page.next_records_url:
                    target.done = True
                else:
                    pending.append(("more", target, page.next_records_url))
        if pending and self.report.error is None:
            share = share_used(self.connection, self.client)
            if share is not None and share >= self.settings.budget_share:
                self.report.error = "budget: the org's daily API usage reached the polling budget mid-cycle"
