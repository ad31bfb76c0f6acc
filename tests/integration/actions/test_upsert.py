"""Upsert by an External ID whose value cannot travel in a URL path segment (``/``, ``?``, ``#``,
``%``, spaces, endings Salesforce reads as a format or refuses): still created then updated, the
same record, ONE Salesforce call each with a warm describe."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.actions import ActionApi
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import OrgReader

VALUES = ["A/B 1", "x@y.inc", "50%#?", "report.json", "ACC-plain_1"]


def _upsert(api: ActionApi, value: str, name: str) -> tuple[int, dict[str, Any], int]:
    response = api.put(
        "accounts/upsert",
        {"match_field": "External_Id__c", "record": {"External_Id__c": value, "Name": name}},
    )
    return response.status, response.body, int(response.headers.get("X-Salesforce-Api-Calls", "-1"))


@pytest.mark.parametrize("value", VALUES)
def test_upsert_by_an_awkward_external_id_creates_then_updates_in_one_call_each(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, value: str
) -> None:
    action_api.post("accounts/find", {"criteria": {"Name": "warm the describe"}})

    before = sf_emulator.api_calls()
    status, created, calls = _upsert(action_api, value, "Awkward One")
    assert (status, created["created"], calls) == (201, True, 1), created
    assert sf_emulator.api_calls() == before + 1
    assert created["record"]["External_Id__c"] == value
    assert created["record"]["Name"] == "Awkward One"

    before = sf_emulator.api_calls()
    status, updated, calls = _upsert(action_api, value, "Awkward Two")
    assert (status, updated["created"], updated["id"], calls) == (200, False, created["id"], 1), updated
    assert sf_emulator.api_calls() == before + 1
    assert updated["record"]["Name"] == "Awkward Two"

    stored = org.get("Account", str(created["id"]))
    assert stored is not None
    assert (stored["External_Id__c"], stored["Name"]) == (value, "Awkward Two")


@pytest.mark.parametrize("value", ["A/B 1", "x@y.inc"])
def test_several_records_with_an_awkward_external_id_are_a_409(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, value: str
) -> None:
    twins = sorted(
        sf_emulator.dml("insert", "Account", {"Name": f"Twin {i}", "External_Id__c": value})["id"]
        for i in (1, 2)
    )
    status, body, _ = _upsert(action_api, value, "Which one?")
    assert status == 409, body
    assert body["error"]["code"] == "ambiguous_match"
    assert sorted(body["error"]["details"]["candidate_ids"]) == twins
    assert org.query("SELECT Id FROM Account WHERE Name = 'Which one?'") == []


def test_an_awkward_external_id_refused_by_salesforce_keeps_its_error(
    action_api: ActionApi, org: OrgReader
) -> None:
    # An Account id of the right shape that does not exist: only Salesforce can tell.
    record = {"External_Id__c": "c/1", "LastName": "Orphan", "AccountId": "001000000000099"}
    response = action_api.put("contacts/upsert", {"match_field": "External_Id__c", "record": record})
    assert response.status == 422, response
    assert response.error["code"] == "rejected_by_salesforce"
    assert [i["errorCode"] for i in response.error["salesforce"]] == ["INVALID_CROSS_REFERENCE_KEY"]
    assert org.query("SELECT Id FROM Contact WHERE LastName = 'Orphan'") == []
