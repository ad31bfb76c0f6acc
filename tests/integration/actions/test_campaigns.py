"""Convert lead and campaign membership through the real handlers (emulator over HTTP, AWS in moto).

Salesforce calls are counted by the emulator around each action (``calls``); what Salesforce stores
is read back with the test's own token (``org``), not taken from the action's answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from sfconnector.catalog import DEMO_IDS

from tests.fixtures.actions import ActionApi
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import Calls, OrgReader

CONVERTED = "Closed - Converted"
CAMPAIGN = DEMO_IDS["Campaign"]


def _lead(emulator: EmulatorHandle, **extra: Any) -> str:
    values = {
        "LastName": "Hopper",
        "FirstName": "Grace",
        "Company": "Navy Labs",
        "LeadSource": "Web",
        **extra,
    }
    return str(emulator.dml("insert", "Lead", values)["id"])


def _where(org: OrgReader, sobject: str, fields: str, field: str, value: str) -> list[dict[str, Any]]:
    return org.query(" ".join(["SELECT", fields, "FROM", sobject, "WHERE", field, "=", f"'{value}'"]))


# ------------------------------------------------------------------------------------ convert lead


def test_convert_lead_creates_the_records_in_one_call(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, calls: Calls
) -> None:
    lead = _lead(sf_emulator)
    response, cost = calls(
        lambda: action_api.post(
            f"leads/{lead}/convert", {"converted_status": CONVERTED, "opportunity_name": "Pilot"}
        )
    )
    assert response.status == 200, response
    assert cost == 1
    assert response.headers["X-Salesforce-Api-Calls"] == "1"
    body = response.body
    stored = org.get("Lead", lead)
    assert stored is not None
    assert stored["IsConverted"] is True
    assert body == {
        "lead_id": lead,
        "account_id": stored["ConvertedAccountId"],
        "contact_id": stored["ConvertedContactId"],
        "opportunity_id": stored["ConvertedOpportunityId"],
    }
    opportunity = org.get("Opportunity", body["opportunity_id"])
    assert opportunity is not None
    assert (opportunity["Name"], opportunity["AccountId"]) == ("Pilot", body["account_id"])


def test_convert_into_an_existing_account_and_contact_without_opportunity(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader
) -> None:
    account = str(sf_emulator.dml("insert", "Account", {"Name": "Existing Co"})["id"])
    contact = str(sf_emulator.dml("insert", "Contact", {"LastName": "Hopper", "AccountId": account})["id"])
    lead = _lead(sf_emulator, Email="grace@navy.example")
    response = action_api.post(
        f"leads/{lead}/convert",
        {
            "converted_status": CONVERTED,
            "account_id": account,
            "contact_id": contact,
            "create_opportunity": False,
            "overwrite_lead_source": True,
        },
    )
    assert response.status == 200, response
    assert response.body == {
        "lead_id": lead,
        "account_id": account,
        "contact_id": contact,
        "opportunity_id": None,
    }
    merged = org.get("Contact", contact)
    assert merged is not None
    assert (merged["Email"], merged["LeadSource"]) == ("grace@navy.example", "Web")


def test_convert_lead_refreshes_an_expired_session_into_the_soap_envelope(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader
) -> None:
    """The SOAP session travels in the body: after a refresh the envelope carries the new token."""
    lead = _lead(sf_emulator)
    sf_emulator.expire_sessions()
    response = action_api.post(f"leads/{lead}/convert", {"converted_status": CONVERTED})
    assert response.status == 200, response
    with sf_emulator.rest_client() as fresh:  # the reader's session expired too
        assert fresh.get(f"/sobjects/Lead/{lead}").json()["IsConverted"] is True


def test_convert_lead_twice_is_a_conflict_that_names_the_first_result(
    action_api: ActionApi, sf_emulator: EmulatorHandle, calls: Calls
) -> None:
    lead = _lead(sf_emulator)
    first = action_api.post(f"leads/{lead}/convert", {"converted_status": CONVERTED})
    assert first.status == 200, first
    again, cost = calls(lambda: action_api.post(f"leads/{lead}/convert", {"converted_status": CONVERTED}))
    assert again.status == 409, again
    assert (again.error["code"], again.error["fields"], cost) == ("lead_already_converted", ["record_id"], 2)
    made = {k: v for k, v in first.body.items() if k != "lead_id"}
    assert {k: again.error["details"][k] for k in made} == made


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"converted_status": "Working - Contacted"}, "converted_status", 422),
        ({"converted_status": CONVERTED, "account_id": DEMO_IDS["Contact"]}, "account_id", 422),
        ({"converted_status": CONVERTED, "contact_id": DEMO_IDS["Account"]}, "contact_id", 422),
        ({"converted_status": CONVERTED, "owner_id": DEMO_IDS["Lead"]}, "owner_id", 422),
        ({"converted_status": CONVERTED, "contact_id": DEMO_IDS["Contact"]}, "account_id", 422),
        (
            {"converted_status": CONVERTED, "create_opportunity": False, "opportunity_name": "x"},
            "opportunity_name",
            422,
        ),
        ({"converted_status": CONVERTED, "overwrite_lead_source": True}, "overwrite_lead_source", 422),
        ({"converted_status": CONVERTED, "account_id": "001Hs08To0000ZZ"}, "account_id", 422),
        ({"converted_status": ""}, "converted_status", 422),
        ({}, "converted_status", 422),
    ],
)
def test_convert_lead_bad_input_names_the_field(
    action_api: ActionApi,
    sf_emulator: EmulatorHandle,
    org: OrgReader,
    body: dict[str, Any],
    field: str,
    status: int,
) -> None:
    lead = _lead(sf_emulator)
    response = action_api.post(f"leads/{lead}/convert", body)
    assert response.status == status, response
    assert any(field in name for name in response.error["fields"]), response.error
    stored = org.get("Lead", lead)
    assert stored is not None
    assert stored["IsConverted"] is False


def test_convert_lead_path_id_of_another_object(action_api: ActionApi) -> None:
    response = action_api.post(f"leads/{DEMO_IDS['Account']}/convert", {"converted_status": CONVERTED})
    assert response.status == 422
    assert response.error["fields"] == ["record_id"]


# --------------------------------------------------------------------------------- campaign members


def test_add_member_then_again_is_idempotent_and_updates_the_status(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, calls: Calls
) -> None:
    lead = _lead(sf_emulator)
    added, cost = calls(lambda: action_api.post(f"campaigns/{CAMPAIGN}/members", {"lead_id": lead}))
    assert added.status == 201, added
    assert cost == 1
    assert added.body["created"] is True
    assert added.body["record"]["Status"] == "Sent"
    same, cost = calls(
        lambda: action_api.post(f"campaigns/{CAMPAIGN}/members", {"lead_id": lead, "status": "Sent"})
    )
    assert (same.status, same.body["created"], same.body["id"], cost) == (200, False, added.body["id"], 1)
    changed, cost = calls(
        lambda: action_api.post(f"campaigns/{CAMPAIGN}/members", {"lead_id": lead, "status": "Responded"})
    )
    assert (changed.status, changed.body["created"], cost) == (200, False, 2)
    rows = _where(org, "CampaignMember", "Id, Status, HasResponded", "LeadId", lead)
    assert [(r["Id"], r["Status"], r["HasResponded"]) for r in rows] == [
        (added.body["id"], "Responded", True)
    ]


def test_add_contact_and_remove_by_person_and_by_member_id(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, calls: Calls
) -> None:
    contact = str(sf_emulator.dml("insert", "Contact", {"LastName": "Lovelace"})["id"])
    added = action_api.post(f"campaigns/{CAMPAIGN}/members", {"contact_id": contact, "status": "Responded"})
    assert added.status == 201, added
    assert added.body["record"]["Type"] == "Contact"
    removed, cost = calls(lambda: action_api.delete(f"campaigns/{CAMPAIGN}/members/{contact}"))
    assert (removed.status, removed.body, cost) == (200, {"id": added.body["id"], "removed": True}, 2)
    assert _where(org, "CampaignMember", "Id", "ContactId", contact) == []
    again = action_api.delete(f"campaigns/{CAMPAIGN}/members/{contact}")
    assert again.body == {"id": None, "removed": False}
    lead = _lead(sf_emulator)
    member = action_api.post(f"campaigns/{CAMPAIGN}/members", {"lead_id": lead}).body["id"]
    by_id, cost = calls(lambda: action_api.delete(f"campaigns/{CAMPAIGN}/members/{member}"))
    assert (by_id.body, cost) == ({"id": member, "removed": True}, 1)


@pytest.mark.parametrize(
    ("path_campaign", "body", "field", "status"),
    [
        (CAMPAIGN, {"lead_id": None, "contact_id": None}, "body", 422),
        (CAMPAIGN, {"lead_id": DEMO_IDS["Lead"], "contact_id": DEMO_IDS["Contact"]}, "body", 422),
        (CAMPAIGN, {"lead_id": DEMO_IDS["Contact"]}, "lead_id", 422),
        (CAMPAIGN, {"contact_id": DEMO_IDS["Lead"]}, "contact_id", 422),
        (CAMPAIGN, {"lead_id": DEMO_IDS["Lead"], "status": "Maybe"}, "status", 422),
        (DEMO_IDS["Account"], {"lead_id": DEMO_IDS["Lead"]}, "campaign_id", 422),
        ("701Hs08To0000ZZ", {"lead_id": DEMO_IDS["Lead"]}, "campaign_id", 404),
        (CAMPAIGN, {"lead_id": DEMO_IDS["Lead"], "extra": 1}, "extra", 422),
    ],
)
def test_add_member_bad_input_names_the_field(
    action_api: ActionApi, path_campaign: str, body: dict[str, Any], field: str, status: int
) -> None:
    response = action_api.post(f"campaigns/{path_campaign}/members", body)
    assert response.status == status, response
    assert any(field in name for name in response.error["fields"]), response.error


def test_member_status_is_one_of_the_campaign_s_own(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader
) -> None:
    webinar = org.one("SELECT Id FROM Campaign WHERE Name = 'Spring Product Webinar'")["Id"]
    lead = _lead(sf_emulator)
    attended = action_api.post(f"campaigns/{webinar}/members", {"lead_id": lead, "status": "Attended"})
    assert attended.status == 201, attended
    assert (attended.body["record"]["Status"], attended.body["record"]["HasResponded"]) == ("Attended", True)
    refused = action_api.post(f"campaigns/{CAMPAIGN}/members", {"lead_id": lead, "status": "Attended"})
    assert refused.status == 422, refused
    assert refused.error["fields"] == ["status"]
    assert "its statuses: Sent, Responded" in refused.error["message"]


def test_a_converted_lead_cannot_join_a_campaign(action_api: ActionApi, sf_emulator: EmulatorHandle) -> None:
    lead = _lead(sf_emulator)
    action_api.post(f"leads/{lead}/convert", {"converted_status": CONVERTED})
    response = action_api.post(f"campaigns/{CAMPAIGN}/members", {"lead_id": lead})
    assert response.status == 409, response
    assert (response.error["code"], response.error["fields"]) == ("lead_converted", ["lead_id"])


def test_list_members_pages_with_an_opaque_token(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, calls: Calls
) -> None:
    expected = [r["Id"] for r in _where(org, "CampaignMember", "Id", "CampaignId", CAMPAIGN)]
    assert len(expected) >= 5
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        query = {"limit": "3", **({"page_token": token} if token else {})}
        page, cost = calls(lambda q=query: action_api.get(f"campaigns/{CAMPAIGN}/members", query=q))  # type: ignore[misc]
        assert page.status == 200, page
        assert cost == 1
        pages += 1
        seen += [m["Id"] for m in page.body["members"]]
        token = page.body["next_page_token"]
        if token is None:
            break
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))
    assert pages == -(-len(expected) // 3)
    other = action_api.get(f"campaigns/{DEMO_IDS['Campaign'][:-3]}/members")
    assert other.status == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"page_token": "not a token"}, "page_token"),
        (
            {"page_token": "eyJjIjoiNzAxSHMwOFRvMDAwMENSSUVZIiwiYSI6IjAwdkhzMDhUbzAwMDBDU0lFWSJ9"},
            "page_token",
        ),
    ],
)
def test_list_members_bad_paging_names_the_field(
    action_api: ActionApi, query: dict[str, str], field: str
) -> None:
    response = action_api.get(f"campaigns/{CAMPAIGN}/members", query=query)
    assert response.status == 422, response
    assert any(field in name for name in response.error["fields"]), response.error
