"""Field validation against real describes (the emulator's captured metadata), before any call."""

from __future__ import annotations

from typing import Any

import pytest
from sfconnector import API_VERSION
from sfconnector.actions.errors import FieldValidationError
from sfconnector.salesforce.schema import SObjectSchema, schema_of
from sfconnector.salesforce.validation import (
    check_record_id,
    criteria_condition,
    select_fields,
    validate_record,
)
from sfemulator.schema import load_schema

SCHEMA = load_schema()


def describe(name: str) -> dict[str, Any]:
    sobject = SCHEMA.get(name)
    assert sobject is not None
    return sobject.describe(API_VERSION, "https://example.my.salesforce.com")


@pytest.fixture(scope="module")
def account() -> SObjectSchema:
    return schema_of(describe("Account"))


def problems(exc: pytest.ExceptionInfo[FieldValidationError]) -> dict[str, str]:
    return {p.field: p.code for p in exc.value.problems}


def test_payload_uses_describe_spelling_and_normalises_values(account: SObjectSchema) -> None:
    payload = validate_record(
        account,
        {"name": "Acme", "NumberOfEmployees": "12", "AnnualRevenue": 1.5, "tier__c": "Gold"},
        mode="create",
    )
    assert payload == {"Name": "Acme", "NumberOfEmployees": 12, "AnnualRevenue": 1.5, "Tier__c": "Gold"}


def test_every_problem_is_reported_at_once_by_field(account: SObjectSchema) -> None:
    with pytest.raises(FieldValidationError) as exc:
        validate_record(
            account,
            {
                "Nmae": "typo",
                "NumberOfEmployees": "many",
                "Tier__c": "Diamond",
                "CreatedDate": "2024-01-01T00:00:00Z",
                "AccountNumber": "x" * 41,
            },
            mode="create",
        )
    assert problems(exc) == {
        "Nmae": "unknown_field",
        "NumberOfEmployees": "wrong_type",
        "Tier__c": "not_in_picklist",
        "CreatedDate": "not_writable",
        "AccountNumber": "too_long",
        "Name": "required",
    }
    assert "did you mean Name" in exc.value.message
    assert "Platinum" in exc.value.message  # the allowed picklist values are listed


def test_unrestricted_picklists_accept_any_value(account: SObjectSchema) -> None:
    assert validate_record(account, {"Industry": "Space mining"}, mode="update") == {
        "Industry": "Space mining"
    }


def test_required_fields_only_on_create(account: SObjectSchema) -> None:
    assert validate_record(account, {"Phone": "1"}, mode="update") == {"Phone": "1"}
    with pytest.raises(FieldValidationError) as exc:
        validate_record(account, {"Name": None}, mode="update")
    assert problems(exc) == {"Name": "required"}


def test_reference_fields_check_the_target_object() -> None:
    contact = schema_of(describe("Contact"))
    with pytest.raises(FieldValidationError) as exc:
        validate_record(contact, {"LastName": "L", "AccountId": "003000000000001AAA"}, mode="create")
    assert problems(exc) == {"AccountId": "invalid_id"}
    assert "Contact id" in exc.value.message


def test_booleans_dates_and_datetimes() -> None:
    event = schema_of(describe("Event"))
    ok = validate_record(
        event,
        {
            "IsAllDayEvent": "false",
            "StartDateTime": "2025-01-31T10:00:00.000+0000",
            "ActivityDate": "2025-01-31",
        },
        mode="update",
    )
    assert ok["IsAllDayEvent"] is False
    with pytest.raises(FieldValidationError) as exc:
        validate_record(
            event,
            {"IsAllDayEvent": "yes", "StartDateTime": "tomorrow", "ActivityDate": "31/01/2025"},
            mode="update",
        )
    assert set(problems(exc).values()) == {"wrong_type"}


def test_extra_required_and_preset_fields() -> None:
    comment = schema_of(describe("CaseComment"))
    with pytest.raises(FieldValidationError) as exc:
        validate_record(
            comment, {"IsPublished": True}, mode="create", extra_required=["CommentBody"], preset=["ParentId"]
        )
    assert problems(exc) == {"CommentBody": "required"}


def test_criteria_become_typed_escaped_soql(account: SObjectSchema) -> None:
    condition = criteria_condition(account, {"name": "O'Hara", "NumberOfEmployees": "10", "Website": None})
    assert condition.render() == "(Name = 'O\\'Hara' AND NumberOfEmployees = 10 AND Website = null)"
    with pytest.raises(FieldValidationError) as exc:
        criteria_condition(account, {"Description": "long text", "Bogus": 1})
    assert problems(exc) == {"Description": "not_filterable", "Bogus": "unknown_field"}


def test_select_fields(account: SObjectSchema) -> None:
    assert select_fields(account, ["name", "Owner.Name"]) == ["Id", "Name", "Owner.Name"]
    every = select_fields(account, None)
    assert "BillingAddress" not in every  # compound fields are read through their parts
    assert "BillingCity" in every
    with pytest.raises(FieldValidationError):
        select_fields(account, ["Nope.Name"])


def test_record_ids_from_the_url() -> None:
    assert check_record_id("001000000000001", expected="Account", key_prefix="001") == "001000000000001AAA"
    with pytest.raises(FieldValidationError, match="not a Salesforce record id"):
        check_record_id("hello", expected="Account", key_prefix="001")
    with pytest.raises(FieldValidationError, match="is a Contact id, not an Account id"):
        check_record_id("003000000000001AAA", expected="Account", key_prefix="001")
