"""The relay service: a batch of SQS messages (change events from the Event Relay) -> trigger events.

Per batch: parse every message (:mod:`sfconnector.triggers.relay`), find each event's connection
by its partner event source (one lookup per source), read each connection once and its
subscriptions once, decide (pure), skip what the relayed-seen set already holds at that version
or later (one BatchGetItem per connection), publish with the poller's publisher and message
shape, then mark what SNS accepted (publish, then mark). Gap events re-read their records by id
(one Salesforce call per 200 ids of an object); an overflow hands the object to reconciliation.

Returns the ids of the messages to retry (SQS partial batch response): a refused publish, a failed
re-read or state write fails only the messages whose changes it concerns.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from sfconnector.errors import ConnectorError
from sfconnector.events import BatchEventPublisher, OutboundMessage
from sfconnector.models.realtime import DEFAULT_PROMPT_MINUTES
from sfconnector.models.subscriptions import Subscription
from sfconnector.salesforce.errors import SalesforceError
from sfconnector.stores.cursors import stream_sk
from sfconnector.stores.relay_stats import BatchFigures
from sfconnector.stores.relayed import BUCKET_SECONDS, KickClaim, RelayedSeen, bucket_of
from sfconnector.stores.tokens import ConnectionSecretNotFoundError
from sfconnector.triggers import prompting, relay, scheduling, streams

if TYPE_CHECKING:
    from sfconnector.salesforce.client import SalesforceClient
    from sfconnector.stores.connections import ConnectionRecord, ConnectionRepository
    from sfconnector.stores.cursors import CursorStore
    from sfconnector.stores.subscriptions import SubscriptionRepository

__all__ = ["RelayPorts", "RelayReport", "SourceBindings", "relay_batch"]

logger = logging.getLogger(__name__)

_READ_FAILURES = (SalesforceError, ConnectorError, ConnectionSecretNotFoundError)


class SourceBindings(Protocol):
    """Partner event source name -> connection id (``sfconnector.stores.realtime.RelayBindings``)."""

    def lookup(self, source_name: str) -> str | None: ...


class StatsSink(Protocol):
    """The relay's figures per connection (``sfconnector.stores.relay_stats.RelayStats``)."""

    def record_batch(self, connection_id: str, batch: BatchFigures) -> int: ...


class Kicks(Protocol):
    """One-time polls of a connection (``sfconnector.stores.schedules.PollSchedules.kick``)."""

    def kick(self, connection_id: str, at_epoch: int, index: int = 0) -> str: ...


_CLAIM_ATTEMPTS = 3


@dataclass
class RelayPorts:
    bindings: SourceBindings
    connections: ConnectionRepository
    subscriptions: SubscriptionRepository
    relayed: RelayedSeen
    publisher: BatchEventPublisher
    salesforce: Callable[[str], SalesforceClient]
    cursors: CursorStore | None = None
    """The poller's stream items: their describe field list selects a gap re-read's fields for
    subscriptions that want every field (None: the system fields and the named ones)."""
    kicks: Kicks | None = None
    """A change only a poll can judge (``relay.needs_poll``) asks for a prompt poll (None: it
    waits for the connection's schedule)."""
    intervals: Callable[[str], int] | None = None
    """A connection's polling interval (``PollingRepository.interval_minutes``), read only when its
    schedule may run at it (a subscription on an object not relayed, ``poll_minutes`` unset): a
    schedule at least as frequent as ``prompt_minutes`` serves the changes without prompt polls
    (None: prompt polls are asked for regardless)."""
    kick_delay: int = 125
    """Seconds after the change the prompt poll runs: the poller's reconciliation window ends
    ``POLL_RECONCILE_GRACE_SECONDS`` behind "now", and the change must be inside it."""
    clock: Callable[[], float] = time.time
    stats: StatsSink | None = None
    """Where the lag and counts ``GET /connections/{cid}/realtime`` shows are kept (None: not kept)."""


