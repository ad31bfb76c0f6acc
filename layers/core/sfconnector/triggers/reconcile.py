"""Polling becomes reconciliation for relayed objects (pure, no I/O; docs/realtime.md
"Reconciliation").

An sObject the connection relays (``RealtimeState.is_relayed`` and the partner bus associated)
gets its changes from the relay; its streams are still polled, but only when due (its own
interval, ``RealtimeState.reconcile_seconds``; or a ``RELAYED#<sObject>#reconcile`` marker; or,
for a trigger only a poll can judge riding on it, a change the relay marked since the last poll), and a
change the relay marked in its relayed-seen set is recorded as seen without being sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "DELETE_SKEW_SECONDS",
    "DUE_SLACK_SECONDS",
    "RelayMarks",
    "RelayedCheck",
    "is_due",
    "relayed_lookup",
]

DELETE_SKEW_SECONDS = 2
"""A relayed delete's version is its commit second (the event has no SystemModstamp); the row
queryAll returns is stamped by the same transaction, which may tick a second on either side:
a delete within this many seconds of a relayed one is the same change."""

DUE_SLACK_SECONDS = 30
"""A reconciliation is due this much before its interval has fully passed: a schedule at the
reconciliation interval itself (``rate(15 minutes)``) starts a poll a few seconds early or late,
and an early one must not skip the object until the next run (twice the interval)."""

RelayedCheck = Callable[[str, int, bool], bool]
"""(seen key, version, is a delete) -> the relay delivered that change."""


@dataclass(frozen=True)
class RelayMarks:
    """What the relay left for one sObject (read in one Query, ``RelayedSeen.window``)."""

    seen: Mapping[str, int] = field(default_factory=dict)
    """seen key -> version, merged over the buckets covering the window."""
    reconcile_since: int | None = None
    """The relay could not serve the object from this moment (overflow, a full bucket)."""
    dirty_at: int | None = None
    """The last change of the object only a poll can judge (``relay.needs_poll``)."""


def is_due(
    marks: RelayMarks,
    *,
    cursor: int | None,
    upper: int,
    interval: int,
    prompted: bool,
) -> bool:
    """Whether a relayed sObject's streams are polled this cycle. ``cursor``: its shared stream's
    (None: never polled); ``upper``: the end of the window a poll would read now (a grace period
    behind "now"). Due: never polled, a reconcile marker, its interval elapsed since the window
    its last poll read up to, or (``prompted``: a trigger only a poll can judge rides on it, an
    entered list view or a field matched, ``relay.prompted``) a change the relay marked dirty
    after that window (``relay.needs_poll``)."""
    if cursor is None or marks.reconcile_since is not None:
        return True
    if upper - cursor >= interval - DUE_SLACK_SECONDS:
        return True
    return prompted and marks.dirty_at is not None and marks.dirty_at >= cursor


def relayed_lookup(marks: RelayMarks, *, skew: int = DELETE_SKEW_SECONDS) -> RelayedCheck:
    """(seen key, version, is a delete) -> whether the relay already delivered that change: the
    same key at the same version, or a delete within ``skew`` seconds."""
    seen = marks.seen

    def check(key: str, version: int, deleted: bool) -> bool:
        marked = seen.get(key)
        if marked is None:
            return False
        return abs(marked - version) <= skew if deleted else marked == version

    return check
