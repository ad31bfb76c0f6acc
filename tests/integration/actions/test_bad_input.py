"""Bad input for every action kind: a clear 4xx naming the field, and no Salesforce call wasted.

Validation uses the org's describe. The describe cache is WARMED first (one successful action), so
the "no call" assertions measure exactly what a warm container does with bad input: nothing.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.fixtures.actions import ActionApi, ApiResponse
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import OrgReader

ACCOUNT_ID_OF_NOBODY = "001000000000000AAA"


def warm(api: ActionApi, family: str, criteria: dict[str, Any]) -> None:
    response = api.post(f"{family}/find", {"criteria": criteria})
    assert response.status == 200, response


def problems(response: ApiResponse) -> dict[str, str]:
    error = response.error
    return {p["field"]: p["code"] for p in (error.get("details") or {}).get("problems", [])}


def test_create_rejects_every_bad_field_at_once_without_calling_salesforce(
    action_api: ActionApi, calls: Any
) -> None:
    warm(action_api, "accounts", {"Name": "warm-up"})
    response, used = calls(
        lambda: action_api.post(
            "accounts",
            {
                "Nmae": "typo",
                "NumberOfEmployees": "many",
                "Tier__c": "Diamond",
                "CreatedDate": "2024-01-01T00:00:00Z",
                "AccountNumber": "x" * 41,
            },
        )
    )
    assert response.status == 422, response
    assert used == 0
    error = response.error
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == {
        "Nmae",
        "NumberOfEmployees",
        "Tier__c",
        "CreatedDate",
        "AccountNumber",
        "Name",
    }
    assert problems(response) == {
        "Nmae": "unknown_field",
        "NumberOfEmployees": "wrong_type",
        "Tier__c": "not_in_picklist",
        "CreatedDate": "not_writable",
        "AccountNumber": "too_long",
        "Name": "required",
    }
    assert "did you mean Name" in error["message"]
    assert error["salesforce"] == []


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"Name": {"nested": 1}}, "Name", "wrong_type"),
        ({"bad name": "x"}, "bad name", "invalid_field_name"),
        ({}, "body", "empty"),
    ],
)
def test_create_rejects_malformed_bodies(
    body: dict[str, Any], field: str, code: str, action_api: ActionApi, calls: Any
) -> None:
    response, used = calls(lambda: action_api.post("accounts", body))
    assert response.status == 422, response
    assert used == 0
    assert response.error["code"] == "invalid_request"
    assert problems(response) == {field: code}


def test_invalid_json_is_a_422(action_api: ActionApi, calls: Any) -> None:
    response, used = calls(lambda: action_api.post("accounts", raw_body="{not json"))
    assert (response.status, used) == (422, 0)
    assert problems(response) == {"body": "invalid_json"}


def test_update_checks_ids_and_writability(action_api: ActionApi, org: OrgReader, calls: Any) -> None:
    warm(action_api, "contacts", {"LastName": "warm-up"})
    contact = org.one("SELECT Id FROM Contact LIMIT 1")["Id"]
    malformed, used = calls(lambda: action_api.patch("contacts/not-an-id", {"Title": "x"}))
    assert (malformed.status, used) == (422, 0)
    assert malformed.error["fields"] == ["record_id"]
    wrong_object, used = calls(lambda: action_api.patch(f"contacts/{ACCOUNT_ID_OF_NOBODY}", {"Title": "x"}))
    assert (wrong_object.status, used) == (422, 0)
    assert problems(wrong_object) == {"record_id": "wrong_object"}
    assert "is an Account id, not a Contact id" in wrong_object.error["message"]
    read_only, used = calls(
        lambda: action_api.patch(f"contacts/{contact}", {"Name": "Full Name", "Title": "x"})
    )
    assert (read_only.status, used) == (422, 0)
    assert problems(read_only) == {"Name": "not_writable"}
    nulled, used = calls(lambda: action_api.patch(f"contacts/{contact}", {"LastName": None}))
    assert (nulled.status, used) == (422, 0)
    assert problems(nulled) == {"LastName": "required"}


def test_missing_and_deleted_records_are_404(action_api: ActionApi, sf_emulator: EmulatorHandle) -> None:
    gone = sf_emulator.dml("insert", "Account", {"Name": "To be deleted"})["id"]
    sf_emulator.dml("delete", "Account", id=gone)
    nobody = "001000000000099AAA"
    for response in (
        action_api.patch(f"accounts/{gone}", {"Phone": "1"}),
        action_api.get(f"accounts/{nobody}"),
        action_api.patch(f"accounts/{nobody}", {"Phone": "1"}),
        action_api.delete(f"accounts/{nobody}"),
    ):
        assert response.status == 404, response
        assert response.error["code"] == "not_found"
        assert response.error["fields"] == ["record_id"]


def test_find_rejects_unusable_criteria_and_fields(action_api: ActionApi, calls: Any) -> None:
    warm(action_api, "accounts", {"Name": "warm-up"})
    response, used = calls(
        lambda: action_api.post(
            "accounts/find",
            {"criteria": {"Description": "long text", "NumberOfEmployees": "ten", "Bogus": 1}},
        )
    )
    assert (response.status, used) == (422, 0)
    assert problems(response) == {
        "Description": "not_filterable",
        "NumberOfEmployees": "wrong_type",
        "Bogus": "unknown_field",
    }
    fields, used = calls(
        lambda: action_api.post("accounts/find", {"criteria": {"Name": "x"}, "fields": ["Nope"]})
    )
    assert (fields.status, used) == (422, 0)
    assert problems(fields) == {"Nope": "unknown_field"}
    empty, used = calls(lambda: action_api.post("accounts/find", {"criteria": {}}))
    assert (empty.status, used) == (422, 0)


def test_upsert_with_several_matches_is_a_409_listing_the_candidates(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, calls: Any
) -> None:
    email = "twin@example.com"
    twins = {
        sf_emulator.dml("insert", "Contact", {"LastName": f"Twin {i}", "Email": email})["id"] for i in (1, 2)
    }
    warm(action_api, "contacts", {"Email": email})
    response, used = calls(
        lambda: action_api.put(
            "contacts/upsert", {"match_field": "Email", "record": {"Email": email, "LastName": "Merged"}}
        )
    )
    assert response.status == 409, response
    error = response.error
    assert error["code"] == "ambiguous_match"
    assert error["fields"] == ["Email"]
    assert set(error["details"]["candidate_ids"]) == twins
    assert used == 1  # the lookup only: nothing was written
    stored = org.query(f"SELECT LastName FROM Contact WHERE Email = '{email}'")  # noqa: S608
    assert sorted(r["LastName"] for r in stored) == ["Twin 1", "Twin 2"]


def test_upsert_input_problems(action_api: ActionApi, calls: Any) -> None:
    warm(action_api, "contacts", {"LastName": "warm-up"})
    unknown, used = calls(
        lambda: action_api.put("contacts/upsert", {"match_field": "Emial", "record": {"Emial": "a@b.co"}})
    )
    assert (unknown.status, used) == (422, 0)
    assert unknown.error["fields"] == ["Emial"]
    no_value, used = calls(
        lambda: action_api.put("contacts/upsert", {"match_field": "Email", "record": {"LastName": "X"}})
    )
    assert (no_value.status, used) == (422, 0)
    assert no_value.error["code"] == "invalid_input"
    assert no_value.error["fields"] == ["Email"]
    bad_field, used = calls(
        lambda: action_api.put(
            "contacts/upsert",
            {"match_field": "External_Id__c", "record": {"External_Id__c": "E1", "Foo__c": 1}},
        )
    )
    assert (bad_field.status, used) == (422, 0)
    assert problems(bad_field) == {"Foo__c": "unknown_field"}
    picklist, used = calls(
        lambda: action_api.put(
            "accounts/upsert",
            {"match_field": "External_Id__c", "record": {"External_Id__c": "E1", "Tier__c": "Diamond"}},
        )
    )
    assert picklist.status == 422, picklist
    assert problems(picklist) == {"Tier__c": "not_in_picklist"}


def test_case_comment_input(action_api: ActionApi, org: OrgReader, calls: Any) -> None:
    case = org.one("SELECT Id FROM Case LIMIT 1")["Id"]
    warm_up = action_api.post(f"cases/{case}/comments", {"CommentBody": "warm-up"})
    assert warm_up.status == 201, warm_up
    wrong_parent, used = calls(
        lambda: action_api.post(f"cases/{ACCOUNT_ID_OF_NOBODY}/comments", {"CommentBody": "x"})
    )
    assert (wrong_parent.status, used) == (422, 0)
    assert problems(wrong_parent) == {"record_id": "wrong_object"}
    missing, used = calls(lambda: action_api.post(f"cases/{case}/comments", {"IsPublished": True}))
    assert (missing.status, used) == (422, 0)
    assert problems(missing) == {"CommentBody": "required"}
    parent_in_body, used = calls(
        lambda: action_api.post(f"cases/{case}/comments", {"CommentBody": "x", "ParentId": case})
    )
    assert (parent_in_body.status, used) == (422, 0)
    assert problems(parent_in_body) == {"ParentId": "not_writable"}
    too_long, used = calls(lambda: action_api.post(f"cases/{case}/comments", {"CommentBody": "x" * 4001}))
    assert (too_long.status, used) == (422, 0)
    assert problems(too_long) == {"CommentBody": "too_long"}


@pytest.mark.parametrize(
    "condition",
    [
        "IsPrimary = true) OR (Id != null",
        "Id IN (SELECT Id FROM Contact)",
        "IsPrimary = true; DELETE FROM Account",
        "IsPrimary = true LIMIT 1",
        "Secret__x = 1",
    ],
)
def test_find_all_refuses_anything_but_a_condition_on_contact_roles(
    condition: str, action_api: ActionApi, calls: Any
) -> None:
    warm_up = action_api.post("associations/find_all", {"condition": "IsPrimary = true", "limit": 1})
    assert warm_up.status == 200, warm_up
    response, used = calls(lambda: action_api.post("associations/find_all", {"condition": condition}))
    assert (response.status, used) == (422, 0), response
    assert response.error["code"] == "invalid_condition"
    assert response.error["fields"] == ["condition"]


def test_custom_objects_only_serve_custom_objects(action_api: ActionApi, calls: Any) -> None:
    standard, used = calls(lambda: action_api.post("custom_objects/Account", {"Name": "x"}))
    assert (standard.status, used) == (404, 0)
    assert standard.error["code"] == "sobject_not_found"
    assert "not a custom object" in standard.error["message"]
    unknown, _ = calls(lambda: action_api.get(f"custom_objects/Nope__c/{ACCOUNT_ID_OF_NOBODY}"))
    assert unknown.status == 404, unknown
    assert unknown.error["code"] == "sobject_not_found"
    assert "Nope__c" in unknown.error["message"]


def test_custom_object_fields_are_checked(action_api: ActionApi, org: OrgReader, calls: Any) -> None:
    invoice = org.one("SELECT Id FROM Invoice__c LIMIT 1")["Id"]
    assert action_api.get(f"custom_objects/Invoice__c/{invoice}").status == 200
    response, used = calls(
        lambda: action_api.post(
            "custom_objects/Invoice__c",
            {"Name": "x", "Status__c": "Lost", "Amount__c": "lots", "Paid__c": "maybe"},
        )
    )
    assert (response.status, used) == (422, 0)
    assert problems(response) == {
        "Status__c": "not_in_picklist",
        "Amount__c": "wrong_type",
        "Paid__c": "wrong_type",
        "Invoice_Number__c": "required",
    }
    wrong_object, used = calls(lambda: action_api.delete(f"custom_objects/Invoice__c/{ACCOUNT_ID_OF_NOBODY}"))
    assert (wrong_object.status, used) == (422, 0)
    assert problems(wrong_object) == {"record_id": "wrong_object"}


def test_attachment_from_a_forbidden_url_never_reaches_salesforce(action_api: ActionApi, calls: Any) -> None:
    response, used = calls(
        lambda: action_api.post(
            "attachments",
            {
                "parent_id": ACCOUNT_ID_OF_NOBODY,
                "name": "x.txt",
                "url": "https://169.254.169.254/latest/meta-data/",
            },
        )
    )
    assert (response.status, used) == (422, 0)
    assert response.error["code"] == "forbidden_url"
    assert response.error["fields"] == ["url"]


def test_oversized_attachment_is_a_413(
    action_api: ActionApi, calls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTACHMENT_MAX_BYTES", "1024")
    content = base64.b64encode(b"x" * 2048).decode()
    response, used = calls(
        lambda: action_api.post(
            "attachments", {"parent_id": ACCOUNT_ID_OF_NOBODY, "name": "big.bin", "content_base64": content}
        )
    )
    assert (response.status, used) == (413, 0)
    assert response.error["code"] == "payload_too_large"
    assert response.error["fields"] == ["content_base64"]


def test_attachment_needs_exactly_one_source(action_api: ActionApi) -> None:
    both = action_api.post(
        "attachments",
        {
            "parent_id": ACCOUNT_ID_OF_NOBODY,
            "name": "x",
            "content_base64": "eA==",
            "url": "https://example.com/x",
        },
    )
    assert both.status == 422, both
    assert "exactly one of content_base64 or url" in both.error["message"]
