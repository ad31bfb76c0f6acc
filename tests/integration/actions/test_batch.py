"""Batch writes (``POST .../{family}/batch``, issue 20 item 3) through the real handlers, against the
emulator's sObject Collections: ONE Salesforce call per 200 records, per-record results in input
order under both ``all_or_none`` settings, the whole batch once per ``Idempotency-Key``."""

from __future__ import annotations

from functools import partial
from typing import Any

from sfconnector.runtime import reset_runtime

from tests.fixtures.actions import ActionApi
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import Calls, OrgReader


def _contacts(tag: str, n: int = 200) -> list[dict[str, Any]]:
    return [{"LastName": f"{tag} {i:03d}", "External_Id__c": f"{tag}-{i}"} for i in range(n)]


def _count(org: OrgReader, tag: str) -> int:
    return len(org.query(f"SELECT Id FROM Contact WHERE LastName LIKE '{tag} %'"))  # noqa: S608


def _two_bad(tag: str, taken: str) -> list[dict[str, Any]]:
    """200 contacts; #17 fails our check (unknown field), #150 fails in Salesforce (a duplicate of
    a unique External ID another contact has)."""
    records = _contacts(tag)
    records[17] = {"LastName": f"{tag} 017", "Nmae": "typo"}
    records[150] = {"LastName": f"{tag} 150", "External_Id__c": taken}
    return records


def test_200_with_two_bad_records_not_all_or_none(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, calls: Calls
) -> None:
    sf_emulator.dml("insert", "Contact", {"LastName": "Holder", "External_Id__c": "TAKEN-1"})
    action_api.post("contacts/find", {"criteria": {"LastName": "warm"}})  # the describe is cached
    body = {"operation": "create", "records": _two_bad("Partial", "TAKEN-1"), "all_or_none": False}
    response, cost = calls(lambda: action_api.post("contacts/batch", body))
    assert response.status == 200, response
    assert cost == 1  # 199 records sent in ONE sObject Collections call
    results = response.body["results"]
    assert [r["index"] for r in results] == list(range(200))
    assert (response.body["succeeded"], response.body["failed"]) == (198, 2)
    assert results[17]["errors"][0]["fields"] == ["Nmae"]
    assert results[17]["errors"][0]["code"] == "unknown_field"
    assert results[150]["errors"][0]["code"] == "DUPLICATE_VALUE"
    assert "External_Id__c" in results[150]["errors"][0]["message"]
    assert _count(org, "Partial") == 198
    # Results are in input order: each id is the record sent at its index.
    stored = {
        r["Id"]: r["LastName"]
        for r in org.query("SELECT Id, LastName FROM Contact WHERE LastName LIKE 'Partial %'")
    }
    assert all(stored[r["id"]] == f"Partial {r['index']:03d}" for r in results if r["success"])
    assert all(r["created"] for r in results if r["success"])


def test_200_with_two_bad_records_all_or_none(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, calls: Calls
) -> None:
    sf_emulator.dml("insert", "Contact", {"LastName": "Holder", "External_Id__c": "TAKEN-2"})
    action_api.post("contacts/find", {"criteria": {"LastName": "warm"}})
    # A record our checks refuse: nothing is sent at all (Salesforce would roll everything back).
    body = {"operation": "create", "records": _two_bad("Whole", "TAKEN-2"), "all_or_none": True}
    response, cost = calls(lambda: action_api.post("contacts/batch", body))
    assert response.status == 200, response
    assert cost == 0
    assert response.body["succeeded"] == 0
    assert response.body["results"][17]["errors"][0]["fields"] == ["Nmae"]
    assert {r["errors"][0]["code"] for i, r in enumerate(response.body["results"]) if i != 17} == {
        "not_processed"
    }
    # Only Salesforce's refusals: ONE call, rolled back, each record answers why.
    records = _contacts("Whole")
    records[3]["External_Id__c"] = records[190]["External_Id__c"] = "TAKEN-2"
    response, cost = calls(lambda: action_api.post("contacts/batch", {**body, "records": records}))
    assert cost == 1
    results = response.body["results"]
    assert [r["errors"][0]["code"] for r in (results[3], results[190])] == ["DUPLICATE_VALUE"] * 2
    assert {r["errors"][0]["code"] for i, r in enumerate(results) if i not in (3, 190)} == {
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    }
    assert _count(org, "Whole") == 0


def test_update_upsert_delete_batches(action_api: ActionApi, org: OrgReader, calls: Calls) -> None:
    created = action_api.post("contacts/batch", {"operation": "create", "records": _contacts("Cycle", 5)})
    ids = [r["id"] for r in created.body["results"]]
    update = {"operation": "update", "records": [{"Id": i, "Title": "Buyer"} for i in ids]}
    response, cost = calls(lambda: action_api.post("contacts/batch", update))
    assert (cost, response.body["succeeded"]) == (1, 5)
    assert {r["Title"] for r in org.query("SELECT Title FROM Contact WHERE LastName LIKE 'Cycle %'")} == {
        "Buyer"
    }

    upsert = {
        "operation": "upsert",
        "external_id_field": "External_Id__c",
        "records": [
            {"External_Id__c": "Cycle-0", "Title": "Owner"},
            {"External_Id__c": "Cycle-new", "LastName": "Cycle new"},
        ],
    }
    response, cost = calls(lambda: action_api.post("contacts/batch", upsert))
    assert cost == 1
    assert [(r["id"] == ids[0], r["created"]) for r in response.body["results"]] == [
        (True, False),
        (False, True),
    ]

    wrong = action_api.post("contacts/batch", {**upsert, "external_id_field": "Title"})
    assert (wrong.status, wrong.error["fields"]) == (422, ["external_id_field"])

    account = org.one("SELECT Id FROM Account LIMIT 1")["Id"]
    delete = {"operation": "delete", "ids": [*ids[:2], account]}
    response, cost = calls(lambda: action_api.post("contacts/batch", delete))
    assert cost == 1
    assert [r["success"] for r in response.body["results"]] == [True, True, False]
    assert response.body["results"][2]["errors"][0]["code"] == "wrong_object"
    assert _count(org, "Cycle") == 4  # 5 + 1 upserted - 2 deleted


def test_idempotency_key_covers_the_whole_batch(action_api: ActionApi, org: OrgReader, calls: Calls) -> None:
    body = {"operation": "create", "records": _contacts("Once", 20)}
    headers = {"Idempotency-Key": "batch-once-1"}
    first, _ = calls(lambda: action_api.post("contacts/batch", body, headers=headers))
    reset_runtime()  # another container
    again, cost = calls(lambda: action_api.post("contacts/batch", body, headers=headers))
    assert again.status == 200, again
    assert (again.headers.get("Idempotent-Replayed"), cost) == ("true", 0)
    assert again.body == first.body
    assert _count(org, "Once") == 20


def test_bad_batches_answer_4xx_naming_the_field(action_api: ActionApi, calls: Calls) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"operation": "create", "records": _contacts("Big", 201)}, "records"),
        ({"operation": "create", "records": []}, "records"),
        ({"operation": "delete", "records": _contacts("X", 1)}, "ids"),
        ({"operation": "upsert", "records": _contacts("X", 1)}, "external_id_field"),
        ({"operation": "merge", "records": _contacts("X", 1)}, "operation"),
        ({"operation": "create", "records": _contacts("X", 1), "all_or_none": 0}, "all_or_none"),
    ]
    for body, field in cases:
        response, cost = calls(partial(action_api.post, "contacts/batch", body))
        assert response.status == 422, (body, response)
        assert cost == 0
        assert any(field in name for name in response.error["fields"]), (body, response.error)
