"""Composite request builder (limits, references, URL encoding) and response handling."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sfconnector import API_VERSION
from sfconnector.salesforce.composite import (
    MAX_QUERIES,
    MAX_SUBREQUESTS,
    CompositeLimitError,
    CompositeRequest,
    CompositeResponse,
    collection_upsert_outcome,
    external_id_fits_url,
    reference,
)
from sfconnector.salesforce.errors import MultipleMatchesError, NotFoundError, SalesforceError

from tests.unit.salesforce.fakes import load

BASE = f"/services/data/{API_VERSION}"
ACCOUNT_ID = "001dM00003jU9GyQAK"


def test_create_then_read_back_by_reference() -> None:
    request = CompositeRequest()
    ref = request.create("Account", {"Name": "Acme"}, "newAccount")
    request.get("Account", reference(ref), "readBack", fields=["Id", "Name", "Owner.Name"])
    assert request.to_json() == {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{BASE}/sobjects/Account",
                "referenceId": "newAccount",
                "body": {"Name": "Acme"},
            },
            {
                "method": "GET",
                "url": f"{BASE}/sobjects/Account/@{{newAccount.id}}?fields=Id%2CName%2COwner.Name",
                "referenceId": "readBack",
            },
        ],
    }
    assert not request.is_read_only


def test_reference_paths() -> None:
    assert reference("q") == "@{q.id}"
    assert reference("q", "records[0].Id") == "@{q.records[0].Id}"
    with pytest.raises(ValueError):  # noqa: PT011
        reference("bad-ref")
    with pytest.raises(ValueError):  # noqa: PT011
        reference("q", "id}")


def test_query_is_url_encoded() -> None:
    soql = "SELECT Id FROM Contact WHERE Email = 'a+b@x.co' AND Name LIKE 'A&B%' ORDER BY Id"
    request = CompositeRequest(all_or_none=False)
    request.query(soql, "q1")
    request.query(soql, "q2", include_deleted=True)
    urls = [s["url"] for s in request.subrequests]
    assert urlsplit(urls[0]).path == f"{BASE}/query"
    assert urlsplit(urls[1]).path == f"{BASE}/queryAll"
    assert parse_qs(urlsplit(urls[0]).query) == {"q": [soql]}
    assert " " not in urls[0]
    assert "&B" not in urls[0]
    assert request.is_read_only
    assert request.query_count == 2


def test_at_most_25_subrequests() -> None:
    request = CompositeRequest()
    for i in range(MAX_SUBREQUESTS):
        request.get("Account", ACCOUNT_ID, f"r{i}")
    with pytest.raises(CompositeLimitError, match="25 subrequests"):
        request.get("Account", ACCOUNT_ID, "one_too_many")
    assert len(request) == 25


def test_at_most_5_queries_or_collections() -> None:
    request = CompositeRequest()
    for i in range(MAX_QUERIES - 1):
        request.query("SELECT Id FROM Account", f"q{i}")
    request.add("POST", "composite/sobjects", "collection", {"records": []})
    with pytest.raises(CompositeLimitError, match="5 queries"):
        request.query("SELECT Id FROM Contact", "sixth")
    request.get("Account", ACCOUNT_ID, "plainGet")  # other subrequests still fit
    assert request.query_count == 5
    assert isinstance(CompositeLimitError("x"), ValueError)


@pytest.mark.parametrize(
    "build",
    [
        lambda r: r.add("GET", "sobjects", "1starts_with_digit"),
        lambda r: r.add("GET", "sobjects", "has space"),
        lambda r: r.add("FETCH", "sobjects", "ok"),
        lambda r: r.add("GET", "https://evil.example.com/x", "ok"),
        lambda r: r.add("GET", "/etc/passwd", "ok"),
        lambda r: r.get("Account", "../../limits", "ok"),
        lambda r: r.update("Account", "not-an-id", {}, "ok"),
        lambda r: r.create("Account; x", {}, "ok"),
        lambda r: r.get("Account", ACCOUNT_ID, "ok", fields=["Name)"]),
    ],
)
def test_invalid_subrequests_are_refused(build: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        build(CompositeRequest())


def test_duplicate_reference_ids_are_refused() -> None:
    request = CompositeRequest()
    request.get("Account", ACCOUNT_ID, "a")
    with pytest.raises(ValueError, match="twice"):
        request.get("Account", ACCOUNT_ID, "a")


def test_empty_request_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CompositeRequest().to_json()


def test_other_writes() -> None:
    request = CompositeRequest(collate_subrequests=True)
    request.update("Account", ACCOUNT_ID, {"Name": "B"}, "u")
    request.upsert("Contact", "Ext__c", "A-1_b", {"LastName": "L"}, "up")
    request.delete("Account", "@{u.id}", "d")
    body = request.to_json()
    assert body["collateSubrequests"] is True
    assert [(s["method"], s["url"]) for s in body["compositeRequest"]] == [
        ("PATCH", f"{BASE}/sobjects/Account/{ACCOUNT_ID}"),
        ("PATCH", f"{BASE}/sobjects/Contact/Ext__c/A-1_b"),
        ("DELETE", f"{BASE}/sobjects/Account/@{{u.id}}"),
    ]


@pytest.mark.parametrize("value", ["A/B 1", "x@y.inc", "50%#?", "report.json", "v.1", "..", "Ünï"])
def test_values_unsafe_in_a_url_upsert_in_a_collections_body(value: str) -> None:
    assert not external_id_fits_url(value)
    request = CompositeRequest(all_or_none=False)
    with pytest.raises(ValueError, match="upsert_in_body"):
        request.upsert("Contact", "Ext__c", value, {"LastName": "L"}, "write")
    request.upsert_in_body("Contact", "Ext__c", value, {"LastName": "L"}, "write")
    request.get("Contact", reference("write", "[0].id"), "record")
    assert request.query_count == 1  # a collection counts against the 5 queries/collections
    assert request.subrequests == [
        {
            "method": "PATCH",
            "url": f"{BASE}/composite/sobjects/Contact/Ext__c",
            "referenceId": "write",
            "body": {
                "allOrNone": True,
                "records": [{"attributes": {"type": "Contact"}, "LastName": "L", "Ext__c": value}],
            },
        },
        {"method": "GET", "url": f"{BASE}/sobjects/Contact/@{{write[0].id}}", "referenceId": "record"},
    ]


def test_references_into_arrays() -> None:
    assert reference("write", "[0].id") == "@{write[0].id}"
    assert reference("q", "records[0].Id") == "@{q.records[0].Id}"
    for bad in (".id", "[x].id", "", "id}", "a..b"):
        with pytest.raises(ValueError, match="reference path"):
            reference("write", bad)


def test_collection_upsert_outcomes() -> None:
    ok = [{"id": ACCOUNT_ID, "success": True, "errors": [], "created": True}]
    assert collection_upsert_outcome(200, ok) == (ACCOUNT_ID, True)
    twins = "001dM00003jU9GyQAK, 001dM00003jU9H7QAK"
    duplicate = [
        {
            "success": False,
            "created": False,
            "errors": [
                {
                    "statusCode": "DUPLICATE_EXTERNAL_ID",
                    "message": f"Ext__c: more than one record found for external id field: [{twins}]",
                    "fields": ["Ext__c"],
                }
            ],
        }
    ]
    with pytest.raises(MultipleMatchesError) as several:
        collection_upsert_outcome(200, duplicate)
    assert several.value.candidate_ids == twins.split(", ")
    unknown_field = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    with pytest.raises(NotFoundError):
        collection_upsert_outcome(404, unknown_field)
    with pytest.raises(SalesforceError) as empty:
        collection_upsert_outcome(200, [])
    assert empty.value.error_code == "UNEXPECTED_RESPONSE"


# ---------------------------------------------------------------------------------- responses


def test_recorded_mixed_response() -> None:
    response = CompositeResponse.from_json(load("error.composite-query-400-INVALID_TYPE.json"))
    assert len(response) == 2
    assert response.by_ref("refAccount").ok
    assert response.by_ref("refAccount").body["totalSize"] == 17
    assert response.raise_for_ref("refAccount").status == 200
    with pytest.raises(SalesforceError) as caught:
        response.raise_for_ref("refXYZZY")
    assert caught.value.error_code == "INVALID_TYPE"
    assert caught.value.status == 400
    with pytest.raises(KeyError):
        response.by_ref("nope")


def test_recorded_not_found() -> None:
    response = CompositeResponse.from_json(load("error.composite-404-NOT_FOUND.json"))
    with pytest.raises(NotFoundError):
        response.raise_for_errors()


def _halted(ref: str, message: str) -> dict[str, Any]:
    return {
        "referenceId": ref,
        "httpStatusCode": 400,
        "httpHeaders": {},
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
    }


def test_processing_halted_points_to_the_root_cause() -> None:
    response = CompositeResponse.from_json(
        {
            "compositeResponse": [
                _halted(
                    "newAccount",
                    "The transaction was rolled back since another operation in the same transaction failed.",
                ),
                {
                    "referenceId": "newContact",
                    "httpStatusCode": 400,
                    "httpHeaders": {},
                    "body": [
                        {
                            "errorCode": "REQUIRED_FIELD_MISSING",
                            "message": "Required fields are missing: [LastName]",
                            "fields": ["LastName"],
                        }
                    ],
                },
                _halted(
                    "readBack", "Invalid reference specified. No value for newContact.id found in newContact."
                ),
            ]
        }
    )
    assert not response.ok
    for ref in ("newAccount", "newContact", "readBack"):
        with pytest.raises(SalesforceError) as caught:
            response.raise_for_ref(ref)
        assert caught.value.error_code == "REQUIRED_FIELD_MISSING"
        assert caught.value.fields == ["LastName"]
    root = response.root_error()
    assert root is not None
    assert root.error_code == "REQUIRED_FIELD_MISSING"


def test_all_halted_still_raises() -> None:
    response = CompositeResponse.from_json({"compositeResponse": [_halted("a", "halted")]})
    with pytest.raises(SalesforceError, match="PROCESSING_HALTED"):
        response.raise_for_ref("a")


def test_success_has_no_error_and_keeps_headers() -> None:
    response = CompositeResponse.from_json(
        {
            "compositeResponse": [
                {
                    "referenceId": "c",
                    "httpStatusCode": 201,
                    "httpHeaders": {"Location": f"{BASE}/sobjects/Account/{ACCOUNT_ID}"},
                    "body": {"id": ACCOUNT_ID, "success": True, "errors": []},
                }
            ]
        }
    )
    response.raise_for_errors()
    sub = response.by_ref("c")
    assert sub.headers["Location"].endswith(ACCOUNT_ID)
    assert [s.reference_id for s in response] == ["c"]


def test_not_a_composite_body() -> None:
    with pytest.raises(ValueError, match="composite"):
        CompositeResponse.from_json([{"errorCode": "X"}])
