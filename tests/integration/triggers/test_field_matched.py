"""Field matched (part 2, history-tracked fields): the watched field's History rows ride in the
sObject's one query as a parent-child subquery, so these subscriptions add no query and no call."""

from __future__ import annotations

import pytest
from sfconnector import catalog

from tests.fixtures.actions import SeededConnection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller, by_subscription

# The demo org tracks Account (Rating, Industry, Type), Opportunity (StageName, Amount, CloseDate),
# Case (Status, Priority) and Contact (Email, Title): docs/emulator.md.
WATCHED = {
    "accounts.field_matched": ("Account", "Rating", "Hot", "Cold"),
    "contacts.field_matched": ("Contact", "Title", "CEO", "CTO"),
    "opportunities.field_matched": ("Opportunity", "StageName", "Closed Won", "Negotiation/Review"),
    "cases.field_matched": ("Case", "Status", "Escalated", "Working"),
}


@pytest.fixture
def poller(aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def _first(poller: Poller, sobject: str) -> str:
    return str(poller.query(f"SELECT Id FROM {sobject} ORDER BY CreatedDate LIMIT 1")[0]["Id"])  # noqa: S608


def test_each_transition_into_the_value_fires_with_old_and_new_values(poller: Poller) -> None:
    subs = {
        key: poller.subscribe(key, params={"field": field, "value": value, "mode": "changed_to"})
        for key, (_sobject, field, value, _other) in WATCHED.items()
    }
    records = {key: _first(poller, sobject) for key, (sobject, *_rest) in WATCHED.items()}
    for key, (sobject, field, _value, other) in WATCHED.items():
        poller.write("update", sobject, {field: other}, id=records[key])
    poller.poll()
    for key, (sobject, field, value, other) in WATCHED.items():
        rid = records[key]
        # other -> value -> other -> value inside one window: two transitions, each fires.
        for step in (value, other, value):
            poller.write("update", sobject, {field: step}, id=rid)
            poller.emulator.advance_clock(1)
    report = poller.poll()
    got = by_subscription(poller.drain())
    for key, (_sobject, field, value, other) in WATCHED.items():
        events = got[subs[key].subscription_id]
        assert [e["subject"] for e in events] == [records[key]] * 2, (key, report)
        assert [e["new_value"] for e in events] == [value, value]
        assert events[1]["old_value"] == other
        assert events[0]["event_type"] == "matched"
        assert events[0]["changed_at"] < events[1]["changed_at"]
        assert len({e["id"] for e in events}) == 2
        assert events[1]["data"][field] == value
    assert poller.poll()["events_published"] == 0  # the History rows are re-read, never re-sent


def test_equals_fires_on_any_change_while_the_field_equals(poller: Poller) -> None:
    sub = poller.subscribe(
        "opportunities.field_matched", params={"field": "StageName", "value": "Closed Won", "mode": "equals"}
    )
    other = poller.subscribe(
        "opportunities.field_matched",
        params={"field": "StageName", "value": "Closed Won", "mode": "changed_to"},
    )
    rid = _first(poller, "Opportunity")
    poller.write("update", "Opportunity", {"StageName": "Prospecting"}, id=rid)
    poller.poll()
    poller.write("update", "Opportunity", {"StageName": "Closed Won"}, id=rid)
    poller.poll()
    poller.write("update", "Opportunity", {"Description": "still won"}, id=rid)
    poller.poll()
    poller.write("update", "Opportunity", {"StageName": "Prospecting"}, id=rid)
    poller.poll()
    got = by_subscription(poller.drain())
    assert len(got[sub.subscription_id]) == 2  # the change into the value and the later edit
    assert len(got[other.subscription_id]) == 1  # only the transition


LIST_VIEWS = {
    "accounts.entered_list_view": ("Account", "Rating", "Hot", "Cold"),
    "contacts.entered_list_view": ("Contact", "Title", "CEO", "CTO"),
}
"""List views made for the test (filter field = value) and the values that enter / leave them."""


@pytest.mark.parametrize("per_trigger", [1, 10])
def test_all_30_triggers_cost_at_most_3_calls_per_cycle(poller: Poller, per_trigger: int) -> None:
    """Every trigger of the spec (and the deleted extras) subscribed at once, field matched on
    tracked fields and entered list view included: 12 sObject queries + 2 list view queries, five
    per Composite request, so 3 calls per cycle, idle or busy, whatever the subscriptions per trigger.
    (The supplementary triggers on other sObjects, files.created and campaign_members.created, each
    add a query: every five queries one more call.)"""
    views = {
        key: poller.emulator.put_list_view(
            sobject, f"Calls_{sobject}", columns=["Name"], orderBy="Name",
            filters=[{"field": field, "operator": "equals", "values": [value]}],
        )["id"]
        for key, (sobject, field, value, _other) in LIST_VIEWS.items()
    }  # fmt: skip
    assert len([t for t in catalog.TRIGGERS if t.in_spec]) == 30
    served = [t for t in catalog.TRIGGERS if t.in_spec or t.kind is catalog.TriggerKind.DELETED]
    assert all(t.stream is not None for t in catalog.TRIGGERS)  # every trigger is served now
    for t in served:
        for _ in range(per_trigger):
            if t.kind is catalog.TriggerKind.FIELD_MATCHED:
                _sobject, field, value, _other = WATCHED[t.key]
                poller.subscribe(t.key, params={"field": field, "value": value})
            elif t.kind is catalog.TriggerKind.ENTERED_LIST_VIEW:
                poller.subscribe(t.key, params={"list_view_id": views[t.key]}, fields=["Id"])
            else:
                poller.subscribe(t.key, fields=["Id"])
    for sobject, field, _value, other in [*WATCHED.values(), *LIST_VIEWS.values()]:
        poller.write("update", sobject, {field: other}, id=_first(poller, sobject))
    poller.poll()  # the first cycle also reads the describes (one more call, once)
    calls = poller.emulator.api_calls()
    idle = poller.poll()
    assert poller.emulator.api_calls() - calls <= 3, idle
    assert idle["error"] is None, idle
    for sobject, field, value, _other in [*WATCHED.values(), *LIST_VIEWS.values()]:
        poller.write("update", sobject, {field: value}, id=_first(poller, sobject))
    poller.drain()
    calls = poller.emulator.api_calls()
    report = poller.poll()
    assert poller.emulator.api_calls() - calls <= 3, report
    events = [m["body"] for m in poller.drain()]
    matched = sorted(e["type"] for e in events if e["event_type"] == "matched")
    assert matched == sorted(list(WATCHED) * per_trigger)
    entered = sorted(e["type"] for e in events if e["event_type"] == "entered")
    assert entered == sorted(list(LIST_VIEWS) * per_trigger)
    assert len({e["id"] for e in events}) == len(events)


def test_a_record_created_already_equal_fires_changed_to_once(poller: Poller) -> None:
    sub = poller.subscribe("cases.field_matched", params={"field": "Status", "value": "Escalated"})
    poller.poll()
    escalated = poller.write("insert", "Case", {"Subject": "Born escalated", "Status": "Escalated"})
    poller.write("insert", "Case", {"Subject": "Born new", "Status": "New"})
    poller.poll()
    poller.write("update", "Case", {"Priority": "High"}, id=escalated)  # still Escalated: no transition
    poller.poll()
    events = by_subscription(poller.drain())[sub.subscription_id]
    assert [e["subject"] for e in events] == [escalated]
    assert events[0]["new_value"] == "Escalated"


def test_sample_events_show_the_transitions(poller: Poller) -> None:
    from sfconnector.runtime import get_runtime
    from sfconnector.triggers.sample import sample_events

    sub = poller.subscribe(
        "accounts.field_matched", params={"field": "Rating", "value": "Hot"}, fields=["Name"]
    )
    rid = _first(poller, "Account")
    for step in ("Cold", "Hot"):
        poller.write("update", "Account", {"Rating": step}, id=rid)
        poller.emulator.advance_clock(1)
    rt = get_runtime()
    connection = rt.connections.get(poller.connection.connection_id)
    assert connection is not None
    sample = sample_events(sub, client=rt.salesforce(sub.connection_id), connection=connection, limit=1)
    assert [(e.subject, e.old_value, e.new_value) for e in sample] == [(rid, "Cold", "Hot")]
    # Older samples (the seed's history included) are transitions into the value too.
    more = sample_events(sub, client=rt.salesforce(sub.connection_id), connection=connection, limit=10)
    assert more
    assert all(e.new_value == "Hot" and e.old_value != "Hot" for e in more)
    poller.poll()
    delivered = [m["body"] for m in poller.drain()]
    assert sample[0].to_json_dict() in delivered
