"""The relay end to end: change events in an SQS batch (moto) through the real handler
(functions/relay), trigger events out on the SNS topic to a subscriber's SQS queue (moto), the
emulator as the org (gap re-reads over HTTP, its usage counter counting Salesforce calls).

The change events are built here from the emulator's own rows, in Salesforce's shape
(docs/realtime.md): the emulator's Event Relay belongs to another slice. The poller runs against
the same org beside the relay, so every relayed id is checked against the id the poller gives
the same record version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sfconnector.events import BatchOutcome, OutboundMessage
from sfconnector.runtime import get_runtime
from sfconnector.stores.relayed import bucket_of
from sfconnector.triggers import relay as relay_module

from tests.fixtures.actions import FakeLambdaContext, load_function, seed_connection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller
from tests.integration.triggers.relay_harness import Relay, ms, row_of


@pytest.fixture
def env(aws: AwsEnv, sf_emulator: EmulatorHandle, fresh_runtime: None) -> tuple[Poller, Relay]:
    connection = seed_connection(aws, sf_emulator, "conn-relay")
    return Poller(aws, sf_emulator, connection), Relay(aws, sf_emulator, connection)


def _ids(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((m["body"]["event_type"], m["body"]["id"]) for m in messages)


def test_created_updated_deleted_undeleted_reach_the_subscriber_once_with_the_pollers_ids(
    env: tuple[Poller, Relay],
) -> None:
    poller, relay = env
    for key in ("leads.created", "leads.updated", "leads.deleted"):
        poller.subscribe(key)
    steps: list[tuple[str, Callable[[str | None], str], Sequence[str]]] = [
        ("CREATE", lambda _: poller.write("insert", "Lead", {"LastName": "Ng", "Company": "Northwind"}), ()),
        ("UPDATE", lambda rid: poller.write("update", "Lead", {"Title": "CTO"}, id=rid), ("Title",)),
        ("DELETE", lambda rid: poller.write("delete", "Lead", id=rid), ()),
        ("UNDELETE", lambda rid: poller.write("undelete", "Lead", id=rid), ()),
    ]
    record: str | None = None
    for change_type, write, changed in steps:
        poller.emulator.advance_clock(5)
        record = write(record)
        row = row_of(poller, "Lead", record)
        calls = poller.emulator.api_calls()
        _, failed = relay.deliver([relay.event(change_type, "Lead", [record], row, changed)])
        assert failed == []
        assert poller.emulator.api_calls() == calls  # an ordinary change event costs no call
        relayed = poller.drain()
        poller.poll()
        polled = poller.drain()
        assert len(relayed) == 1, (change_type, relayed)
        assert _ids(relayed) == _ids(polled), change_type  # the same event, by id
        assert relayed[0]["attributes"] == polled[0]["attributes"]
    assert [m["body"]["event_type"] for m in poller.received[::2]] == [
        "created",
        "updated",
        "deleted",
        "updated",
    ]


def test_a_duplicated_or_redelivered_event_is_sent_once(env: tuple[Poller, Relay]) -> None:
    poller, relay = env
    sub = poller.subscribe("leads.updated")
    record = poller.write("insert", "Lead", {"LastName": "Ng", "Company": "Northwind"})
    poller.emulator.advance_clock(5)
    poller.write("update", "Lead", {"Title": "CTO"}, id=record)
    body = relay.event("UPDATE", "Lead", [record], row_of(poller, "Lead", record), ["Title"])
    relay.deliver([body, body])  # Salesforce duplicated it inside one batch
    relay.deliver([body])  # SQS redelivered it later
    delivered = poller.drain()
    assert [m["body"]["subscription_id"] for m in delivered] == [sub.subscription_id]
    version = int(datetime.fromisoformat(delivered[0]["body"]["time"]).timestamp())
    marks = relay.seen.load("conn-relay", [("Lead", bucket_of(version))])
    assert marks[("Lead", bucket_of(version))] == {record[:15] + "u": version}


class _Refusing:
    """The real publisher, refusing the entries of one subscription (SNS failing part of a batch:
    moto's SNS cannot be made to). Mocked: only the refusal."""

    def __init__(self, real: Any, refuse: str) -> None:
        self.real, self.refuse = real, refuse

    def publish_batch(self, messages: Sequence[OutboundMessage]) -> BatchOutcome:
        keep = [
            m
            for m in messages
            if m.attributes.get("subject") != self.refuse and m.body["subject"] != self.refuse
        ]
        outcome: BatchOutcome = self.real.publish_batch(keep)
        outcome.failed.update({m.id: "InternalError: refused" for m in messages if m not in keep})
        return outcome

    def publish(self, *args: Any, **kwargs: Any) -> str:
        return str(self.real.publish(*args, **kwargs))


def test_a_refused_publish_fails_only_its_message_and_is_delivered_on_retry(
    env: tuple[Poller, Relay],
) -> None:
    poller, relay = env
    poller.subscribe("leads.created")
    a = poller.write("insert", "Lead", {"LastName": "A", "Company": "A"})
    b = poller.write("insert", "Lead", {"LastName": "B", "Company": "B"})
    bodies = [relay.event("CREATE", "Lead", [r], row_of(poller, "Lead", r)) for r in (a, b)]
    ports = get_runtime().relay_ports
    real = ports.publisher
    ports.publisher = _Refusing(real, refuse=a)
    sent, failed = relay.deliver(bodies)
    assert failed == [sent[0]]
    assert [m["body"]["subject"] for m in poller.drain()] == [b]
    ports.publisher = real
    relay.deliver([bodies[0], bodies[1]])  # the retry (and B redelivered: not sent again)
    assert [m["body"]["subject"] for m in poller.drain()] == [a]


def test_gap_events_re_read_their_records_one_call_per_200_ids(env: tuple[Poller, Relay]) -> None:
    poller, relay = env
    sub = poller.subscribe("leads.updated", fields=["Title"])
    records = [poller.write("insert", "Lead", {"LastName": f"L{n}", "Company": "C"}) for n in range(210)]
    poller.emulator.advance_clock(5)
    for record in records:
        poller.write("update", "Lead", {"Title": "VP"}, id=record)
    row = row_of(poller, "Lead", records[0], "Id, SystemModstamp, LastModifiedById")
    gaps = [relay.event("GAP_UPDATE", "Lead", records[i : i + 21], row) for i in range(0, 210, 21)]
    calls = poller.emulator.api_calls()
    _, failed = relay.deliver(gaps)  # ten messages: one batch
    assert failed == []
    assert poller.emulator.api_calls() - calls == 2
    delivered = poller.drain()
    assert sorted(m["body"]["subject"] for m in delivered) == sorted(records)
    assert {m["body"]["data"]["Title"] for m in delivered} == {"VP"}
    poller.poll()
    polled = poller.drain()
    assert {m["body"]["id"] for m in polled} == {m["body"]["id"] for m in delivered}, "the poller's ids"
    assert all(m["body"]["subscription_id"] == sub.subscription_id for m in delivered)


def test_an_overflow_hands_the_object_to_reconciliation_without_a_call(env: tuple[Poller, Relay]) -> None:
    poller, relay = env
    poller.subscribe("leads.created")
    stamp = poller.emulator.now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    overflow = relay.event("GAP_OVERFLOW", "Lead", ["000000000000000AAA"], {"SystemModstamp": stamp})
    calls = poller.emulator.api_calls()
    _, failed = relay.deliver([overflow])
    assert (failed, poller.emulator.api_calls() - calls, poller.drain()) == ([], 0, [])
    since = relay.seen.reconcile_since("conn-relay", "Lead")
    assert since == ms(stamp) // 1000
    earlier = stamp.replace(stamp[11:13], f"{int(stamp[11:13]) - 1:02d}") if stamp[11:13] != "00" else stamp
    relay.deliver([relay.event("GAP_OVERFLOW", "Lead", ["000000000000000AAA"], {"SystemModstamp": earlier})])
    assert relay.seen.reconcile_since("conn-relay", "Lead") == ms(earlier) // 1000  # the earliest stays


def test_a_gap_re_read_refused_for_a_deleted_field_hands_the_object_to_reconciliation(
    env: tuple[Poller, Relay],
) -> None:
    """A subscription names a field an admin deleted since (found by the engine's model): the
    re-read's INVALID_FIELD is no fault a retry mends, so the message is not failed (five
    receives, then the dead-letter queue and its alarm, and no event for anyone meanwhile): the
    reconcile marker hands the change to the next poll, which isolates the field as it does."""
    poller, relay = env
    poller.subscribe("leads.updated")
    poller.subscribe("leads.updated", fields=["Title", "Gone__c"])  # stored as accepted before
    record = poller.write("insert", "Lead", {"LastName": "Ng", "Company": "Northwind"})
    poller.emulator.advance_clock(5)
    poller.write("update", "Lead", {"Title": "CTO"}, id=record)
    row = row_of(poller, "Lead", record, "Id, SystemModstamp, LastModifiedById")
    _, failed = relay.deliver([relay.event("GAP_UPDATE", "Lead", [record], row)])
    assert failed == []
    assert relay.seen.reconcile_since("conn-relay", "Lead") == ms(row["SystemModstamp"]) // 1000
    assert poller.drain() == []


def test_unknown_sources_disconnected_connections_and_malformed_events_are_dropped(
    env: tuple[Poller, Relay], aws: AwsEnv
) -> None:
    poller, relay = env
    poller.subscribe("leads.created")
    record = poller.write("insert", "Lead", {"LastName": "Ng", "Company": "Northwind"})
    good = relay.event("CREATE", "Lead", [record], row_of(poller, "Lead", record))
    stranger = good.replace(relay.source, relay.source[:-5] + "ZZZZZ")
    _, failed = relay.deliver([stranger, "{not json", json.dumps({"source": relay.source, "detail": {}})])
    assert (failed, poller.drain()) == ([], [])
    seed_connection(aws, poller.emulator, "conn-relay", status="needs_reauth")
    _, failed = relay.deliver([good])
    assert (failed, poller.drain()) == ([], [])


def test_a_merged_event_of_250_records_is_published_and_marked_whole(env: tuple[Poller, Relay]) -> None:
    """One merged event (Salesforce merges identical changes of one transaction) carrying more
    records than one DynamoDB update expression can mark."""
    poller, relay = env
    poller.subscribe("leads.updated", fields=["Status"])
    records = [poller.write("insert", "Lead", {"LastName": f"M{n}", "Company": "C"}) for n in range(250)]
    poller.emulator.advance_clock(5)
    for record in records:
        poller.write("update", "Lead", {"Status": "Working - Contacted"}, id=record)
    merged = relay.event("UPDATE", "Lead", records, row_of(poller, "Lead", records[0]), ["Status"])
    expressions: list[int] = []  # DynamoDB refuses an update expression over 4 KB; moto does not
    get_runtime().dynamodb.meta.events.register(
        "provide-client-params.dynamodb.UpdateItem",
        lambda params, **_: expressions.append(len(params["UpdateExpression"])),
    )
    _, failed = relay.deliver([merged])
    assert failed == []
    assert expressions
    assert max(expressions) <= 4096
    assert sorted(m["body"]["subject"] for m in poller.drain()) == sorted(records)
    relay.deliver([merged])  # redelivered: every record is marked, none is sent again
    assert poller.drain() == []


EVENTS = Path(__file__).resolve().parents[3] / "events"


@pytest.mark.parametrize("path", sorted(p.name for p in EVENTS.glob("relay-*.json")))
def test_the_sample_sqs_batches_parse_and_run_the_relay(path: str, aws: AwsEnv, fresh_runtime: None) -> None:
    """events/relay-*.json (`sam local invoke RelayFunction -e ...`) is an SQS batch of change events
    as the rule delivers them: each parses, and in an account where no connection is bound to the
    source the relay drops them without failing a message."""
    event = json.loads((EVENTS / path).read_text())
    for record in event["Records"]:
        assert record["eventSource"] == "aws:sqs"
        assert isinstance(relay_module.parse_change_event(record["body"]), relay_module.RelayedEvent)
    answer = load_function("relay").lambda_handler(event, FakeLambdaContext(function_name="relay"))
    assert answer == {"batchItemFailures": []}
