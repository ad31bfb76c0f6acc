"""When a connection's next prompt poll runs (pure; docs/realtime.md, "Prompt polls").

A relayed change only a poll can judge (``relay.needs_poll``) *needs* a poll at or after its
commit second + the reconciliation grace + 5 (the poll's window ends the grace behind its "now").
The connection's last claimed prompt poll (``RelayedSeen``'s ``KICK`` item: its time and how many
were claimed) decides: a poll at or after the need covers the change; otherwise the next one runs
at the first 30-second slot at or after the need, and at least ``prompt_minutes`` after the last.
A pending poll is never moved: under a steady stream of changes a moved poll would be pushed back
by every change and never run. Each claim gets its own schedule name from a ring of
``KICK_RING`` schedule names: claim ``n`` reuses claim ``n - 4``'s name, whose poll has run, as
claims ``n - 3`` .. ``n - 1`` are at least three spacings (3 minutes) after it and the last of
them before claim ``n``'s need, which is at most the grace + 5 s (125 s) ahead.
"""

from __future__ import annotations

from sfconnector.stores.relayed import KickClaim
from sfconnector.stores.schedules import KICK_RING

__all__ = ["KICK_LEAD_SECONDS", "KICK_SLOT_SECONDS", "kick_index", "next_kick", "schedule_serves"]

KICK_SLOT_SECONDS = 30
"""Prompt polls run on these slots: the changes of a burst share one."""
KICK_LEAD_SECONDS = 5
"""A poll is scheduled at least this far ahead (Scheduler refuses a time already past)."""


def next_kick(last: KickClaim | None, needed: int, now: int, spacing_seconds: int) -> KickClaim | None:
    """The prompt poll a change needing one at ``needed`` asks for, or None when ``last`` (the
    connection's last claim, pending or run) is at or after the need and covers it."""
    if last is not None and last.at >= needed:
        return None
    earliest = max(needed, now + KICK_LEAD_SECONDS)
    if last is not None:
        earliest = max(earliest, last.at + spacing_seconds)
    at = -(-earliest // KICK_SLOT_SECONDS) * KICK_SLOT_SECONDS
    return KickClaim(at=at, seq=0 if last is None else last.seq + 1)


def kick_index(claim: KickClaim) -> int:
    """Which of the ring's schedule names the claim's poll uses (0: ``kick-<cid>``)."""
    return claim.seq % KICK_RING


def schedule_serves(schedule_minutes: int, prompt_minutes: int) -> bool:
    """The connection's schedule runs at least as often as its prompt polls may (a CaseComment
    trigger keeping it at one minute, say): each of its cycles reads the relayed objects a change
    marked dirty, so a prompt poll would add calls and gain nothing."""
    return schedule_minutes <= prompt_minutes
