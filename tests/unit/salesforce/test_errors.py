"""Typed errors from every shape of Salesforce error body (recorded ones where we have them)."""

from __future__ import annotations

import json

import pytest
from sfconnector.salesforce.errors import (
    AuthorizationRevokedError,
    EntityDeletedError,
    MultipleMatchesError,
    NotFoundError,
    OAuthError,
    RequestLimitExceededError,
    SalesforceError,
    SalesforceErrorItem,
    SalesforceTransportError,
    SalesforceUnavailableError,
    SessionExpiredError,
    error_from_body,
    error_from_response,
    redact,
)

from tests.unit.salesforce.fakes import load

JSON = "application/json;charset=UTF-8"


def test_rest_error_array_recorded() -> None:
    body = json.dumps(load("error.query-400-INVALID_TYPE.v50.json")).encode()
    error = error_from_response(400, body, JSON)
    assert type(error) is SalesforceError
    assert error.status == 400
    assert error.error_code == "INVALID_TYPE"
    assert "sObject type 'Xyzzy' is not supported" in error.message
    assert error.errors[0].to_dict()["errorCode"] == "INVALID_TYPE"


def test_deleted_record_404_recorded() -> None:
    body = json.dumps(load("error.get-deleted-record-404-NOT_FOUND.v42.json")).encode()
    error = error_from_response(404, body, JSON)
    assert isinstance(error, NotFoundError)
    assert error.message == "The requested resource does not exist"


def test_collections_results_use_status_code_and_fields() -> None:
    body = load("error.composite-sobjects-INVALID_EMAIL_ADDRESS.v42.json")
    error = error_from_body(400, body)
    assert error.errors == [
        SalesforceErrorItem(
            "INVALID_EMAIL_ADDRESS", "email field: invalid email address: badone", ("email_field__c",)
        )
    ]
    assert error.fields == ["email_field__c"]
    missing = error_from_body(400, load("error.composite-sobjects-REQUIRED_FIELD_MISSING.v42.json"))
    assert (missing.error_code, missing.fields) == ("REQUIRED_FIELD_MISSING", ["Name"])


def test_composite_sub_response_body() -> None:
    sub = load("error.composite-404-NOT_FOUND.json")["compositeResponse"][0]
    error = error_from_body(sub["httpStatusCode"], sub["body"])
    assert isinstance(error, NotFoundError)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "INVALID_SESSION_ID", SessionExpiredError),
        (403, "REQUEST_LIMIT_EXCEEDED", RequestLimitExceededError),
        (404, "NOT_FOUND", NotFoundError),
        (404, "ENTITY_IS_DELETED", EntityDeletedError),
        (400, "ENTITY_IS_DELETED", EntityDeletedError),
        (503, "SERVER_UNAVAILABLE", SalesforceUnavailableError),
        (500, "UNKNOWN_EXCEPTION", SalesforceUnavailableError),
        (400, "MALFORMED_ID", SalesforceError),
        (403, "API_DISABLED_FOR_ORG", SalesforceError),
    ],
)
def test_codes_map_to_types(status: int, code: str, cls: type[SalesforceError]) -> None:
    body = json.dumps([{"message": "m", "errorCode": code}]).encode()
    error = error_from_response(status, body, JSON)
    assert type(error) is cls
    assert error.error_code == code


def test_oauth_errors() -> None:
    revoked = error_from_response(
        400, b'{"error":"invalid_grant","error_description":"expired access/refresh token"}', JSON
    )
    assert isinstance(revoked, AuthorizationRevokedError)
    assert (revoked.error_code, revoked.message) == ("invalid_grant", "expired access/refresh token")
    other = error_from_response(
        400, b'{"error":"invalid_client_id","error_description":"client identifier invalid"}', JSON
    )
    assert type(other) is OAuthError


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_html_5xx_is_summarised(status: int) -> None:
    page = b"<!DOCTYPE html><html><body><h1>Down for maintenance</h1><script>secret()</script></body></html>"
    error = error_from_response(status, page, "text/html")
    assert isinstance(error, SalesforceUnavailableError)
    assert error.status == status
    text = str(error) + repr(error) + error.message
    assert "<" not in text
    assert "maintenance" not in text
    assert f"HTTP {status}" in str(error)
    assert "text/html" in error.message


def test_truncated_json_and_empty_bodies() -> None:
    broken = error_from_response(502, b'[{"errorCode": "SERVER_UNA', JSON)
    assert isinstance(broken, SalesforceUnavailableError)
    empty = error_from_response(404, b"", None)
    assert isinstance(empty, NotFoundError)
    assert empty.error_code == "NOT_FOUND"
    teapot = error_from_response(418, b"", None)
    assert teapot.error_code == "HTTP_418"


def test_multiple_choices_lists_candidate_ids() -> None:
    body = json.dumps(
        [
            "/services/data/v62.0/sobjects/Contact/003dM000001aaaaQAA",
            "/services/data/v62.0/sobjects/Contact/003dM000001bbbbQAA",
        ]
    ).encode()
    error = error_from_response(300, body, JSON)
    assert isinstance(error, MultipleMatchesError)
    assert error.candidate_ids == ["003dM000001aaaaQAA", "003dM000001bbbbQAA"]
    assert "2 records" in str(error)


def test_transport_error() -> None:
    error = SalesforceTransportError("GET /x timed out", timeout=True)
    assert (error.status, error.error_code, error.timeout) == (0, "TIMEOUT", True)
    assert "no response" in str(error)


def test_tokens_are_scrubbed_from_messages() -> None:
    token = "00D5e000000ABCD!AQ8AQJh1e2b3c4d5e6f7g8h9i0jKLMNOPQRSTUVWXYZ.abc_def"
    body = json.dumps(
        [{"errorCode": "X", "message": f"bad {token} and Bearer abcdefghijklmnop, refresh_token=r3fr35h"}]
    )
    error = error_from_response(400, body.encode(), JSON)
    for text in (str(error), error.message, repr(error.errors)):
        assert token not in text
        assert "abcdefghijklmnop" not in text
        assert "r3fr35h" not in text
    assert redact("x" * 5000).endswith("...")
    assert len(redact("x" * 5000)) <= 2003


def test_multiple_items_are_all_kept() -> None:
    body = json.dumps(
        [
            {"errorCode": "A", "message": "a", "fields": ["F1"]},
            {"errorCode": "B", "message": "b", "fields": ["F1", "F2"]},
        ]
    ).encode()
    error = error_from_response(400, body, JSON)
    assert [e.error_code for e in error.errors] == ["A", "B"]
    assert error.fields == ["F1", "F2"]
    assert "(+1 more)" in str(error)
