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


def test_poll_minutes_schedules_what_stays_on_polling_and_get_shows_it(
    connections: ConnectionsApi, scheduler: SchedulerEnv, cid: str
) -> None:
    """A CaseComment trigger (no Change Data Capture) holds the schedule at the connection's
    interval unless the PUT says otherwise: ``poll_minutes`` trades its latency for calls."""

    def rate() -> str:
        return str(scheduler.schedules()[f"poll-{cid}"]["ScheduleExpression"])

    def put(**extra: object) -> dict[str, object]:
        body = {"enabled": True, "objects": ["Lead", "CaseComment"], **extra}
        answer = connections.call("PUT", f"/connections/{cid}/realtime", body)
        assert answer.status == 200, answer.body
        realtime: dict[str, object] = answer.json()["realtime"]
        return realtime

    for trigger in ("leads.created", "cases.comment_created"):
        body = {"trigger": trigger}
        assert connections.call("POST", f"/connections/{cid}/subscriptions", body).status == 201
    assert put()["poll_minutes"] is None
    assert rate() == "rate(1 minute)"  # the default: no latency lost silently
    assert put(poll_minutes=15)["poll_minutes"] == 15
    assert rate() == "rate(15 minutes)"
    before = connections.emulator.api_calls()
    shown = connections.call("GET", f"/connections/{cid}/realtime").json()["realtime"]
    assert (shown["poll_minutes"], connections.emulator.api_calls() - before) == (15, 2)
    put(poll_minutes=5, reconcile_minutes=30)
    assert rate() == "rate(5 minutes)"  # the least any active subscription needs
    put(poll_minutes=60)
    assert rate() == "rate(15 minutes)"  # Lead's reconciliation needs 15
    bad = connections.call(
        "PUT", f"/connections/{cid}/realtime", {"enabled": True, "objects": ["Lead"], "poll_minutes": 1441}
    )
    assert (bad.status, bad.json()["error"]["fields"]) == (422, ["poll_minutes"]), bad.body
    assert "1440" in bad.json()["error"]["message"]  # the bound, not merely an unknown field
    assert rate() == "rate(15 minutes)"
    assert connections.call("DELETE", f"/connections/{cid}/realtime").status == 200
    assert rate() == "rate(1 minute)"
