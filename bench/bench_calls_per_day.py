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

import bisect
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


PROMPTED_EVERY = {"moderate": 600, "busy": 60}
"""Seconds between two changes of each relayed object with a trigger only a poll can judge
(Account, Contact, Opportunity, Case): busy, one a minute each; moderate, one every 10 minutes.
The objects' changes are staggered evenly (four objects a minute: a change every 15 s)."""
PROMPT_MINUTES = (1, 2, 5)
"""The realtime PUT's ``prompt_minutes`` shown (2: the default)."""
RELAY_LAG = 1
"""Seconds from a change's commit to the relay deciding on it (bench_latency's p50 is 0.16 s)."""


def _changes(objects: int, every: int) -> list[int]:
    """Commit seconds of a day of changes: each object one every ``every`` s, staggered."""
    return sorted(i * every // objects + k * every for i in range(objects) for k in range(DAY // every))


def _prompt_polls(changes: list[int], prompt_minutes: int) -> list[int]:
    """The prompt polls the relay claims for those changes: the real decision, one claim at a time
    (the relay decides each batch after the claim before it)."""
    from sfconnector.triggers.prompting import next_kick

    last = None
    polls: list[int] = []
    for commit in changes:
        claim = next_kick(last, commit + GRACE + 5, commit + RELAY_LAG, prompt_minutes * MINUTE)
        if claim is not None:
            polls.append(claim.at)
            last = claim
    return polls


def simulate(cost: dict[str, int], changes: list[int], prompt_minutes: int) -> dict[str, float]:
    """A day of the schedule's cycles (every ``cost["minutes"]``, a reconciliation every 900 s)
    and the prompt polls the changes ask for. A cycle costs its measured busy cost when a change
    committed inside its window (which ends the grace before it), else its idle cost. Returns the
    calls, the prompt polls, and the latency of an entered list view / field matched event (a
    change's commit -> the first cycle whose window holds it): p50 and max, seconds."""
    from sfconnector.triggers.prompting import schedule_serves

    # The relay asks for none when the schedule runs as often (relaying._spacing).
    polls = [] if schedule_serves(cost["minutes"], prompt_minutes) else _prompt_polls(changes, prompt_minutes)
    step = cost["minutes"] * MINUTE
    cycles = sorted(
        [(t, "due" if t % RECONCILE == 0 else "between") for t in range(step, DAY + 1, step)]
        + [(t, "due") for t in range(RECONCILE, DAY + 1, RECONCILE) if t % step]
        + [(t, "prompt") for t in polls]
    )
    calls, at = 0, 0
    ends: list[int] = []
    for t, kind in cycles:
        end = t - GRACE
        while at < len(changes) and changes[at] <= end:
            at += 1
        dirty = bool(ends) and changes[bisect.bisect_right(changes, ends[-1]) : at] != []
        load = "busy" if dirty else "idle"
        calls += cost[f"{load}_due"] if kind == "due" else cost[f"{load}_between"]
        ends.append(end)
    latencies = sorted(ends[bisect.bisect_left(ends, c)] - c for c in changes if c <= ends[-1])
    return {
        "calls": calls,
        "prompt_polls": len(polls),
        "p50": latencies[len(latencies) // 2] + GRACE if latencies else 0,
        "max": latencies[-1] + GRACE if latencies else 0,
    }


def per_day(relay: bool, cost: dict[str, int], label: str) -> int:
    """Idle (no change, no prompt poll): the schedule's cycles, 96 of them reconciliations."""
    if not relay:
        return cost[label] * (DAY // MINUTE)
    due = DAY // RECONCILE
    cycles = DAY // (cost["minutes"] * MINUTE)
    return cost[f"{label}_due"] * due + cost[f"{label}_between"] * max(0, cycles - due)


def main() -> None:
    CALLS.quiet()
    print("Salesforce API calls per simulated day, one connection (emulator usage counter; the day")
    print("computed from measured cycles, the schedule and, with the relay, the prompt polls its")
    print("changes ask for: sfconnector.triggers.prompting.next_kick over the day's changes)")
    heads = (
        "triggers",
        "relay",
        "load",
        "prompt_minutes",
        "per cycle (between / due)",
        "prompt polls",
        "calls/day",
        "latency p50 / max",
    )
    widths = (10, 5, 8, 14, 26, 12, 9, 17)
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))

    def row(*values: object) -> None:
        print(" ".join(f"{v!s:>{w}}" for v, w in zip(values, widths, strict=True)))

    prompted = len({"Account", "Contact", "Opportunity", "Case"})
    for kind in SETS:
        for relay in (False, True) if kind in ("30 spec", "28 kicked") else (True,):
            cost = measure(relay, kind)
            if not relay:
                for label in ("idle", "busy"):
                    row(kind, "off", label, "", cost[label], "", per_day(relay, cost, label), "")
                continue
            cycle = f"{cost['idle_between']} / {cost['idle_due']}"
            row(kind, "on", "idle", "", cycle, 0, per_day(relay, cost, "idle"), "")
            cycle = f"{cost['busy_between']} / {cost['busy_due']}"
            for load, every in PROMPTED_EVERY.items():
                changes = _changes(prompted, every)
                for minutes in PROMPT_MINUTES:
                    day = simulate(cost, changes, minutes)
                    late = f"{day['p50']:.0f} s / {day['max']:.0f} s"
                    row(kind, "on", load, minutes, cycle, day["prompt_polls"], int(day["calls"]), late)
    print("30 spec: poll_minutes unset (the connection's interval): CaseComment (no CDC) keeps a 1-minute")
    print("schedule. 30 poll 5 / 15: CaseComment polled every 5 / 15 minutes (its events up to that late).")
    print("28 kicked: no CaseComment: the schedule runs every 15 minutes (the reconciliation).")
    print("Loads: a change every minute (busy) / 10 minutes (moderate) on each of the four objects with")
    print("an entered list view or field matched trigger (staggered); a cycle whose window holds a change")
    print("costs the measured busy cycle, the others the idle one. Latency: a change's commit -> the")
    print("first poll (prompt or scheduled) whose window (ending the 120 s grace before it) holds it.")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    main()
