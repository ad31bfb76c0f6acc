"""The poll schedules against moto's EventBridge Scheduler, and the rule that keeps each
connection's schedule in line with its subscriptions and status."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.connections import ConnectionRecord, ConnectionRepository
from sfconnector.stores.polling import PollingRepository
from sfconnector.stores.schedules import PollSchedules, ScheduleSettings, schedule_name
from sfconnector.stores.subscriptions import SubscriptionCounts, SubscriptionRepository
from sfconnector.triggers.scheduling import PollingControl

from tests.fixtures.aws import AwsEnv, SchedulerEnv

CID = "conn-1"


@pytest.fixture
def schedules(scheduler: SchedulerEnv) -> PollSchedules:
    return PollSchedules(scheduler.client, ScheduleSettings.from_env())


@pytest.fixture
def control(aws: AwsEnv, schedules: PollSchedules) -> PollingControl:
    def ddb() -> Any:
        return boto3.client("dynamodb", region_name=aws.region)

    return PollingControl(
        connections=ConnectionRepository(ddb, aws.table_name),
        subscriptions=SubscriptionRepository(ddb, aws.table_name),
        polling=PollingRepository(ddb, aws.table_name),
        schedules=schedules,
    )


def _connection(control: PollingControl, status: str = "connected") -> None:
    control.connections.put(
        ConnectionRecord.model_validate(
            {
                "connection_id": CID,
                "name": "Acme",
                "login_url": "https://login.salesforce.com",
                "status": status,
            }
        )
    )


def _subscribe(control: PollingControl, sid: str, status: str = "active") -> None:
    control.subscriptions.put(
        Subscription.model_validate(
            {
                "subscription_id": sid * 32,
                "connection_id": CID,
                "trigger": "leads.created",
                "kind": "created",
                "family": "leads",
                "sobject": "Lead",
                "status": status,
                "start_at": "2026-12-01T00:00:00Z",
            }
        )
    )


def test_schedule_definition(schedules: PollSchedules, scheduler: SchedulerEnv) -> None:
    created, change = schedules.put(CID, interval_minutes=1, state="ENABLED")
    assert change == "created"
    raw = scheduler.schedules()["poll-conn-1"]
    assert raw["ScheduleExpression"] == "rate(1 minute)"
    assert raw["State"] == "ENABLED"
    assert raw["Target"]["Arn"] == scheduler.poller_function_arn
    assert raw["Target"]["RoleArn"] == scheduler.scheduler_role_arn
    assert json.loads(raw["Target"]["Input"]) == {"connection_id": CID}
    assert raw["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedules.get(CID) == created

    same, change = schedules.put(CID, interval_minutes=1, state="ENABLED")
    assert (same, change) == (created, "unchanged")
    slower, change = schedules.put(CID, interval_minutes=15, state="DISABLED")
    assert change == "updated"
    assert scheduler.schedules()["poll-conn-1"]["ScheduleExpression"] == "rate(15 minutes)"
    assert slower.state == "DISABLED"
    assert slower.interval_minutes == 15

    assert schedules.delete(CID) is True
    assert schedules.delete(CID) is False
    assert schedules.get(CID) is None


def test_interval_bounds(schedules: PollSchedules) -> None:
    for bad in (0, 61):
        with pytest.raises(ValueError, match="1-60"):
            schedules.put(CID, interval_minutes=bad, state="ENABLED")


def test_long_connection_ids_get_unique_names() -> None:
    long_a, long_b = "a" * 100, "a" * 99 + "b"
    assert schedule_name("conn-1") == "poll-conn-1"
    assert len(schedule_name(long_a)) == 64
    assert schedule_name(long_a) != schedule_name(long_b)


def test_first_subscription_creates_last_deletes(control: PollingControl, scheduler: SchedulerEnv) -> None:
    _connection(control)
    assert control.sync(CID).schedule is None
    assert scheduler.schedules() == {}
    _subscribe(control, "a")
    state = control.sync(CID)
    assert state.schedule is not None
    assert state.schedule.state == "ENABLED"
    _subscribe(control, "b")
    assert control.sync(CID).subscriptions == 2
    assert list(scheduler.schedules()) == ["poll-conn-1"]
    control.subscriptions.delete(CID, "a" * 32)
    assert control.sync(CID).schedule is not None
    control.subscriptions.delete(CID, "b" * 32)
    assert control.sync(CID).schedule is None
    assert scheduler.schedules() == {}


@pytest.mark.parametrize(
    ("status", "subscription", "state"),
    [
        ("connected", "active", "ENABLED"),
        ("connected", "paused", "DISABLED"),
        ("needs_reauth", "active", "DISABLED"),
        ("pending", "active", "DISABLED"),
    ],
)
def test_enabled_only_while_connected_with_an_active_subscription(
    control: PollingControl, scheduler: SchedulerEnv, status: str, subscription: str, state: str
) -> None:
    _connection(control, status)
    _subscribe(control, "a", subscription)
    control.sync(CID)
    assert scheduler.schedules()["poll-conn-1"]["State"] == state


def test_interval_setting_and_missing_connection(control: PollingControl, scheduler: SchedulerEnv) -> None:
    _connection(control)
    _subscribe(control, "a")
    assert control.polling.interval_minutes(CID) == 1
    control.polling.set_interval_minutes(CID, 30)
    assert control.sync(CID).interval_minutes == 30
    assert scheduler.schedules()["poll-conn-1"]["ScheduleExpression"] == "rate(30 minutes)"
    assert control.state(CID).schedule == control.schedules.get(CID)
    # The connection's items gone (deleted): the schedule goes too.
    control.connections.delete(CID)
    assert control.sync(CID).schedule is None
    assert scheduler.schedules() == {}


def test_sync_quietly_never_raises(control: PollingControl, monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(control)
    _subscribe(control, "a")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("scheduler down")

    monkeypatch.setattr(control.schedules, "put", broken)
    control.sync_quietly(CID)  # logged, not raised
    with pytest.raises(RuntimeError):
        control.sync(CID)


def test_a_subscription_created_while_the_last_is_deleted_keeps_its_schedule(
    control: PollingControl, scheduler: SchedulerEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Request A deletes the last subscription and syncs; request B subscribes between A's read of
    the subscriptions and A's schedule delete (B's sync found the schedule still there)."""
    _connection(control)
    _subscribe(control, "a")
    control.sync(CID)
    control.subscriptions.delete(CID, "a" * 32)
    real_counts = control.subscriptions.counts
    calls: list[int] = []

    def count_then_b_subscribes(connection_id: str) -> SubscriptionCounts:
        seen = real_counts(connection_id)
        if not calls:
            _subscribe(control, "b")  # B's put; B's sync sees the schedule and changes nothing
        calls.append(1)
        return seen

    monkeypatch.setattr(control.subscriptions, "counts", count_then_b_subscribes)
    state = control.sync(CID)  # A
    assert state.subscriptions == 1
    assert scheduler.schedules()["poll-conn-1"]["State"] == "ENABLED"