class RelayReport(BaseModel):
    messages: int = 0
    changes: int = 0
    events_published: int = 0
    duplicates: int = 0
    """Changes skipped: already relayed at that version or later (a redelivery, a duplicate)."""
    rejected: int = 0
    """Malformed messages (logged with the reason, not retried: a retry cannot mend them)."""
    dropped: int = 0
    """Events of an unknown source or of a connection that is not ``connected``."""
    gap_records: int = 0
    salesforce_calls: int = 0
    reconcile_marked: int = 0
    kicks: int = 0
    """Prompt polls scheduled (a change only a poll can judge: ``relay.needs_poll``)."""
    stats_writes: int = 0
    """The relay's figures written (at most one per connection of the batch)."""
    max_lag_seconds: float | None = None
    """The batch's longest lag, publish time - the change's commit time (None: nothing
    published): the ``RelayLagSeconds`` metric an alarm can watch."""
    failed: list[str] = []
    """Message ids to retry (SQS ``batchItemFailures``)."""


@dataclass
class _Pending:
    """One decided change and the message it came from."""

    message_id: str
    connection: ConnectionRecord
    change: relay.RecordChange


@dataclass
class _Tally:
    """What the batch relayed per connection, for its figures (``RelayStats``)."""

    commits: dict[str, int] = field(default_factory=dict)
    """Message id -> the change header's ``commitTimestamp`` (ms)."""
    duplicates: Counter[str] = field(default_factory=Counter)
    published: list[_Pending] = field(default_factory=list)


@dataclass
class _Connection:
    record: ConnectionRecord
    subscriptions: list[Subscription]
    gap: list[tuple[str, relay.RelayedEvent]] = field(default_factory=list)


def relay_batch(messages: Sequence[tuple[str, str]], ports: RelayPorts) -> RelayReport:
    """``messages``: (SQS message id, body). Never raises for one message's fault."""
    report = RelayReport(messages=len(messages))
    failed: set[str] = set()
    sources: dict[str, str | None] = {}
    connections: dict[str, _Connection | None] = {}
    pending: list[_Pending] = []
    dirty: dict[tuple[str, str], tuple[int, list[str]]] = {}
    """(connection, sObject) with a change only a poll can judge (``relay.needs_poll``: an entered
    list view, a field matched the event cannot decide) -> the latest such change, its messages."""
    tally = _Tally()
    for message_id, body in messages:
        parsed = relay.parse_change_event(body)
        if isinstance(parsed, relay.Rejected):
            report.rejected += 1
            logger.warning("change event rejected: %s", parsed.reason, extra={"source": parsed.source})
            continue
        try:
            if parsed.source not in sources:
                sources[parsed.source] = ports.bindings.lookup(parsed.source)
            cid = sources[parsed.source]
            conn = _connection(cid, connections, ports) if cid else None
        except Exception:  # the state table failed this read: retry this message, not the batch
            logger.exception("connection lookup failed", extra={"source": parsed.source})
            failed.add(message_id)
            continue
        if conn is None:
            report.dropped += 1
            logger.info(
                "change event dropped: %s",
                "no connection is bound to its source" if cid is None else "its connection is not connected",
                extra={"source": parsed.source, "connection_id": cid},
            )
            continue
        cid = conn.record.connection_id
        tally.commits[message_id] = parsed.header.commitTimestamp
        if relay.needs_poll(parsed, conn.subscriptions):
            key = (cid, parsed.sobject)
            at, ids = dirty.get(key, (0, []))
            dirty[key] = (max(at, parsed.commit_second), [*ids, message_id])
        if parsed.header.changeType == relay.OVERFLOW:
            _reconcile(ports, cid, parsed.sobject, parsed.commit_second, report, failed, message_id)
        elif parsed.header.changeType in relay.GAP_TYPES:
            conn.gap.append((message_id, parsed))
        else:
            decided = relay.decide_event(
                parsed, conn.subscriptions, own_user_id=conn.record.user_id, org_id=conn.record.org_id
            )
            pending.extend(_Pending(message_id, conn.record, c) for c in decided)
    for conn in connections.values():
        if conn is not None and conn.gap:
            pending.extend(_gap_changes(conn, ports, report, failed))
    report.changes = len(pending)
    fresh = _unseen(pending, ports, report, failed, tally)
    _publish_and_mark(fresh, ports, report, failed, tally)
    _record_stats(tally, ports, report)
    _mark_dirty(dirty, ports, failed)
    spacing = {cid: _spacing(c, ports) for cid, c in connections.items() if c is not None}
    _kick(dirty, spacing, ports, report, failed)
    report.failed = sorted(failed)
    return report


