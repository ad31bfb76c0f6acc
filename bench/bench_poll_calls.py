"""Salesforce API calls per poll cycle: the connector's poller beside a naive per-subscription poller.

Both run against the in-process emulator over HTTP (its usage counter is the org's allowance) with
moto for AWS. Every served trigger (the 24 record triggers and 4 field matched of the spec, the
deleted extras) is subscribed 1 and 10 times on one org; a cycle is measured idle (nothing
changed) and busy (on every sObject: one record created, one updated, one created and deleted).

* ours: the real poller handler (one queryAll per sObject, five per Composite call);
* naive: what a poller with one query per subscription per cycle spends (``queryAll`` per
  subscription with its own window, plus ``nextRecordsUrl`` pages), as most peers do.

Also printed: DynamoDB writes and SNS requests of the busy cycle per event delivered.

Usage: python bench/bench_poll_calls.py
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import uuid
from pathlib import Path
from typing import Any


def _load_bench_actions() -> Any:
    """The environment of bench_actions.py (moto, the emulator, a seeded connection), reused."""
    spec = importlib.util.spec_from_file_location(
        "bench_actions", Path(__file__).with_name("bench_actions.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_actions"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_ACTIONS = _load_bench_actions()
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
    "Account": ("Rating", "Hot"),
    "Contact": ("Title", "CEO"),
    "Opportunity": ("StageName", "Closed Won"),
    "Case": ("Status", "Escalated"),
}
"""Field matched subscriptions watch history-tracked fields of the demo org."""

LIST_VIEWS = {"Account": "Hot_Accounts", "Contact": "Decision_Makers"}
"""Entered list view subscriptions watch these seed list views (ids read by ``_seeds``)."""


def _params(trig: Any, sobject: str, seeds: dict[str, Any]) -> dict[str, Any]:
    if trig.sobject is None:
        return {"sobject": sobject}
    if trig.params == "FieldMatchedParams":
        field, value = WATCHED[sobject]
        return {"field": field, "value": value}
    if trig.params == "ListViewParams":
        return {"list_view_id": seeds["list_views"][sobject]}
    return {}


def _subscribe(per_trigger: int, seeds: dict[str, Any]) -> list[Any]:
    from sfconnector import catalog
    from sfconnector.models.subscriptions import Subscription
    from sfconnector.runtime import get_runtime

    rt = get_runtime()
    now = dt.datetime.now(dt.UTC)
    subs = []
    for trig in catalog.TRIGGERS:
        if trig.stream is None:
            continue
        sobject = trig.sobject or "Invoice__c"
        for _ in range(per_trigger):
            sub = Subscription(
                subscription_id=uuid.uuid4().hex,
                connection_id=CONNECTION,
                trigger=trig.key,
                kind=trig.kind.value,
                family=trig.family,
                sobject=sobject,
                params=_params(trig, sobject, seeds),
                start_at=now - dt.timedelta(minutes=1),
            )
            rt.subscriptions.put(sub)
            subs.append(sub)
    return subs


def _busy(admin: Any, seeds: dict[str, Any]) -> None:
    """On every sObject: an update of a seed record, a creation, a creation then deletion."""
    for sobject, fields in UPDATES.items():
        _dml(admin, "update", sobject, fields, seeds[sobject])
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
    seeds["list_views"] = {
        sobject: next(
            v["id"]
            for v in client.get_json(f"sobjects/{sobject}/listviews")["listviews"]
            if v["developerName"] == name
        )
        for sobject, name in LIST_VIEWS.items()
    }
    seeds["line_item_refs"] = {
        "OpportunityId": item["OpportunityId"],
        "PricebookEntryId": item["PricebookEntryId"],
    }
    return seeds


def _ours(admin: Any) -> dict[str, Any]:
    from tests.fixtures.actions import FakeLambdaContext, load_function

    report: dict[str, Any] = load_function("poller").lambda_handler(
        {"connection_id": CONNECTION}, FakeLambdaContext(function_name="poller")
    )
    return report


def _naive(subs: list[Any], since: dt.datetime, until: dt.datetime) -> None:
    """One query per subscription over the same window (what a per-subscription poller sends)."""
    from sfconnector.catalog import SYSTEM_FIELDS
    from sfconnector.runtime import get_runtime
    from sfconnector.salesforce import soql

    client = get_runtime().salesforce(CONNECTION)
    for sub in subs:
        where = soql.Ge("SystemModstamp", since) & soql.Lt("SystemModstamp", until)
        statement = soql.select(
            sub.sobject, list(SYSTEM_FIELDS), where=where, order_by=["SystemModstamp", "Id"]
        )
        deleted = sub.trigger.endswith(".deleted")
        for _ in client.query_all(statement) if deleted else client.query(statement):
            pass


def main() -> None:
    rows = []
    for per_trigger in (1, 10):
        with environment() as admin:
            from sfconnector.runtime import get_runtime

            get_runtime().poller_clock = lambda: _now(admin).timestamp()
            seeds = _seeds()
            subs = _subscribe(per_trigger, seeds)
            _advance(admin, 20)
            _ours(admin)  # the first cycle: streams created, describes read once
            for label, busy in (("idle", False), ("busy", True)):
                if busy:
                    _busy(admin, seeds)
                start = _now(admin)
                _advance(admin, 20)
                before = _usage(admin)
                report = _ours(admin)
                ours = _usage(admin) - before
                before = _usage(admin)
                _naive(subs, start - dt.timedelta(minutes=5), _now(admin) - dt.timedelta(seconds=15))
                naive = _usage(admin) - before
                events = report["events_published"]
                rows.append(
                    (
                        per_trigger,
                        len(subs),
                        label,
                        ours,
                        naive,
                        events,
                        report["dynamodb_writes"],
                        report["sns_requests"],
                    )
                )
    print("Salesforce API calls per poll cycle (emulator usage counter)")
    heads = ("subs/trigger", "subs", "cycle", "ours", "naive", "events", "ddb writes", "sns reqs")
    widths = (12, 5, 5, 5, 6, 7, 10, 8)
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for row in rows:
        print(" ".join(f"{v:>{w}}" for v, w in zip(row, widths, strict=True)))
    for _per, n, label, _ours_calls, _naive_calls, events, writes, sns in rows:
        if label == "busy" and events:
            print(
                f"busy cycle, {n} subscriptions: {writes / events:.3f} DynamoDB writes and "
                f"{sns / events:.3f} SNS requests per event ({events} events)"
            )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
