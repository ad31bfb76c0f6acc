"""One poll cycle of a connection: :func:`poll_connection`, the poller's entry point.

The cycle, one module per step (each pure module decides, the shells do the I/O):

* ``plan.py`` (pure): the connection's stream states and subscriptions -> the cycle's streams: one
  shared stream per sObject (ONE ``queryAll`` serves every trigger and subscription on it), a
  catch-up stream per backfilling subscription, a group per list view watched.
* ``fetch.py`` (I/O): their windows' queries, five per Composite call, pages followed as
  subrequests, within the cycle's bounds (calls, API budget, rows, bytes, time).
* ``decide.py`` and ``position.py`` (pure): a stream's progress (its :class:`Position`, keyset +
  horizon, and its seen-set) and a page of rows -> the changes it still owes, with their events;
  then, given what went out, the next progress; the ``Variant`` interface.
* ``variants.py``: a stream's variants, each deciding the same page the same way: list view
  membership (``membership.py``), the field snapshot (``snapshots.py``), the record rows
  (``rows.py``).
* ``cycle.py`` (I/O): re-send the outbox, one loop over the streams' variants: decide, publish
  (the time checked before every step; what SNS refuses goes to the outbox, same ids), settle and
  commit per page, conditional on the lease: a crash or Lambda's timeout re-sends at most the
  page in flight, with the same ids; nothing is lost. ``reconciling.py``: relayed objects.

This module skips a cycle without calling Salesforce when the connection is not ``connected``,
has no active subscription or another run holds its lease, and runs :class:`Cycle` otherwise.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from sfconnector.stores.cursors import LeaseLostError
from sfconnector.triggers import streams
from sfconnector.triggers.cycle import Cycle
from sfconnector.triggers.ports import PollerPorts, PollerSettings, PollReport, StreamReport

__all__ = ["PollReport", "PollerPorts", "PollerSettings", "StreamReport", "poll_connection"]

logger = logging.getLogger(__name__)


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
        report = Cycle(connection, subscriptions, ports, settings, remaining_ms, owner).run()
    except LeaseLostError as exc:
        # Another run holds the connection now (or it was deleted): what this one published is
        # re-decided by it with the same ids; nothing of this run's state is written.
        logger.warning("poll of %s lost its lease: %s", connection_id, exc)
        return PollReport(connection_id=connection_id, outcome="polled", error=str(exc))
    finally:
        ports.cursors.release_lease(connection_id, owner)
    report.dynamodb_writes += 2  # the lease: taken and given back
    return report
