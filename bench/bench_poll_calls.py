"""Salesforce API calls per poll cycle: the connector's poller beside the reference poller.

Both run against the same in-process emulator org over HTTP (its usage counter is the org's
allowance) with moto for AWS, for 1, 10, 30 (the spec's 30 triggers) and 300 (ten per trigger)
subscriptions, idle (nothing changed) and busy (on every polled sObject: one record updated, its
watched field too where a field matched subscription watches one, one created, one created and
deleted) cycles:

* ours: the real poller handler (one queryAll per sObject, five per Composite call);
* ref: ``bench/reference_poller.py``, one query per subscription per cycle (as n8n's and
  Pipedream's Salesforce triggers poll), over the same windows.

Printed: calls per cycle, per day at 1-minute polling and as a share of a Developer Edition org's
15,000 and an Enterprise org's 100,000 daily calls; the busy cycle's DynamoDB writes and SNS
requests per event. Only counts: nothing is timed.

Usage: python bench/bench_poll_calls.py [--sizes 1,10,30,300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import sys
import uuid
from pathlib import Path
from typing import Any


def _load(name: str) -> Any:
    """A sibling module of bench/ (bench is no package; its dataclasses look their module up)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_ACTIONS = _load("bench_actions")  # the environment of bench_actions.py (moto, emulator, connection)
CONNECTION: str = _ACTIONS.CONNECTION
environment = _ACTIONS.environment
insert = _ACTIONS.insert

UPDATES: dict[str, dict[str, Any]] = {
    "Account": {"Description": "bench"},
    "Contact": {"Title": "Bench"},
    "Lead": {"Title": "Bench"},
    "Opportunity": {"Description": "bench"},
    "Case": {"Description": "bench"},
    "Product2": {"Description": "bench"},
    "Task": {"Description": "bench"},
    "Event": {"Description": "bench"},
    "OpportunityLineItem": {"Description": "bench"},
    "OpportunityContactRole": {"Role": "Evaluator"},
    "CaseComment": {"CommentBody": "bench"},
    "Invoice__c": {"Amount__c": 1.5},
}


def _usage(admin: Any) -> int:
    return int(admin.get("/__emulator__/usage").json()["api_calls"])


