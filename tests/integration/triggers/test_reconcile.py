"""Polling becomes reconciliation for relayed objects, through the real handlers: the realtime
setup (PUT /connections/{cid}/realtime) relays Lead; the emulator's Event Relay puts each change
on the moto bus (with its faults: drop, duplicate, reorder, gap, overflow); the relay handler
publishes; the poller's handler reconciles at the realtime interval. Every change reaches each
subscriber exactly once by id, whichever path carried it, and the calls are counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from sfconnector.stores.relayed import RelayedSeen
from sfconnector.stores.schedules import PollSchedules
from sfconnector.triggers.prompting import KICK_SLOT_SECONDS

from tests.fixtures.actions import seed_connection
from tests.fixtures.aws import AwsEnv, SchedulerEnv
from tests.integration.connections.conftest import connections  # noqa: F401 - the fixture
from tests.integration.connections.harness import ConnectionsApi
from tests.integration.connections.test_realtime import queue_arn  # noqa: F401 - the fixture
from tests.integration.triggers.harness import Poller
from tests.integration.triggers.relay_harness import run_queue

INTERVAL = 900  # RealtimeState.reconcile_seconds' default
GRACE = 120  # POLL_RECONCILE_GRACE_SECONDS' default


@pytest.fixture(autouse=True)
def _relay_flushed(connections: ConnectionsApi) -> Iterator[None]:  # noqa: F811
    yield
    connections.emulator.flush_relay()


class Relayed:
    """A connection relaying Lead, with the relay queue drained through the relay handler."""

    def __init__(self, connections: ConnectionsApi, aws: AwsEnv, queue_arn: str) -> None:  # noqa: F811
        self.emulator = connections.emulator
        self.emulator.configure(aws_endpoint_url="default")
        self.poller = Poller(aws, self.emulator, seed_connection(aws, self.emulator, "conn-rt"))
        self.connections = connections
        sqs = boto3.client("sqs", region_name=aws.region)
        self.sqs, self.queue = sqs, sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        self.seen = RelayedSeen(boto3.client("dynamodb", region_name=aws.region), aws.table_name)

    def hot_accounts_view(self, name: str) -> dict[str, Any]:
        """An Account list view of the Hot ones (a Cold one updated to Hot enters it)."""
        return self.emulator.put_list_view(
            "Account", name, columns=["Name", "Rating"], orderBy="Name",
            filters=[{"field": "Rating", "operator": "equals", "values": ["Hot"]}],
        )  # fmt: skip

    def relay(self, objects: list[str]) -> None:
        put = self.connections.call(
            "PUT", "/connections/conn-rt/realtime", {"enabled": True, "objects": objects}
        )
        assert put.status == 200, put.body
        assert "relayed" in str(put.body), put.body

    def relay_state(self, state: str) -> None:
        """PATCH the org's EventRelayConfig (Tooling API) as an admin would."""
        config = self.connections.call("GET", "/connections/conn-rt/realtime").json()["realtime"][
            "relay_config_id"
        ]
        with self.emulator.rest_client() as http:
            answer = http.patch(
                f"/tooling/sobjects/EventRelayConfig/{config}", json={"Metadata": {"state": state}}
            )
        assert answer.status_code < 300, answer.text

    def deliver(self) -> None:
        self.emulator.flush_relay()
        _, failed = run_queue(self.sqs, self.queue)
        assert failed == []

    def poll(self, seconds: int) -> tuple[dict[str, Any], int]:
        """A poll ``seconds`` later: its report and its Salesforce calls."""
        self.emulator.advance_clock(seconds)
        calls = self.emulator.api_calls()
        report = self.poller.poll(settle=False)
        return report, self.emulator.api_calls() - calls


@pytest.fixture
def rt(connections: ConnectionsApi, aws: AwsEnv, queue_arn: str) -> Relayed:  # noqa: F811
    return Relayed(connections, aws, queue_arn)


