"""Composite API (references, limits, allOrNone) and sObject Collections, each counted as one API call."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle

V = "/services/data/v62.0"


def composite(
    api: httpx.Client, subrequests: list[dict[str, Any]], all_or_none: bool = False
) -> httpx.Response:
    return api.post("/composite", json={"allOrNone": all_or_none, "compositeRequest": subrequests})


def test_write_and_read_back_by_reference_in_one_call(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    before = sf_emulator.api_calls()
    response = composite(
        api,
        [
            {
                "method": "POST",
                "url": f"{V}/sobjects/Account",
                "referenceId": "acct",
                "body": {"Name": "Ref Co"},
            },
            {
                "method": "POST",
                "url": f"{V}/sobjects/Contact",
                "referenceId": "contact",
                "body": {"LastName": "Ref", "AccountId": "@{acct.id}"},
            },
            {
                "method": "GET",
                "url": f"{V}/sobjects/Contact/@{{contact.id}}?fields=Name,AccountId",
                "referenceId": "readback",
            },
            {
                "method": "GET",
                "url": f"{V}/query?q=SELECT+Id,Name+FROM+Account+WHERE+Id+=+'@{{acct.id}}'",
                "referenceId": "q",
            },
            {
                "method": "PATCH",
                "url": f"{V}/sobjects/Account/@{{q.records[0].Id}}",
                "referenceId": "rename",
                "body": {"Name": "@{q.records[0].Name} Renamed"},
            },
        ],
    )
    assert sf_emulator.api_calls() - before == 1
    assert response.status_code == 200
    results = response.json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in results] == [201, 201, 200, 200, 204]
    assert [r["referenceId"] for r in results] == ["acct", "contact", "readback", "q", "rename"]
    acct_id = results[0]["body"]["id"]
    assert results[0]["httpHeaders"]["Location"].endswith(acct_id)
    assert results[2]["body"]["AccountId"] == acct_id
    assert results[4]["body"] is None
    assert api.get(f"/sobjects/Account/{acct_id}").json()["Name"] == "Ref Co Renamed"


def test_failure_without_all_or_none_keeps_the_rest(api: httpx.Client) -> None:
    results = composite(
        api,
        [
            {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "bad", "body": {}},
            {
                "method": "POST",
                "url": f"{V}/sobjects/Contact",
                "referenceId": "dependent",
                "body": {"LastName": "x", "AccountId": "@{bad.id}"},
            },
            {
                "method": "POST",
                "url": f"{V}/sobjects/Account",
                "referenceId": "good",
                "body": {"Name": "Kept"},
            },
            {"method": "GET", "url": f"{V}/sobjects/Foo/describe", "referenceId": "missing"},
        ],
    ).json()["compositeResponse"]
    assert results[0]["httpStatusCode"] == 400
    assert results[0]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert results[1]["httpStatusCode"] == 400
    assert results[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert results[2]["httpStatusCode"] == 201
    assert results[3]["httpStatusCode"] == 404
    assert results[3]["body"] == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    assert api.get(f"/sobjects/Account/{results[2]['body']['id']}").status_code == 200


def test_all_or_none_rolls_everything_back(api: httpx.Client) -> None:
    count = "SELECT COUNT() FROM Account"
    before = api.get("/query", params={"q": count}).json()["totalSize"]
    results = composite(
        api,
        [
            {
                "method": "POST",
                "url": f"{V}/sobjects/Account",
                "referenceId": "one",
                "body": {"Name": "Rolled"},
            },
            {
                "method": "PATCH",
                "url": f"{V}/sobjects/Account/@{{one.id}}",
                "referenceId": "two",
                "body": {"Tier__c": "Wood"},
            },
            {
                "method": "POST",
                "url": f"{V}/sobjects/Account",
                "referenceId": "three",
                "body": {"Name": "Never"},
            },
        ],
        all_or_none=True,
    ).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in results] == [400, 400, 400]
    assert results[1]["body"][0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    for index in (0, 2):
        assert results[index]["body"] == [
            {
                "errorCode": "PROCESSING_HALTED",
                "message": "The transaction was rolled back since another operation in the same "
                "transaction failed.",
            }
        ]
    assert api.get("/query", params={"q": count}).json()["totalSize"] == before


def test_limits_on_subrequests(api: httpx.Client) -> None:
    too_many = [{"method": "GET", "url": f"{V}/limits", "referenceId": f"r{i}"} for i in range(26)]
    response = composite(api, too_many)
    assert response.status_code == 400
    assert response.json() == {
        "compositeResponse": [
            {
                "body": [
                    {
                        "errorCode": "LIMIT_EXCEEDED",
                        "message": "The request can\u2019t contain more than 25 operations.",
                    }
                ],
                "httpHeaders": {},
                "httpStatusCode": 400,
                "referenceId": None,
            }
        ]
    }
    assert composite(api, too_many[:25]).status_code == 200
    queries = [
        {"method": "GET", "url": f"{V}/query?q=SELECT+Id+FROM+Lead", "referenceId": f"q{i}"} for i in range(6)
    ]
    response = composite(api, queries)
    assert response.status_code == 400
    (refused,) = response.json()["compositeResponse"]
    assert refused["body"][0]["errorCode"] == "LIMIT_EXCEEDED"
    assert "more than 5 query" in refused["body"][0]["message"]
    assert composite(api, queries[:5]).status_code == 200
    # queryAll and query-more pages count as queries too.
    mixed = [
        *queries[:3],
        {"method": "GET", "url": f"{V}/queryAll?q=SELECT+Id+FROM+Lead", "referenceId": "all"},
        {"method": "GET", "url": f"{V}/query/0r8xxBOGUS00000000-2000", "referenceId": "more"},
        {
            "method": "GET",
            "url": f"{V}/composite/sobjects/Lead?ids=00Q000000000001&fields=Id",
            "referenceId": "c",
        },
    ]
    assert composite(api, mixed).status_code == 400
    assert composite(api, mixed[:5]).status_code == 200
    duplicate = [{"method": "GET", "url": f"{V}/limits", "referenceId": "same"}] * 2
    assert composite(api, duplicate).status_code == 400
    nested = [
        {"method": "POST", "url": f"{V}/composite", "referenceId": "n", "body": {"compositeRequest": []}}
    ]
    assert composite(api, nested).json()["compositeResponse"][0]["httpStatusCode"] == 400


def test_query_subrequest_honours_batch_size_header(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    sf_emulator.configure(min_query_batch_size=5)
    results = composite(
        api,
        [
            {
                "method": "GET",
                "url": f"{V}/query?q=SELECT+Id+FROM+Account",
                "referenceId": "q",
                "httpHeaders": {"Sforce-Query-Options": "batchSize=5"},
            }
        ],
    ).json()["compositeResponse"]
    body = results[0]["body"]
    assert len(body["records"]) == 5
    assert body["nextRecordsUrl"].startswith(f"{V}/query/")


def test_collections_create_update_delete_retrieve(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    before = sf_emulator.api_calls()
    created = api.post(
        "/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Col A"},
                {"attributes": {"type": "Contact"}, "LastName": "Col B"},
                {"attributes": {"type": "Account"}},
            ],
        },
    )
    assert created.status_code == 200
    body = created.json()
    assert body[0]["success"] is True
    assert body[1]["success"] is True
    assert body[2] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [Name]",
                "fields": ["Name"],
            }
        ],
    }
    a, b = body[0]["id"], body[1]["id"]
    updated = api.patch(
        "/composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Id": a, "Rating": "Hot"},
                {"attributes": {"type": "Contact"}, "Id": b, "Email": "nope"},
            ]
        },
    ).json()
    assert updated[0] == {"id": a, "success": True, "errors": []}
    assert updated[1]["success"] is False
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    fetched = api.get(
        "/composite/sobjects/Account", params={"ids": f"{a},001Hs00000ZZZZZ", "fields": "Name,Rating"}
    )
    assert fetched.json()[0]["Rating"] == "Hot"
    assert fetched.json()[1] is None
    deleted = api.delete("/composite/sobjects", params={"ids": f"{a},{b}", "allOrNone": "false"}).json()
    assert deleted == [{"id": a, "success": True, "errors": []}, {"id": b, "success": True, "errors": []}]
    again = api.delete("/composite/sobjects", params={"ids": a}).json()
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert sf_emulator.api_calls() - before == 5


def test_collections_all_or_none(api: httpx.Client) -> None:
    result = api.post(
        "/composite/sobjects",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Lead"}, "LastName": "Fine", "Company": "Co"},
                {"attributes": {"type": "Lead"}, "LastName": "Broken"},
            ],
        },
    ).json()
    assert result[0]["success"] is False
    assert result[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert result[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert (
        api.get("/query", params={"q": "SELECT COUNT() FROM Lead WHERE LastName = 'Fine'"}).json()[
            "totalSize"
        ]
        == 0
    )


def test_collections_upsert_and_record_limit(api: httpx.Client) -> None:
    result = api.patch(
        "/composite/sobjects/Invoice__c/Invoice_Number__c",
        json={
            "records": [
                {"attributes": {"type": "Invoice__c"}, "Invoice_Number__c": "INV-2024-0001", "Amount__c": 1},
                {"attributes": {"type": "Invoice__c"}, "Invoice_Number__c": "INV-COL-NEW", "Amount__c": 2},
            ]
        },
    ).json()
    assert [r["created"] for r in result] == [False, True]
    assert all(r["success"] for r in result)
    too_many = [{"attributes": {"type": "Lead"}, "LastName": "x", "Company": "y"}] * 201
    response = api.post("/composite/sobjects", json={"records": too_many})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_collections_upsert_read_back_through_an_array_reference(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    def upsert(value: str, name: str) -> list[dict[str, Any]]:
        before = sf_emulator.api_calls()
        response = composite(
            api,
            [
                {
                    "method": "PATCH",
                    "url": f"{V}/composite/sobjects/Account/External_Id__c",
                    "referenceId": "write",
                    "body": {
                        "allOrNone": True,
                        "records": [
                            {"attributes": {"type": "Account"}, "Name": name, "External_Id__c": value}
                        ],
                    },
                },
                {"method": "GET", "url": f"{V}/sobjects/Account/@{{write[0].id}}", "referenceId": "record"},
            ],
        )
        assert response.status_code == 200
        assert sf_emulator.api_calls() == before + 1
        results: list[dict[str, Any]] = response.json()["compositeResponse"]
        return results

    created = upsert("A/B 1.inc", "Array Ref")
    assert created[0]["httpStatusCode"] == 200
    assert created[0]["body"][0]["created"] is True
    assert created[1]["body"]["Name"] == "Array Ref"
    assert created[1]["body"]["External_Id__c"] == "A/B 1.inc"
    updated = upsert("A/B 1.inc", "Array Ref 2")
    assert updated[0]["body"][0] == {
        "id": created[1]["body"]["Id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    assert updated[1]["body"]["Name"] == "Array Ref 2"

    api.post("/sobjects/Account", json={"Name": "Twin", "External_Id__c": "A/B 1.inc"})
    twins = upsert("A/B 1.inc", "Which?")
    error = twins[0]["body"][0]["errors"][0]
    assert error["statusCode"] == "DUPLICATE_EXTERNAL_ID"
    assert re.search(r"external id field: \[001\w{15}, 001\w{15}\]$", error["message"]), error["message"]
    # The write failed, so the read-back's reference has no value.
    assert twins[1]["httpStatusCode"] == 400
    assert "No value for write[0].id" in twins[1]["body"][0]["message"]


def test_a_full_collection_answers_per_record_in_input_order_for_one_call(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    """200 records (the cap) with failures scattered through them: one result per record, in the
    request's order, ids for the successes only, Salesforce's per-record error shape, and the whole
    request one API call (what a bulk writer of 5,000 records pays: 25 calls)."""
    bad = {i for i in range(200) if i % 7 == 3}
    records = [
        {"attributes": {"type": "Lead"}, "LastName": f"Order {i}", **({} if i in bad else {"Company": "Co"})}
        for i in range(200)
    ]
    before = sf_emulator.api_calls()
    response = api.post("/composite/sobjects", json={"allOrNone": False, "records": records})
    assert response.status_code == 200
    assert sf_emulator.api_calls() == before + 1
    results = response.json()
    assert len(results) == 200
    assert [r["success"] for r in results] == [i not in bad for i in range(200)]
    assert all(
        r["errors"]
        == [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [Company]",
                "fields": ["Company"],
            }
        ]
        and "id" not in r
        for i, r in enumerate(results)
        if i in bad
    )
    ids = [r["id"] for r in results if r["success"]]
    stored = api.get("/composite/sobjects/Lead", params={"ids": ",".join(ids), "fields": "LastName"}).json()
    assert [s["LastName"] for s in stored] == [f"Order {i}" for i in range(200) if i not in bad]

    updated = api.patch(
        "/composite/sobjects",
        json={
            "records": [{"attributes": {"type": "Lead"}, "Id": rid, "Title": "T"} for rid in reversed(ids)]
        },
    ).json()
    assert [r["id"] for r in updated] == list(reversed(ids))  # input order, not storage order
    deleted = api.delete(
        "/composite/sobjects", params={"ids": ",".join([*ids[:5], "00Q000000000000AAA"])}
    ).json()
    assert [r["success"] for r in deleted] == [True] * 5 + [False]
    assert sf_emulator.api_calls() == before + 4


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_more_than_200_records_are_refused_whole(api: httpx.Client, method: str) -> None:
    if method == "DELETE":
        response = api.delete("/composite/sobjects", params={"ids": ",".join(["00Q000000000001AAA"] * 201)})
    else:
        lead = {"attributes": {"type": "Lead"}, "LastName": "Cap", "Company": "Cap Co"}
        response = api.request(method, "/composite/sobjects", json={"records": [lead] * 201})
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]
    count = api.get("/query", params={"q": "SELECT COUNT() FROM Lead WHERE LastName = 'Cap'"}).json()
    assert count["totalSize"] == 0