def _mark_dirty(
    dirty: dict[tuple[str, str], tuple[int, list[str]]], ports: RelayPorts, failed: set[str]
) -> None:
    for (cid, sobject), (at, message_ids) in dirty.items():
        try:
            ports.relayed.mark_dirty(cid, sobject, at)
        except Exception:
            logger.exception("dirty mark write failed", extra={"connection_id": cid})
            failed.update(message_ids)


def _kick(
    dirty: dict[tuple[str, str], tuple[int, list[str]]],
    spacing: dict[str, int | None],
    ports: RelayPorts,
    report: RelayReport,
    failed: set[str],
) -> None:
    """One prompt poll per connection for its latest dirty change, unless the last one claimed
    reads past it, and ``prompt_minutes`` after that one (``prompting.next_kick``; the claim is
    one conditional write: a burst asks once, two relays deciding at once make one poll)."""
    if ports.kicks is None:
        return
    latest: dict[str, tuple[int, list[str]]] = {}
    for (cid, _), (at, ids) in dirty.items():
        was, owners = latest.get(cid, (0, []))
        latest[cid] = (max(was, at), [*owners, *ids])
    for cid, (at, message_ids) in latest.items():
        every = spacing[cid]
        if failed.issuperset(message_ids) or every is None:
            continue  # its dirty mark failed: retried whole; or its schedule reads the change
        try:
            claimed = _claim(ports, cid, at + ports.kick_delay, every)
        except Exception:
            logger.exception("kick claim failed", extra={"connection_id": cid})
            failed.update(message_ids)
            continue
        if claimed is None:
            continue
        replaced, claim = claimed
        try:
            ports.kicks.kick(cid, claim.at, prompting.kick_index(claim))
        except Exception:
            logger.exception("kick schedule failed", extra={"connection_id": cid})
            try:
                ports.relayed.release_kick(cid, claim, replaced)  # the retry claims it again
            except Exception:
                logger.exception("kick claim release failed", extra={"connection_id": cid})
            failed.update(message_ids)
            continue
        report.kicks += 1


def _spacing(conn: _Connection, ports: RelayPorts) -> int | None:
    """Seconds between the connection's prompt polls; None: its schedule serves the changes."""
    realtime = conn.record.realtime
    minutes = realtime.prompt_minutes if realtime is not None else DEFAULT_PROMPT_MINUTES
    if ports.intervals is not None and realtime is not None:
        polled = [
            s for s in conn.subscriptions if s.status == "active" and not realtime.is_relayed(s.sobject)
        ]
        if polled:
            try:
                interval = realtime.poll_minutes or ports.intervals(conn.record.connection_id)
            except Exception:  # unknown: prompt polls cost more calls than a missed read loses
                logger.exception(
                    "polling interval read failed", extra={"connection_id": conn.record.connection_id}
                )
            else:
                every = scheduling.schedule_minutes(interval, realtime, conn.subscriptions)
                if prompting.schedule_serves(every, minutes):
                    return None
    return 60 * minutes


def _claim(
    ports: RelayPorts, cid: str, needed: int, spacing: int
) -> tuple[KickClaim | None, KickClaim] | None:
    """(the claim replaced, the new one), or None: a claimed poll covers the need. A concurrent
    relay's claim between the read and the write: read and decide again."""
    for _ in range(_CLAIM_ATTEMPTS):
        was = ports.relayed.kick(cid)
        claim = prompting.next_kick(was, needed, int(ports.clock()), spacing)
        if claim is None:
            return None
        if ports.relayed.claim_kick(cid, was, claim):
            return was, claim
    raise RuntimeError("the prompt poll claim kept changing")


