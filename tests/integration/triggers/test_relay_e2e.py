"""The whole real-time path against the emulator's own Event Relay: the realtime setup (PUT
/connections/{cid}/realtime through the connections handler) creates the org's channel and relay
and the partner bus, rule and binding in moto; the emulator puts each committed change on the bus
in Salesforce's shape; EventBridge's rule sends it to the relay queue; the relay's handler
publishes. Every event carries the id the poller gives the same record version."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from sfconnector.stores.relayed import RelayedSeen

from tests.fixtures.actions import seed_connection
from tests.fixtures.aws import AwsEnv
from tests.integration.connections.conftest import connections  # noqa: F401 - the fixture
from tests.integration.connections.harness import ConnectionsApi

# The realtime setup's relay queue (RELAY_QUEUE_ARN).
from tests.integration.connections.test_realtime import queue_arn  # noqa: F401
from tests.integration.triggers.harness import Poller
from tests.integration.triggers.relay_harness import run_queue


def forget_relayed(aws: AwsEnv, connection_id: str) -> None:
    """Delete the connection's relayed-seen set and markers."""
    dynamodb = boto3.client("dynamodb", region_name=aws.region)
    items = dynamodb.query(
        TableName=aws.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": f"CONNECTION#{connection_id}"}, ":p": {"S": "RELAYED#"}},
    )["Items"]
    for item in items:
        dynamodb.delete_item(TableName=aws.table_name, Key={"pk": item["pk"], "sk": item["sk"]})


@pytest.fixture(autouse=True)
def _relay_flushed(connections: ConnectionsApi) -> Iterator[None]:  # noqa: F811
    yield
    connections.emulator.flush_relay()  # its deliveries end while moto is still this test's


def test_the_emulators_change_events_reach_subscribers_once_with_the_pollers_ids(
    connections: ConnectionsApi,  # noqa: F811
    aws: AwsEnv,
    queue_arn: str,  # noqa: F811
) -> None:
    emulator = connections.emulator
    emulator.configure(aws_endpoint_url="default")  # the emulator's relay reaches this process's moto
    poller = Poller(aws, emulator, seed_connection(aws, emulator, "conn-rt"))
    for key in ("leads.created", "leads.updated", "leads.deleted"):
        poller.subscribe(key)
    put = connections.call("PUT", "/connections/conn-rt/realtime", {"enabled": True, "objects": ["Lead"]})
    assert put.status == 200, put.body
    sqs = boto3.client("sqs", region_name=aws.region)
    queue = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]

    record = ""
    steps: list[tuple[str, Callable[[], str]]] = [
        ("created", lambda: poller.write("insert", "Lead", {"LastName": "Ng", "Company": "Northwind"})),
        ("updated", lambda: poller.write("update", "Lead", {"Title": "CTO"}, id=record)),
        ("deleted", lambda: poller.write("delete", "Lead", id=record)),
        ("updated", lambda: poller.write("undelete", "Lead", id=record)),
    ]
    for expected, write in steps:
        emulator.advance_clock(5)
        record = write()
        emulator.flush_relay()
        calls = emulator.api_calls()
        sent, failed = run_queue(sqs, queue)
        assert (len(sent), failed) == (1, []), expected
        assert emulator.api_calls() == calls
        relayed = poller.drain()
        # As if the relay had missed it: its reconciliation (due past the interval, a grace
        # behind now) delivers the change with the same id.
        forget_relayed(aws, "conn-rt")
        emulator.advance_clock(900 + 120)
        poller.poll()
        polled = poller.drain()
        assert [m["body"]["event_type"] for m in relayed] == [expected]
        assert [m["body"]["id"] for m in relayed] == [m["body"]["id"] for m in polled], expected


