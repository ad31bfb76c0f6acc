"""Is real time working? ``GET /connections/{cid}/realtime`` shows the relay's lag (relayed time -
the change header's commit time), its counts and what the last reconciliation found it had missed,
through the real handlers: the realtime setup, the emulator's Event Relay (its faults) onto moto's
bus, the relay function and the poller. The org clock is frozen, so every lag is known exactly."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import boto3
from sfconnector.stores.relay_stats import LAG_WINDOW

from tests.fixtures.aws import AwsEnv
from tests.integration.connections.conftest import connections  # noqa: F401 - the fixture
from tests.integration.connections.test_realtime import queue_arn  # noqa: F401 - the fixture
from tests.integration.triggers.test_reconcile import GRACE, INTERVAL, Relayed, rt  # noqa: F401


def _view(rt: Relayed) -> tuple[dict[str, Any], int]:  # noqa: F811
    """GET's answer and the Salesforce calls it cost."""
    before = rt.emulator.api_calls()
    answer = rt.connections.call("GET", "/connections/conn-rt/realtime")
    assert answer.status == 200, answer.body
    return answer.json(), rt.emulator.api_calls() - before


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _writes(aws: AwsEnv) -> int:
    """The relay's figures item's revision: one per write."""
    item = boto3.client("dynamodb", region_name=aws.region).get_item(
        TableName=aws.table_name, Key={"pk": {"S": "CONNECTION#conn-rt"}, "sk": {"S": "RELAYHEALTH#relay"}}
    )["Item"]
    return int(item["rev"]["N"])


def test_get_shows_the_lag_of_relayed_changes_from_their_commit_times(rt: Relayed, aws: AwsEnv) -> None:  # noqa: F811
    rt.poller.subscribe("leads.created")
    rt.poller.subscribe("leads.updated")
    rt.relay(["Lead"])
    view, _ = _view(rt)
    assert view["relay"] is None  # nothing relayed yet

    t0 = rt.emulator.set_clock(rt.emulator.now().replace(microsecond=0), frozen=True)
    lead = rt.poller.write("insert", "Lead", {"LastName": "Lag", "Company": "C"})  # committed at t0
    rt.emulator.advance_clock(4)
    rt.poller.write("update", "Lead", {"Title": "CTO"}, id=lead)  # at t0 + 4
    rt.emulator.advance_clock(3)
    rt.deliver()  # relayed at t0 + 7: lags 7 s and 3 s
    rt.emulator.advance_clock(10)
    rt.emulator.add_relay_fault("duplicate", count=1)  # Salesforce delivering one event twice
    rt.poller.write("insert", "Lead", {"LastName": "Lag2", "Company": "C"})  # at t0 + 17
    rt.emulator.advance_clock(1)
    rt.deliver()  # at t0 + 18: lag 1 s
    assert len(rt.poller.drain()) == 3

    view, calls = _view(rt)
    assert calls == 2  # the feedback and the limits, as before: the figures cost no call
    relay = view["relay"]
    assert (relay["changes_relayed"], relay["events_published"], relay["duplicates_skipped"]) == (3, 3, 1)
    last = relay["last_change"]
    assert last["sobject"] == "Lead"
    assert _at(last["committed_at"]) == t0 + timedelta(seconds=17)
    assert _at(last["relayed_at"]) == t0 + timedelta(seconds=18)
    assert last["lag_seconds"] == 1
    assert relay["lag"] == {
        "last_seconds": 1.0, "p50_seconds": 3.0, "p95_seconds": 7.0, "max_seconds": 7.0,
        "samples": 3, "window": LAG_WINDOW,
    }  # fmt: skip
    assert [(o["sobject"], o["changes_relayed"]) for o in relay["objects"]] == [("Lead", 3)]
    assert _at(relay["since"]) == t0 + timedelta(seconds=7)
    assert relay["reconciliation"] is None
    assert _writes(aws) == 2  # one write per batch (each delivery was one SQS batch)


def test_the_last_reconciliation_says_how_many_changes_the_relay_missed(rt: Relayed) -> None:  # noqa: F811
    rt.poller.subscribe("leads.created")
    rt.relay(["Lead"])
    rt.poll(1)  # never polled: due (it sets the stream's cursor)
    rt.emulator.add_relay_fault("drop", count=1)
    rt.emulator.advance_clock(5)
    rt.poller.write("insert", "Lead", {"LastName": "Dropped", "Company": "C"})
    rt.emulator.advance_clock(1)
    rt.poller.write("insert", "Lead", {"LastName": "Relayed", "Company": "C"})
    rt.deliver()
    assert len(rt.poller.drain()) == 1

    report, _ = rt.poll(INTERVAL)  # due: it sends the dropped one
    assert (report["reconciled"], report["events_published"], report["relayed_known"]) == (["Lead"], 1, 1)
    view, _ = _view(rt)
    found = view["relay"]["reconciliation"]
    assert (found["objects"], found["relayed_known"], found["missed_by_relay"]) == (["Lead"], 1, 1)
    assert (found["missed_by_object"], found["missed_total"], found["reconciliations"]) == ({"Lead": 1}, 1, 2)
    assert abs((_at(found["at"]) - rt.emulator.now()).total_seconds()) < 5
    assert view["relay"]["changes_relayed"] == 1

    rt.emulator.advance_clock(5)
    rt.poller.write("insert", "Lead", {"LastName": "Fine", "Company": "C"})
    rt.deliver()
    rt.poll(INTERVAL + GRACE)
    found = _view(rt)[0]["relay"]["reconciliation"]
    assert (found["relayed_known"], found["missed_by_relay"], found["missed_total"]) == (1, 0, 1)


def test_each_relay_batch_emits_its_longest_lag_as_a_metric(
    rt: Relayed,  # noqa: F811
    capsys: Any,
) -> None:
    """``RelayLagSeconds`` (CloudWatch EMF, one per batch): what an alarm on "real time is late"
    watches, beside the figures GET shows."""
    rt.poller.subscribe("leads.created")
    rt.relay(["Lead"])
    rt.emulator.set_clock(rt.emulator.now().replace(microsecond=0), frozen=True)
    rt.poller.write("insert", "Lead", {"LastName": "Early", "Company": "C"})  # committed at t0
    rt.emulator.advance_clock(2)
    rt.poller.write("insert", "Lead", {"LastName": "Late", "Company": "C"})  # at t0 + 2
    rt.emulator.advance_clock(5)
    capsys.readouterr()
    rt.deliver()  # one batch, at t0 + 7: lags 7 s and 5 s
    lags = [
        document["RelayLagSeconds"]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{") and '"RelayLagSeconds"' in line
        for document in [json.loads(line)]
    ]
    assert lags == [[7.0]]  # EMF writes a metric's values as a list