def _connection(cid: str, cache: dict[str, _Connection | None], ports: RelayPorts) -> _Connection | None:
    if cid not in cache:
        record = ports.connections.get(cid, consistent=False)
        if record is None or record.status != "connected":
            cache[cid] = None
        else:
            cache[cid] = _Connection(record, ports.subscriptions.list(cid))
    return cache[cid]


def _gap_changes(
    conn: _Connection, ports: RelayPorts, report: RelayReport, failed: set[str]
) -> list[_Pending]:
    """Re-read the gap events' records, one call per 200 ids of an object, and decide from the
    rows as the poller would. A deleted record cannot be re-read: reconciliation covers it."""
    cid = conn.record.connection_id
    by_sobject: dict[str, list[tuple[str, relay.RelayedEvent]]] = {}
    for message_id, event in conn.gap:
        by_sobject.setdefault(event.sobject, []).append((message_id, event))
    out: list[_Pending] = []
    for sobject, events in by_sobject.items():
        subs = [s for s in conn.subscriptions if s.sobject == sobject and relay.relayable(s)]
        readable = [(m, e) for m, e in events if e.header.changeType != "GAP_DELETE"]
        for message_id, event in events:
            if event.header.changeType == "GAP_DELETE":
                _reconcile(ports, cid, sobject, event.commit_second, report, failed, message_id)
        ids = list(dict.fromkeys(i for _, e in readable for i in e.header.recordIds))
        if not ids or not subs:
            continue
        client = ports.salesforce(cid)
        before = client.api_calls
        try:
            rows = client.collection_read(sobject, ids, _gap_fields(cid, sobject, subs, ports))
        except _READ_FAILURES as exc:
            logger.warning("gap re-read failed: %s", type(exc).__name__, extra={"connection_id": cid})
            if isinstance(exc, SalesforceError) and exc.error_code == "INVALID_FIELD":
                # A field a subscription names is gone from the org: no retry mends that (five
                # receives, then the dead-letter queue). Reconciliation reads the object and
                # holds out only the subscriptions naming the field, as every poll does.
                for message_id, event in readable:
                    _reconcile(ports, cid, sobject, event.commit_second, report, failed, message_id)
                continue
            failed.update(m for m, _ in readable)
            continue
        except Exception:  # anything else of one object's re-read: its messages are retried
            logger.exception("gap re-read failed", extra={"connection_id": cid})
            failed.update(m for m, _ in readable)
            continue
        finally:
            report.salesforce_calls += client.api_calls - before
        by_id = {i[:15]: row for i, row in zip(ids, rows, strict=True)}
        report.gap_records += len(ids)
        for message_id, event in readable:
            kinds = relay.kinds_for(event.header.changeType)
            for record_id in event.header.recordIds:
                row = by_id.get(record_id[:15])
                if row is None:  # deleted since (or not visible): the reconciliation poll decides
                    _reconcile(ports, cid, sobject, event.commit_second, report, failed, message_id)
                    continue
                decided = relay.decide_row(
                    sobject,
                    row,
                    row,
                    kinds,
                    subs,
                    own_user_id=conn.record.user_id,
                    org_id=conn.record.org_id,
                )
                out.extend(_Pending(message_id, conn.record, c) for c in decided)
    return out


def _reconcile(
    ports: RelayPorts,
    cid: str,
    sobject: str,
    since: int,
    report: RelayReport,
    failed: set[str],
    message_id: str,
) -> None:
    try:
        ports.relayed.mark_reconcile(cid, sobject, since)
    except Exception:
        logger.exception("reconcile marker write failed", extra={"connection_id": cid})
        failed.add(message_id)
    else:
        report.reconcile_marked += 1


def _gap_fields(cid: str, sobject: str, subs: list[Subscription], ports: RelayPorts) -> list[str]:
    every: list[str] | None = None
    if ports.cursors is not None and any(s.fields is None for s in subs):
        state = ports.cursors.load(cid).get(stream_sk(sobject))
        every = state.fields if state is not None else None
    return streams.select_fields(subs, every)


