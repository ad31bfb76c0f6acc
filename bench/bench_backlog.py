"""A backlog on one connection: 100,000 changed Leads plus 2,000 records on each of four other
sObjects, drained by the real poller handler cycle after cycle (issue 22, "Prove it").

In-process emulator over HTTP and moto (bench_poller.org: the Salesforce transport and botocore
are timed). Subscriptions: ``<family>.created`` on Lead, Account, Contact, Case and Task, started
before the load. The load is written through sObject Collections (200 records a request, as a
bulk load arrives); then cycles run, each after the org clock moved one schedule interval (60 s),
until every expected event is published and a cycle finds nothing new. During the drain one probe
Account is created before each cycle: its lag (cycles from its write to its event) shows whether
the other sObjects wait for the backlog.

Per cycle: own time (wall time minus the time waiting on Salesforce and AWS; the cycle's Lambda
context counts down from 120 s in wall time), peak Python memory (tracemalloc: an upper bound,
since the in-process emulator and moto allocate inside it too), Salesforce calls, events
published. Events are counted where SNS accepts them (PublishBatch, wrapped): "re-sent" is an
event id accepted more than once.

Targets (reported, not asserted): peak memory per cycle <= 256 MB, longest cycle's own time
<= 60 s, 0 events re-sent, the probes' lag 1 cycle.

Usage: python bench/bench_backlog.py [--records 100000] [--others 2000] [--max-cycles 60] [--no-memory]
(``--no-memory``: tracemalloc off, which slows Python 2-3x while on: the times without the peak.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is the path

OTHERS = ("Account", "Contact", "Case", "Task")
TRIGGERS = {"Lead": "leads.created", "Account": "accounts.created", "Contact": "contacts.created",
            "Case": "cases.created", "Task": "tasks.created"}  # fmt: skip
INTERVAL = 60
TIMEOUT_MS = 120_000


ACCEPTED: Counter[str] = Counter()
"""Event id -> times SNS accepted it."""
RECORD_OF: dict[str, tuple[str, str]] = {}
"""Event id -> (sObject, 15-character record id)."""


def count_accepted() -> None:
    """Count the entries SNS accepts, by event id (wrapping the timed, counted botocore call)."""
    from botocore.client import BaseClient

    inner = getattr(BaseClient, "_make_api_call")  # noqa: B009 (every boto3 operation goes through it)

    def counted(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        answer = inner(self, operation, params)
        if operation == "PublishBatch":
            ok = {s["Id"] for s in answer.get("Successful", [])}
            for entry in params["PublishBatchRequestEntries"]:
                if entry["Id"] in ok:
                    body = json.loads(entry["Message"])
                    ACCEPTED[body["id"]] += 1
                    RECORD_OF[body["id"]] = (body["sobject"], body["subject"][:15])
        return answer

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010


class Context:
    """Lambda's context with a remaining time that counts down in wall time from the timeout."""

    function_name = "poller"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:poller"
    log_group_name = "/aws/lambda/poller"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.started = time.monotonic()

    def get_remaining_time_in_millis(self) -> int:
        return int(TIMEOUT_MS - (time.monotonic() - self.started) * 1000)


