"""Prompt polls for the field matched triggers the relay cannot fire itself, through the real
handlers (the realtime PUT, the emulator's Event Relay on the moto bus, the relay handler with the
schedules it may make, the poller's handler): a ``changed_to`` on a relayed Account is delivered
by the prompt poll the relay asks for (the connection's schedule stays at 15 minutes); a change
that cannot matter asks for nothing; the watched field is enriched on the channel member, so
``equals`` is decided by the relay alone, and a subscription made after the PUT gets a prompt
poll until a second PUT enriches its field. Salesforce calls are counted."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sfconnector import catalog
from sfconnector.stores.schedules import PollSchedules
from sfconnector.triggers import streams

from tests.fixtures.aws import AwsEnv, SchedulerEnv
from tests.integration.connections.conftest import connections  # noqa: F401 - the fixture
from tests.integration.connections.harness import ConnectionsApi
from tests.integration.connections.test_realtime import queue_arn  # noqa: F401 - the fixture
from tests.integration.triggers.relay_harness import run_queue
from tests.integration.triggers.test_reconcile import GRACE, Relayed, _relay_flushed  # noqa: F401

CID = "conn-rt"  # the connection Relayed seeds


@pytest.fixture
def relayed(connections: ConnectionsApi, aws: AwsEnv, queue_arn: str) -> Relayed:  # noqa: F811
    return Relayed(connections, aws, queue_arn)


def _subscribe(relayed: Relayed, params: dict[str, Any]) -> str:
    """Through the API (it syncs the poll schedule), as a workflow platform subscribes."""
    body = {"trigger": "accounts.field_matched", "params": params}
    created = relayed.connections.call("POST", f"/connections/{CID}/subscriptions", body)
    assert created.status == 201, created.body
    return str(created.json()["subscription_id"])


def _rate(scheduler: SchedulerEnv) -> str:
    return str(scheduler.schedules()[f"poll-{CID}"]["ScheduleExpression"])


def _kicks(scheduler: SchedulerEnv) -> dict[str, float]:
    """The connection's pending prompt polls: schedule name -> time (``kick-<cid>``, ``.1``..)."""
    return {
        name: datetime.fromisoformat(kick["ScheduleExpression"][3:-1]).replace(tzinfo=UTC).timestamp()
        for name, kick in scheduler.schedules().items()
        if name == f"kick-{CID}" or name.startswith(f"kick-{CID}.")
    }


def _kick_at(scheduler: SchedulerEnv) -> float | None:
    """The latest pending prompt poll's time."""
    return max(_kicks(scheduler).values(), default=None)


def _account(relayed: Relayed, rating: str) -> str:
    rows = relayed.poller.query(f"SELECT Id FROM Account WHERE Rating = '{rating}' LIMIT 1")  # noqa: S608
    return str(rows[0]["Id"])


def _clear_kick(scheduler: SchedulerEnv) -> None:
    """The prompt polls ran: EventBridge Scheduler deletes them (ActionAfterCompletion DELETE)."""
    for name in _kicks(scheduler):
        scheduler.client().delete_schedule(Name=name, GroupName=scheduler.group_name)


