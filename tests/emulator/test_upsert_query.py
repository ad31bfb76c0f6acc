"""Upsert by external id (201/200/300/404), query and queryAll with nextRecordsUrl paging."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.emulator import EmulatorHandle


def test_upsert_creates_then_updates(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    created = api.patch("/sobjects/Invoice__c/Invoice_Number__c/INV-NEW-1", json={"Amount__c": 10})
    assert created.status_code == 201
    body = created.json()
    assert body == {"id": body["id"], "success": True, "errors": [], "created": True}
    updated = api.patch("/sobjects/Invoice__c/Invoice_Number__c/INV-NEW-1", json={"Amount__c": 20})
    assert updated.status_code == 200
    assert updated.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    record = api.get(f"/sobjects/Invoice__c/{body['id']}").json()
    assert record["Amount__c"] == 20.0
    assert record["Invoice_Number__c"] == "INV-NEW-1"
    by_ext = api.get("/sobjects/Invoice__c/Invoice_Number__c/INV-NEW-1")
    assert by_ext.json()["Id"] == body["id"]


def test_upsert_matches_seed_records_case_insensitively(api: httpx.Client) -> None:
    response = api.patch("/sobjects/Account/External_Id__c/acc-0001", json={"Rating": "Warm"})
    assert response.status_code == 200
    rows = api.get(
        "/query", params={"q": "SELECT Rating FROM Account WHERE External_Id__c = 'ACC-0001'"}
    ).json()
    assert rows["records"][0]["Rating"] == "Warm"


def test_upsert_with_several_matches_answers_300(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    for name in ("Dup 1", "Dup 2"):
        api.post("/sobjects/Account", json={"Name": name, "External_Id__c": "SAME"})
    response = api.patch("/sobjects/Account/External_Id__c/SAME", json={"Name": "Ambiguous"})
    assert response.status_code == 300
    urls = response.json()
    assert len(urls) == 2
    assert all(u.startswith(f"/services/data/{sf_emulator.api_version}/sobjects/Account/001") for u in urls)


def test_upsert_on_unknown_or_non_external_field_is_404(api: httpx.Client) -> None:
    for field in ("Nope__c", "Phone"):
        response = api.patch(f"/sobjects/Account/{field}/x", json={"Name": "y"})
        assert response.status_code == 404
        assert response.json()[0]["errorCode"] == "NOT_FOUND"
        assert field in response.json()[0]["message"]


def test_upsert_validation_failure_writes_nothing(api: httpx.Client) -> None:
    response = api.patch("/sobjects/Contact/External_Id__c/CON-NEW", json={"Email": "bad"})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_EMAIL_ADDRESS"
    assert api.get("/sobjects/Contact/External_Id__c/CON-NEW").status_code == 404


def test_upsert_by_id(api: httpx.Client) -> None:
    rid = api.post("/sobjects/Account", json={"Name": "By Id"}).json()["id"]
    response = api.patch(f"/sobjects/Account/Id/{rid}", json={"Name": "By Id 2"})
    assert response.status_code == 200
    assert response.json()["created"] is False
    assert api.get(f"/sobjects/Account/{rid}").json()["Name"] == "By Id 2"


def test_delete_by_external_id(api: httpx.Client) -> None:
    assert api.delete("/sobjects/Lead/External_Id__c/LEAD-0001").status_code == 204
    assert api.get("/sobjects/Lead/External_Id__c/LEAD-0001").status_code == 404


def test_query_with_parent_fields_and_count(api: httpx.Client) -> None:
    rows = api.get(
        "/query",
        params={"q": "SELECT Name, Account.Name FROM Contact WHERE Account.Name = 'Acme Corporation'"},
    ).json()
    assert rows["totalSize"] == 2
    assert rows["done"] is True
    assert rows["records"][0]["Account"]["Name"] == "Acme Corporation"
    assert rows["records"][0]["Account"]["attributes"]["type"] == "Account"
    count = api.get("/query", params={"q": "SELECT COUNT() FROM Contact"}).json()
    assert count == {"totalSize": 60, "done": True, "records": []}


def test_query_errors_have_salesforce_shape(api: httpx.Client) -> None:
    bad_type = api.get("/query", params={"q": "SELECT Id FROM Xyzzy"})
    assert bad_type.status_code == 400
    assert bad_type.json()[0]["errorCode"] == "INVALID_TYPE"
    bad_field = api.get("/query", params={"q": "SELECT Nope FROM Account"})
    assert bad_field.json()[0]["errorCode"] == "INVALID_FIELD"
    malformed = api.get("/query", params={"q": "SELECT Id FRM Account"})
    assert malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
    missing = api.get("/query")
    assert missing.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_paging_follows_next_records_url(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    records = [
        {"attributes": {"type": "Lead"}, "LastName": f"Bulk {i:03d}", "Company": "Paging Inc"}
        for i in range(200)
    ]
    for chunk in (records[:100], records[100:]):
        result = api.post("/composite/sobjects", json={"allOrNone": True, "records": chunk}).json()
        assert all(r["success"] for r in result)
    q = "SELECT Id, LastName FROM Lead WHERE Company = 'Paging Inc' ORDER BY LastName"
    headers = {"Sforce-Query-Options": "batchSize=100"}
    page = api.get("/query", params={"q": q}, headers={"Sforce-Query-Options": "batchSize=200"}).json()
    assert page["done"] is True  # 200 fits in one batch of 200 (the minimum batch size)
    sf_emulator.configure(min_query_batch_size=50)
    page = api.get("/query", params={"q": q}, headers=headers).json()
    assert page["totalSize"] == 200
    assert page["done"] is False
    assert len(page["records"]) == 100
    url = page["nextRecordsUrl"]
    assert url.startswith(f"/services/data/{sf_emulator.api_version}/query/")
    assert url.endswith("-100")
    names = [r["LastName"] for r in page["records"]]
    while not page["done"]:
        page = httpx.get(
            f"{sf_emulator.base_url}{page['nextRecordsUrl']}", headers={**api.headers, **headers}
        ).json()
        names += [r["LastName"] for r in page["records"]]
    assert names == [f"Bulk {i:03d}" for i in range(200)]
    bogus = api.get("/query/0r8xxBOGUS00000000-100")
    assert bogus.status_code == 400
    assert bogus.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_default_batch_is_2000_and_results_are_a_snapshot(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    sf_emulator.configure(min_query_batch_size=10)
    q = "SELECT Id FROM Account ORDER BY Name"
    whole = api.get("/query", params={"q": q}).json()
    assert whole["done"] is True
    assert len(whole["records"]) == 30
    first = api.get("/query", params={"q": q}, headers={"Sforce-Query-Options": "batchSize=10"}).json()
    api.post("/sobjects/Account", json={"Name": "AAA Inserted Later"})
    rest = api.get(first["nextRecordsUrl"].split(sf_emulator.api_version)[1]).json()
    assert rest["totalSize"] == 30  # the cursor keeps the result of the original query


def test_query_all_includes_deleted(api: httpx.Client) -> None:
    rid = api.post("/sobjects/Account", json={"Name": "Soon Gone"}).json()["id"]
    api.delete(f"/sobjects/Account/{rid}")
    q = "SELECT Id, IsDeleted FROM Account WHERE Name = 'Soon Gone'"
    assert api.get("/query", params={"q": q}).json()["totalSize"] == 0
    everything = api.get("/queryAll", params={"q": q}).json()
    assert everything["records"] == [
        {"attributes": everything["records"][0]["attributes"], "Id": rid, "IsDeleted": True}
    ]


def _patch_in_composite(
    api: httpx.Client, emulator: EmulatorHandle, sobject_path: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The result of ``PATCH sobjects/<sobject_path>`` sent as a composite subrequest."""
    url = f"/services/data/{emulator.api_version}/sobjects/{sobject_path}"
    subrequest = {"method": "PATCH", "referenceId": "u", "body": body, "url": url}
    answer = api.post("/composite", json={"compositeRequest": [subrequest]}).json()
    result: dict[str, Any] = answer["compositeResponse"][0]
    return result


