"""The reconciliation's pure decisions: when a relayed object is due, what counts as relayed, and
the schedule's minutes (docs/realtime.md "Reconciliation")."""

from __future__ import annotations

import datetime as dt
import uuid

from sfconnector.models.realtime import RealtimeObject, RealtimeState
from sfconnector.models.subscriptions import Subscription
from sfconnector.triggers.reconcile import RelayMarks, is_due, relayed_lookup
from sfconnector.triggers.scheduling import schedule_minutes


def test_due_when_never_polled_marked_interval_elapsed_or_a_list_view_saw_a_relayed_change() -> None:
    quiet = RelayMarks()
    assert is_due(quiet, cursor=None, upper=1000, interval=900, prompted=False)
    assert not is_due(quiet, cursor=200, upper=1000, interval=900, prompted=False)
    assert is_due(quiet, cursor=100, upper=1000, interval=900, prompted=False)
    # A poll of a 15-minute schedule starting a few seconds early still reconciles (else the
    # object would wait a second interval).
    assert is_due(quiet, cursor=100, upper=995, interval=900, prompted=False)
    assert not is_due(quiet, cursor=100, upper=960, interval=900, prompted=False)
    assert is_due(RelayMarks(reconcile_since=50), cursor=900, upper=1000, interval=900, prompted=False)
    dirty = RelayMarks(dirty_at=950)
    assert is_due(dirty, cursor=900, upper=1000, interval=900, prompted=True)
    assert not is_due(dirty, cursor=900, upper=1000, interval=900, prompted=False)
    assert not is_due(RelayMarks(dirty_at=850), cursor=900, upper=1000, interval=900, prompted=True)


def test_relayed_means_same_key_and_version_or_a_delete_within_the_skew() -> None:
    check = relayed_lookup(RelayMarks(seen={"00Q000000000001u": 100, "00Q000000000001d": 200}))
    assert check("00Q000000000001u", 100, False)
    assert not check("00Q000000000001u", 101, False)
    assert check("00Q000000000001d", 202, True)
    assert not check("00Q000000000001d", 203, True)
    assert not check("00Q000000000002c", 100, False)


def _sub(trigger: str, sobject: str, params: dict[str, str] | None = None) -> Subscription:
    kind = trigger.split(".", 1)[1]
    return Subscription(
        subscription_id=uuid.uuid4().hex, connection_id="c", trigger=trigger, kind=kind,
        family=trigger.split(".")[0], sobject=sobject, params=params or {},
        start_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )  # fmt: skip


def test_the_schedule_slows_to_the_reconciliation_interval_only_when_the_relay_serves_everything() -> None:
    state = RealtimeState(
        objects=[RealtimeObject(sobject="Lead", mode="relayed")],
        association="associated",
        reconcile_seconds=900,
    )
    leads = [_sub("leads.created", "Lead"), _sub("leads.updated", "Lead")]
    assert schedule_minutes(1, state, leads) == 15
    assert schedule_minutes(1, None, leads) == 1
    assert schedule_minutes(1, state.model_copy(update={"association": "pending"}), leads) == 1
    assert schedule_minutes(1, state, [*leads, _sub("accounts.created", "Account")]) == 1
    # An entered list view on a relayed object: the relay asks for its polls (prompt polls).
    view = _sub("accounts.entered_list_view", "Account", {"list_view_id": "00B000000000001"})
    assert schedule_minutes(1, state, [*leads, view]) == 1  # Account is not relayed
    accounts = state.model_copy(
        update={"objects": [*state.objects, RealtimeObject(sobject="Account", mode="relayed")]}
    )
    assert schedule_minutes(1, accounts, [*leads, view]) == 15
    assert schedule_minutes(30, state, leads) == 30  # a slower interval stays
    # What the relay does not serve (CaseComment: no CDC) runs at poll_minutes, by default the
    # connection's interval; the schedule is the least any active subscription needs.
    comments = [*leads, _sub("cases.comment_created", "CaseComment")]
    assert schedule_minutes(1, state, comments) == 1
    assert schedule_minutes(1, state.model_copy(update={"poll_minutes": 15}), comments) == 15
    assert schedule_minutes(1, state.model_copy(update={"poll_minutes": 5}), comments) == 5
    assert schedule_minutes(1, state.model_copy(update={"poll_minutes": 60}), comments) == 15
    assert schedule_minutes(30, state.model_copy(update={"poll_minutes": 5}), comments) == 5
    # A changed_to on a relayed object: served (the relay asks for its prompt polls).
    matched = _sub("accounts.field_matched", "Account", {"field": "Rating", "value": "Hot"})
    assert schedule_minutes(1, state, [*leads, matched]) == 1  # Account is not relayed
    assert schedule_minutes(1, accounts, [*leads, matched]) == 15