def test_a_changed_to_on_a_relayed_object_is_delivered_by_a_prompt_poll_not_a_one_minute_schedule(
    relayed: Relayed, scheduler: SchedulerEnv
) -> None:
    matched = _subscribe(relayed, {"field": "Rating", "value": "Hot", "mode": "changed_to"})
    assert _rate(scheduler) == "rate(1 minute)"
    put = relayed.connections.call(
        "PUT", f"/connections/{CID}/realtime", {"enabled": True, "objects": ["Account"]}
    )
    assert put.status == 200, put.body
    account = put.json()["realtime"]["objects"][0]
    assert (account["mode"], account["polled_triggers"]) == ("relayed", ["accounts.field_matched"])
    assert _rate(scheduler) == "rate(15 minutes)"
    relayed.poll(1)  # never polled: reads the stream once
    cold = _account(relayed, "Cold")

    # A change that cannot matter (Rating not among its changed fields): no poll asked for.
    relayed.emulator.advance_clock(5)
    relayed.poller.write("update", "Account", {"Industry": "Energy"}, id=cold)
    relayed.deliver()
    assert _kick_at(scheduler) is None
    report, calls = relayed.poll(GRACE + 35)
    assert (report["relayed_skipped"], calls) == (["Account"], 0)

    # Rating changed: the relay cannot fire changed_to (no old value), it asks for a prompt poll.
    relayed.emulator.advance_clock(5)
    relayed.poller.write("update", "Account", {"Rating": "Hot"}, id=cold)
    changed = relayed.emulator.now().timestamp()
    relayed.deliver()
    assert relayed.poller.drain() == []  # nothing the relay could send
    due = _kick_at(scheduler)
    assert due is not None
    assert changed + GRACE < due <= changed + GRACE + 40
    report, calls = relayed.poll(int(due - changed))  # the prompt poll, at its time
    assert report["reconciled"] == ["Account"]
    assert 0 < calls <= 2  # the stream's query (and its History rows' subquery, in the same call)
    got = relayed.poller.drain()
    assert [(m["body"]["subscription_id"], m["body"]["subject"]) for m in got] == [(matched, cold)]
    # The poller's id: the one a plain poll gives this transition (its AccountHistory row).
    history = relayed.poller.query(
        f"SELECT Id FROM AccountHistory WHERE AccountId = '{cold}' AND Field = 'Rating' "  # noqa: S608
        "ORDER BY CreatedDate DESC LIMIT 1"
    )
    stream = catalog.trigger("accounts.field_matched").stream
    assert stream is not None
    expected = streams.event_id(matched, cold, stream, streams.Change("", 0, f"h{history[0]['Id'][:15]}"))
    assert got[0]["body"]["id"] == expected
    assert _rate(scheduler) == "rate(15 minutes)"
    _clear_kick(scheduler)
    report, calls = relayed.poll(60)  # read: nothing more until the next change or the interval
    assert (report["relayed_skipped"], calls) == (["Account"], 0)


def test_equals_comes_from_the_relay_once_its_field_is_enriched_and_is_polled_promptly_until_then(
    relayed: Relayed, scheduler: SchedulerEnv
) -> None:
    relayed.connections.call("POST", f"/connections/{CID}/subscriptions", {"trigger": "accounts.created"})
    relayed.relay(["Account"])
    relayed.poll(1)
    hot = _account(relayed, "Hot")

    # Subscribed after the PUT: the member is not enriched with Rating yet; an update without
    # Rating cannot be judged by the relay, so it asks for a prompt poll, which delivers.
    late = _subscribe(relayed, {"field": "Rating", "value": "Hot", "mode": "equals"})
    relayed.emulator.advance_clock(5)
    relayed.poller.write("update", "Account", {"Industry": "Energy"}, id=hot)
    changed = relayed.emulator.now().timestamp()
    relayed.deliver()
    assert relayed.poller.drain() == []
    due = _kick_at(scheduler)
    assert due is not None
    report, _ = relayed.poll(int(due - changed))
    assert report["reconciled"] == ["Account"]
    assert [(m["body"]["subscription_id"], m["body"]["subject"]) for m in relayed.poller.drain()] == [
        (late, hot)
    ]
    _clear_kick(scheduler)

    # A second PUT reconciles the member: Rating is enriched; every update then carries it.
    before = relayed.emulator.api_calls()
    again = relayed.connections.call(
        "PUT", f"/connections/{CID}/realtime", {"enabled": True, "objects": ["Account"]}
    )
    assert again.status == 200, again.body
    assert relayed.emulator.api_calls() - before == 6  # the idempotent PUT's 5 + the member's update
    assert ("member", "updated") in [(s["name"], s["status"]) for s in again.json()["steps"]]
    account = again.json()["realtime"]["objects"][0]
    assert account["enriched_fields"] == ["Rating"]
    with relayed.emulator.rest_client() as http:
        members = http.get(
            "/tooling/query", params={"q": "SELECT EnrichedFields FROM PlatformEventChannelMember"}
        ).json()["records"]
    assert [m["EnrichedFields"] for m in members] == [["Rating"]]

    relayed.emulator.advance_clock(5)
    relayed.poller.write("update", "Account", {"Industry": "Retail"}, id=hot)
    calls = relayed.emulator.api_calls()
    relayed.deliver()
    assert relayed.emulator.api_calls() == calls  # the relay reads nothing of Salesforce
    assert _kick_at(scheduler) is None  # decided by the relay alone
    assert [(m["body"]["subscription_id"], m["body"]["subject"]) for m in relayed.poller.drain()] == [
        (late, hot)
    ]