def load(admin: Any, sobject: str, count: int, seeds: dict[str, Any], new: Any) -> set[str]:
    """``count`` records through sObject Collections (200 a request), as a bulk load arrives."""
    token = admin.post("/__emulator__/tokens", json={}).json()
    version = admin.get("/services/data").json()[-1]["url"]
    ids: set[str] = set()
    with httpx.Client(base_url=str(admin.base_url), timeout=120,
                      headers={"Authorization": f"Bearer {token['access_token']}"}) as http:  # fmt: skip
        for first in range(0, count, 200):
            records = [{"attributes": {"type": sobject}, **new(sobject, seeds)}
                       for _ in range(first, min(count, first + 200))]  # fmt: skip
            answer = http.post(f"{version}/composite/sobjects", json={"allOrNone": True, "records": records})
            answer.raise_for_status()
            ids.update(str(r["id"])[:15] for r in answer.json())
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="changed Leads (the backlog)")
    parser.add_argument("--others", type=int, default=2_000, help="records on each of 4 other sObjects")
    parser.add_argument("--max-cycles", type=int, default=60)
    parser.add_argument("--read-timeout", type=float, default=600, help="the Salesforce client's (s)")
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="leave tracemalloc off (it slows Python 2-3x): for the times, without the peak memory",
    )
    args = parser.parse_args()

    from bench import bench_poller as poller_bench  # its siblings load as bench_poller loads them

    with poller_bench.org() as o:
        calls, actions, admin, runtime, seeds, since = o.parts
        count_accepted()
        from sfconnector import catalog

        put = calls.put_subscription
        for key in TRIGGERS.values():
            put(runtime, actions.CONNECTION, catalog.trigger(key), {}, since)
        calls._advance(admin, 20)
        o.poll()  # the first cycle: describes, cursors start
        # The emulator answers a keyset query over 100k rows by scanning and sorting them in Python,
        # far slower than Salesforce's indexed SystemModstamp (and slower still on a shared 2-core
        # machine): the client's 25 s read timeout is raised for the bench only. Salesforce time
        # is not the connector's own time either way.
        runtime.salesforce(actions.CONNECTION).timeout = httpx.Timeout(connect=5, read=args.read_timeout,
                                                                       write=60, pool=5)  # fmt: skip
        started = time.perf_counter()
        expected = {"Lead": load(admin, "Lead", args.records, seeds, calls._new)}
        for sobject in OTHERS:
            expected[sobject] = load(admin, sobject, args.others, seeds, calls._new)
        seconds = time.perf_counter() - started
        print(f"loaded {args.records} Leads + {len(OTHERS)} x {args.others} in {seconds:.0f} s", flush=True)

        from tests.fixtures.actions import load_function

        handler = load_function("poller").lambda_handler
        rows: list[dict[str, Any]] = []
        probes: dict[str, int] = {}
        done_at: dict[str, int] = {}
        first_seen: dict[str, int] = {}
        """Record (15 characters) -> the cycle that published its event."""
        for cycle in range(1, args.max_cycles + 1):
            probe = calls.insert(admin, "Account", calls._new("Account", seeds))[:15]
            probes[probe] = cycle
            calls._advance(admin, INTERVAL)
            before = sum(ACCEPTED.values())
            actions.CLOCK.reset()
            if not args.no_memory:
                tracemalloc.start()
            wall = time.perf_counter()
            error = ""
            try:
                report = handler({"connection_id": actions.CONNECTION}, Context())
            except Exception as exc:
                report, error = {}, f"{type(exc).__name__}: {str(exc)[:120]}"
            wall = time.perf_counter() - wall
            _current, peak = tracemalloc.get_traced_memory() if not args.no_memory else (0, 0)
            tracemalloc.stop()
            own = wall - actions.CLOCK.salesforce - actions.CLOCK.aws
            published = sum(ACCEPTED.values()) - before
            for event_id in ACCEPTED:
                first_seen.setdefault(RECORD_OF[event_id][1], cycle)
            for sobject, ids in expected.items():
                if sobject not in done_at and all(i in first_seen for i in ids):
                    done_at[sobject] = cycle
            row = {"cycle": cycle, "wall_s": round(wall, 1), "own_s": round(own, 1),
                   "peak_mb": round(peak / 2**20, 1), "sf_calls": report.get("salesforce_calls"),
                   "published": published, "error": error or report.get("error"),
                   "streams": {s["sobject"]: s["complete"] for s in report.get("streams", [])}}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
            # Drained: every record's event is out and a cycle published only its own probe.
            if len(done_at) == len(expected) and published <= 1:
                break
        # A probe written before cycle c and published by it has a lag of 1 cycle.
        lags = [first_seen[p] - c + 1 for p, c in probes.items() if p in first_seen]
        resent = sum(n - 1 for n in ACCEPTED.values() if n > 1)
        lost = sum(len(ids - first_seen.keys()) for ids in expected.values())
        summary = {
            "records": args.records, "others": args.others, "cycles": len(rows),
            "cycles_to_drain": done_at, "peak_mb_max": max(r["peak_mb"] for r in rows),
            "longest_own_s": max(r["own_s"] for r in rows), "longest_wall_s": max(r["wall_s"] for r in rows),
            "cycles_over_timeout": sum(1 for r in rows if r["wall_s"] * 1000 > TIMEOUT_MS),
            "events_accepted": sum(ACCEPTED.values()), "events_resent": resent, "lost": lost,
            "probe_lag_cycles_max": max(lags) if lags else None,
            "probes_undelivered": len(probes) - len(lags),
        }  # fmt: skip
        print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
