"""sObject CRUD with describe-driven validation and Salesforce's error bodies and status codes."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert isinstance(body, list)
    assert len(body) == 1
    item: dict[str, Any] = body[0]
    return item


def some_id(api: httpx.Client, sobject: str, where: str = "") -> str:
    rows = api.get("/query", params={"q": f"SELECT Id FROM {sobject} {where} LIMIT 1"}).json()["records"]  # noqa: S608
    return str(rows[0]["Id"])


def test_create_then_get_returns_every_field_with_system_fields(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    sf_emulator.set_clock("2024-05-20T20:49:32.654321+00:00", frozen=True)
    created = api.post("/sobjects/Account", json={"Name": "Northwind", "NumberOfEmployees": 12})
    assert created.status_code == 201
    body = created.json()
    assert body == {"id": body["id"], "success": True, "errors": []}
    record = api.get(f"/sobjects/Account/{body['id']}").json()
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/{sf_emulator.api_version}/sobjects/Account/{body['id']}",
    }
    described = api.get("/sobjects/Account/describe").json()
    assert list(record)[1:] == [f["name"] for f in described["fields"]]
    assert record["CreatedDate"] == "2024-05-20T20:49:32.000+0000"  # stored to the second
    assert record["LastModifiedDate"] == record["SystemModstamp"] == record["CreatedDate"]
    assert (
        record["CreatedById"] == record["LastModifiedById"] == record["OwnerId"] == sf_emulator.admin_user_id
    )
    assert record["IsDeleted"] is False
    assert record["NumberOfEmployees"] == 12
    assert record["Website"] is None


def test_get_with_fields_and_unknown_field(api: httpx.Client) -> None:
    rid = some_id(api, "Account")
    subset = api.get(f"/sobjects/Account/{rid}", params={"fields": "Name,industry"}).json()
    assert set(subset) == {"attributes", "Name", "Industry"}
    bad = api.get(f"/sobjects/Account/{rid}", params={"fields": "Name,Nope__c"})
    assert bad.status_code == 400
    assert error(bad)["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope__c' on entity 'Account'" in error(bad)["message"]


def test_update_changes_stamps_and_user(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    sf_emulator.set_clock("2024-06-01T10:00:00Z", frozen=True)
    rid = api.post("/sobjects/Lead", json={"LastName": "Stone", "Company": "Quarry"}).json()["id"]
    sf_emulator.advance_clock(90)
    seller = sf_emulator.access_token("sam.seller@acme-emulator.example")
    with sf_emulator.rest_client(seller) as as_seller:
        assert as_seller.patch(f"/sobjects/Lead/{rid}", json={"Title": "Owner"}).status_code == 204
    record = api.get(f"/sobjects/Lead/{rid}").json()
    assert record["CreatedDate"] == "2024-06-01T10:00:00.000+0000"
    assert record["LastModifiedDate"] == record["SystemModstamp"] == "2024-06-01T10:01:30.000+0000"
    assert record["LastModifiedById"] != record["CreatedById"]
    assert record["Title"] == "Owner"
    assert record["Status"] == "Open - Not Contacted"  # the picklist's default on create
    assert record["Name"] == "Stone"


def test_field_names_are_case_insensitive(api: httpx.Client) -> None:
    rid = api.post("/sobjects/contact", json={"lastname": "Lower", "EMAIL": "l@example.com"}).json()["id"]
    record = api.get(f"/sobjects/Contact/{rid}").json()
    assert record["LastName"] == "Lower"
    assert record["Email"] == "l@example.com"


@pytest.mark.parametrize(
    ("sobject", "body", "code", "fields"),
    [
        ("Account", {}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ("Lead", {"LastName": "X"}, "REQUIRED_FIELD_MISSING", ["Company"]),
        ("Opportunity", {"Name": "X"}, "REQUIRED_FIELD_MISSING", ["StageName", "CloseDate"]),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        ("Account", {"Name": "x", "Tier__c": "Wood"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Tier__c"]),
        ("Contact", {"LastName": "x", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        (
            "Account",
            {"Name": "x", "CreatedDate": "2020-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["CreatedDate"],
        ),
        ("Contact", {"LastName": "x", "AccountId": "001xx"}, "MALFORMED_ID", ["AccountId"]),
        ("Contact", {"LastName": "x", "AccountId": "001Hs00000ZZZZZ"}, "INVALID_CROSS_REFERENCE_KEY", []),
        (
            "Account",
            {"Name": "x", "NumberOfEmployees": 12345678901},
            "NUMBER_OUTSIDE_VALID_RANGE",
            ["NumberOfEmployees"],
        ),
    ],
)
def test_create_validation_errors(
    api: httpx.Client, sobject: str, body: dict[str, Any], code: str, fields: list[str]
) -> None:
    response = api.post(f"/sobjects/{sobject}", json=body)
    assert response.status_code == 400
    item = error(response)
    assert item["errorCode"] == code
    assert item["fields"] == fields


def test_error_messages_match_salesforce(api: httpx.Client) -> None:
    missing = error(api.post("/sobjects/Account", json={}))
    assert missing["message"] == "Required fields are missing: [Name]"
    long_name = error(api.post("/sobjects/Contact", json={"LastName": "y" * 81}))
    assert long_name["message"].endswith("(max length=80)")
    assert long_name["message"].startswith("Last Name: data value too large: ")
    picklist = error(api.post("/sobjects/Invoice__c", json={"Invoice_Number__c": "I-1", "Status__c": "Lost"}))
    assert picklist["message"] == "Status: bad value for restricted picklist field: Lost"
    unknown = api.post("/sobjects/Account", json={"Name": "x", "Colour__c": "red"})
    assert error(unknown) == {
        "message": "No such column 'Colour__c' on sobject of type Account",
        "errorCode": "INVALID_FIELD",
    }


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("AnnualRevenue", "abc", None),
        ("AnnualRevenue", True, None),
        ("NumberOfEmployees", 1.5, None),
        ("NumberOfEmployees", "12", 12),
        ("AnnualRevenue", "1250000.456", 1250000.0),
        ("AnnualRevenue", 99.5, 100.0),
        ("Description", 42, "42"),
    ],
)
def test_type_checking_by_field_type(api: httpx.Client, field: str, value: Any, stored: Any) -> None:
    response = api.post("/sobjects/Account", json={"Name": "Typed", field: value})
    if stored is None:
        assert response.status_code == 400
        assert error(response)["errorCode"] == "JSON_PARSER_ERROR"
        assert "Cannot deserialize instance of" in error(response)["message"]
    else:
        assert response.status_code == 201
        assert api.get(f"/sobjects/Account/{response.json()['id']}").json()[field] == stored


def test_dates_datetimes_and_booleans(api: httpx.Client) -> None:
    opp = api.post(
        "/sobjects/Opportunity",
        json={"Name": "Dated", "StageName": "Prospecting", "CloseDate": "2024-12-31", "IsPrivate": "true"},
    ).json()["id"]
    record = api.get(f"/sobjects/Opportunity/{opp}").json()
    assert record["CloseDate"] == "2024-12-31"
    assert record["IsPrivate"] is True
    assert record["Probability"] == 10.0
    assert record["ForecastCategoryName"] == "Pipeline"
    bad_date = api.post(
        "/sobjects/Opportunity", json={"Name": "x", "StageName": "Prospecting", "CloseDate": "31/12/2024"}
    )
    assert error(bad_date)["errorCode"] == "JSON_PARSER_ERROR"
    contact = api.post(
        "/sobjects/Contact", json={"LastName": "Time", "EmailBouncedDate": "2024-03-01T12:30:45.123-02:00"}
    ).json()["id"]
    assert (
        api.get(f"/sobjects/Contact/{contact}").json()["EmailBouncedDate"] == "2024-03-01T14:30:45.000+0000"
    )


def test_malformed_json_and_wrong_shapes(api: httpx.Client) -> None:
    broken = api.post(
        "/sobjects/Account", content=b'{"Name": "x",}', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert error(broken)["errorCode"] == "JSON_PARSER_ERROR"
    assert "[line:1, column:" in error(broken)["message"]
    empty = api.post("/sobjects/Account", content=b"", headers={"Content-Type": "application/json"})
    assert error(empty)["errorCode"] == "JSON_PARSER_ERROR"
    array = api.post("/sobjects/Account", json=[{"Name": "x"}])
    assert error(array)["errorCode"] == "JSON_PARSER_ERROR"
    with_id = api.post("/sobjects/Account", json={"Id": "001Hs00000000AAAAA", "Name": "x"})
    assert error(with_id)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_unknown_sobject_and_read_only_objects(api: httpx.Client) -> None:
    missing = api.post("/sobjects/Xyzzy", json={"Name": "x"})
    assert missing.status_code == 404
    assert error(missing)["errorCode"] == "NOT_FOUND"
    history = api.post("/sobjects/AccountHistory", json={})
    assert history.status_code == 400
    assert error(history)["errorCode"] == "INVALID_TYPE"


def test_ids_in_urls(api: httpx.Client) -> None:
    rid = some_id(api, "Account")
    assert api.get(f"/sobjects/Account/{rid[:15]}").json()["Id"] == rid  # 15-char ids work
    assert api.get(f"/sobjects/Account/{rid.upper()[:15]}{rid[15:]}").status_code in (200, 404)
    not_an_id = api.get("/sobjects/Account/hello")
    assert not_an_id.status_code == 404
    assert error(not_an_id)["errorCode"] == "NOT_FOUND"
    bad_patch = api.patch("/sobjects/Account/hello", json={"Name": "x"})
    assert bad_patch.status_code == 400
    assert error(bad_patch)["errorCode"] == "MALFORMED_ID"
    contact = some_id(api, "Contact")
    wrong_type = api.patch(f"/sobjects/Account/{contact}", json={"Name": "x"})
    assert error(wrong_type)["errorCode"] == "MALFORMED_ID"
    assert api.get(f"/sobjects/Account/{contact}").status_code == 404


def test_id_in_patch_body_is_rejected(api: httpx.Client) -> None:
    rid = some_id(api, "Account")
    response = api.patch(f"/sobjects/Account/{rid}", json={"Id": rid, "Name": "x"})
    assert response.status_code == 400
    assert error(response)["errorCode"] == "INVALID_FIELD"


def test_required_field_cannot_be_cleared(api: httpx.Client) -> None:
    rid = some_id(api, "Account")
    response = api.patch(f"/sobjects/Account/{rid}", json={"Name": None})
    assert error(response)["errorCode"] == "REQUIRED_FIELD_MISSING"
    cleared = api.patch(f"/sobjects/Account/{rid}", json={"Website": None, "Phone": ""})
    assert cleared.status_code == 204
    record = api.get(f"/sobjects/Account/{rid}").json()
    assert record["Website"] is None
    assert record["Phone"] is None


def test_delete_goes_to_the_recycle_bin(api: httpx.Client) -> None:
    rid = api.post("/sobjects/Lead", json={"LastName": "Gone", "Company": "Bin"}).json()["id"]
    assert api.delete(f"/sobjects/Lead/{rid}").status_code == 204
    assert error(api.get(f"/sobjects/Lead/{rid}")) == {
        "message": "The requested resource does not exist",
        "errorCode": "NOT_FOUND",
    }
    assert error(api.patch(f"/sobjects/Lead/{rid}", json={"Title": "x"}))["errorCode"] == "ENTITY_IS_DELETED"
    assert error(api.delete(f"/sobjects/Lead/{rid}"))["errorCode"] == "ENTITY_IS_DELETED"
    live = api.get("/query", params={"q": f"SELECT Id FROM Lead WHERE Id = '{rid}'"}).json()  # noqa: S608
    assert live["totalSize"] == 0
    binned = api.get("/queryAll", params={"q": f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{rid}'"}).json()  # noqa: S608
    assert binned["records"][0]["IsDeleted"] is True
    never = api.delete("/sobjects/Lead/00QHs0000000000AAA")
    assert never.status_code in (400, 404)


def test_delete_cascades_and_restricts(api: httpx.Client) -> None:
    acct = api.post("/sobjects/Account", json={"Name": "Parent Co"}).json()["id"]
    contact = api.post("/sobjects/Contact", json={"LastName": "Child", "AccountId": acct}).json()["id"]
    opp = api.post(
        "/sobjects/Opportunity",
        json={"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2030-01-01", "AccountId": acct},
    ).json()["id"]
    assert api.delete(f"/sobjects/Account/{acct}").status_code == 204
    assert api.get(f"/sobjects/Contact/{contact}").status_code == 404
    assert api.get(f"/sobjects/Opportunity/{opp}").status_code == 404
    guarded = api.post("/sobjects/Account", json={"Name": "Has Cases"}).json()["id"]
    api.post("/sobjects/Case", json={"Subject": "Help", "AccountId": guarded})
    refused = api.delete(f"/sobjects/Account/{guarded}")
    assert refused.status_code == 400
    assert error(refused)["errorCode"] == "DELETE_FAILED"


def test_unique_external_id_rejects_duplicates(api: httpx.Client) -> None:
    first = api.post("/sobjects/Invoice__c", json={"Invoice_Number__c": "INV-X-1"})
    assert first.status_code == 201
    dup = api.post("/sobjects/Invoice__c", json={"Invoice_Number__c": "inv-x-1"})
    assert dup.status_code == 400
    assert error(dup)["errorCode"] == "DUPLICATE_VALUE"
    assert first.json()["id"] in error(dup)["message"]
    record = api.get(f"/sobjects/Invoice__c/{first.json()['id']}").json()
    assert record["Name"] == record["Id"]  # a custom object's Name defaults to the record id
    assert record["Status__c"] == "Draft"
    assert record["Paid__c"] is False


def test_reference_to_wrong_object_type(api: httpx.Client) -> None:
    contact = some_id(api, "Contact")
    response = api.post("/sobjects/Contact", json={"LastName": "x", "AccountId": contact})
    assert error(response)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert error(response)["fields"] == ["AccountId"]


def test_attachment_body_is_binary(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    parent = some_id(api, "Account")
    payload = bytes(range(256)) * 4
    rid = api.post(
        "/sobjects/Attachment",
        json={"ParentId": parent, "Name": "blob.bin", "Body": base64.b64encode(payload).decode()},
    ).json()["id"]
    record = api.get(f"/sobjects/Attachment/{rid}").json()
    assert record["Body"] == f"/services/data/{sf_emulator.api_version}/sobjects/Attachment/{rid}/Body"
    assert record["BodyLength"] == len(payload)
    blob = api.get(f"/sobjects/Attachment/{rid}/Body")
    assert blob.status_code == 200
    assert blob.content == payload
    not_b64 = api.post("/sobjects/Attachment", json={"ParentId": parent, "Name": "x", "Body": "%%%"})
    assert error(not_b64)["errorCode"] == "JSON_PARSER_ERROR"


def test_case_numbers_and_closing(api: httpx.Client) -> None:
    first = api.post("/sobjects/Case", json={"Subject": "One"}).json()["id"]
    second = api.post("/sobjects/Case", json={"Subject": "Two"}).json()["id"]
    a = api.get(f"/sobjects/Case/{first}").json()
    b = api.get(f"/sobjects/Case/{second}").json()
    assert int(b["CaseNumber"]) == int(a["CaseNumber"]) + 1
    assert len(a["CaseNumber"]) == 8
    assert a["Status"] == "New"
    assert a["IsClosed"] is False
    api.patch(f"/sobjects/Case/{first}", json={"Status": "Closed"})
    closed = api.get(f"/sobjects/Case/{first}").json()
    assert closed["IsClosed"] is True
    assert STAMP.match(closed["ClosedDate"])


def test_global_describe_basic_info_and_describe(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    everything = api.get("/sobjects").json()
    names = {s["name"] for s in everything["sobjects"]}
    for expected in (
        "Account",
        "Contact",
        "Lead",
        "Opportunity",
        "Case",
        "Task",
        "Event",
        "Product2",
        "Pricebook2",
        "PricebookEntry",
        "OpportunityLineItem",
        "OpportunityContactRole",
        "Attachment",
        "CaseComment",
        "FeedItem",
        "FeedComment",
        "User",
        "AccountHistory",
        "OpportunityFieldHistory",
        "CaseHistory",
        "ContactHistory",
        "Invoice__c",
    ):
        assert expected in names
    assert everything["maxBatchSize"] == 200
    info = api.get("/sobjects/Account").json()
    assert info["objectDescribe"]["keyPrefix"] == "001"
    assert info["recentItems"]
    assert set(info["recentItems"][0]) == {"attributes", "Id", "Name"}
    invoice = api.get("/sobjects/Invoice__c/describe").json()
    assert invoice["custom"] is True
    number = next(f for f in invoice["fields"] if f["name"] == "Invoice_Number__c")
    assert number["externalId"] is True
    assert number["unique"] is True
    account = api.get("/sobjects/Account/describe").json()
    assert account["urls"]["uiDetailTemplate"] == f"{sf_emulator.base_url}/{{ID}}"
    rels = {r["relationshipName"] for r in account["childRelationships"]}
    assert {"Contacts", "Opportunities", "Cases", "Invoices__r"} <= rels
    assert len(account["fields"][0]) >= 55  # full describe field attributes


def test_later_api_version_in_urls(sf_emulator: EmulatorHandle) -> None:
    token = sf_emulator.access_token()
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.get(f"{sf_emulator.base_url}/services/data/v59.0/sobjects/Account", headers=headers)
    assert response.status_code == 200
    recent = response.json()["recentItems"][0]
    assert recent["attributes"]["url"].startswith("/services/data/v59.0/")
    odd = httpx.get(f"{sf_emulator.base_url}/services/data/v59.5/limits", headers=headers)
    assert odd.status_code == 404


def test_the_org_clock_stamps_records_and_ages_sessions(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    future = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    sf_emulator.set_clock(future, frozen=True)
    # The token minted before the jump is now years old.
    assert api.get("/limits").status_code == 401
    with sf_emulator.rest_client() as fresh:
        rid = fresh.post("/sobjects/Account", json={"Name": "Futurist"}).json()["id"]
        assert fresh.get(f"/sobjects/Account/{rid}").json()["CreatedDate"] == "2031-01-02T03:04:05.000+0000"
