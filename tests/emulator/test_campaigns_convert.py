"""Campaign membership and lead conversion (SOAP convertLead) as a real org enforces them."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.emulator import query_records as q

SOAP_NS = "{urn:partner.soap.sforce.com}"


def select(api: httpx.Client, sobject: str, fields: str, field: str, value: str) -> list[dict[str, Any]]:
    """Rows of ``sobject`` whose ``field`` is ``value`` (an id: nothing to escape)."""
    return q(api, " ".join(["SELECT", fields, "FROM", sobject, "WHERE", field, "=", f"'{value}'"]))


def new_lead(api: httpx.Client, **extra: Any) -> str:
    body = {
        "LastName": "Hopper",
        "FirstName": "Grace",
        "Company": "Navy Labs",
        "Email": "g@example.com",
        **extra,
    }
    response = api.post("/sobjects/Lead", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def new_campaign(api: httpx.Client) -> str:
    response = api.post("/sobjects/Campaign", json={"Name": "Launch", "IsActive": True})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def convert(emulator: EmulatorHandle, token: str | None = None, **fields: str) -> tuple[int, ET.Element]:
    parts = "".join(f"<urn:{k}>{v}</urn:{k}>" for k, v in fields.items())
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader><urn:sessionId>'
        f"{token or emulator.access_token()}</urn:sessionId></urn:SessionHeader></soapenv:Header>"
        f"<soapenv:Body><urn:convertLead><urn:leadConverts>{parts}</urn:leadConverts></urn:convertLead>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    version = emulator.api_version.removeprefix("v")
    response = httpx.post(
        f"{emulator.base_url}/services/Soap/u/{version}",
        content=envelope.encode(),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "convertLead"},
    )
    return response.status_code, ET.fromstring(response.content)  # noqa: S314 - the test's own emulator


def result_of(root: ET.Element) -> dict[str, Any]:
    result = next(root.iter(f"{SOAP_NS}result"))
    out: dict[str, Any] = {}
    for child in result:
        name = child.tag.removeprefix(SOAP_NS)
        if name == "errors":
            out["errors"] = {
                "statusCode": child.findtext(f"{SOAP_NS}statusCode"),
                "fields": [f.text for f in child.findall(f"{SOAP_NS}fields")],
            }
        else:
            out[name] = child.text
    return out


def test_campaign_member_is_unique_per_campaign_and_person(api: httpx.Client) -> None:
    campaign, lead = new_campaign(api), new_lead(api)
    first = api.post("/sobjects/CampaignMember", json={"CampaignId": campaign, "LeadId": lead})
    assert first.status_code == 201, first.text
    again = api.post(
        "/sobjects/CampaignMember", json={"CampaignId": campaign, "LeadId": lead, "Status": "Sent"}
    )
    assert again.status_code == 400
    assert again.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    fields = "Status, HasResponded, Type, Name, CompanyOrAccount"
    member = select(api, "CampaignMember", fields, "Id", first.json()["id"])[0]
    assert (member["Status"], member["HasResponded"], member["Type"]) == ("Sent", False, "Lead")
    assert (member["Name"], member["CompanyOrAccount"]) == ("Grace Hopper", "Navy Labs")
    responded = api.patch(f"/sobjects/CampaignMember/{first.json()['id']}", json={"Status": "Responded"})
    assert responded.status_code == 204, responded.text
    counted = select(api, "Campaign", "NumberOfLeads, NumberOfResponses", "Id", campaign)[0]
    assert (counted["NumberOfLeads"], counted["NumberOfResponses"]) == (1, 1)


def test_a_campaign_has_its_own_member_statuses(api: httpx.Client) -> None:
    campaign = new_campaign(api)
    rows = select(
        api, "CampaignMemberStatus", "Label, IsDefault, HasResponded, SortOrder", "CampaignId", campaign
    )
    got = sorted((r["SortOrder"], r["Label"], r["IsDefault"], r["HasResponded"]) for r in rows)
    assert got == [(1, "Sent", True, False), (2, "Responded", False, True)]
    made = api.post(
        "/sobjects/CampaignMemberStatus",
        json={
            "CampaignId": campaign,
            "Label": "Attended",
            "SortOrder": 3,
            "HasResponded": True,
            "IsDefault": True,
        },
    )
    assert made.status_code == 201, made.text
    again = api.post("/sobjects/CampaignMemberStatus", json={"CampaignId": campaign, "Label": "Attended"})
    assert again.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    defaults = select(api, "CampaignMemberStatus", "Label, IsDefault", "CampaignId", campaign)
    assert [r["Label"] for r in defaults if r["IsDefault"]] == ["Attended"]
    lead = new_lead(api)
    member = api.post("/sobjects/CampaignMember", json={"CampaignId": campaign, "LeadId": lead})
    stored = select(api, "CampaignMember", "Status, HasResponded", "Id", member.json()["id"])[0]
    assert (stored["Status"], stored["HasResponded"]) == ("Attended", True)
    other = new_campaign(api)
    refused = api.post(
        "/sobjects/CampaignMember", json={"CampaignId": other, "LeadId": lead, "Status": "Attended"}
    )
    assert refused.status_code == 400
    assert refused.json()[0]["fields"] == ["Status"]


def test_campaign_member_status_and_person_are_checked(api: httpx.Client) -> None:
    campaign, lead = new_campaign(api), new_lead(api)
    bad = api.post(
        "/sobjects/CampaignMember", json={"CampaignId": campaign, "LeadId": lead, "Status": "Maybe"}
    )
    assert bad.status_code == 400
    assert bad.json()[0]["fields"] == ["Status"]
    nobody = api.post("/sobjects/CampaignMember", json={"CampaignId": campaign})
    assert nobody.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    moved = api.patch(
        "/sobjects/CampaignMember/" + api.post(
            "/sobjects/CampaignMember", json={"CampaignId": campaign, "LeadId": lead}
        ).json()["id"],
        json={"LeadId": new_lead(api)},
    )  # fmt: skip
    assert moved.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_convert_creates_account_contact_opportunity_and_marks_the_lead(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    lead = new_lead(api, LeadSource="Web", Industry="Technology")
    campaign = new_campaign(api)
    api.post("/sobjects/CampaignMember", json={"CampaignId": campaign, "LeadId": lead})
    calls = sf_emulator.api_calls()
    status, root = convert(
        sf_emulator, leadId=lead, convertedStatus="Closed - Converted", opportunityName="Big deal"
    )
    assert status == 200
    assert sf_emulator.api_calls() == calls + 1
    result = result_of(root)
    assert result["success"] == "true", result
    converted = api.get(f"/sobjects/Lead/{lead}").json()
    assert converted["IsConverted"] is True
    assert converted["Status"] == "Closed - Converted"
    links = [converted[f"Converted{name}Id"] for name in ("Account", "Contact", "Opportunity")]
    assert links == [result["accountId"], result["contactId"], result["opportunityId"]]
    account = api.get(f"/sobjects/Account/{result['accountId']}").json()
    assert (account["Name"], account["Industry"]) == ("Navy Labs", "Technology")
    contact = api.get(f"/sobjects/Contact/{result['contactId']}").json()
    assert (contact["LastName"], contact["AccountId"], contact["LeadSource"]) == (
        "Hopper",
        result["accountId"],
        "Web",
    )
    opp = api.get(f"/sobjects/Opportunity/{result['opportunityId']}").json()
    assert (opp["Name"], opp["AccountId"], opp["StageName"]) == (
        "Big deal",
        result["accountId"],
        "Prospecting",
    )
    roles = select(api, "OpportunityContactRole", "ContactId, IsPrimary", "OpportunityId", opp["Id"])
    assert roles == [
        {"attributes": roles[0]["attributes"], "ContactId": result["contactId"], "IsPrimary": True}
    ]
    member = select(api, "CampaignMember", "ContactId", "LeadId", lead)[0]
    assert member["ContactId"] == result["contactId"]
    refused = api.patch(f"/sobjects/Lead/{lead}", json={"Title": "CTO"})
    assert refused.json()[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_convert_into_existing_account_without_opportunity(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    account = api.post("/sobjects/Account", json={"Name": "Existing", "Phone": "111"}).json()["id"]
    lead = new_lead(api, Phone="222", Website="https://navy.example")
    _, root = convert(
        sf_emulator,
        leadId=lead,
        convertedStatus="Closed - Converted",
        accountId=account,
        doNotCreateOpportunity="true",
    )
    result = result_of(root)
    assert result["success"] == "true", result
    assert (result["accountId"], result["opportunityId"]) == (account, None)
    merged = api.get(f"/sobjects/Account/{account}").json()
    assert (merged["Name"], merged["Phone"], merged["Website"]) == ("Existing", "111", "https://navy.example")


CONVERTED = {"convertedStatus": "Closed - Converted"}
CONTACT = "003Hs08To00001hIEA"


@pytest.mark.parametrize(
    ("fields", "code", "named"),
    [
        ({"convertedStatus": "Working - Contacted"}, "INVALID_STATUS", ["convertedStatus"]),
        ({**CONVERTED, "accountId": CONTACT}, "INVALID_CROSS_REFERENCE_KEY", ["accountId"]),
        ({**CONVERTED, "contactId": CONTACT}, "REQUIRED_FIELD_MISSING", ["accountId"]),
        (
            {**CONVERTED, "doNotCreateOpportunity": "true", "opportunityName": "x"},
            "FIELD_INTEGRITY_EXCEPTION",
            ["opportunityName"],
        ),
    ],
)
def test_convert_refusals_change_nothing(
    api: httpx.Client, sf_emulator: EmulatorHandle, fields: dict[str, str], code: str, named: list[str]
) -> None:
    lead = new_lead(api)
    accounts = len(q(api, "SELECT Id FROM Account"))
    _, root = convert(sf_emulator, leadId=lead, **fields)
    result = result_of(root)
    assert result["success"] == "false"
    assert result["errors"] == {"statusCode": code, "fields": named}
    assert api.get(f"/sobjects/Lead/{lead}").json()["IsConverted"] is False
    assert len(q(api, "SELECT Id FROM Account")) == accounts


def test_convert_twice_and_bad_session(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    lead = new_lead(api)
    assert (
        result_of(convert(sf_emulator, leadId=lead, convertedStatus="Closed - Converted")[1])["success"]
        == "true"
    )
    again = result_of(convert(sf_emulator, leadId=lead, convertedStatus="Closed - Converted")[1])
    assert again["errors"]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    status, root = convert(
        sf_emulator, token="not-a-session", leadId=lead, convertedStatus="Closed - Converted"
    )
    assert status == 500
    assert root.findtext(".//faultcode") == "sf:INVALID_SESSION_ID"
