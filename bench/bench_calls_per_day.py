"""Salesforce API calls per simulated day for one connection with the spec's 30 triggers, the
Event Relay off (every sObject polled every minute) and on (relayed sObjects reconciled every 15
minutes, docs/realtime.md "Reconciliation"), idle and busy.

The cycles are the real poller handler against the in-process emulator over HTTP (its usage
counter) and moto, as in ``bench_poll_calls.py``. With the relay on, the connection's realtime
state is written as ``PUT /connections/{cid}/realtime`` leaves it when the org's CDC allocation
covers every object (the CDC add-on; the emulator's ``cdc_entity_limit`` raised the same way):
every spec sObject relayed but CaseComment (CDC does not support it), the partner bus associated.
The relay function's own calls are none for ordinary change events (a gap costs one per 200
ids): the day's calls are the poller's. Busy: each measured cycle follows, on every sObject, an
update (of the watched field too), a creation and a creation then deletion
(``bench_poll_calls._busy``); with the relay on, the relay's dirty mark is set for the objects
with a trigger only a poll can judge (``relay.prompted``: entered list view, field matched), as
the relay sets it for such changes (``relay.needs_poll``).

A day is computed from the measured cycle costs and the schedule ``scheduling.schedule_minutes``
gives: relay off, 1,440 cycles; relay on, 96 reconciliation cycles (every 900 s) and the
schedule's other cycles in between (a relayed object not due costs nothing in them). The spec's
30 with the relay are shown at ``poll_minutes`` 1 (the default: the connection's interval), 5
and 15 (CaseComment, which has no change events, polled that often). Also shown: without
CaseComment's two triggers (28: every object relayed, the entered list views and field matched
read by the prompt polls the relay asks for, docs/realtime.md "Prompt polls"): the schedule runs
every 15 minutes.

Usage: python bench/bench_calls_per_day.py
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

# bench/ is no package: bench_poll_calls (which loads its own siblings) is imported by its name
# from this script's folder, without a fourth copy of its loader.
sys.path.insert(0, str(Path(__file__).parent))
CALLS: Any = importlib.import_module("bench_poll_calls")
CONNECTION: str = CALLS.CONNECTION
DAY, MINUTE, RECONCILE, GRACE = 86_400, 60, 900, 120
NOT_RELAYED = {"CaseComment"}  # CDC does not support it: it stays on polling


def _realtime(sobjects: set[str], poll_minutes: int | None) -> Any:
    from sfconnector.models.realtime import RealtimeObject, RealtimeState

    return RealtimeState(
        requested=sorted(sobjects),
        objects=[
            RealtimeObject(sobject=s, mode="polling", reason="unsupported")
            if s in NOT_RELAYED
            else RealtimeObject(sobject=s, mode="relayed")
            for s in sorted(sobjects)
        ],
        association="associated",
        reconcile_seconds=RECONCILE,
        poll_minutes=poll_minutes,
    )


def _cycle(admin: Any, seconds: float) -> tuple[int, dict[str, Any]]:
    CALLS._advance(admin, seconds)
    before = CALLS._usage(admin)
    report = CALLS._ours(admin)
    return CALLS._usage(admin) - before, report


SETS: dict[str, tuple[bool, int | None]] = {
    "30 spec": (True, None),
    "30 poll 5": (True, 5),
    "30 poll 15": (True, 15),
    "28 kicked": (False, None),
}
"""label -> (with CaseComment's two triggers, the realtime PUT's poll_minutes). The spec's 30 at
poll_minutes 1 (default), 5 and 15; without CaseComment's two (every object relayed, the entered
list views and field matched served by the relay's prompt polls)."""


