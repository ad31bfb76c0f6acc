"""Entered list view: the list view's own SOQL (from its describe) restricted to the poll window
rides in the same Composite requests as the sObjects' queries; a membership item per list view
tells entries (fire, once per entry) from records already in it, and exits from the sObject's rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.actions import SeededConnection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import MARGIN, Poller, by_subscription


@pytest.fixture
def poller(aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def _hot_accounts(poller: Poller) -> dict[str, Any]:
    # A list view of its own (Rating = 'Hot'), so the test does not depend on the seed's views.
    return poller.emulator.put_list_view(
        "Account",
        "Hot_For_Test",
        columns=["Name", "Rating"],
        orderBy="Name",
        filters=[{"field": "Rating", "operator": "equals", "values": ["Hot"]}],
    )


def _account(poller: Poller, rating: str) -> str:
    rows = poller.query(f"SELECT Id FROM Account WHERE Rating = '{rating}' ORDER BY Name LIMIT 1")  # noqa: S608
    return str(rows[0]["Id"])


def _entered(poller: Poller, sid: str) -> list[dict[str, Any]]:
    return by_subscription(poller.drain()).get(sid, [])


def test_entry_fires_once_exit_and_reentry_fire_again(poller: Poller) -> None:
    view = _hot_accounts(poller)
    sub = poller.subscribe(
        "accounts.entered_list_view", params={"list_view_id": view["id"]}, fields=["Name", "Rating"]
    )
    already_hot = _account(poller, "Hot")
    cold = _account(poller, "Cold")
    poller.write("update", "Account", {"Description": "still hot"}, id=already_hot)
    first = poller.poll()  # reads the membership whole: an old member changing is no entry
    assert first["error"] is None, first
    assert _entered(poller, sub.subscription_id) == []

    poller.write("update", "Account", {"Rating": "Hot"}, id=cold)
    poller.write("update", "Account", {"Description": "member edit"}, id=already_hot)
    poller.poll()
    events = _entered(poller, sub.subscription_id)
    assert [(e["subject"], e["event_type"], e["type"]) for e in events] == [
        (cold, "entered", "accounts.entered_list_view")
    ]
    assert events[0]["data"]["Rating"] == "Hot"
    entry_id = events[0]["id"]

    poller.write("update", "Account", {"Description": "member now"}, id=cold)
    assert poller.poll()["events_published"] == 0  # a member changing does not enter again
    assert poller.poll(settle=False)["events_published"] == 0  # the lookback re-read neither

    poller.write("update", "Account", {"Rating": "Warm"}, id=cold)  # leaves
    assert poller.poll()["events_published"] == 0
    poller.write("update", "Account", {"Rating": "Hot"}, id=cold)  # enters again
    poller.poll()
    again = _entered(poller, sub.subscription_id)
    assert [e["subject"] for e in again] == [cold]
    assert again[0]["id"] != entry_id


def test_a_record_created_in_the_view_after_the_start_fires_on_the_first_poll(poller: Poller) -> None:
    view = _hot_accounts(poller)
    sub = poller.subscribe("accounts.entered_list_view", params={"list_view_id": view["id"]})
    born_hot = poller.write("insert", "Account", {"Name": "Born Hot", "Rating": "Hot"})
    poller.write("insert", "Account", {"Name": "Born Cold", "Rating": "Cold"})
    poller.poll()
    assert [e["subject"] for e in _entered(poller, sub.subscription_id)] == [born_hot]
    poller.poll()
    assert _entered(poller, sub.subscription_id) == []


def test_records_changed_after_the_first_reads_window_are_decided_when_their_row_is_read(
    poller: Poller,
) -> None:
    # The soak found a record created in the view a moment before the first poll (inside the
    # safety margin, so after the window) taken for an old member: its entry never fired.
    view = _hot_accounts(poller)
    sub = poller.subscribe("accounts.entered_list_view", params={"list_view_id": view["id"]})
    old_member = _account(poller, "Hot")
    poller.emulator.advance_clock(MARGIN + 2)
    born_hot = poller.write("insert", "Account", {"Name": "Born Hot Late", "Rating": "Hot"})
    poller.write("update", "Account", {"Description": "edited at the first poll"}, id=old_member)
    first = poller.poll(settle=False)  # both are stamped inside the margin: past the window
    assert first["error"] is None, first
    assert _entered(poller, sub.subscription_id) == []
    poller.poll()
    # The new record fires (created since the start); the old member does not (not an entry).
    assert [e["subject"] for e in _entered(poller, sub.subscription_id)] == [born_hot]
    poller.write("update", "Account", {"Description": "member edit"}, id=born_hot)
    poller.write("update", "Account", {"Description": "member edit"}, id=old_member)
    poller.poll()
    assert poller.poll(settle=False)["events_published"] == 0
    assert _entered(poller, sub.subscription_id) == []
    poller.write("update", "Account", {"Rating": "Warm"}, id=old_member)  # leaves
    poller.poll()
    poller.write("update", "Account", {"Rating": "Hot"}, id=old_member)  # and enters
    poller.poll()
    assert [e["subject"] for e in _entered(poller, sub.subscription_id)] == [old_member]


def test_groups_per_list_view_and_own_changes(poller: Poller) -> None:
    """Two subscriptions on one list view share its membership; ignore_own_changes skips the
    connection's own edits; Contact list views work the same way."""
    view = _hot_accounts(poller)
    a = poller.subscribe("accounts.entered_list_view", params={"list_view_id": view["id"]})
    b = poller.subscribe(
        "accounts.entered_list_view", params={"list_view_id": view["id"]}, ignore_own_changes=True
    )
    ceo = poller.emulator.put_list_view(
        "Contact", "CEOs", columns=["Name", "Title"], orderBy="Name",
        filters=[{"field": "Title", "operator": "equals", "values": ["CEO"]}],
    )  # fmt: skip
    c = poller.subscribe("contacts.entered_list_view", params={"list_view_id": ceo["id"]})
    poller.poll()
    cold = _account(poller, "Cold")
    poller.write("update", "Account", {"Rating": "Hot"}, id=cold, username=None)  # the connection's user
    contact = str(poller.query("SELECT Id FROM Contact WHERE Title != 'CEO' LIMIT 1")[0]["Id"])
    poller.write("update", "Contact", {"Title": "CEO"}, id=contact)
    poller.poll()
    got = by_subscription(poller.drain())
    assert [e["subject"] for e in got.get(a.subscription_id, [])] == [cold]
    assert b.subscription_id not in got
    assert [e["subject"] for e in got[c.subscription_id]] == [contact]


