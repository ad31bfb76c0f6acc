"""Every input bounded: bodies Python's json takes but the connector cannot (a 5,000-digit integer,
100,000 nested arrays, a lone surrogate, NaN), a 1 MB find criterion, 100,000 field names, and an
attachment content_type with CR/LF each answer a small 4xx naming the field, fast, and cost no
Salesforce call. Real action functions, moto and the emulator."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.fixtures.actions import ActionApi, ApiResponse

ACCOUNT_ID_OF_NOBODY = "001000000000000AAA"


def problems(response: ApiResponse) -> dict[str, str]:
    return {p["field"]: p["code"] for p in (response.error.get("details") or {}).get("problems", [])}


@pytest.mark.parametrize(
    ("raw", "field", "code"),
    [
        ('{"Name": "Acme", "NumberOfEmployees": ' + "9" * 5000 + "}", "NumberOfEmployees", "too_many_digits"),
        ("[" * 100_000 + "]" * 100_000, "body", "too_deep"),
        ('{"Name": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}", "Name." + ".".join(["a"] * 31), "too_deep"),
        ('{"Name": "\\ud800"}', "Name", "invalid_text"),
        ('{"Name": "Acme", "AnnualRevenue": NaN}', "AnnualRevenue", "invalid_number"),
        ('{"Name": "Acme", "AnnualRevenue": 1e999}', "AnnualRevenue", "number_out_of_range"),
    ],
)
def test_bodies_json_takes_but_salesforce_cannot_are_a_422_naming_the_field(
    action_api: ActionApi, calls: Any, raw: str, field: str, code: str
) -> None:
    response, used = calls(lambda: action_api.post("accounts", raw_body=raw))
    assert (response.status, used) == (422, 0), response
    assert response.error["code"] == "invalid_request"
    assert problems(response) == {field: code}


def test_a_lone_surrogate_in_a_find_criterion_is_a_422(action_api: ActionApi, calls: Any) -> None:
    response, used = calls(
        lambda: action_api.post("accounts/find", raw_body='{"criteria": {"Name": "x\\udc00"}}')
    )
    assert (response.status, used) == (422, 0), response
    assert problems(response) == {"criteria.Name": "invalid_text"}


def test_a_1mb_find_criterion_is_a_422(action_api: ActionApi, calls: Any) -> None:
    response, used = calls(lambda: action_api.post("accounts/find", {"criteria": {"Name": "x" * 1_000_000}}))
    assert (response.status, used) == (422, 0), response
    assert response.error["fields"] == ["criteria.Name"]
    assert len(json.dumps(response.error)) < 2_000


def test_100k_field_names_are_refused_fast_with_a_small_error(action_api: ActionApi, calls: Any) -> None:
    body = {f"Field_{i}_With_A_Long_Name__c": i for i in range(100_000)}
    started = time.perf_counter()
    response, used = calls(lambda: action_api.post("accounts", body))
    elapsed = time.perf_counter() - started
    assert (response.status, used) == (422, 0), response
    assert problems(response) == {"body": "too_many_fields"}
    assert len(json.dumps(response.error)) < 2_000
    # Not a timing assertion of speed, a guard against the old 16 s walk over 100,000 problems.
    assert elapsed < 5, elapsed


def test_a_problem_list_is_capped_with_its_total(action_api: ActionApi, calls: Any) -> None:
    body = {f"bad-name-{i}": 1 for i in range(500)}
    response, used = calls(lambda: action_api.post("accounts", body))
    assert (response.status, used) == (422, 0), response
    details = response.error["details"]
    assert len(details["problems"]) == 50
    assert details["problems_total"] == 500
    assert len(response.error["fields"]) == 50


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain\r\nX-Injected: 1",
        "text/plain\n",
        "text plain",
        "text/",
        "/plain",
        'text/plain; x="a\r\nb"',
    ],
)
def test_an_attachment_content_type_must_be_header_safe(
    action_api: ActionApi, calls: Any, content_type: str
) -> None:
    body = {
        "parent_id": ACCOUNT_ID_OF_NOBODY,
        "name": "x.txt",
        "content_base64": "eA==",
        "content_type": content_type,
    }
    response, used = calls(lambda: action_api.post("attachments", body))
    assert (response.status, used) == (422, 0), response
    assert response.error["fields"] == ["content_type"]


def test_a_body_over_the_lambda_limit_is_a_413(action_api: ActionApi, calls: Any) -> None:
    raw = json.dumps({"Name": "x" * (6 * 1024 * 1024)})
    response, used = calls(lambda: action_api.post("accounts", raw_body=raw))
    assert (response.status, used) == (413, 0), response
    assert response.error["fields"] == ["body"]


def test_criteria_too_long_for_one_soql_statement_are_a_422(action_api: ActionApi, calls: Any) -> None:
    """Each criterion fits Salesforce's 4,000-character WHERE string, but together (quotes are
    escaped, so they double) they make a statement over Salesforce's 100,000 characters."""
    names = ["Name", "AccountNumber", "Site", "Phone", "Fax", "Website", "BillingStreet", "BillingCity"]
    names += ["BillingState", "BillingPostalCode", "BillingCountry", "ShippingStreet", "ShippingCity"]
    names += ["ShippingState"]
    action_api.post("accounts/find", {"criteria": {"Name": "warm-up"}})
    response, used = calls(
        lambda: action_api.post("accounts/find", {"criteria": dict.fromkeys(names, "'" * 4000)})
    )
    assert (response.status, used) == (422, 0), response
    assert response.error["fields"] == ["criteria"]
    assert problems(response) == {"criteria": "query_too_long"}
    too_long = action_api.post("accounts/find", {"criteria": {"Name": "x" * 4001}})
    assert too_long.status == 422
    assert too_long.error["fields"] == ["criteria.Name"]