def test_every_change_of_a_relayed_object_arrives_once_by_id_through_the_relays_faults(rt: Relayed) -> None:
    subs = {k: rt.poller.subscribe(f"leads.{k}") for k in ("created", "updated", "deleted")}
    rt.relay(["Lead"])
    first, _ = rt.poll(1)  # never polled: due (it sets the stream's cursor)
    assert first["reconciled"] == ["Lead"]
    expected: Counter[tuple[str, str, str]] = Counter()

    def change(operation: str, fields: dict[str, Any] | None = None, record: str | None = None) -> str:
        rt.emulator.advance_clock(3)
        rid = rt.poller.write(operation, "Lead", fields, id=record)
        kind = {"insert": "created", "update": "updated", "delete": "deleted", "undelete": "updated"}[
            operation
        ]
        expected[(subs[kind].subscription_id, rid[:15], kind)] += 1
        return rid

    for fault in ("drop", "duplicate", "reorder", "gap", "overflow", "stopped", None):
        if fault == "stopped":  # the org's relay stopped: RUN again starts at the newest event
            rt.relay_state("STOP")
        elif fault is not None:
            rt.emulator.add_relay_fault(fault, count=2)
        kept = change("insert", {"LastName": f"K-{fault}", "Company": "C"})
        gone = change("insert", {"LastName": f"G-{fault}", "Company": "C"})
        change("update", {"Title": "CTO"}, kept)
        change("delete", record=gone)
        rt.deliver()
        rt.emulator.clear_relay_faults()
        if fault == "stopped":
            rt.relay_state("RUN")
        report, _ = rt.poll(INTERVAL)  # due: the relay's misses come now, the rest is known
        assert report["reconciled"] == ["Lead"], fault
        if fault in ("stopped", None):  # stopped: the poll sends all four; no fault: none
            assert report["events_published"] == (4 if fault else 0)
    messages = rt.poller.drain()
    ids = [m["body"]["id"] for m in messages]
    assert len(ids) == len(set(ids))
    got = Counter(
        (m["body"]["subscription_id"], m["body"]["subject"][:15], m["body"]["event_type"]) for m in messages
    )
    assert got == expected
    assert rt.seen.reconcile_since("conn-rt", "Lead") is None  # the overflow's marker was covered


def test_without_faults_reconciliation_sends_nothing_and_costs_one_cycle_when_due_nothing_else(
    rt: Relayed,
) -> None:
    rt.poller.subscribe("leads.created")
    rt.poller.subscribe("leads.updated")
    rt.poll(1)  # the first cycle also reads the describe
    _, polled_calls = rt.poll(60)  # a plain poll cycle's cost (Lead is not relayed yet)
    rt.relay(["Lead"])
    rt.poll(1)
    for n in range(3):
        rt.emulator.advance_clock(5)
        rt.poller.write("insert", "Lead", {"LastName": f"L{n}", "Company": "C"})
    rt.deliver()
    relayed = rt.poller.drain()
    assert len(relayed) == 3
    idle, calls = rt.poll(60)  # not due: no call at all
    assert (idle["relayed_skipped"], idle["reconciled"], calls) == (["Lead"], [], 0)
    due, calls = rt.poll(INTERVAL + GRACE)  # the plain poll's cursor was only a margin behind
    assert (due["reconciled"], due["relayed_known"], calls) == (["Lead"], 3, polled_calls)
    assert rt.poller.drain() == []


def test_overflow_marker_asks_for_a_reconciliation_before_the_interval_and_is_cleared(rt: Relayed) -> None:
    rt.poller.subscribe("leads.created")
    rt.relay(["Lead"])
    rt.poll(1)
    rt.emulator.add_relay_fault("overflow", count=1)
    rt.emulator.advance_clock(5)
    lead = rt.poller.write("insert", "Lead", {"LastName": "O", "Company": "C"})
    rt.deliver()
    assert rt.poller.drain() == []
    assert rt.seen.reconcile_since("conn-rt", "Lead") is not None
    report, calls = rt.poll(GRACE + 5)  # long before the interval: the marker asks for it
    assert (report["reconciled"], calls > 0) == (["Lead"], True)
    assert [m["body"]["subject"] for m in rt.poller.drain()] == [lead]
    assert rt.seen.reconcile_since("conn-rt", "Lead") is None
    report, calls = rt.poll(60)
    assert (report["relayed_skipped"], calls) == (["Lead"], 0)


def test_a_mixed_connection_polls_its_other_objects_every_cycle(rt: Relayed) -> None:
    rt.poller.subscribe("leads.created")
    rt.poller.subscribe("accounts.created")
    rt.relay(["Lead"])
    rt.poll(1)
    rt.emulator.advance_clock(5)
    lead = rt.poller.write("insert", "Lead", {"LastName": "M", "Company": "C"})
    account = rt.poller.write("insert", "Account", {"Name": "Acme"})
    rt.deliver()
    report, calls = rt.poll(60)
    assert (report["relayed_skipped"], calls) == (["Lead"], 1)
    assert sorted(m["body"]["subject"] for m in rt.poller.drain()) == sorted([lead, account])
    report, _ = rt.poll(INTERVAL)
    assert report["reconciled"] == ["Lead"]
    assert rt.poller.drain() == []