@pytest.mark.parametrize(
    ("bad", "code"),
    [(0, "greater_than_equal"), (1441, "less_than_equal"), ("15", "int_type"), (2.5, "int_type")],
)
def test_poll_minutes_out_of_range_is_a_4xx_naming_the_field(
    relayed: Relayed, bad: object, code: str
) -> None:
    calls = relayed.emulator.api_calls()
    answer = relayed.connections.call(
        "PUT", f"/connections/{CID}/realtime", {"enabled": True, "objects": ["Account"], "poll_minutes": bad}
    )
    assert (answer.status, answer.json()["error"]["fields"]) == (422, ["poll_minutes"]), answer.body
    assert [p["code"] for p in answer.json()["error"]["details"]["problems"]] == [code]
    assert relayed.emulator.api_calls() == calls


def test_minutes_written_as_a_whole_float_are_the_integer_json_schema_allows(relayed: Relayed) -> None:
    """The document says integer, and JSON Schema's integer admits 15.0: the API takes it (the
    contract fuzzer sent 384.0 and got a 422 before)."""
    answer = relayed.connections.call(
        "PUT",
        f"/connections/{CID}/realtime",
        {
            "enabled": True,
            "objects": ["Account"],
            "poll_minutes": 15.0,
            "reconcile_minutes": 30.0,
            "prompt_minutes": 5.0,
        },
    )
    assert answer.status == 200, answer.body
    realtime = answer.json()["realtime"]
    assert (realtime["poll_minutes"], realtime["reconcile_seconds"], realtime["prompt_minutes"]) == (
        15,
        1800,
        5,
    )


def test_equals_and_changed_to_on_an_untracked_field_both_arrive_when_the_relay_sent_the_equals(
    relayed: Relayed, scheduler: SchedulerEnv
) -> None:
    """Website has no History tracking: changed_to is decided from the field snapshot on the
    row's own change, the same seen key and version the relay marks for the equals it sent. The
    prompt poll must still send changed_to (only what the relay sent is known)."""
    equals = _subscribe(relayed, {"field": "Website", "value": "https://hot.example", "mode": "equals"})
    changed_to = _subscribe(relayed, {"field": "Website", "value": "https://hot.example"})
    relayed.relay(["Account"])
    relayed.poll(1)
    cold = _account(relayed, "Cold")
    relayed.emulator.advance_clock(5)
    relayed.poller.write("update", "Account", {"Website": "https://cold.example"}, id=cold)
    relayed.deliver()
    due = _kick_at(scheduler)
    assert due is not None
    relayed.poll(int(due - relayed.emulator.now().timestamp()) + 1)  # the snapshot holds the old value
    _clear_kick(scheduler)
    relayed.emulator.advance_clock(5)
    relayed.poller.write("update", "Account", {"Website": "https://hot.example"}, id=cold)
    changed = relayed.emulator.now().timestamp()
    relayed.deliver()
    assert [m["body"]["subscription_id"] for m in relayed.poller.drain()] == [equals]  # from the relay
    due = _kick_at(scheduler)
    assert due is not None
    report, _ = relayed.poll(int(due - changed))
    assert report["reconciled"] == ["Account"]
    got = [(m["body"]["subscription_id"], m["body"]["subject"]) for m in relayed.poller.drain()]
    assert got == [(changed_to, cold)]


def _run_kicks_until(
    relayed: Relayed, scheduler: SchedulerEnv, end: float, ran: list[dict[str, Any]]
) -> None:
    """Move the clock to ``end``, running each prompt poll that falls due on the way at its time
    (as EventBridge Scheduler fires it, then deletes it)."""
    while True:
        due = sorted((t, n) for n, t in _kicks(scheduler).items() if t <= end)
        if not due:
            break
        at, name = due[0]
        report, calls = relayed.poll(max(0, math.ceil(at - relayed.emulator.now().timestamp())))
        scheduler.client().delete_schedule(Name=name, GroupName=scheduler.group_name)
        ran.append({"at": at, "report": report, "calls": calls, "events": relayed.poller.drain()})
    relayed.emulator.advance_clock(max(0, math.ceil(end - relayed.emulator.now().timestamp())))


