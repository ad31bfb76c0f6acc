"""Done-when: an unmodified third-party client (simple-salesforce) works against the emulator.

The client is only pointed at the emulator's URL with a token from the emulator's OAuth token endpoint
(a real refresh-token grant over HTTP); nothing in it is patched.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from tests.fixtures.emulator import EmulatorHandle


@pytest.fixture
def sf(sf_emulator: EmulatorHandle) -> Any:
    seed = sf_emulator.mint_token()
    token = httpx.post(
        f"{sf_emulator.login_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": seed["refresh_token"],
            "client_id": sf_emulator.client_id,
            "client_secret": sf_emulator.client_secret,
        },
    )
    assert token.status_code == 200, token.text
    body = token.json()
    # simple-salesforce always speaks https to the instance; trust the emulator's self-signed cert.
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides `verify`
    session.verify = sf_emulator.ca_file
    return Salesforce(
        instance_url=body["instance_url"],
        session_id=body["access_token"],
        version=sf_emulator.api_version.removeprefix("v"),
        session=session,
    )


def test_create_get_update_delete(sf: Any, sf_emulator: EmulatorHandle) -> None:
    created = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"})
    assert created["success"] is True
    rid = created["id"]
    assert len(rid) == 18
    assert rid.startswith("003")
    record = sf.Contact.get(rid)
    assert record["Name"] == "Ada Lovelace"
    assert record["attributes"]["type"] == "Contact"
    assert sf.Contact.update(rid, {"Title": "Analyst"}) == 204
    assert sf.Contact.get(rid)["Title"] == "Analyst"
    assert sf.Contact.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(rid)
    assert sf_emulator.api_calls() == 6


def test_validation_error_surfaces_as_client_exception(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.create({"LastName": "NoCompany"})
    content: Any = info.value.content
    assert content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert content[0]["fields"] == ["Company"]


def test_query_all_and_query_more_follow_paging(sf: Any, sf_emulator: EmulatorHandle) -> None:
    sf_emulator.configure(min_query_batch_size=10)
    headers = {"Sforce-Query-Options": "batchSize=10"}
    first = sf.query("SELECT Id, Name FROM Account ORDER BY Name", headers=headers)
    assert first["totalSize"] == 30
    assert first["done"] is False
    assert len(first["records"]) == 10
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True, headers=headers)
    assert len(second["records"]) == 10
    names = [
        r["Name"]
        for r in sf.query_all("SELECT Id, Name FROM Account ORDER BY Name", headers=headers)["records"]
    ]
    assert len(names) == 30
    assert names == sorted(names)
    calls_before = sf_emulator.api_calls()
    sf.query_all("SELECT Id FROM Account", headers=headers)
    # 30 rows in pages of 10: one query call and two queryMore calls.
    assert sf_emulator.api_calls() - calls_before == 3


def test_upsert_by_external_id(sf: Any) -> None:
    assert sf.Contact.upsert("External_Id__c/CON-9999", {"LastName": "Newcomer"}) == 201
    assert sf.Contact.upsert("External_Id__c/CON-9999", {"Title": "Returning"}) == 200
    found = sf.query("SELECT Name, Title FROM Contact WHERE External_Id__c = 'CON-9999'")
    assert found["totalSize"] == 1
    assert found["records"][0]["Title"] == "Returning"
    sf.Account.create({"Name": "Twin A", "External_Id__c": "TWIN"})
    sf.Account.create({"Name": "Twin B", "External_Id__c": "TWIN"})
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Account.upsert("External_Id__c/TWIN", {"Name": "Which one?"})


def test_describe_and_limits(sf: Any, sf_emulator: EmulatorHandle) -> None:
    described = sf.Opportunity.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["StageName"]["type"] == "picklist"
    assert fields["StageName"]["nillable"] is False
    assert described["keyPrefix"] == "006"
    names = {s["name"] for s in sf.describe()["sobjects"]}
    assert {"Account", "Invoice__c", "OpportunityLineItem"} <= names
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15000
    assert limits["DailyApiRequests"]["Remaining"] == 15000 - sf_emulator.api_calls()
    assert sf.api_usage["api-usage"].used == sf_emulator.api_calls()


def test_updated_and_deleted_and_blob(sf: Any, sf_emulator: EmulatorHandle) -> None:
    import base64
    import datetime as dt

    start = sf_emulator.now() - dt.timedelta(minutes=5)
    rid = sf.Lead.create({"LastName": "Replicated", "Company": "Sync Co"})["id"]
    sf.Lead.delete(rid)
    end = sf_emulator.now() + dt.timedelta(minutes=2)
    assert rid in [d["id"] for d in sf.Lead.deleted(start, end)["deletedRecords"]]
    kept = sf.Contact.create({"LastName": "Kept"})["id"]
    assert kept in sf.Contact.updated(start, end)["ids"]
    parent = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    att = sf.Attachment.create(
        {"ParentId": parent, "Name": "a.txt", "Body": base64.b64encode(b"hello").decode()}
    )
    body_url = sf.Attachment.get(att["id"])["Body"]
    raw = sf.session.get(f"{sf.base_url.split('/services/')[0]}{body_url}", headers=sf.headers)
    assert raw.content == b"hello"