def test_a_changed_filter_is_picked_up_and_a_deleted_view_is_reported(poller: Poller) -> None:
    view = _hot_accounts(poller)
    sub = poller.subscribe("accounts.entered_list_view", params={"list_view_id": view["id"]})
    poller.poll()
    # The list view now shows warm accounts (same id, new describe query).
    changed = poller.emulator.put_list_view(
        "Account", "Hot_For_Test", columns=["Name", "Rating"], orderBy="Name",
        filters=[{"field": "Rating", "operator": "equals", "values": ["Warm"]}],
    )  # fmt: skip
    assert changed["id"] == view["id"]
    poller.emulator.advance_clock(300)  # the describe is re-read at most every 5 minutes
    poller.poll()  # the refresh rides with the queries; the next cycle reads the new membership
    poller.poll()
    cold = _account(poller, "Cold")
    poller.write("update", "Account", {"Rating": "Warm"}, id=cold)
    poller.poll()
    assert [e["subject"] for e in _entered(poller, sub.subscription_id)] == [cold]

    poller.emulator.delete_list_view(view["id"])
    poller.emulator.advance_clock(300)
    poller.poll()
    error = poller.repo.get(poller.connection.connection_id, sub.subscription_id).last_error
    assert error is not None
    assert view["id"][:15] in error


def test_sample_events_are_the_entries_a_subscriber_would_get(poller: Poller) -> None:
    from sfconnector.runtime import get_runtime
    from sfconnector.triggers.sample import sample_events

    view = _hot_accounts(poller)
    sub = poller.subscribe(
        "accounts.entered_list_view", params={"list_view_id": view["id"]}, fields=["Name", "Rating"]
    )
    poller.poll()
    cold = _account(poller, "Cold")
    poller.write("update", "Account", {"Rating": "Hot"}, id=cold)
    poller.emulator.advance_clock(20)
    rt = get_runtime()
    connection = rt.connections.get(poller.connection.connection_id)
    assert connection is not None
    calls = poller.emulator.api_calls()
    sample = sample_events(sub, client=rt.salesforce(sub.connection_id), connection=connection, limit=3)
    assert poller.emulator.api_calls() - calls <= 2  # the list view's describe, then its query
    assert sample[0].subject == cold
    assert all(e.event_type == "entered" and e.data.get("Rating") == "Hot" for e in sample)
    poller.poll(settle=False)
    delivered = [m["body"] for m in poller.drain()]
    assert delivered == [sample[0].to_json_dict()]  # the sample is exactly the event delivered