def test_a_prompt_poll_is_a_one_time_schedule_deleted_after_it_ran(
    schedules: PollSchedules, scheduler: SchedulerEnv
) -> None:
    """``kick-<cid>``: ``at(...)`` in UTC, the poll schedule's target and role, deleted by
    Scheduler after it ran; asked again, the same schedule moves to the new time."""
    assert schedules.kick("conn-1", 1_800_000_000) == "created"
    got = scheduler.schedules()["kick-conn-1"]
    assert got["ScheduleExpression"] == "at(2027-01-15T08:00:00)"
    assert got["ScheduleExpressionTimezone"] == "UTC"
    assert got["ActionAfterCompletion"] == "DELETE"
    assert got["Target"]["Arn"] == scheduler.poller_function_arn
    assert got["Target"]["RoleArn"] == scheduler.scheduler_role_arn
    assert json.loads(got["Target"]["Input"]) == {"connection_id": "conn-1"}
    assert schedules.kick("conn-1", 1_800_000_030) == "updated"
    assert scheduler.schedules()["kick-conn-1"]["ScheduleExpression"] == "at(2027-01-15T08:00:30)"
    assert "poll-conn-1" not in scheduler.schedules()  # the connection's rate schedule is apart


def test_deleting_the_schedule_deletes_a_pending_prompt_poll(
    control: PollingControl, schedules: PollSchedules, scheduler: SchedulerEnv
) -> None:
    """A deleted connection (or its last subscription) leaves no prompt poll behind to fire: two
    may be pending at once (``kick-<cid>`` and a later one of the ring, ``kick-<cid>.1``)."""
    _connection(control)
    _subscribe(control, "a")
    control.sync(CID)
    schedules.kick("conn-1", 1_800_000_000)
    schedules.kick("conn-1", 1_800_000_120, 1)
    assert {"poll-conn-1", "kick-conn-1", "kick-conn-1.1"} <= set(scheduler.schedules())
    assert control.forget("conn-1") is True
    assert "poll-conn-1" not in scheduler.schedules()
    assert not [n for n in scheduler.schedules() if n.startswith("kick-conn-1")]
    assert control.forget("conn-1") is False  # nothing left, nothing raised