def test_a_burst_over_several_minutes_gets_prompt_polls_no_closer_than_prompt_minutes_each_delivering(
    relayed: Relayed, scheduler: SchedulerEnv
) -> None:
    """An Account goes Hot every 40 s for 6 minutes: the relay asks for prompt polls at least
    ``prompt_minutes`` (3) apart, never moves one, and each delivers the transitions its window
    holds with the poller's ids (their AccountHistory rows); none is lost, none sent twice."""
    matched = _subscribe(relayed, {"field": "Rating", "value": "Hot", "mode": "changed_to"})
    put = relayed.connections.call(
        "PUT", f"/connections/{CID}/realtime", {"enabled": True, "objects": ["Account"], "prompt_minutes": 3}
    )
    assert put.status == 200, put.body
    shown = relayed.connections.call("GET", f"/connections/{CID}/realtime").json()["realtime"]
    assert (put.json()["realtime"]["prompt_minutes"], shown["prompt_minutes"]) == (3, 3)
    relayed.poll(1)
    accounts = [
        str(row["Id"])
        for rating in ("Cold", "Warm")
        for row in relayed.poller.query(f"SELECT Id FROM Account WHERE Rating = '{rating}' LIMIT 5")  # noqa: S608
    ][:9]
    assert len(accounts) == 9
    ran: list[dict[str, Any]] = []
    for account in accounts:
        _run_kicks_until(relayed, scheduler, relayed.emulator.now().timestamp() + 40, ran)
        relayed.poller.write("update", "Account", {"Rating": "Hot"}, id=account)
        relayed.deliver()
        assert relayed.poller.drain() == []  # nothing the relay could send
        assert len(_kicks(scheduler)) <= 2  # one pending, and at most the next beside it
    _run_kicks_until(relayed, scheduler, relayed.emulator.now().timestamp() + 3 * 60 + GRACE + 40, ran)

    times = [r["at"] for r in ran]
    assert [b - a >= 180 for a, b in itertools.pairwise(times)] == [True] * (len(times) - 1), times
    assert 2 <= len(ran) <= 4, times  # 6 minutes of changes, a poll per 3 minutes at most
    for poll in ran:
        assert poll["report"]["reconciled"] == ["Account"]
        assert 0 < poll["calls"] <= 2
        assert poll["events"], poll["at"]  # each poll has transitions in its window to deliver
    stream = catalog.trigger("accounts.field_matched").stream
    assert stream is not None
    expected = set()
    for account in accounts:
        history = relayed.poller.query(
            f"SELECT Id FROM AccountHistory WHERE AccountId = '{account}' AND Field = 'Rating' "  # noqa: S608
            "ORDER BY CreatedDate DESC LIMIT 1"
        )
        expected.add(
            streams.event_id(matched, account, stream, streams.Change("", 0, f"h{history[0]['Id'][:15]}"))
        )
    got = [m["body"]["id"] for poll in ran for m in poll["events"]]
    assert sorted(got) == sorted(expected)  # each transition once, with the poller's id


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (0, "greater_than_equal"),
        (61, "less_than_equal"),
        ("2", "int_type"),
        (2.5, "int_type"),
        (None, "int_type"),
    ],
)
def test_prompt_minutes_out_of_range_is_a_4xx_naming_the_field(
    relayed: Relayed, bad: object, code: str
) -> None:
    calls = relayed.emulator.api_calls()
    answer = relayed.connections.call(
        "PUT",
        f"/connections/{CID}/realtime",
        {"enabled": True, "objects": ["Account"], "prompt_minutes": bad},
    )
    assert (answer.status, answer.json()["error"]["fields"]) == (422, ["prompt_minutes"]), answer.body
    assert [p["code"] for p in answer.json()["error"]["details"]["problems"]] == [code]
    assert relayed.emulator.api_calls() == calls