def _now(admin: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(admin.get("/__emulator__/clock").json()["now"])


def _advance(admin: Any, seconds: float) -> None:
    admin.post("/__emulator__/clock", json={"advance_seconds": seconds}).raise_for_status()


def _dml(admin: Any, operation: str, sobject: str, fields: dict[str, Any], rid: str | None = None) -> None:
    body = {
        "operation": operation,
        "sobject": sobject,
        "fields": fields,
        "username": "sam.seller@acme-emulator.example",
    }
    if rid:
        body["id"] = rid
    admin.post("/__emulator__/dml", json=body).raise_for_status()


WATCHED = {
    "Account": ("Rating", "Hot", "Cold"),
    "Contact": ("Title", "CEO", "CTO"),
    "Opportunity": ("StageName", "Closed Won", "Prospecting"),
    "Case": ("Status", "Escalated", "New"),
}
"""Field matched subscriptions watch history-tracked fields of the demo org: (field, the value
watched for, another value)."""
UNTRACKED = {
    "Account": ("AccountSource", "Web", "Other"),
    "Contact": ("LeadSource", "Web", "Other"),
    "Opportunity": ("LeadSource", "Web", "Other"),
    "Case": ("Origin", "Web", "Phone"),
}
"""Fields of the same sObjects without history tracking (field matched decided by the snapshot)."""


LIST_VIEWS = {"Account": "Hot_Accounts", "Contact": "Decision_Makers"}
"""Entered list view subscriptions watch these seed list views (ids read by ``_seeds``)."""


def _params(trig: Any, sobject: str, seeds: dict[str, Any]) -> dict[str, Any]:
    if trig.sobject is None:
        return {"sobject": sobject}
    if trig.params == "FieldMatchedParams":
        field, value, _other = WATCHED[sobject]
        return {"field": field, "value": value}
    if trig.params == "ListViewParams":
        return {"list_view_id": seeds["list_views"][sobject]}
    return {}


def put_subscription(
    runtime: Any, connection: str, trig: Any, params: dict[str, Any], start_at: dt.datetime
) -> Any:
    """Store a subscription to ``trig`` (custom objects: on Invoice__c) straight in the table, as
    the subscriptions API would after its checks (the benches pass valid params)."""
    from sfconnector.models.subscriptions import Subscription

    sub = Subscription(
        subscription_id=uuid.uuid4().hex,
        connection_id=connection,
        trigger=trig.key,
        kind=trig.kind.value,
        family=trig.family,
        sobject=trig.sobject or "Invoice__c",
        params=params,
        start_at=start_at,
    )
    runtime.subscriptions.put(sub)
    return sub


def _subscribe(triggers: list[Any], seeds: dict[str, Any]) -> list[Any]:
    from sfconnector.runtime import get_runtime

    rt, start = get_runtime(), dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    return [
        put_subscription(rt, CONNECTION, trig, _params(trig, trig.sobject or "Invoice__c", seeds), start)
        for trig in triggers
    ]


def _busy(admin: Any, seeds: dict[str, Any]) -> None:
    """On every sObject: an update of a seed record (of the watched field too, where one is
    watched), a creation, a creation then deletion."""
    for sobject, fields in UPDATES.items():
        watched = {WATCHED[sobject][0]: WATCHED[sobject][1]} if sobject in WATCHED else {}
        _dml(admin, "update", sobject, {**fields, **watched}, seeds[sobject])
        insert(admin, sobject, _new(sobject, seeds))
        doomed = insert(admin, sobject, _new(sobject, seeds))
        _dml(admin, "delete", sobject, {}, doomed)


def _new(sobject: str, seeds: dict[str, Any]) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    bodies: dict[str, dict[str, Any]] = {
        "Account": {"Name": f"Bench {suffix}"},
        "Contact": {"LastName": f"Bench {suffix}"},
        "Lead": {"LastName": f"Bench {suffix}", "Company": "Acme"},
        "Opportunity": {"Name": f"Bench {suffix}", "StageName": "Prospecting", "CloseDate": "2030-01-01"},
        "Case": {"Subject": f"Bench {suffix}"},
        "Product2": {"Name": f"Bench {suffix}"},
        "Task": {"Subject": f"Bench {suffix}"},
        "Event": {"Subject": "Bench", "StartDateTime": "2030-01-05T10:00:00Z", "DurationInMinutes": 30},
        "OpportunityContactRole": {"OpportunityId": seeds["Opportunity"], "ContactId": seeds["Contact"]},
        "CaseComment": {"ParentId": seeds["Case"], "CommentBody": "bench"},
        "OpportunityLineItem": {"Quantity": 1, "UnitPrice": 10, **seeds["line_item_refs"]},
        "Invoice__c": {"Name": f"INV-{suffix}", "Invoice_Number__c": f"B-{suffix}"},
    }
    return bodies[sobject]


def _seeds() -> dict[str, Any]:
    from sfconnector.runtime import get_runtime

    client = get_runtime().salesforce(CONNECTION)
    seeds: dict[str, Any] = {}
    for sobject in UPDATES:
        first = f"SELECT Id FROM {sobject} ORDER BY CreatedDate LIMIT 1"  # noqa: S608 (catalog names)
        seeds[sobject] = next(iter(client.query(first)))["Id"]
    item = next(iter(client.query("SELECT OpportunityId, PricebookEntryId FROM OpportunityLineItem LIMIT 1")))
    seeds["line_item_refs"] = {
        "OpportunityId": item["OpportunityId"],
        "PricebookEntryId": item["PricebookEntryId"],
    }
    seeds["list_views"] = {
        sobject: next(
            v["id"]
            for v in client.get_json(f"sobjects/{sobject}/listviews")["listviews"]
            if v["developerName"] == name
        )
        for sobject, name in LIST_VIEWS.items()
    }
    return seeds


def _ours(admin: Any) -> dict[str, Any]:
    from tests.fixtures.actions import FakeLambdaContext, load_function

    report: dict[str, Any] = load_function("poller").lambda_handler(
        {"connection_id": CONNECTION}, FakeLambdaContext(function_name="poller")
    )
    return report


SIZES = (1, 10, 30, 300)
DEV_DAILY, ENTERPRISE_DAILY = 15_000, 100_000
PER_DAY = 24 * 60
"""Cycles a day at 1-minute polling."""


def _chosen(size: int) -> list[Any]:
    """The spec's triggers: the first ``size`` of them, or all of them ``size // 30`` times."""
    from sfconnector import catalog

    spec = list(catalog.spec_triggers())
    return spec[:size] if size <= len(spec) else spec * (size // len(spec))


def measure(size: int) -> list[tuple[Any, ...]]:
    reference = _load("reference_poller")
    rows = []
    with environment() as admin:
        from sfconnector.runtime import get_runtime

        get_runtime().poller_clock = lambda: _now(admin).timestamp()
        seeds = _seeds()
        subs = _subscribe(_chosen(size), seeds)
        naive = reference.ReferencePoller(
            get_runtime().salesforce(CONNECTION), subs, _now(admin) - dt.timedelta(minutes=1)
        )
        _advance(admin, 20)
        _ours(admin)  # the first cycle: streams created, describes read once
        naive.poll(_now(admin) - dt.timedelta(seconds=15))
        for label, busy in (("idle", False), ("busy", True)):
            if busy:
                _busy(admin, seeds)
            _advance(admin, 20)
            before = _usage(admin)
            report = _ours(admin)
            ours = _usage(admin) - before
            before = _usage(admin)
            naive.poll(_now(admin) - dt.timedelta(seconds=15))
            theirs = _usage(admin) - before
            served = len(naive.subscriptions)
            rows.append(
                (size, served, label, ours, theirs, report["events_published"],
                 report["dynamodb_writes"], report["sns_requests"])
            )  # fmt: skip
    return rows


def _share(calls: int, allowance: int) -> str:
    return f"{100 * calls * PER_DAY / allowance:.1f}%"


def quiet() -> None:
    """The handler's INFO log lines and metric blobs would bury the table."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


def main() -> None:
    quiet()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args()
    rows = [row for size in map(int, args.sizes.split(",")) for row in measure(size)]
    print("Salesforce API calls per poll cycle (emulator usage counter), ours beside the reference")
    print("poller (one query per subscription per cycle); per day at 1-minute polling (1,440 cycles)")
    heads = (
        "subs", "polled", "cycle", "ours", "ref", "ratio", "ours/day", "ref/day",
        "ours %15k", "ref %15k", "ours %100k", "ref %100k", "events", "ddb w", "sns",
    )  # fmt: skip
    widths = (5, 6, 5, 4, 4, 6, 8, 8, 9, 9, 10, 10, 6, 5, 4)
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for size, served, label, ours, ref, events, writes, sns in rows:
        values = (
            size, served, label, ours, ref, f"{ref / ours:.0f}x" if ours else "-",
            ours * PER_DAY, ref * PER_DAY, _share(ours, DEV_DAILY), _share(ref, DEV_DAILY),
            _share(ours, ENTERPRISE_DAILY), _share(ref, ENTERPRISE_DAILY), events, writes, sns,
        )  # fmt: skip
        print(" ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True)))
    print("polled: subscriptions each side polls (the reference: one query per subscription per cycle)")
    for size, _served, label, _ours, _ref, events, writes, sns in rows:
        if label == "busy" and events:
            print(
                f"busy cycle, {size} subscriptions: {writes / events:.3f} DynamoDB writes and "
                f"{sns / events:.3f} SNS requests per event ({events} events)"
            )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