def test_external_id_values_are_percent_decoded(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    created = api.patch("/sobjects/Invoice__c/Invoice_Number__c/INV%2F2024%20A", json={"Amount__c": 1})
    assert created.status_code == 201
    record = api.get(f"/sobjects/Invoice__c/{created.json()['id']}").json()
    assert record["Invoice_Number__c"] == "INV/2024 A"
    inside = _patch_in_composite(
        api, sf_emulator, "Invoice__c/Invoice_Number__c/INV%2F2024%20A", {"Amount__c": 2}
    )
    assert inside["httpStatusCode"] == 200


def test_a_json_ending_is_the_response_format_not_part_of_the_value(api: httpx.Client) -> None:
    # Salesforce's REST guide: ".json" (or ".xml") appended to a URI selects the format.
    created = api.patch("/sobjects/Invoice__c/Invoice_Number__c/report.json", json={"Amount__c": 3})
    assert created.status_code == 201
    record_id = created.json()["id"]
    assert api.get(f"/sobjects/Invoice__c/{record_id}").json()["Invoice_Number__c"] == "report"
    assert api.get(f"/sobjects/Invoice__c/{record_id}.json").json()["Id"] == record_id


def test_a_value_ending_like_a_blocked_file_type_is_404(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    # Salesforce's REST guide: an email ending ".inc" as the external id in the URL answers 404.
    response = api.patch("/sobjects/Contact/External_Id__c/ops@acme.inc", json={"LastName": "Inc"})
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"
    inside = _patch_in_composite(
        api, sf_emulator, "Contact/External_Id__c/ops%40acme.inc", {"LastName": "Inc"}
    )
    assert inside["httpStatusCode"] == 404
    rows = api.get("/query", params={"q": "SELECT Id FROM Contact WHERE LastName = 'Inc'"}).json()
    assert rows["totalSize"] == 0
