"""The poller's settings (environment), its ports (passed in by the composition root) and its
report (the handler's answer and the source of its metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from sfconnector.events import BatchEventPublisher
from sfconnector.settings import EnvSettings
from sfconnector.stores.outbox import OutboxStore
from sfconnector.stores.relayed import RelayedSeen

if TYPE_CHECKING:
    from sfconnector.salesforce.client import SalesforceClient
    from sfconnector.stores.connections import ConnectionRepository
    from sfconnector.stores.cursors import CursorStore
    from sfconnector.stores.subscriptions import SubscriptionRepository

__all__ = ["PollReport", "PollerPorts", "PollerSettings", "StreamReport"]


class PollerSettings(EnvSettings):
    lookback_seconds: int = Field(300, alias="POLL_LOOKBACK_SECONDS", ge=0, le=3600)
    """How far before the cursor each window re-reads: a transaction committing late is stamped
    when it started, up to this long ago."""
    reconcile_grace_seconds: int = Field(120, alias="POLL_RECONCILE_GRACE_SECONDS", ge=0, le=3600)
    """A relayed object's reconciliation reads up to this long before "now": a change still in
    flight in the relay (Salesforce -> EventBridge -> SQS -> the relay) is not raced."""
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
    reconciled: list[str] = Field(default_factory=list)
    """Relayed sObjects polled this cycle as reconciliation (due, or a marker asked for it)."""
    relayed_skipped: list[str] = Field(default_factory=list)
    """Relayed sObjects not due: no Salesforce call for them this cycle."""
    relayed_known: int = 0
    """Changes a reconciliation read that the relay had delivered (recorded, not sent again)."""


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
    relayed: RelayedSeen | None = None
    """The relay's relayed-seen set and markers (None: the cursors' table, through the same client)."""
    on_idle: Callable[[str], None] | None = None
    """Called with the connection id when a cycle finds nothing to poll (unknown connection, not
    ``connected``, no active subscription): the schedule is brought in line with that state (a
    connection flagged by an action function, a stray schedule of a deleted connection)."""