def _unseen(
    pending: list[_Pending], ports: RelayPorts, report: RelayReport, failed: set[str], tally: _Tally
) -> list[_Pending]:
    """The changes not relayed yet: neither in the relayed-seen set at that version or later, nor
    earlier in this batch."""
    by_cid: dict[str, list[_Pending]] = {}
    for item in pending:
        by_cid.setdefault(item.connection.connection_id, []).append(item)
    out: list[_Pending] = []
    for cid, items in by_cid.items():
        wanted = {(p.change.sobject, bucket_of(p.change.version)) for p in items}
        try:
            seen = ports.relayed.load(cid, wanted)
        except Exception:
            logger.exception("relayed-seen read failed", extra={"connection_id": cid})
            failed.update(p.message_id for p in items)
            continue
        taken: set[tuple[str, str, int]] = set()
        for p in items:
            marks = seen[(p.change.sobject, bucket_of(p.change.version))]
            ident = (p.change.sobject, p.change.key, p.change.version)
            if marks.get(p.change.key, -1) >= p.change.version or ident in taken:
                report.duplicates += 1
                tally.duplicates[cid] += 1
                continue
            taken.add(ident)
            out.append(p)
    return out


def _publish_and_mark(
    pending: list[_Pending], ports: RelayPorts, report: RelayReport, failed: set[str], tally: _Tally
) -> None:
    if not pending:
        return
    messages: dict[str, OutboundMessage] = {}
    for p in pending:
        for sub, event in p.change.events:
            messages.setdefault(
                event.id, relay.outbound(p.connection.connection_id, p.connection.tenant_id, sub, event)
            )
    outcome = ports.publisher.publish_batch(list(messages.values()))
    report.events_published += len(outcome.accepted)
    marks: dict[tuple[str, str, int], dict[str, int]] = {}
    owners: dict[tuple[str, str, int], set[str]] = {}
    for p in pending:
        if any(event.id not in outcome.accepted for _, event in p.change.events):
            failed.add(p.message_id)  # re-sent on redelivery with the same ids
            continue
        tally.published.append(p)
        slot = (p.connection.connection_id, p.change.sobject, bucket_of(p.change.version))
        marks.setdefault(slot, {})[p.change.key] = max(
            p.change.version, marks.get(slot, {}).get(p.change.key, -1)
        )
        owners.setdefault(slot, set()).add(p.message_id)
    if outcome.failed:
        logger.warning("SNS refused %d trigger events; their messages will be retried", len(outcome.failed))
    for (cid, sobject, bucket), entries in marks.items():
        try:
            if not ports.relayed.mark(cid, sobject, bucket, entries):
                ports.relayed.mark_reconcile(cid, sobject, bucket * BUCKET_SECONDS)
                report.reconcile_marked += 1
        except Exception:
            logger.exception("relayed-seen write failed", extra={"connection_id": cid})
            failed.update(owners[(cid, sobject, bucket)])


def _record_stats(tally: _Tally, ports: RelayPorts, report: RelayReport) -> None:
    """One write per connection of the batch: its changes published (lag = now - the header's
    commit time), the trigger events, the duplicates skipped. Statistics: a failure is logged,
    never retried (SQS would re-send changes already published)."""
    now_ms = int(ports.clock() * 1000)
    commits = [tally.commits[p.message_id] for p in tally.published if p.message_id in tally.commits]
    if commits:
        report.max_lag_seconds = max(0, now_ms - min(commits)) / 1000
    if ports.stats is None or not (tally.published or tally.duplicates):
        return
    batches: dict[str, BatchFigures] = {}
    for p in sorted(tally.published, key=lambda p: tally.commits.get(p.message_id, 0)):
        cid = p.connection.connection_id
        batch = batches.setdefault(cid, BatchFigures(relayed_ms=now_ms))
        batch.add(p.change.sobject, tally.commits.get(p.message_id, now_ms), len(p.change.events))
    for cid, count in tally.duplicates.items():
        batches.setdefault(cid, BatchFigures(relayed_ms=now_ms)).duplicates += count
    for cid, batch in batches.items():
        try:
            report.stats_writes += ports.stats.record_batch(cid, batch)
        except Exception:
            logger.exception("relay figures not recorded", extra={"connection_id": cid})
