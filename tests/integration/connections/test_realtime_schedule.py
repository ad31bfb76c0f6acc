"""The poll schedule follows the realtime state, through the connections handler (emulator over
HTTP, moto's EventBridge Scheduler): every active trigger on a relayed object -> the schedule runs
at the reconciliation interval (an entered list view on one too: the relay asks for its polls);
a trigger on a polled object -> every minute again; DELETE of the realtime setup -> every minute."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.actions import seed_connection
from tests.fixtures.aws import SchedulerEnv
from tests.integration.connections.harness import ConnectionsApi
from tests.integration.connections.test_realtime import queue_arn  # noqa: F401 - the fixture


@pytest.fixture
def cid(connections: ConnectionsApi, scheduler: SchedulerEnv, queue_arn: str) -> Iterator[str]:  # noqa: F811
    connections.emulator.configure(aws_endpoint_url="default")
    yield seed_connection(connections.aws, connections.emulator, "conn-rt").connection_id
    connections.emulator.flush_relay()


def test_the_schedule_runs_at_the_reconciliation_interval_while_the_relay_serves_everything(
    connections: ConnectionsApi, scheduler: SchedulerEnv, cid: str
) -> None:
    def rate() -> str:
        return str(scheduler.schedules()[f"poll-{cid}"]["ScheduleExpression"])

    def subscribe(body: dict[str, object]) -> str:
        created = connections.call("POST", f"/connections/{cid}/subscriptions", body)
        assert created.status == 201, created.body
        return str(created.json()["subscription_id"])

    subscribe({"trigger": "leads.created"})
    subscribe({"trigger": "leads.updated"})
    assert rate() == "rate(1 minute)"
    put = connections.call("PUT", f"/connections/{cid}/realtime", {"enabled": True, "objects": ["Lead"]})
    assert put.status == 200, put.body
    assert rate() == "rate(15 minutes)"
    mixed = subscribe({"trigger": "accounts.created"})  # Account is polled: every minute
    assert rate() == "rate(1 minute)"
    assert connections.call("DELETE", f"/connections/{cid}/subscriptions/{mixed}").status in (200, 204)
    assert rate() == "rate(15 minutes)"
    assert connections.call("DELETE", f"/connections/{cid}/realtime").status == 200
    assert rate() == "rate(1 minute)"


def test_an_entered_list_view_on_a_relayed_object_keeps_the_reconciliation_interval(
    connections: ConnectionsApi, scheduler: SchedulerEnv, cid: str
) -> None:
    """The relay asks for a prompt poll when it sees a change of the list view's object, so the
    list view no longer holds the schedule at one minute."""
    view = connections.emulator.put_list_view(
        "Account", "Hot_For_Schedule", columns=["Name"], orderBy="Name",
        filters=[{"field": "Rating", "operator": "equals", "values": ["Hot"]}],
    )  # fmt: skip
    body = {"trigger": "accounts.entered_list_view", "params": {"list_view_id": view["id"]}}
    assert connections.call("POST", f"/connections/{cid}/subscriptions", body).status == 201
    put = connections.call("PUT", f"/connections/{cid}/realtime", {"enabled": True, "objects": ["Account"]})
    assert put.status == 200, put.body
    assert scheduler.schedules()[f"poll-{cid}"]["ScheduleExpression"] == "rate(15 minutes)"