def measure(relay: bool, kind: str) -> dict[str, int]:
    """Calls of the cycles a day is made of: {"idle"|"busy": per cycle kind}, and "minutes": the
    schedule ``PollingControl`` gives the connection (``scheduling.schedule_minutes``)."""
    from sfconnector import catalog
    from sfconnector.triggers import relay as relay_core
    from sfconnector.triggers.scheduling import schedule_minutes

    comments, poll_minutes = SETS[kind]
    triggers = list(catalog.spec_triggers())
    if not comments:
        triggers = [t for t in triggers if t.sobject not in NOT_RELAYED]
    out: dict[str, int] = {}
    with CALLS.environment() as admin:
        from sfconnector.runtime import get_runtime
        from sfconnector.stores.relayed import RelayedSeen

        runtime = get_runtime()
        runtime.poller_clock = lambda: CALLS._now(admin).timestamp()
        seeds = CALLS._seeds()
        subs = CALLS._subscribe(triggers, seeds)
        sobjects = {s.sobject for s in subs}
        prompted = sorted({s.sobject for s in subs if relay_core.prompted(s)} - NOT_RELAYED)
        out["minutes"] = 1
        if relay:
            runtime.connections.update(CONNECTION, realtime=_realtime(sobjects, poll_minutes))
            out["minutes"] = schedule_minutes(1, _realtime(sobjects, poll_minutes), subs)
        relayed = RelayedSeen(lambda: runtime.dynamodb, runtime.settings.table_name)
        _cycle(admin, 20)  # the first cycle: streams created, describes read once
        for label, busy in (("idle", False), ("busy", True)):
            if not relay:
                if busy:
                    CALLS._busy(admin, seeds)
                out[label], _ = _cycle(admin, MINUTE if busy else 20)
                continue
            # Between reconciliations (the first cycle's window ended a grace before its "now").
            if busy:
                CALLS._busy(admin, seeds)
                for sobject in prompted:  # the busy update changes the watched field too
                    relayed.mark_dirty(CONNECTION, sobject, int(CALLS._now(admin).timestamp()))
            out[f"{label}_between"], report = _cycle(admin, MINUTE)
            assert report["reconciled"] == (prompted if busy else []), report
            if busy:
                CALLS._busy(admin, seeds)
            out[f"{label}_due"], report = _cycle(admin, RECONCILE + GRACE)
            assert len(report["reconciled"]) == len(sobjects - NOT_RELAYED), report
    return out


def per_day(relay: bool, cost: dict[str, int], label: str) -> int:
    """The schedule's cycles: 96 reconciliations, the rest between them (busy at the
    reconciliation interval: the reconciliations only; each prompt poll the relay asks for adds
    the between cycle's cost, shown beside)."""
    if not relay:
        return cost[label] * (DAY // MINUTE)
    due = DAY // RECONCILE
    cycles = DAY // (cost["minutes"] * MINUTE)
    return cost[f"{label}_due"] * due + cost[f"{label}_between"] * max(0, cycles - due)


def main() -> None:
    CALLS.quiet()
    print("Salesforce API calls per simulated day, one connection (emulator usage counter; the day")
    print("computed from measured cycles and the schedule: 1-minute polling, reconciliation every 900 s)")
    heads = ("triggers", "relay", "load", "per cycle (between / due)", "calls/day")
    widths = (10, 5, 4, 26, 9)
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for kind in SETS:
        for relay in (False, True) if kind in ("30 spec", "28 kicked") else (True,):
            cost = measure(relay, kind)
            for label in ("idle", "busy"):
                cycle = (
                    f"{cost[label]}" if not relay else f"{cost[label + '_between']} / {cost[label + '_due']}"
                )
                row = (kind, "on" if relay else "off", label, cycle)
                values = (*row, per_day(relay, cost, label))
                print(" ".join(f"{v!s:>{w}}" for v, w in zip(values, widths, strict=True)))
    print("30 spec: poll_minutes unset (the connection's interval): CaseComment (no CDC) keeps a 1-minute")
    print("schedule; between reconciliations only it is read (and, busy, the objects the relay marked).")
    print("30 poll 5 / 15: CaseComment polled every 5 / 15 minutes (its events up to that late); at 15 the")
    print("schedule is the reconciliation's: a prompt poll (at most one per 30 s slot) costs the busy")
    print("'between' cycle, not in the calls/day column, which is the schedule's.")
    print("28 kicked: no CaseComment: the schedule runs every 15 minutes; prompt polls as above.")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    main()
