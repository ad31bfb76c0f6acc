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
update, a creation and a creation then deletion (``bench_poll_calls._busy``); with the relay on,
the relay's dirty mark is set for the objects with an entered-list-view trigger, as the relay
sets it when it publishes their changes.

A day is computed from the measured cycle costs and the schedule: relay off, 1,440 cycles; relay
on, 96 reconciliation cycles (every 900 s) and, when something must still be looked at every
minute (a polled object: the schedule ``scheduling.schedule_minutes`` gives), 1,344 cycles in
between, in which a relayed object not due costs nothing. Also shown: without CaseComment's two
triggers (28: every object relayed, the entered list views read by the prompt polls the relay
asks for, docs/realtime.md "Prompt polls") and without the list views too (26 the relay serves
whole): the schedule then runs every 15 minutes.

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


def _realtime(sobjects: set[str]) -> Any:
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
    )


def _cycle(admin: Any, seconds: float) -> tuple[int, dict[str, Any]]:
    CALLS._advance(admin, seconds)
    before = CALLS._usage(admin)
    report = CALLS._ours(admin)
    return CALLS._usage(admin) - before, report


SETS = ("30 spec", "28 kicked", "26 whole")
"""The spec's 30; without CaseComment's two (every object relayed, the entered list views served by
the relay's prompt polls); without the entered list views too."""


def measure(relay: bool, kind: str) -> dict[str, int]:
    """Calls of the cycles a day is made of: {"idle"|"busy": per cycle kind}, and "minutes": the
    schedule ``PollingControl`` gives the connection (``scheduling.schedule_minutes``)."""
    from sfconnector import catalog
    from sfconnector.triggers.scheduling import schedule_minutes

    whole = kind == "26 whole"
    triggers = list(catalog.spec_triggers())
    if kind != "30 spec":
        triggers = [t for t in triggers if t.sobject not in NOT_RELAYED]
    if whole:
        triggers = [t for t in triggers if t.params != "ListViewParams"]
    out: dict[str, int] = {}
    with CALLS.environment() as admin:
        from sfconnector.runtime import get_runtime
        from sfconnector.stores.relayed import RelayedSeen

        runtime = get_runtime()
        runtime.poller_clock = lambda: CALLS._now(admin).timestamp()
        seeds = CALLS._seeds()
        subs = CALLS._subscribe(triggers, seeds)
        sobjects = {s.sobject for s in subs}
        out["minutes"] = 1
        if relay:
            runtime.connections.update(CONNECTION, realtime=_realtime(sobjects))
            out["minutes"] = schedule_minutes(1, _realtime(sobjects), subs)
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
                for sobject in CALLS.LIST_VIEWS:
                    if sobject in sobjects:
                        relayed.mark_dirty(CONNECTION, sobject, int(CALLS._now(admin).timestamp()))
            out[f"{label}_between"], report = _cycle(admin, MINUTE)
            assert report["reconciled"] == (sorted(CALLS.LIST_VIEWS) if busy and not whole else []), report
            if busy:
                CALLS._busy(admin, seeds)
            out[f"{label}_due"], report = _cycle(admin, RECONCILE + GRACE)
            assert len(report["reconciled"]) == len(sobjects - NOT_RELAYED), report
    return out


def per_day(relay: bool, cost: dict[str, int], label: str) -> int:
    """Busy with the schedule at the reconciliation interval: the reconciliations only (each
    prompt poll the relay asks for adds the between cycle's cost, shown beside)."""
    if not relay:
        return cost[label] * (DAY // MINUTE)
    due = DAY // RECONCILE
    if cost["minutes"] * MINUTE >= RECONCILE:
        return cost[f"{label}_due"] * due
    return cost[f"{label}_due"] * due + cost[f"{label}_between"] * (DAY // MINUTE - due)


def main() -> None:
    CALLS.quiet()
    print("Salesforce API calls per simulated day, one connection (emulator usage counter; the day")
    print("computed from measured cycles and the schedule: 1-minute polling, reconciliation every 900 s)")
    heads = ("triggers", "relay", "load", "per cycle (between / due)", "calls/day")
    widths = (9, 5, 4, 26, 9)
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for kind in SETS:
        for relay in (False, True):
            cost = measure(relay, kind)
            for label in ("idle", "busy"):
                cycle = (
                    f"{cost[label]}" if not relay else f"{cost[label + '_between']} / {cost[label + '_due']}"
                )
                row = (kind, "on" if relay else "off", label, cycle)
                values = (*row, per_day(relay, cost, label))
                print(" ".join(f"{v!s:>{w}}" for v, w in zip(values, widths, strict=True)))
    print("30 spec: the entered list views (Account, Contact) and CaseComment (no CDC) keep a 1-minute")
    print("schedule; between reconciliations only they are read (a list view only after a relayed change).")
    print("28 kicked: no CaseComment: the schedule runs every 15 minutes; a relayed change of Account or")
    print("Contact asks for a prompt poll (at most one per 30 s slot), which costs the busy 'between'")
    print("cycle: not in the calls/day column, which is the schedule's.")
    print("26 whole: the relay serves every trigger: the schedule runs every 15 minutes.")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    main()
