"""The poller end to end: the real handler, the emulator over HTTP, moto's DynamoDB, SNS and SQS.

Every served trigger (24 spec triggers + the deleted extras) fires exactly once per change, never
for changes before its start, never twice across overlapping windows and re-runs; backfill, late
commits, ignore_own_changes and fields; the Salesforce calls of idle and busy cycles.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sfconnector import catalog

from tests.fixtures.actions import SeededConnection
from tests.fixtures.aws import TEST_TENANT, AwsEnv, SchedulerEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import SELLER, Poller, by_subscription

RECORD_KINDS = {catalog.ChangeEvent.CREATED, catalog.ChangeEvent.UPDATED, catalog.ChangeEvent.DELETED}
SERVED = [
    t
    for t in catalog.TRIGGERS
    if t.stream is not None and t.stream.event in RECORD_KINDS and t.key != "files.created"
]
"""The 24 record triggers of the spec, the deleted extras and campaign_members.created (field
matched: test_field_matched.py; files.created: test_files_created.py, a file's versions are not
deleted through the ContentVersion API)."""

UPDATE_FIELDS: dict[str, dict[str, Any]] = {
    "Account": {"Description": "edited"},
    "Contact": {"Title": "Edited"},
    "Lead": {"Title": "Edited"},
    "Opportunity": {"Description": "edited"},
    "Case": {"Description": "edited"},
    "Product2": {"Description": "edited"},
    "Task": {"Description": "edited"},
    "Event": {"Description": "edited"},
    "OpportunityLineItem": {"Description": "edited"},
    "OpportunityContactRole": {"Role": "Evaluator"},
    "CaseComment": {"CommentBody": "edited"},
    "Invoice__c": {"Amount__c": 99.5},
    "CampaignMember": {"Description": "edited"},
}


def _new_record(poller: Poller, sobject: str, n: int) -> dict[str, Any]:
    """A valid insert body per sObject (references taken from the seed)."""
    if sobject == "OpportunityLineItem":
        item = poller.query("SELECT OpportunityId, PricebookEntryId FROM OpportunityLineItem LIMIT 1")[0]
        return {"OpportunityId": item["OpportunityId"], "PricebookEntryId": item["PricebookEntryId"],
                "Quantity": 1, "UnitPrice": 10}  # fmt: skip
    if sobject == "OpportunityContactRole":
        opp = poller.query("SELECT Id FROM Opportunity ORDER BY Id LIMIT 1")[0]["Id"]
        contact = poller.query(f"SELECT Id FROM Contact ORDER BY Id DESC LIMIT {n + 1}")[n]["Id"]  # noqa: S608
        return {"OpportunityId": opp, "ContactId": contact, "Role": "Influencer"}
    if sobject == "CampaignMember":
        # One member per campaign and lead: seeded leads 21-40 are in no seeded campaign.
        campaign = poller.query("SELECT Id FROM Campaign ORDER BY Id LIMIT 1")[0]["Id"]
        lead = poller.query(f"SELECT Id FROM Lead WHERE External_Id__c = 'LEAD-{20 + n:04d}'")[0]["Id"]  # noqa: S608
        return {"CampaignId": campaign, "LeadId": lead, "Status": "Sent"}
    if sobject == "CaseComment":
        case = poller.query("SELECT Id FROM Case ORDER BY Id LIMIT 1")[0]["Id"]
        return {"ParentId": case, "CommentBody": f"comment {n}"}
    bodies: dict[str, dict[str, Any]] = {
        "Account": {"Name": f"Trigger Test {n}"},
        "Contact": {"LastName": f"Trigger {n}"},
        "Lead": {"LastName": f"Trigger {n}", "Company": "Acme"},
        "Opportunity": {"Name": f"Trigger {n}", "StageName": "Prospecting", "CloseDate": "2027-01-31"},
        "Case": {"Subject": f"Trigger {n}"},
        "Product2": {"Name": f"Trigger {n}"},
        "Task": {"Subject": f"Trigger {n}"},
        "Event": {
            "Subject": f"Trigger {n}",
            "StartDateTime": "2027-01-05T10:00:00Z",
            "DurationInMinutes": 30,
        },
        "Invoice__c": {"Name": f"INV-T{n}", "Invoice_Number__c": f"T-{n}-{id(poller)}"},
    }
    return bodies[sobject]


@pytest.fixture
def poller(aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def _changes(poller: Poller, sobject: str, *, seconds_ago: float = 0) -> dict[str, str]:
    """One creation, one update of an older record and one creation + deletion on ``sobject``
    (by a person, ``seconds_ago`` in the past)."""
    older = poller.query(f"SELECT Id FROM {sobject} ORDER BY CreatedDate LIMIT 1")[0]["Id"]  # noqa: S608
    n = 1 if seconds_ago == 0 else 3
    created = poller.write("insert", sobject, _new_record(poller, sobject, n), seconds_ago=seconds_ago)
    poller.write("update", sobject, UPDATE_FIELDS[sobject], id=older, seconds_ago=seconds_ago)
    doomed = poller.write("insert", sobject, _new_record(poller, sobject, n + 1), seconds_ago=seconds_ago)
    poller.write("delete", sobject, id=doomed, seconds_ago=seconds_ago)
    return {"created": created, "updated": older, "doomed": doomed}


def test_every_trigger_fires_once_per_change_and_never_twice(poller: Poller) -> None:
    subs = {t.key: poller.subscribe(t.key) for t in SERVED}
    assert len([t for t in SERVED if t.in_spec]) == 24
    first = poller.poll()
    assert first["outcome"] == "polled", first
    assert poller.drain() == []  # nothing happened since the subscriptions started

    sobjects = sorted({s.sobject for s in subs.values()})
    changes = {sobject: _changes(poller, sobject) for sobject in sobjects}
    calls = poller.emulator.api_calls()
    busy = poller.poll()
    assert busy["error"] is None, busy
    busy_calls = poller.emulator.api_calls() - calls
    got = by_subscription(poller.drain())

    for key, sub in subs.items():
        stream = catalog.trigger(key).stream
        assert stream is not None
        ids = changes[sub.sobject]
        expected = {
            "created": [ids["created"], ids["doomed"]],
            "updated": [ids["updated"]],
            "deleted": [ids["doomed"]],
        }[stream.event.value]
        if key == "opportunities.updated":
            # Adding and deleting a line item rolls its Amount up into the opportunity: a real
            # modification of the opportunity (LastModifiedDate moves), so it fires once too.
            expected.append(_new_record(poller, "OpportunityLineItem", 0)["OpportunityId"])
        events = got.get(sub.subscription_id, [])
        assert sorted(e["subject"] for e in events) == sorted(expected), key
        for event in events:
            assert event["type"] == key
            assert event["specversion"] == "1.0"
            assert event["source"] == f"salesforce/{poller.emulator.org_id}"
            assert event["event_type"] == stream.event.value
            assert event["data"]["Id"] == event["subject"]

    # Re-runs over the same (overlapping) window emit nothing again.
    assert poller.poll(settle=False)["events_published"] == 0
    assert poller.poll()["events_published"] == 0
    assert poller.drain() == []
    # 12 sObjects, five queries per Composite: 3 calls, plus one describe call the first cycle.
    assert busy_calls <= 3, busy
    calls = poller.emulator.api_calls()
    poller.poll()
    assert poller.emulator.api_calls() - calls <= 3


def test_calls_per_cycle_unchanged_with_ten_subscriptions_per_trigger(poller: Poller) -> None:
    for t in SERVED:
        for _ in range(10):
            poller.subscribe(t.key, fields=["Id"] if t.kind is not catalog.TriggerKind.DELETED else None)
    poller.poll()
    calls = poller.emulator.api_calls()
    idle = poller.poll()
    assert poller.emulator.api_calls() - calls <= 3, idle
    account = poller.write("insert", "Account", {"Name": "Busy"})
    poller.write("insert", "Lead", {"LastName": "Busy", "Company": "Acme"})
    calls = poller.emulator.api_calls()
    busy = poller.poll()
    assert poller.emulator.api_calls() - calls <= 3, busy
    events = poller.drain()
    created = [e for e in events if e["body"]["type"] == "accounts.created"]
    assert len(created) == 10
    assert {e["body"]["subject"] for e in created} == {account}
    assert len({e["body"]["id"] for e in events}) == len(events)


def test_never_fires_for_changes_before_start(poller: Poller) -> None:
    before = poller.write("insert", "Lead", {"LastName": "Early", "Company": "Acme"})
    poller.emulator.advance_clock(5)
    poller.subscribe("leads.created")
    after = poller.write("insert", "Lead", {"LastName": "Late", "Company": "Acme"})
    poller.poll()
    assert [m["body"]["subject"] for m in poller.drain()] == [after]
    assert before != after


def test_backfill_from_a_date_catches_up_then_joins(poller: Poller) -> None:
    live = poller.subscribe("accounts.created")
    poller.poll()
    old = poller.write("insert", "Account", {"Name": "Two hours ago"}, seconds_ago=7200)
    poller.poll()
    assert poller.drain() == []  # before the live subscription's start (and outside the lookback)
    backfill = poller.subscribe("accounts.created", start_at=poller.minutes_ago(180))
    report = poller.poll()
    assert any(s["catchup_for"] == backfill.subscription_id and s["merged"] for s in report["streams"]), (
        report
    )
    got = by_subscription(poller.drain())
    assert [e["subject"] for e in got[backfill.subscription_id]] == [old]
    assert live.subscription_id not in got
    # Joined: the next change reaches both, once.
    new = poller.write("insert", "Account", {"Name": "After the backfill"})
    poller.poll()
    got = by_subscription(poller.drain())
    assert [e["subject"] for e in got[backfill.subscription_id]] == [new]
    assert [e["subject"] for e in got[live.subscription_id]] == [new]


def test_a_late_commit_inside_the_lookback_is_caught_once(poller: Poller) -> None:
    sub = poller.subscribe("contacts.created", start_at=poller.minutes_ago(10))
    poller.poll()
    poller.drain()
    # Committed now, stamped 2 minutes ago: the cursor is already past its SystemModstamp.
    late = poller.emulator.late_commit("Contact", {"LastName": "Late"}, seconds_ago=120, username=None)["id"]
    poller.poll()
    assert [m["body"]["subject"] for m in poller.drain()] == [late]
    poller.poll()
    assert poller.drain() == []
    assert sub.ignore_own_changes is False


def test_ignore_own_changes_skips_the_connections_user(poller: Poller) -> None:
    loop_guarded = poller.subscribe("cases.updated", ignore_own_changes=True)
    plain = poller.subscribe("cases.updated")
    case_id = poller.query("SELECT Id FROM Case ORDER BY Id LIMIT 1")[0]["Id"]
    poller.poll()
    poller.write("update", "Case", {"Description": "by the workflow"}, id=case_id, username=None)  # own user
    poller.poll()
    got = by_subscription(poller.drain())
    assert loop_guarded.subscription_id not in got
    assert len(got[plain.subscription_id]) == 1
    poller.write("update", "Case", {"Description": "by a person"}, id=case_id)
    poller.poll()
    got = by_subscription(poller.drain())
    assert len(got[loop_guarded.subscription_id]) == 1
    assert len(got[plain.subscription_id]) == 1


def test_fields_trim_the_event_and_attributes_allow_filtering(poller: Poller) -> None:
    trimmed = poller.subscribe("leads.created", fields=["LastName", "Company"])
    everything = poller.subscribe("leads.created")
    lead = poller.write("insert", "Lead", {"LastName": "Lovelace", "Company": "Engines", "Title": "Countess"})
    poller.poll()
    messages = poller.drain()
    got = {m["body"]["subscription_id"]: m for m in messages}
    assert got[trimmed.subscription_id]["body"]["data"] == {
        "Id": lead,
        "LastName": "Lovelace",
        "Company": "Engines",
    }
    assert got[everything.subscription_id]["body"]["data"]["Title"] == "Countess"
    attrs = got[trimmed.subscription_id]["attributes"]
    assert attrs == {
        "trigger": "leads.created",
        "connection_id": poller.connection.connection_id,
        "subscription_id": trimmed.subscription_id,
        "sobject": "Lead",
        "event_type": "created",
        "tenant_id": TEST_TENANT,
    }
    assert got[trimmed.subscription_id]["body"]["tenant_id"] == TEST_TENANT


def test_claim_checked_events_live_under_their_tenants_prefix(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import boto3
    from sfconnector import events
    from sfconnector.models.tenancy import tenant_key

    monkeypatch.setattr(events, "MAX_MESSAGE_BYTES", 600)  # every envelope takes the claim-check path
    poller.subscribe("leads.created")
    poller.write("insert", "Lead", {"LastName": "Claim", "Company": "Checked"})
    poller.poll()
    [message] = poller.drain()
    prefix = f"s3://{poller.aws.bucket}/tenants/{tenant_key(TEST_TENANT)}/trigger-events/"
    assert message["body"]["dataref"].startswith(prefix + poller.connection.connection_id + "/")
    key = message["body"]["dataref"].split("/", 3)[3]
    stored = boto3.client("s3", region_name=poller.aws.region).get_object(Bucket=poller.aws.bucket, Key=key)
    assert json.loads(stored["Body"].read())["tenant_id"] == TEST_TENANT


def test_updated_fires_per_modification_not_for_creation(poller: Poller) -> None:
    sub = poller.subscribe("opportunities.updated")
    created = poller.subscribe("opportunities.created")
    poller.poll()
    opp = poller.write("insert", "Opportunity", _new_record(poller, "Opportunity", 7))
    poller.poll()
    poller.emulator.advance_clock(2)
    poller.write("update", "Opportunity", {"Description": "one"}, id=opp)
    poller.poll()
    poller.write("update", "Opportunity", {"Description": "two"}, id=opp)
    poller.poll()
    got = by_subscription(poller.drain())
    assert len(got[created.subscription_id]) == 1
    updates = got[sub.subscription_id]
    assert len(updates) == 2
    assert len({e["id"] for e in updates}) == 2


def test_skips_without_salesforce_call(poller: Poller) -> None:
    calls = poller.emulator.api_calls()
    assert poller.poll()["reason"] == "no_active_subscriptions"
    poller.subscribe("leads.created")
    get_repo = poller.repo
    assert get_repo.list(poller.connection.connection_id)
    from sfconnector.runtime import get_runtime

    get_runtime().connections.update(poller.connection.connection_id, status="needs_reauth")
    assert poller.poll()["reason"] == "connection_needs_reauth"
    assert poller.emulator.api_calls() == calls


def test_budget_guard_skips_the_cycle_and_reports_it(poller: Poller) -> None:
    from sfconnector.runtime import get_runtime

    poller.subscribe("leads.created")
    poller.poll()
    poller.emulator.set_api_calls(14_000)  # of 15 000: above the 80 % budget
    poller.write("insert", "Lead", {"LastName": "Waits", "Company": "Acme"})
    poller.poll()  # sees the usage on its answer; the next cycle skips
    poller.drain()
    # The usage seen may be stale: the next cycle probes it with the Composite it sends anyway
    # (its Sforce-Limit-Info), not with a GET /limits, which would be one more counted call.
    probed = poller.write("insert", "Lead", {"LastName": "Probed", "Company": "Acme"})
    report = poller.poll()
    assert report["reason"] == "api_budget"
    assert report["salesforce_calls"] == 1  # the query itself confirmed the usage
    assert [m["body"]["subject"] for m in poller.drain()] == [probed]  # and what it read went out
    record = get_runtime().connections.get(poller.connection.connection_id)
    assert record is not None
    assert record.polling is not None
    assert record.polling.state == "skipped_budget"
    calls = poller.emulator.api_calls()
    assert poller.poll()["reason"] == "api_budget"  # probed a moment ago: no call now
    assert poller.emulator.api_calls() == calls
    # The rolling allowance comes back; the next probe (5 minutes later) sees it, polling resumes
    # in the same warm container and nothing written meanwhile is lost.
    poller.emulator.set_api_calls(10)
    lead = poller.write("insert", "Lead", {"LastName": "Resumes", "Company": "Acme"})
    poller.emulator.advance_clock(300)
    resumed = poller.poll()
    assert resumed["outcome"] == "polled", resumed
    assert lead in [m["body"]["subject"] for m in poller.drain()]
    record = get_runtime().connections.get(poller.connection.connection_id)
    assert record is not None
    assert record.polling is not None
    assert record.polling.state == "polling"


def test_a_deleted_field_holds_out_only_the_subscriptions_that_name_it(poller: Poller) -> None:
    """Field isolation: a field an admin deleted (here: one Salesforce never had) makes the shared
    query fail INVALID_FIELD. The poller drops it, flags only the subscription that named it,
    and the others on the sObject go on, in the same cycle; later cycles leave the field out
    without a failing query. Before, every subscription on the sObject stopped."""
    fine = poller.subscribe("accounts.created", fields=["Name"])
    everything = poller.subscribe("accounts.updated")
    broken = poller.subscribe("accounts.created", fields=["Name", "Gone__c"])
    poller.poll()
    account = poller.write("insert", "Account", {"Name": "Isolated"})
    poller.emulator.advance_clock(2)
    poller.write("update", "Account", {"Name": "Isolated again"}, id=account)
    report = poller.poll()
    got = by_subscription(poller.drain())
    assert [e["subject"] for e in got[fine.subscription_id]] == [account], report
    assert [e["data"]["Name"] for e in got[everything.subscription_id]] == ["Isolated again"]
    assert broken.subscription_id not in got
    cid = poller.connection.connection_id
    flagged = poller.repo.get(cid, broken.subscription_id).last_error
    assert flagged is not None
    assert "Gone__c" in flagged
    assert poller.repo.get(cid, fine.subscription_id).last_error is None
    assert poller.repo.get(cid, everything.subscription_id).last_error is None
    assert poller.poll()["salesforce_calls"] == 1  # the field stays out: no failing query again
    # The subscriber drops the field: it is polled again from then on, its flag cleared.
    poller.repo.update(cid, broken.subscription_id, fields=["Name"])
    later = poller.write("insert", "Account", {"Name": "Later"})
    poller.poll()
    got = by_subscription(poller.drain())
    assert [e["subject"] for e in got[broken.subscription_id]] == [later]
    assert poller.repo.get(cid, broken.subscription_id).last_error is None


def test_a_failing_sobject_fails_only_its_group(poller: Poller) -> None:
    broken = poller.subscribe("accounts.created", fields=["No_Such_Field__c"])
    fine = poller.subscribe("leads.created")
    poller.poll()
    lead = poller.write("insert", "Lead", {"LastName": "Fine", "Company": "Acme"})
    poller.write("insert", "Account", {"Name": "Lost?"})
    report = poller.poll()
    got = by_subscription(poller.drain())
    assert [e["subject"] for e in got[fine.subscription_id]] == [lead]
    assert broken.subscription_id not in got
    stored = poller.repo.get(poller.connection.connection_id, broken.subscription_id)
    assert stored.last_error is not None, report
    assert "INVALID_FIELD" in stored.last_error
    assert poller.repo.get(poller.connection.connection_id, fine.subscription_id).last_error is None
    # The error is written once, not every cycle; fixing the subscription clears it.
    again = poller.poll()
    writes = again["dynamodb_writes"]
    assert writes == 2  # the lease only: nothing changed, nothing new to record
    poller.repo.update(poller.connection.connection_id, broken.subscription_id, fields=["Name"])
    poller.poll()
    assert poller.repo.get(poller.connection.connection_id, broken.subscription_id).last_error is None


def test_catalog_counts() -> None:
    assert Counter(t.stream.event.value for t in SERVED if t.stream) == {
        "created": 13,  # the spec's 12 and campaign_members.created (issue 19)
        "updated": 12,
        "deleted": 11,
    }


def _expected(kind: str, phases: list[dict[str, str]], updated_too: set[str], late: set[str]) -> list[str]:
    """The subjects a subscription of ``kind`` must get, each once: what ``_changes`` did in each
    phase, other records updated (``updated_too``) and late-committed creations (``late``)."""
    out: set[str] = set()
    for ids in phases:
        out |= {
            "created": {ids["created"], ids["doomed"]},
            "updated": {ids["updated"]},
            "deleted": {ids["doomed"]},
        }[kind]
    if kind == "updated":
        out |= updated_too
    if kind == "created":
        out |= late
    return sorted(out)


def test_every_trigger_start_backfill_late_commit_own_changes_and_fields(poller: Poller) -> None:
    """For each served trigger at once: changes before the start never fire; a backfill from a date
    gets them (and everything after, once); a late commit inside the lookback is caught;
    ignore_own_changes skips the connection's user; fields trims the event."""
    poller.emulator.advance_clock(86_400)  # the seed's recent changes fall out of the backfill
    sobjects = sorted({t.sobject or "Invoice__c" for t in SERVED})
    old = {s: _changes(poller, s, seconds_ago=7200) for s in sobjects}
    live = {t.key: poller.subscribe(t.key) for t in SERVED}
    guarded = {t.key: poller.subscribe(t.key, ignore_own_changes=True, fields=["Id"]) for t in SERVED}
    assert poller.poll()["events_published"] == 0  # the old changes are before the start
    new = {s: _changes(poller, s) for s in sobjects}
    own = {}
    for s in sobjects:  # a write-back by the connection's own user
        if s == "OpportunityLineItem":
            continue  # its roll-up would make the connection's user the opportunity's modifier
        second = poller.query(f"SELECT Id FROM {s} ORDER BY CreatedDate LIMIT 1 OFFSET 1")[0]["Id"]  # noqa: S608
        poller.write("update", s, UPDATE_FIELDS[s], id=second, username=None)
        own[s] = second
    poller.poll()
    poller.emulator.advance_clock(120)
    poller.poll()  # the cursor is now past what the late commits below are stamped with
    late = {}
    for s in sobjects:
        if s == "OpportunityLineItem":
            continue  # its roll-up would also rewrite the opportunity in the past
        late[s] = poller.emulator.late_commit(s, _new_record(poller, s, 5), seconds_ago=60, username=SELLER)[
            "id"
        ]
    backfill = {t.key: poller.subscribe(t.key, start_at=poller.minutes_ago(150)) for t in SERVED}
    poller.poll()
    poller.poll()
    got = by_subscription(poller.drain())
    opp_of_item = _new_record(poller, "OpportunityLineItem", 0)["OpportunityId"]

    extras = {"Opportunity": {opp_of_item}}  # line items roll up into their opportunity

    def subjects(sub_id: str) -> list[str]:
        return sorted(e["subject"] for e in got.get(sub_id, []))

    for trig in SERVED:
        stream = trig.stream
        assert stream is not None
        sobject, kind, key = trig.sobject or "Invoice__c", stream.event.value, trig.key
        own_ids = {own[sobject]} if sobject in own else set()
        late_ids = {late[sobject]} if sobject in late else set()
        assert subjects(live[key].subscription_id) == _expected(
            kind, [new[sobject]], own_ids | extras.get(sobject, set()), late_ids
        ), key
        assert subjects(guarded[key].subscription_id) == _expected(
            kind, [new[sobject]], extras.get(sobject, set()), late_ids
        ), key
        assert subjects(backfill[key].subscription_id) == _expected(
            kind, [old[sobject], new[sobject]], own_ids | extras.get(sobject, set()), late_ids
        ), key
        assert all(set(e["data"]) == {"Id"} for e in got.get(guarded[key].subscription_id, []))
    poller.poll()
    assert poller.drain() == []


def test_a_skipped_poll_brings_the_schedule_in_line(poller: Poller, scheduler: SchedulerEnv) -> None:
    from sfconnector.runtime import get_runtime

    cid = poller.connection.connection_id
    poller.subscribe("leads.created")
    get_runtime().polling.sync(cid)
    assert scheduler.schedules()[f"poll-{cid}"]["State"] == "ENABLED"
    # An action function flagged the connection (it manages no schedules): the next poll disables it.
    get_runtime().connections.update(cid, status="needs_reauth")
    assert poller.poll()["reason"] == "connection_needs_reauth"
    assert scheduler.schedules()[f"poll-{cid}"]["State"] == "DISABLED"
