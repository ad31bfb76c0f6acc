"""One poll that finds 2,000 changed records: the connector's own time and AWS requests per event.

In-process emulator over HTTP and moto, like bench_actions.py: the Salesforce client's HTTP
transport is timed (request sent to body read) and so is every botocore call (moto answers inside
it), and botocore calls are counted per service. What is left of the poll's wall time is the
connector's own work (planning, SOQL, JSON, the seen-set, envelopes, batching).

Each repetition creates ``--records`` records spread evenly over 8 sObjects (Account, Contact,
Lead, Case, Task, Product2, Event, Invoice__c), each with a created, an updated and a deleted
subscription (24 subscriptions; only created fires: one event per record), then runs:

* ours: one cycle through the real poller handler;
* naive: the same changes through a naive engine: one query per subscription (as
  bench/reference_poller.py), then per event one conditional PutItem of a dedupe item and one SNS
  Publish (what a poller without a seen-set or batching does).

Targets (issue 11, reported, not asserted): <= 1 s own time for 2,000 events, <= 0.12 AWS
requests per event.

``--scenario matched``: the DynamoDB cost of the field matched trigger's two paths. On Account,
Contact, Opportunity and Case, two ``changed_to`` subscriptions each (and no other): one on a
history-tracked field (Rating 'Hot', Title 'CEO', StageName 'Closed Won', Status 'Escalated',
decided from the History subquery) and one on a field without history (AccountSource, LeadSource,
LeadSource, Origin 'Web', decided from the per-record snapshot the stream keeps in ``SNAPSHOT#``
items, docs/triggers.md "Field matched on fields without history tracking: the snapshot").
``--records`` records are created with both fields at another value and one poll learns them
into the snapshot (created since the start but not equal: nothing fires); then, each past the
lookback, one measured poll after every record's tracked field moved to the value ("tracked") and
one after every record's untracked field did ("untracked"): one matched event per record each.
The updates go through the emulator's admin DML as another Salesforce user (History rows for
tracked fields are written by the emulator). The stream keeps a snapshot of every ``changed_to``
field, the tracked one too, so both polls read and write snapshot buckets. Printed: events,
Salesforce calls, DynamoDB, SNS and S3 requests and AWS requests per event of both polls and of an
idle poll after them (rows re-read inside the lookback only: no snapshot bucket is read), their
DynamoDB requests by operation, then the snapshot items' size (the ``entries`` attributes summed)
in total and per record. One repetition (``--reps`` is ignored).

Usage: python bench/bench_poller.py [--records 2000] [--reps 3] [--scenario {created,matched}]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOBJECTS = ("Account", "Contact", "Lead", "Case", "Task", "Product2", "Event", "Invoice__c")
KINDS = ("created", "updated", "deleted", "record_created", "record_updated")


def _load(name: str) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


AWS_CALLS: Counter[str] = Counter()
DDB_OPS: Counter[str] = Counter()
"""DynamoDB requests by operation (the matched scenario's breakdown)."""


def count_botocore() -> None:
    """Count every botocore operation by service (wrapping the timed call of bench_actions)."""
    from botocore.client import BaseClient

    timed = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private: every operation goes through it)

    def counted(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        AWS_CALLS[self.meta.service_model.service_name] += 1
        if self.meta.service_model.service_name == "dynamodb":
            DDB_OPS[operation] += 1
        return timed(self, operation, params)

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010


def _subscribe(runtime: Any, connection: str, since: dt.datetime) -> list[Any]:
    from sfconnector import catalog

    put = _load("bench_poll_calls").put_subscription
    return [
        put(runtime, connection, trig, {"sobject": "Invoice__c"} if trig.sobject is None else {}, since)
        for trig in catalog.TRIGGERS
        if (trig.sobject or "Invoice__c") in SOBJECTS and trig.kind.value in KINDS
    ]


def _changes(admin: Any, calls: Any, seeds: dict[str, Any], records: int) -> None:
    for i in range(records):
        sobject = SOBJECTS[i % len(SOBJECTS)]
        calls.insert(admin, sobject, calls._new(sobject, seeds))


class Naive:
    """One query per subscription, then one dedupe PutItem and one Publish per event."""

    def __init__(self, runtime: Any, subs: list[Any], since: dt.datetime) -> None:
        self.runtime = runtime
        self.poller = _load("reference_poller").ReferencePoller(
            runtime.salesforce(subs[0].connection_id), subs, since
        )

    def poll(self, until: dt.datetime) -> int:
        from sfconnector import catalog
        from sfconnector.triggers import streams

        rt, events = self.runtime, 0
        table, topic = rt.settings.table_name, rt.settings.topic_arn
        for sub in self.poller.subscriptions:
            statement, deleted = self.poller._statement(sub, self.poller.last[sub.subscription_id], until)
            rows = rt.salesforce(sub.connection_id).query_all(statement) if deleted else (
                rt.salesforce(sub.connection_id).query(statement)
            )  # fmt: skip
            stream = catalog.trigger(sub.trigger).stream
            assert stream is not None
            for row in rows:
                version = streams.row_version(row, stream)
                if version is None:
                    continue
                event = streams.build_event(sub, stream, row, version, None)
                try:
                    rt.dynamodb.put_item(
                        TableName=table,
                        Item={"pk": {"S": f"DEDUPE#{event.id}"}, "sk": {"S": "-"}},
                        ConditionExpression="attribute_not_exists(pk)",
                    )
                except rt.dynamodb.exceptions.ConditionalCheckFailedException:
                    continue
                rt.sns.publish(TopicArn=topic, Message=json.dumps(event.to_json_dict(), default=str))
                events += 1
            self.poller.last[sub.subscription_id] = until
        return events


def _measure(label: str, run: Any, clock: Any, usage: Any) -> dict[str, Any]:
    clock.reset()
    AWS_CALLS.clear()
    DDB_OPS.clear()
    before = usage()
    started = time.perf_counter()
    events = run()
    total = time.perf_counter() - started
    return {
        "engine": label, "events": events, "total": total, "sf": clock.salesforce, "aws": clock.aws,
        "own": total - clock.salesforce - clock.aws, "sf_calls": usage() - before,
        "ddb": AWS_CALLS["dynamodb"], "sns": AWS_CALLS["sns"], "s3": AWS_CALLS["s3"],
        "ddb_ops": dict(DDB_OPS),
    }  # fmt: skip


@dataclass
class Org:
    """The bench's org: the emulator's admin API, the runtime on moto, and the real poller handler."""

    calls: Any
    actions: Any
    admin: Any
    runtime: Any
    seeds: dict[str, Any]
    since: dt.datetime

    @property
    def parts(self) -> tuple[Any, Any, Any, Any, dict[str, Any], dt.datetime]:
        return self.calls, self.actions, self.admin, self.runtime, self.seeds, self.since

    def poll(self) -> dict[str, Any]:
        from tests.fixtures.actions import FakeLambdaContext, load_function

        handler = load_function("poller").lambda_handler
        report: dict[str, Any] = handler(
            {"connection_id": self.actions.CONNECTION}, FakeLambdaContext(function_name="poller")
        )
        return report


@contextlib.contextmanager
def org() -> Iterator[Org]:
    """The emulator over HTTP and moto (bench_actions.environment), timed and counted."""
    calls = _load("bench_poll_calls")
    actions = calls._ACTIONS
    actions.time_botocore()
    count_botocore()
    with actions.environment() as admin:
        from sfconnector.runtime import get_runtime

        runtime = get_runtime()
        runtime.poller_clock = lambda: calls._now(admin).timestamp()
        since = calls._now(admin).replace(microsecond=0)
        yield Org(calls, actions, admin, runtime, calls._seeds(), since)


def created(args: argparse.Namespace) -> None:
    """The default scenario: one poll finding ``--records`` created records, ours beside naive."""
    results: list[dict[str, Any]] = []
    with org() as o:
        calls, actions, admin, runtime, seeds, since = o.parts
        subs = _subscribe(runtime, actions.CONNECTION, since)
        naive = Naive(runtime, subs, since)
        calls._advance(admin, 20)
        o.poll()  # warm
        naive.poll(calls._now(admin) - dt.timedelta(seconds=15))

        def ours() -> int:
            report = o.poll()
            return int(report["events_published"])

        for _ in range(args.reps):
            # Past the lookback: the measured window holds this repetition's changes only.
            calls._advance(admin, 400)
            ours()
            naive.poll(calls._now(admin) - dt.timedelta(seconds=15))
            _changes(admin, calls, seeds, args.records)
            calls._advance(admin, 20)
            until = calls._now(admin) - dt.timedelta(seconds=15)
            results.append(_measure("ours", ours, actions.CLOCK, lambda: calls._usage(admin)))
            results.append(
                _measure("naive", lambda u=until: naive.poll(u), actions.CLOCK, lambda: calls._usage(admin))
            )
    print(f"One poll finding {args.records} changed records over {len(SOBJECTS)} sObjects, {len(subs)} "
          f"subscriptions; median of {args.reps} (times in ms)")  # fmt: skip
    heads = ("engine", "events", "total", "SF rtt", "AWS rtt", "own", "SF calls", "ddb", "sns", "s3",
             "AWS/event", "own ms/1k ev")  # fmt: skip
    widths = (6, 6, 8, 8, 8, 8, 8, 6, 6, 4, 9, 12)
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for label in ("ours", "naive"):
        rows = [r for r in results if r["engine"] == label]

        def med(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return float(statistics.median(r[key] for r in rows))

        events = med("events")
        aws = med("ddb") + med("sns") + med("s3")
        values = (
            label, f"{events:.0f}", f"{1000 * med('total'):.0f}", f"{1000 * med('sf'):.0f}",
            f"{1000 * med('aws'):.0f}", f"{1000 * med('own'):.0f}", f"{med('sf_calls'):.0f}",
            f"{med('ddb'):.0f}", f"{med('sns'):.0f}", f"{med('s3'):.0f}",
            f"{aws / events:.3f}" if events else "-", f"{1e6 * med('own') / events:.0f}" if events else "-",
        )  # fmt: skip
        print(" ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True)))
    print(
        "targets (issue 11, not asserted): own time <= 1000 ms for 2,000 events; <= 0.12 AWS requests/event"
    )
    print("every run: " + "; ".join(f"{r['engine']} own {1000 * r['own']:.0f} ms" for r in results))


MATCHED = ("Account", "Contact", "Opportunity", "Case")
"""The field matched scenario's sObjects: on each, its history-tracked field
(``bench_poll_calls.WATCHED``) and its field without history tracking (``UNTRACKED``)."""


def _watches(sobject: str) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    """(tracked, untracked) watched fields of the sObject: (field, the value, another value)."""
    calls = _load("bench_poll_calls")
    return calls.WATCHED[sobject], calls.UNTRACKED[sobject]


def _subscribe_matched(runtime: Any, connection: str, since: dt.datetime) -> list[Any]:
    """Two ``changed_to`` field matched subscriptions per sObject: a tracked and an untracked field."""
    from sfconnector import catalog

    put = _load("bench_poll_calls").put_subscription
    return [
        put(runtime, connection, trig, {"field": name, "value": value, "mode": "changed_to"}, since)
        for trig in catalog.TRIGGERS
        if trig.kind is catalog.TriggerKind.FIELD_MATCHED and trig.sobject in MATCHED
        for name, value, _other in _watches(trig.sobject)
    ]


def _snapshot_bytes(runtime: Any, connection: str) -> tuple[int, int]:
    """The ``SNAPSHOT#`` items of the connection: their ``entries`` summed (bytes) and their count."""
    kwargs: dict[str, Any] = {
        "TableName": runtime.settings.table_name,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {
            ":pk": {"S": f"CONNECTION#{connection}"},
            ":prefix": {"S": "SNAPSHOT#"},
        },
    }
    total = items = 0
    while True:
        page = runtime.dynamodb.query(**kwargs)
        for item in page.get("Items", []):
            entries = item.get("entries", {})
            total += len(entries.get("B", b"")) + len(entries.get("S", "").encode())
            items += 1
        if not page.get("LastEvaluatedKey"):
            return total, items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def matched(args: argparse.Namespace) -> None:
    """Field matched: a poll of tracked-field transitions, one of untracked ones, an idle one."""
    rows: dict[str, dict[str, Any]] = {}
    with org() as o:
        calls, actions, admin, runtime, seeds, since = o.parts
        subs = _subscribe_matched(runtime, actions.CONNECTION, since)

        read: dict[str, int] = {}

        def ours() -> int:
            report = o.poll()
            read["rows"] = int(report["records_seen"])
            return int(report["events_published"])

        sobjects = MATCHED
        records: list[tuple[str, str]] = []
        for i in range(args.records):
            sobject = sobjects[i % len(sobjects)]
            (tracked, _hit, miss), (untracked, _uhit, umiss) = _watches(sobject)
            body = {**calls._new(sobject, seeds), tracked: miss, untracked: umiss}
            records.append((sobject, calls.insert(admin, sobject, body)))
        calls._advance(admin, 20)
        learned = ours()  # created since the start, not equal: nothing fires, the snapshot learns them
        for label, which in (("tracked", 0), ("untracked", 1)):
            # Past the lookback: the measured window holds this poll's changes only.
            calls._advance(admin, 400)
            ours()
            for sobject, rid in records:
                name, value, _other = _watches(sobject)[which]
                calls._dml(admin, "update", sobject, {name: value}, rid)
            calls._advance(admin, 20)
            rows[label] = {**_measure(label, ours, actions.CLOCK, lambda: calls._usage(admin)), **read}
        calls._advance(admin, 20)  # inside the lookback: the untracked poll's rows are re-read, seen
        rows["idle"] = {**_measure("idle", ours, actions.CLOCK, lambda: calls._usage(admin)), **read}
        snapshot, buckets = _snapshot_bytes(runtime, actions.CONNECTION)
    print(f"Field matched, {args.records} records over {len(MATCHED)} sObjects, {len(subs)} subscriptions "
          "(changed_to: a history-tracked and an untracked field per sObject)")  # fmt: skip
    print(f"setup poll (the snapshot learns the records): {learned} events")
    heads = ("poll", "events", "SF calls", "ddb", "sns", "s3", "AWS/event")
    widths = (9, 6, 8, 6, 6, 4, 9)
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for label in ("tracked", "untracked", "idle"):
        r = rows[label]
        aws = r["ddb"] + r["sns"] + r["s3"]
        values = (
            label, r["events"], r["sf_calls"], r["ddb"], r["sns"], r["s3"],
            f"{aws / r['events']:.3f}" if r["events"] else "-",
        )  # fmt: skip
        print(" ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True)))
    for label in ("tracked", "untracked", "idle"):
        ops = ", ".join(f"{op} {n}" for op, n in sorted(rows[label]["ddb_ops"].items()))
        print(f"{label} ddb ({rows[label]['rows']} rows read): {ops}")
    per = f"{snapshot / args.records:.1f}" if args.records else "-"
    print(f"snapshot: {snapshot} bytes in {buckets} SNAPSHOT# items, {per} bytes per record")
    for label in ("tracked", "untracked"):
        if rows[label]["events"] != args.records:
            print(f"WARNING: {label} poll published {rows[label]['events']} events, expected {args.records}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scenario", choices=("created", "matched"), default="created")
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    if args.scenario == "matched":
        matched(args)
    else:
        created(args)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