def test_an_entered_list_view_on_a_relayed_object_is_read_when_the_relay_saw_a_change(rt: Relayed) -> None:
    view = rt.hot_accounts_view("Hot_For_Reconcile")
    rt.poller.subscribe("accounts.created")
    entered = rt.poller.subscribe("accounts.entered_list_view", params={"list_view_id": view["id"]})
    rt.relay(["Account"])
    rt.poll(1)  # reads the membership whole
    cold = str(rt.poller.query("SELECT Id FROM Account WHERE Rating = 'Cold' LIMIT 1")[0]["Id"])
    report, calls = rt.poll(60)
    assert (report["relayed_skipped"], calls) == (["Account"], 0)  # nothing relayed: not read
    rt.emulator.advance_clock(5)
    rt.poller.write("update", "Account", {"Rating": "Hot"}, id=cold)
    rt.deliver()
    report, calls = rt.poll(GRACE + 5)  # the relay saw a change: the list view is read now
    assert (report["reconciled"], calls > 0) == (["Account"], True)
    got = [(m["body"]["subscription_id"], m["body"]["subject"]) for m in rt.poller.drain()]
    assert got == [(entered.subscription_id, cold)]
    report, calls = rt.poll(60)
    assert (report["relayed_skipped"], calls) == (["Account"], 0)


def test_a_relayed_change_asks_for_one_prompt_poll_that_reads_the_list_view(
    rt: Relayed, scheduler: SchedulerEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the relay able to schedule (its function manages schedules), a change on an object
    an entered list view rides on asks for a one-time poll inside the reconciliation window
    instead of waiting for the connection's schedule; a burst asks once."""
    view = rt.hot_accounts_view("Hot_For_Kick")
    entered = rt.poller.subscribe("accounts.entered_list_view", params={"list_view_id": view["id"]})
    rt.relay(["Account"])
    rt.poll(1)  # reads the membership whole
    cold = [str(r["Id"]) for r in rt.poller.query("SELECT Id FROM Account WHERE Rating = 'Cold' LIMIT 2")]
    assert "kick-conn-rt" not in scheduler.schedules()
    asked: list[int] = []  # a spy on the real adapter: the Scheduler calls the relay makes
    real_kick = PollSchedules.kick

    def spy(self: PollSchedules, connection_id: str, at_epoch: int, index: int = 0) -> str:
        asked.append(at_epoch)
        return real_kick(self, connection_id, at_epoch, index)

    monkeypatch.setattr(PollSchedules, "kick", spy)
    # A burst: two changes, two relay batches, seconds apart, inside one slot of prompt polls.
    slot_offset = (rt.emulator.now().timestamp() + GRACE + 5) % KICK_SLOT_SECONDS
    rt.emulator.advance_clock(KICK_SLOT_SECONDS - slot_offset)
    for record in cold:
        rt.emulator.advance_clock(3)
        rt.poller.write("update", "Account", {"Rating": "Hot"}, id=record)
        rt.deliver()
    assert len(asked) == 1
    kicks = {n: s for n, s in scheduler.schedules().items() if n.startswith("kick-")}
    assert list(kicks) == ["kick-conn-rt"]
    kick = kicks["kick-conn-rt"]
    assert kick["ActionAfterCompletion"] == "DELETE"
    assert kick["Target"]["Input"] == '{"connection_id":"conn-rt"}'
    due = datetime.fromisoformat(kick["ScheduleExpression"][3:-1]).replace(tzinfo=UTC).timestamp()
    changed = rt.emulator.now().timestamp()
    assert changed + GRACE < due <= changed + GRACE + 40
    # The kicked poll (at its time): the change is inside its window, the list view is read.
    report, calls = rt.poll(int(due - changed))
    assert (report["reconciled"], calls > 0) == (["Account"], True)
    got = sorted((m["body"]["subscription_id"], m["body"]["subject"]) for m in rt.poller.drain())
    assert got == sorted((entered.subscription_id, r) for r in cold)
