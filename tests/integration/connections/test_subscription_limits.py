"""Subscription limits and the paginated list, through the connections function's handler (moto and
the emulator over HTTP).

Before the limits a connection could hold any number of subscriptions, every create re-read all of
them (1,000 subscriptions: 2-4 s per create) and the list answered all of them at once.
"""

from __future__ import annotations

from typing import Any

import pytest
from moto.dynamodb.responses import DynamoHandler

from tests.fixtures.actions import seed_connection
from tests.fixtures.aws import SchedulerEnv
from tests.integration.connections.harness import ConnectionsApi, Result


@pytest.fixture
def api(
    connections: ConnectionsApi, scheduler: SchedulerEnv, monkeypatch: pytest.MonkeyPatch
) -> ConnectionsApi:
    monkeypatch.setenv("MAX_SUBSCRIPTIONS_PER_CONNECTION", "5")
    monkeypatch.setenv("MAX_SUBSCRIPTIONS_PER_TRIGGER", "3")
    return connections


@pytest.fixture
def cid(api: ConnectionsApi) -> str:
    return seed_connection(api.aws, api.emulator, "conn-limits").connection_id


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """DynamoDB read requests moto answers (Query and Scan read many items; GetItem one)."""
    counted = {"query": 0, "scan": 0, "get_item": 0}
    for name in counted:
        real = getattr(DynamoHandler, name)

        def counting(self: DynamoHandler, _real: Any = real, _name: str = name) -> Any:
            counted[_name] += 1
            return _real(self)

        monkeypatch.setattr(DynamoHandler, name, counting)
    return counted


def _subscribe(api: ConnectionsApi, cid: str, trigger: str) -> Result:
    return api.call("POST", f"/connections/{cid}/subscriptions", {"trigger": trigger})


def test_limits_per_trigger_and_per_connection_answer_409_naming_the_limit(
    api: ConnectionsApi, cid: str
) -> None:
    ids = [_subscribe(api, cid, "leads.created").json()["subscription_id"] for _ in range(3)]
    calls = api.emulator.api_calls()
    refused = _subscribe(api, cid, "leads.created")
    assert refused.status == 409, refused.body
    error = refused.json()["error"]
    assert error["code"] == "subscription_limit_reached"
    assert error["fields"] == ["trigger"]
    assert error["details"] == {"limit": "MAX_SUBSCRIPTIONS_PER_TRIGGER", "maximum": 3}
    assert "leads.created" in error["message"]
    assert api.emulator.api_calls() == calls  # refused before any describe

    assert _subscribe(api, cid, "accounts.updated").status == 201
    assert _subscribe(api, cid, "cases.created").status == 201
    full = _subscribe(api, cid, "contacts.created")
    assert full.status == 409, full.body
    assert full.json()["error"]["fields"] == ["connection_id"]
    assert full.json()["error"]["details"] == {"limit": "MAX_SUBSCRIPTIONS_PER_CONNECTION", "maximum": 5}
    polling = api.call("GET", f"/connections/{cid}/polling").json()
    assert (polling["subscriptions"], polling["active_subscriptions"]) == (5, 5)

    # A place freed is a place again.
    assert api.call("DELETE", f"/connections/{cid}/subscriptions/{ids[0]}").status == 200
    assert _subscribe(api, cid, "contacts.created").status == 201
    assert _subscribe(api, cid, "contacts.created").status == 409


def test_a_create_reads_counts_not_every_subscription(
    api: ConnectionsApi, cid: str, reads: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_SUBSCRIPTIONS_PER_CONNECTION", "200")
    monkeypatch.setenv("MAX_SUBSCRIPTIONS_PER_TRIGGER", "50")
    triggers = ["leads.created", "accounts.updated", "contacts.created", "cases.created"]
    for n in range(24):
        assert _subscribe(api, cid, triggers[n % 4]).status == 201
    before = dict(reads)
    created = _subscribe(api, cid, "leads.created")
    assert created.status == 201, created.body
    assert reads["query"] == before["query"]  # no subscription read
    assert reads["scan"] == before["scan"]
    # The connection and the counts (limits), then the connection, the counts and the polling
    # interval (the schedule decision): one item each.
    assert reads["get_item"] - before["get_item"] == 5
    state = api.call("GET", f"/connections/{cid}/polling").json()
    assert state["subscriptions"] == 25


def test_the_list_is_paginated(api: ConnectionsApi, cid: str) -> None:
    created = [
        _subscribe(api, cid, trigger).json()["subscription_id"]
        for trigger in (
            "leads.created",
            "accounts.updated",
            "cases.created",
            "contacts.created",
            "leads.updated",
        )
    ]
    base = f"/connections/{cid}/subscriptions"
    everything = api.call("GET", base).json()
    assert [s["subscription_id"] for s in everything["subscriptions"]] == created  # default page: all five
    assert everything["next_token"] is None

    seen: list[str] = []
    pages = []
    token = None
    while True:
        answer = api.call("GET", f"{base}?limit=2" + (f"&next_token={token}" if token else ""))
        assert answer.status == 200, answer.body
        page = answer.json()
        pages.append(len(page["subscriptions"]))
        seen.extend(s["subscription_id"] for s in page["subscriptions"])
        token = page["next_token"]
        if token is None:
            break
    assert pages == [2, 2, 1]
    assert seen == created

    bad = api.call("GET", f"{base}?next_token=bm90LWEtdG9rZW4")
    assert bad.status == 422, bad.body
    assert bad.json()["error"]["fields"] == ["next_token"]
    for limit in ("0", "101", "x"):
        wrong = api.call("GET", f"{base}?limit={limit}")
        assert wrong.status == 422, wrong.body
        assert "limit" in wrong.body