def test_a_prompt_poll_scheduler_refused_fails_its_messages_and_restores_the_claim(
    relayed: Relayed, scheduler: SchedulerEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EventBridge Scheduler refusing the schedule (moto cannot be made to fail: the adapter's
    call raises Scheduler's own error): the batch's message is retried, the claim goes back to the
    previous poll, so the next change's poll keeps the spacing from it and covers both changes."""
    matched = _subscribe(relayed, {"field": "Rating", "value": "Hot", "mode": "changed_to"})
    relayed.relay(["Account"])
    relayed.poll(1)
    first, second, third = [
        str(r["Id"]) for r in relayed.poller.query("SELECT Id FROM Account WHERE Rating = 'Cold' LIMIT 3")
    ]
    relayed.emulator.advance_clock(5)
    relayed.poller.write("update", "Account", {"Rating": "Hot"}, id=first)
    relayed.deliver()
    claimed = relayed.seen.kick(CID)
    assert claimed is not None
    assert _kicks(scheduler) == {f"kick-{CID}": claimed.at}

    def refused(*_: object, **__: object) -> str:
        raise ClientError(
            {"Error": {"Code": "ServiceQuotaExceededException", "Message": "no"}}, "CreateSchedule"
        )

    kick = PollSchedules.kick
    monkeypatch.setattr(PollSchedules, "kick", refused)
    relayed.emulator.advance_clock(60)
    relayed.poller.write("update", "Account", {"Rating": "Hot"}, id=second)
    relayed.emulator.flush_relay()
    _, failed = run_queue(relayed.sqs, relayed.queue)
    assert len(failed) == 1  # retried by SQS
    assert relayed.seen.kick(CID) == claimed  # the claim of the refused poll undone
    assert _kicks(scheduler) == {f"kick-{CID}": claimed.at}

    monkeypatch.setattr(PollSchedules, "kick", kick)  # Scheduler is back (not undo(): the fixtures' too)
    relayed.emulator.advance_clock(5)
    relayed.poller.write("update", "Account", {"Rating": "Hot"}, id=third)
    relayed.deliver()
    kicks = _kicks(scheduler)
    assert set(kicks) == {f"kick-{CID}", f"kick-{CID}.1"}
    assert kicks[f"kick-{CID}.1"] >= claimed.at + 120  # prompt_minutes' default from the first
    got: list[str] = []
    for at in sorted(kicks.values()):
        relayed.poll(max(0, math.ceil(at - relayed.emulator.now().timestamp())))
        got += [
            m["body"]["subject"] for m in relayed.poller.drain() if m["body"]["subscription_id"] == matched
        ]
    assert sorted(got) == sorted([first, second, third])


def test_no_prompt_poll_when_the_schedule_already_runs_as_often(
    relayed: Relayed, scheduler: SchedulerEnv
) -> None:
    """A subscription on an object not relayed keeps the schedule at the connection's interval
    (one minute): its cycles read the relayed object's marked changes, so a prompt poll would
    only add calls. With ``poll_minutes`` 15 the schedule runs every 15 minutes: prompt polls."""
    matched = _subscribe(relayed, {"field": "Rating", "value": "Hot", "mode": "changed_to"})
    relayed.connections.call("POST", f"/connections/{CID}/subscriptions", {"trigger": "leads.created"})
    relayed.relay(["Account"])
    assert _rate(scheduler) == "rate(1 minute)"
    relayed.poll(1)
    cold, other = [
        str(r["Id"]) for r in relayed.poller.query("SELECT Id FROM Account WHERE Rating = 'Cold' LIMIT 2")
    ]
    relayed.emulator.advance_clock(5)
    relayed.poller.write("update", "Account", {"Rating": "Hot"}, id=cold)
    relayed.deliver()
    assert _kicks(scheduler) == {}
    got: list[str] = []
    for _ in range(3):  # the one-minute schedule's cycles: the change is read once past the grace
        relayed.poll(60)
        got += [
            m["body"]["subject"] for m in relayed.poller.drain() if m["body"]["subscription_id"] == matched
        ]
    assert got == [cold]

    put = relayed.connections.call(
        "PUT", f"/connections/{CID}/realtime", {"enabled": True, "objects": ["Account"], "poll_minutes": 15}
    )
    assert put.status == 200, put.body
    assert _rate(scheduler) == "rate(15 minutes)"
    relayed.emulator.advance_clock(5)
    relayed.poller.write("update", "Account", {"Rating": "Hot"}, id=other)
    relayed.deliver()
    assert len(_kicks(scheduler)) == 1
