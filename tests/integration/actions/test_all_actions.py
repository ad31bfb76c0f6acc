"""Every one of the 54 actions, through the real Lambda handlers, against the emulator over HTTP.

Each family's scenario runs all of the family's actions and checks the resulting Salesforce state
by reading it back through the emulator (not through the connector). The final assertion of every
scenario is that each of the family's spec actions was exercised successfully, and
``test_the_scenarios_cover_all_54_actions`` checks the scenarios together cover the whole spec.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sfconnector import catalog
from sfconnector.catalog import OperationKind

from tests.fixtures.actions import ActionApi
from tests.integration.actions.conftest import OrgReader, Seed, action_for


def same(expected: Any, actual: Any) -> bool:
    """Field equality as Salesforce stores values (numbers as floats, datetimes reformatted)."""
    if isinstance(expected, str) and "T" in expected and isinstance(actual, str) and "T" in actual:
        try:
            norm = [
                datetime.fromisoformat(v.replace("Z", "+00:00").replace("+0000", "+00:00"))
                for v in (expected, actual)
            ]
        except ValueError:
            return expected == actual
        return norm[0] == norm[1]
    if (
        isinstance(expected, int | float)
        and isinstance(actual, int | float)
        and not isinstance(expected, bool)
    ):
        return float(expected) == float(actual)
    return bool(expected == actual)


def assert_stored(stored: dict[str, Any] | None, fields: dict[str, Any]) -> None:
    assert stored is not None, "the record is not in the org"
    for name, value in fields.items():
        assert same(value, stored[name]), f"{name}: sent {value!r}, stored {stored[name]!r}"


def succeeded(api: ActionApi) -> set[str]:
    keys = {action_for(method, path) for method, path, status in api.history if status < 300}
    return {k for k in keys if k}


def spec_keys(family: str) -> set[str]:
    return {a.key for a in catalog.actions_of(family) if a.in_spec}


RECORD_KINDS = {OperationKind.CREATE, OperationKind.GET, OperationKind.UPDATE, OperationKind.DELETE,
                OperationKind.FIND, OperationKind.UPSERT}  # fmt: skip


def record_keys(family: str) -> set[str]:
    return {a.key for a in catalog.actions_of(family) if a.in_spec and a.kind in RECORD_KINDS}


# ------------------------------------------------------------------------------ record families


@dataclass(frozen=True)
class RecordFamily:
    key: str
    sobject: str
    create: Callable[[Seed, str], dict[str, Any]]
    update: dict[str, Any]
    find_by: str
    upserts: tuple[tuple[str, Callable[[str], dict[str, Any]]], ...] = field(default=())


RECORD_FAMILIES = [
    RecordFamily(
        "accounts",
        "Account",
        lambda s, t: {"Name": f"Acme {t}", "Industry": "Energy", "NumberOfEmployees": 42, "Tier__c": "Gold"},
        {"Phone": "+1 555 0100", "Rating": "Hot"},
        "Name",
        (
            ("External_Id__c", lambda t: {"External_Id__c": f"ACC-{t}", "Name": f"Ext {t}"}),
            ("Name", lambda t: {"Name": f"Plain {t}", "Industry": "Retail"}),
        ),
    ),
    RecordFamily(
        "contacts",
        "Contact",
        lambda s, t: {
            "FirstName": "Ada",
            "LastName": f"Lovelace {t}",
            "Email": f"ada.{t}@example.com",
            "AccountId": s.account,
        },
        {"Title": "CTO", "Phone": "555-0101"},
        "Email",
        (
            ("External_Id__c", lambda t: {"External_Id__c": f"CON-{t}", "LastName": f"Ext {t}"}),
            ("Email", lambda t: {"Email": f"up.{t}@example.com", "LastName": f"Up {t}"}),
        ),
    ),
    RecordFamily(
        "leads",
        "Lead",
        lambda s, t: {
            "FirstName": "Grace",
            "LastName": f"Hopper {t}",
            "Company": "Navy Labs",
            "Email": f"grace.{t}@example.com",
        },
        {"Rating": "Warm", "Title": "Rear Admiral"},
        "Email",
        (
            (
                "External_Id__c",
                lambda t: {"External_Id__c": f"LEA-{t}", "LastName": f"Ext {t}", "Company": "X"},
            ),
            ("Email", lambda t: {"Email": f"lead.{t}@example.com", "LastName": f"Up {t}", "Company": "Y"}),
        ),
    ),
    RecordFamily(
        "opportunities",
        "Opportunity",
        lambda s, t: {
            "Name": f"Deal {t}",
            "StageName": "Prospecting",
            "CloseDate": "2030-06-30",
            "Amount": 50000,
            "AccountId": s.account,
        },
        {"StageName": "Negotiation/Review", "Amount": 75000},
        "Name",
        (
            (
                "External_Id__c",
                lambda t: {
                    "External_Id__c": f"OPP-{t}",
                    "Name": f"Ext {t}",
                    "StageName": "Prospecting",
                    "CloseDate": "2030-01-01",
                },
            ),
            (
                "Name",
                lambda t: {"Name": f"Plain {t}", "StageName": "Qualification", "CloseDate": "2030-02-01"},
            ),
        ),
    ),
    RecordFamily(
        "cases",
        "Case",
        lambda s, t: {
            "Subject": f"Cannot log in {t}",
            "Status": "New",
            "Origin": "Web",
            "Priority": "High",
            "ContactId": s.contact,
        },
        {"Status": "Working", "Priority": "Low"},
        "Subject",
    ),
    RecordFamily(
        "products",
        "Product2",
        lambda s, t: {"Name": f"Widget {t}", "ProductCode": f"W-{t}", "IsActive": True},
        {"Description": "Now in blue", "IsActive": False},
        "ProductCode",
    ),
    RecordFamily(
        "tasks",
        "Task",
        lambda s, t: {
            "Subject": f"Call back {t}",
            "Status": "Not Started",
            "Priority": "Normal",
            "ActivityDate": "2030-01-15",
            "WhoId": s.contact,
        },
        {"Status": "Completed"},
        "Subject",
    ),
    RecordFamily(
        "events",
        "Event",
        lambda s, t: {
            "Subject": f"Demo {t}",
            "StartDateTime": "2030-01-15T15:00:00Z",
            "DurationInMinutes": 60,
            "WhatId": s.account,
        },
        {"Location": "HQ", "DurationInMinutes": 90},
        "Subject",
    ),
    RecordFamily(
        "line_items",
        "OpportunityLineItem",
        lambda s, t: {
            "OpportunityId": s.opportunity,
            "PricebookEntryId": s.pricebook_entry,
            "Quantity": 2,
            "UnitPrice": 250,
            "Description": f"Line {t}",
        },
        {"Quantity": 3, "ServiceDate": "2030-02-01"},
        "Description",
    ),
]


@pytest.mark.parametrize("family", RECORD_FAMILIES, ids=lambda f: f.key)
def test_record_family_actions(
    family: RecordFamily, action_api: ActionApi, org: OrgReader, seed: Seed
) -> None:
    tag = uuid.uuid4().hex[:10]
    body = family.create(seed, tag)

    created = action_api.post(family.key, body)
    assert created.status == 201, created
    record_id = created.body["id"]
    stored = org.get(family.sobject, record_id)
    assert_stored(stored, body)
    assert stored is not None
    # The response is the record as stored (one read-back), not an echo of the input.
    assert created.body["record"]["Id"] == record_id
    assert created.body["record"]["CreatedDate"] == stored["CreatedDate"]

    got = action_api.get(f"{family.key}/{record_id}")
    assert got.status == 200, got
    assert got.body["record"]["LastModifiedDate"] == stored["LastModifiedDate"]

    updated = action_api.patch(f"{family.key}/{record_id}", family.update)
    assert updated.status == 200, updated
    after = org.get(family.sobject, record_id)
    assert_stored(after, family.update)
    assert_stored(updated.body["record"], family.update)

    found = action_api.post(f"{family.key}/find", {"criteria": {family.find_by: body[family.find_by]}})
    assert found.status == 200, found
    assert (found.body["found"], found.body["match_count"], found.body["id"]) == (True, 1, record_id)
    assert found.body["record"]["Id"] == record_id
    missing = action_api.post(f"{family.key}/find", {"criteria": {family.find_by: f"no such {tag}"}})
    assert missing.status == 200, missing
    assert missing.body == {"found": False, "match_count": 0, "id": None, "record": None}

    for match_field, make in family.upserts:
        record = make(tag)
        first = action_api.put(f"{family.key}/upsert", {"match_field": match_field, "record": record})
        assert first.status == 201, first
        assert first.body["created"] is True
        upsert_id = first.body["id"]
        assert_stored(org.get(family.sobject, upsert_id), record)
        changed = {**record, "Description": f"upserted {tag}"}
        second = action_api.put(f"{family.key}/upsert", {"match_field": match_field, "record": changed})
        assert second.status == 200, second
        assert (second.body["created"], second.body["id"]) == (False, upsert_id)
        assert_stored(org.get(family.sobject, upsert_id), changed)

    deleted = action_api.delete(f"{family.key}/{record_id}")
    assert deleted.status == 200, deleted
    assert deleted.body == {"id": record_id, "deleted": True, "already_deleted": False}
    assert org.get(family.sobject, record_id) is None
    in_bin = org.query(f"SELECT IsDeleted FROM {family.sobject} WHERE Id = '{record_id}'", all_rows=True)  # noqa: S608
    assert [r["IsDeleted"] for r in in_bin] == [True]
    again = action_api.delete(f"{family.key}/{record_id}")
    assert again.status == 200, again
    assert again.body["already_deleted"] is True

    assert succeeded(action_api) >= record_keys(family.key)


# ------------------------------------------------------------------------------ special families


def test_case_comment(action_api: ActionApi, org: OrgReader, seed: Seed) -> None:
    response = action_api.post(
        f"cases/{seed.case}/comments", {"CommentBody": "Customer confirmed the fix.", "IsPublished": True}
    )
    assert response.status == 201, response
    stored = org.get("CaseComment", response.body["id"])
    assert_stored(
        stored, {"ParentId": seed.case, "CommentBody": "Customer confirmed the fix.", "IsPublished": True}
    )
    assert response.body["record"]["ParentId"] == seed.case
    assert "cases.add_comment" in succeeded(action_api)


def test_associations_actions(action_api: ActionApi, org: OrgReader, seed: Seed) -> None:
    created = action_api.post(
        "associations", {"OpportunityId": seed.opportunity, "ContactId": seed.contact, "Role": "Evaluator"}
    )
    assert created.status == 201, created
    role_id = created.body["id"]
    assert_stored(
        org.get("OpportunityContactRole", role_id), {"OpportunityId": seed.opportunity, "Role": "Evaluator"}
    )

    got = action_api.get(f"associations/{role_id}")
    assert got.status == 200, got
    assert got.body["record"]["ContactId"] == seed.contact

    updated = action_api.patch(f"associations/{role_id}", {"Role": "Decision Maker", "IsPrimary": True})
    assert updated.status == 200, updated
    assert_stored(org.get("OpportunityContactRole", role_id), {"Role": "Decision Maker", "IsPrimary": True})

    found = action_api.post(
        "associations/find_all",
        {"condition": f"OpportunityId = '{seed.opportunity}' AND Role = 'Decision Maker'", "limit": 10},
    )
    assert found.status == 200, found
    assert [r["Id"] for r in found.body["records"]] == [role_id]
    assert (found.body["count"], found.body["has_more"]) == (1, False)
    expected = org.query("SELECT Id FROM OpportunityContactRole WHERE IsPrimary = true")
    primaries = action_api.post("associations/find_all", {"condition": "IsPrimary = true", "limit": 2000})
    assert {r["Id"] for r in primaries.body["records"]} == {r["Id"] for r in expected}

    deleted = action_api.delete(f"associations/{role_id}")
    assert deleted.status == 200, deleted
    assert org.get("OpportunityContactRole", role_id) is None
    assert succeeded(action_api) >= spec_keys("associations")


def test_custom_object_actions(action_api: ActionApi, org: OrgReader, seed: Seed) -> None:
    tag = uuid.uuid4().hex[:8]
    body = {
        "Name": f"Invoice {tag}",
        "Invoice_Number__c": f"INV-{tag}",
        "Amount__c": 120.5,
        "Status__c": "Draft",
        "Account__c": seed.account,
        "Issue_Date__c": "2030-01-02",
    }
    created = action_api.post("custom_objects/Invoice__c", body)
    assert created.status == 201, created
    invoice_id = created.body["id"]
    assert_stored(org.get("Invoice__c", invoice_id), body)

    got = action_api.get(f"custom_objects/Invoice__c/{invoice_id}")
    assert got.status == 200, got
    assert got.body["record"]["Invoice_Number__c"] == f"INV-{tag}"

    updated = action_api.patch(
        f"custom_objects/invoice__c/{invoice_id}", {"Status__c": "Paid", "Paid__c": True}
    )
    assert updated.status == 200, updated
    assert_stored(org.get("Invoice__c", invoice_id), {"Status__c": "Paid", "Paid__c": True})

    deleted = action_api.delete(f"custom_objects/Invoice__c/{invoice_id}")
    assert deleted.status == 200, deleted
    assert org.get("Invoice__c", invoice_id) is None
    assert succeeded(action_api) >= spec_keys("custom_objects")


def test_attachment_actions(action_api: ActionApi, org: OrgReader, seed: Seed) -> None:
    content = b"hello from the connector\n"
    added = action_api.post(
        "attachments",
        {
            "parent_id": seed.account,
            "name": "hello.txt",
            "content_base64": base64.b64encode(content).decode(),
            "store_as": "attachment",  # the classic object (the default is a file: test_files.py)
        },
    )
    assert added.status == 201, added
    attachment_id = added.body["id"]
    stored = org.get("Attachment", attachment_id)
    assert_stored(stored, {"ParentId": seed.account, "Name": "hello.txt", "BodyLength": len(content)})

    listed = action_api.get(f"attachments/parents/{seed.account}")
    assert listed.status == 200, listed
    expected = org.query(f"SELECT Id FROM Attachment WHERE ParentId = '{seed.account}'")  # noqa: S608
    assert set(listed.body["attachment_ids"]) == {r["Id"] for r in expected}
    assert attachment_id in listed.body["attachment_ids"]

    fetched = action_api.get(f"attachments/{attachment_id}/content")
    assert fetched.status == 200, fetched
    assert base64.b64decode(fetched.body["content_base64"]) == content

    comment = action_api.post(
        f"attachments/feed_items/{seed.feed_item}/comments", {"CommentBody": "Nice work!"}
    )
    assert comment.status == 201, comment
    assert_stored(
        org.get("FeedComment", comment.body["id"]),
        {"FeedItemId": seed.feed_item, "CommentBody": "Nice work!"},
    )
    assert succeeded(action_api) >= spec_keys("attachments")


def test_the_scenarios_cover_all_54_actions() -> None:
    """What the scenarios above assert they exercised, together: every action of the spec."""
    covered = set().union(*(record_keys(f.key) for f in RECORD_FAMILIES))
    covered |= {"cases.add_comment"} | spec_keys("associations") | spec_keys("custom_objects")
    covered |= spec_keys("attachments")
    assert covered == {a.key for a in catalog.spec_actions()}
    assert len(covered) == 54