def test_duplicated_reordered_gap_and_overflow_events_of_the_emulator(
    connections: ConnectionsApi,  # noqa: F811
    aws: AwsEnv,
    queue_arn: str,  # noqa: F811
) -> None:
    """The emulator's relay faults: a duplicated event is published once, reordered events each
    once, gap events are re-read (one call for the batch's records) and fire with the poller's ids,
    an overflow hands Lead to reconciliation without a call."""
    emulator = connections.emulator
    emulator.configure(aws_endpoint_url="default")
    poller = Poller(aws, emulator, seed_connection(aws, emulator, "conn-rt"))
    sub = poller.subscribe("leads.created")
    put = connections.call("PUT", "/connections/conn-rt/realtime", {"enabled": True, "objects": ["Lead"]})
    assert put.status == 200, put.body
    sqs = boto3.client("sqs", region_name=aws.region)
    queue = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]

    def run(fault: dict[str, Any], count: int) -> tuple[list[str], list[dict[str, Any]], int]:
        emulator.admin("POST", "relay/faults", fault)
        leads = [poller.write("insert", "Lead", {"LastName": f"F{n}", "Company": "C"}) for n in range(count)]
        emulator.flush_relay()
        emulator.admin("DELETE", "relay/faults")
        calls = emulator.api_calls()
        _, failed = run_queue(sqs, queue)
        assert failed == []
        return leads, poller.drain(), emulator.api_calls() - calls

    leads, delivered, calls = run({"kind": "duplicate", "count": 1}, 1)
    assert ([m["body"]["subject"] for m in delivered], calls) == (leads, 0)
    leads, delivered, calls = run({"kind": "reorder", "count": 1}, 2)
    assert (sorted(m["body"]["subject"] for m in delivered), calls) == (sorted(leads), 0)
    leads, delivered, calls = run({"kind": "gap", "count": 3}, 3)
    assert (sorted(m["body"]["subject"] for m in delivered), calls) == (sorted(leads), 1)
    forget_relayed(aws, "conn-rt")  # as if missed: the reconciliation re-sends them with the same ids
    emulator.advance_clock(120)
    poller.poll()
    assert {m["body"]["id"] for m in poller.drain()} >= {m["body"]["id"] for m in delivered}
    assert all(m["body"]["subscription_id"] == sub.subscription_id for m in delivered)
    leads, delivered, calls = run({"kind": "overflow", "count": 1}, 1)
    assert (delivered, calls) == ([], 0)
    since = RelayedSeen(boto3.client("dynamodb", region_name=aws.region), aws.table_name).reconcile_since(
        "conn-rt", "Lead"
    )
    assert since is not None


def test_the_connections_own_changes_are_ignored_by_commit_user_as_the_poller_ignores_them(
    connections: ConnectionsApi,  # noqa: F811
    aws: AwsEnv,
    queue_arn: str,  # noqa: F811
) -> None:
    emulator = connections.emulator
    emulator.configure(aws_endpoint_url="default")
    poller = Poller(aws, emulator, seed_connection(aws, emulator, "conn-rt"))  # the admin's connection
    ignoring = poller.subscribe("leads.created", ignore_own_changes=True)
    everyone = poller.subscribe("leads.created")
    put = connections.call("PUT", "/connections/conn-rt/realtime", {"enabled": True, "objects": ["Lead"]})
    assert put.status == 200, put.body
    sqs = boto3.client("sqs", region_name=aws.region)
    queue = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
    own = poller.write("insert", "Lead", {"LastName": "Own", "Company": "C"}, username=None)  # the admin
    other = poller.write("insert", "Lead", {"LastName": "Other", "Company": "C"})  # a seller
    emulator.flush_relay()
    run_queue(sqs, queue)
    relayed = sorted((m["body"]["subscription_id"], m["body"]["subject"]) for m in poller.drain())
    assert relayed == sorted(
        [
            (everyone.subscription_id, own),
            (everyone.subscription_id, other),
            (ignoring.subscription_id, other),
        ]
    )
    forget_relayed(aws, "conn-rt")  # as if missed: the reconciliation decides as the relay did
    emulator.advance_clock(120)
    poller.poll()
    assert sorted((m["body"]["subscription_id"], m["body"]["subject"]) for m in poller.drain()) == relayed
