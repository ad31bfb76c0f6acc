"""The cycle's plan (``triggers/plan.py``, pure): which streams a poll reads, from the stored
stream states and the subscriptions alone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.cursors import ListViewState, StreamState, stream_sk
from sfconnector.triggers.plan import plan_cycle

T0 = 1_800_000_000
UPPER = T0 + 10_000
LOOKBACK = 300


def _sub(n: int, trigger: str, start: int, **extra: Any) -> Subscription:
    family, kind = trigger.split(".")
    sobject = {"leads": "Lead", "accounts": "Account"}[family]
    return Subscription(
        subscription_id=f"{n:032x}",
        connection_id="conn-plan",
        trigger=trigger,
        kind=kind,
        family=family,
        sobject=sobject,
        start_at=dt.datetime.fromtimestamp(start, dt.UTC),
        **extra,
    )


def test_a_first_poll_reads_one_shared_stream_per_sobject_from_the_earliest_start() -> None:
    subs = [
        _sub(1, "leads.created", T0 + 50),
        _sub(2, "leads.updated", T0 + 20),
        _sub(3, "accounts.created", T0 + 99_999),  # starts after "now": its window starts at now
    ]
    plan = plan_cycle("conn-plan", {}, {}, subs, upper=UPPER, lookback=LOOKBACK)
    runs = {run.state.sobject: run for run in plan.runs}
    assert set(runs) == {"Lead", "Account"}
    assert [s.subscription_id for s in runs["Lead"].subs] == [
        subs[0].subscription_id,
        subs[1].subscription_id,
    ]
    assert (runs["Lead"].state.cursor, runs["Lead"].low, runs["Lead"].upper) == (
        T0 + 20,
        T0 + 20 - LOOKBACK,
        UPPER,
    )
    assert runs["Account"].state.cursor == UPPER
    assert plan.views == []
    assert plan.orphans == []


def test_a_subscription_starting_before_the_shared_cursor_catches_up_on_its_own_stream() -> None:
    old = _sub(1, "leads.created", T0)
    backfill = _sub(2, "leads.updated", T0 + 100)
    shared = StreamState(
        sobject="Lead", cursor=T0 + 5000, prev_cursor=T0 + 4940, members=[old.subscription_id]
    )
    plan = plan_cycle(
        "conn-plan", {stream_sk("Lead"): shared}, {}, [old, backfill], upper=UPPER, lookback=LOOKBACK
    )
    assert [
        (r.state.catchup_for, r.state.cursor, [s.subscription_id for s in r.subs]) for r in plan.runs
    ] == [
        (None, T0 + 5000, [old.subscription_id]),
        (backfill.subscription_id, T0 + 100, [backfill.subscription_id]),
    ]
    assert plan.runs[0].original  # stored: the cycle writes it only when it changed


def test_leftover_catch_up_items_and_paused_only_sobjects() -> None:
    active = _sub(1, "leads.created", T0)
    paused = _sub(2, "accounts.created", T0, status="paused")
    merged = StreamState(sobject="Lead", catchup_for=active.subscription_id, cursor=T0, prev_cursor=T0)
    gone = StreamState(sobject="Lead", catchup_for=f"{9:032x}", cursor=T0, prev_cursor=T0)
    shared = StreamState(sobject="Lead", cursor=T0 + 10, prev_cursor=T0, members=[active.subscription_id])
    states = {s.sk: s for s in (merged, gone, shared)}
    plan = plan_cycle("conn-plan", states, {}, [active, paused], upper=UPPER, lookback=LOOKBACK)
    # The catch-up whose subscription already joined the shared stream (a crash after the merge)
    # and the one of a deleted subscription are deleted; an sObject with only paused
    # subscriptions is not read.
    assert sorted(plan.orphans) == sorted([merged.sk, gone.sk])
    assert [r.state.sobject for r in plan.runs] == ["Lead"]


def test_list_view_subscriptions_form_one_group_per_list_view() -> None:
    a = _sub(1, "accounts.entered_list_view", T0, params={"list_view_id": "00BHs000001abcdEAA"})
    b = _sub(2, "accounts.entered_list_view", T0 + 900, params={"list_view_id": "00BHs000001abcd"})
    c = _sub(3, "accounts.entered_list_view", T0, params={"list_view_id": "00BHs000001wxyzEAA"})
    known = ListViewState(sobject="Account", list_view_id="00BHs000001abcd", members={"001Hs000001aaaa"})
    shared = StreamState(sobject="Account", cursor=T0 + 5000, prev_cursor=T0, members=[a.subscription_id])
    plan = plan_cycle(
        "conn-plan", {shared.sk: shared}, {known.sk: known}, [a, b, c], upper=UPPER, lookback=LOOKBACK
    )
    # A list view's membership is "now": a subscription starting before the cursor joins the
    # shared stream at once, with no catch-up.
    assert [r.state.catchup_for for r in plan.runs] == [None]
    groups = {v.state.list_view_id: sorted(s.subscription_id for s in v.subs) for v in plan.views}
    assert groups == {
        "00BHs000001abcd": sorted([a.subscription_id, b.subscription_id]),
        "00BHs000001wxyz": [c.subscription_id],
    }
    stored = next(v for v in plan.views if v.state.list_view_id == "00BHs000001abcd")
    assert stored.state.members == {"001Hs000001aaaa"}
    assert stored.run is plan.runs[0]
