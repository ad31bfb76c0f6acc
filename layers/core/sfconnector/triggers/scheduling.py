"""Keeps each connection's poll schedule in line with its state.

One rule, applied after anything that can change it (a subscription created, paused, resumed or
deleted; the interval changed; the connection flagged ``needs_reauth`` or authorised again; the
connection deleted):

* no subscription (or no connection): no schedule;
* otherwise a schedule at the connection's interval (with a relay: the least its active
  subscriptions need, the reconciliation interval for those on relayed objects, whose prompt
  looks the relay asks for, and ``poll_minutes`` for the others, :func:`schedule_minutes`), ENABLED
  when the connection is ``connected`` and at least one subscription is active, DISABLED
  otherwise (polling a connection that must be re-authorised, or whose subscriptions are all
  paused, would only cost invocations).

:meth:`PollingControl.sync` recomputes it from the stored state, so calling it twice, or after a
crash between a write and the schedule call, converges.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sfconnector.models.realtime import RealtimeState
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.connections import ConnectionRepository
from sfconnector.stores.polling import PollingRepository
from sfconnector.stores.schedules import PollSchedule, PollSchedules, ScheduleState
from sfconnector.stores.subscriptions import SubscriptionCounts, SubscriptionRepository
from sfconnector.triggers import streams

__all__ = ["PollingControl", "PollingState", "schedule_minutes"]

logger = logging.getLogger(__name__)


def schedule_minutes(interval: int, realtime: RealtimeState | None, subs: Sequence[Subscription]) -> int:
    """The schedule's minutes: the least any active subscription needs. One on a relayed object
    (the partner bus associated) needs a look at the reconciliation interval only: the relay
    delivers its changes, or asks for a prompt poll when only a poll can judge one (an entered
    list view, a field matched the event cannot decide: ``relay.needs_poll``). Any other (an
    object on polling: CaseComment, beyond the CDC allocation, refused) needs the realtime
    setup's ``poll_minutes``, by default the connection's interval. Without an associated relay:
    the connection's interval."""
    active = [s for s in subs if s.status == "active"]
    if realtime is None or not realtime.enabled or realtime.association != "associated" or not active:
        return interval
    reconciled = max(interval, math.ceil(realtime.reconcile_seconds / 60))
    polled = realtime.poll_minutes or interval
    return min(
        reconciled if streams.stream_of(sub) is not None and realtime.is_relayed(sub.sobject) else polled
        for sub in active
    )


@dataclass(frozen=True)
class PollingState:
    """What ``sync`` left behind."""

    connection_id: str
    interval_minutes: int
    subscriptions: int
    active_subscriptions: int
    schedule: PollSchedule | None


class PollingControl:
    def __init__(
        self,
        *,
        connections: ConnectionRepository,
        subscriptions: SubscriptionRepository,
        polling: PollingRepository,
        schedules: PollSchedules,
    ) -> None:
        self.connections = connections
        self.subscriptions = subscriptions
        self.polling = polling
        self.schedules = schedules

    def __repr__(self) -> str:
        return f"PollingControl({self.schedules!r})"

    def sync(self, connection_id: str, *, _recheck: bool = True) -> PollingState:
        """Create, update, disable or delete the connection's schedule to match its state.

        Decided from the subscriptions' counts (one GetItem), never by reading the subscriptions."""
        record = self.connections.get(connection_id)
        counts = self.subscriptions.counts(connection_id) if record is not None else SubscriptionCounts()
        interval = self.polling.interval_minutes(connection_id) if record is not None else 0
        schedule: PollSchedule | None = None
        if record is None or not counts.total:
            if self.schedules.delete(connection_id):
                logger.info("Connection %s: poll schedule deleted (no subscriptions left)", connection_id)
                if record is not None and _recheck and self.subscriptions.counts(connection_id).total:
                    # A subscription created while this request deleted the last one: its own
                    # sync may have run before the delete above, so bring the schedule back.
                    return self.sync(connection_id, _recheck=False)
        else:
            if record.realtime is not None:  # one Query, only for a connection with a relay
                interval = schedule_minutes(interval, record.realtime, self.subscriptions.list(connection_id))
            state: ScheduleState = "ENABLED" if record.status == "connected" and counts.active else "DISABLED"
            schedule, change = self.schedules.put(connection_id, interval_minutes=interval, state=state)
            if change != "unchanged":
                logger.info(
                    "Connection %s: poll schedule %s, %s %s (%d of %d subscriptions active)",
                    connection_id,
                    change,
                    schedule.expression,
                    state,
                    counts.active,
                    counts.total,
                )
        return PollingState(connection_id, interval, counts.total, counts.active, schedule)

    def state(self, connection_id: str) -> PollingState:
        """The connection's polling as stored and scheduled (reads only)."""
        counts = self.subscriptions.counts(connection_id)
        return PollingState(
            connection_id,
            self.polling.interval_minutes(connection_id),
            counts.total,
            counts.active,
            self.schedules.get(connection_id),
        )

    def forget(self, connection_id: str) -> bool:
        """Delete the schedule whatever the state (the connection is being deleted)."""
        return self.schedules.delete(connection_id)

    def sync_quietly(self, connection_id: str) -> None:
        """:meth:`sync` for hooks whose caller must not fail because of it (the token provider
        flagging ``needs_reauth``, the OAuth callback): a failure is logged, and the next change
        (or the poller finding the connection unusable) syncs again."""
        try:
            self.sync(connection_id)
        except Exception as exc:
            logger.warning(
                "Connection %s: could not sync the poll schedule (%s)", connection_id, type(exc).__name__
            )
