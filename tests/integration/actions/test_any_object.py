"""Any object (``/connections/{cid}/objects/{sobject}/records...``, issue 20 item 2) through the real
``objects`` function, against the emulator: CRUD, upsert, find many and batches on objects outside the
12 families (Pricebook2, User), validated against the org's describe like the families."""

from __future__ import annotations

import json

from tests.fixtures.actions import ActionApi
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import Calls, OrgReader

BOOKS = "objects/Pricebook2/records"


def test_crud_on_an_object_outside_the_families(action_api: ActionApi, org: OrgReader, calls: Calls) -> None:
    created = action_api.post(BOOKS, {"Name": "Reseller 2026", "IsActive": True})
    assert created.status == 201, created
    book = created.body["id"]
    assert book.startswith("01s")
    assert created.body["record"]["Name"] == "Reseller 2026"  # read back in the same call

    got, cost = calls(lambda: action_api.get(f"{BOOKS}/{book}", query={"fields": "Name,IsActive"}))
    assert (got.status, cost) == (200, 1)
    assert got.body["record"]["IsActive"] is True

    updated = action_api.patch(f"{BOOKS}/{book}", {"Description": "For resellers"})
    assert updated.status == 200, updated
    assert org.get("Pricebook2", book)["Description"] == "For resellers"  # type: ignore[index]

    # Upsert by a field that is not an External ID: looked up, then updated.
    upserted = action_api.put(
        f"{BOOKS}/upsert", {"match_field": "Name", "record": {"Name": "Reseller 2026", "IsActive": False}}
    )
    assert (upserted.status, upserted.body["id"], upserted.body["created"]) == (200, book, False)

    page = action_api.post(f"{BOOKS}/query", {"criteria": {"IsStandard": False}, "fields": ["Name"]})
    assert book in {r["Id"] for r in page.body["records"]}

    deleted = action_api.delete(f"{BOOKS}/{book}")
    assert (deleted.status, deleted.body["already_deleted"]) == (200, False)
    assert org.get("Pricebook2", book) is None


def test_reads_and_batches_of_other_objects(action_api: ActionApi, org: OrgReader, calls: Calls) -> None:
    users = action_api.post("objects/User/records/query", {"fields": ["Username"], "order_by": ["Username"]})
    assert users.status == 200, users
    names = [r["Username"] for r in users.body["records"]]
    assert len(names) == 5
    assert names == sorted(names, key=str.lower)

    action_api.post(f"{BOOKS}/query", {"limit": 1})  # Pricebook2's describe is cached from here on
    records = [{"Name": f"Batch book {n}"} for n in range(3)]
    batch, cost = calls(
        lambda: action_api.post(f"{BOOKS}/batch", {"operation": "create", "records": records})
    )
    assert batch.status == 200, batch
    assert cost == 1
    assert batch.body["succeeded"] == 3


def test_describe_rules_and_unknown_objects(action_api: ActionApi) -> None:
    bad = action_api.post(BOOKS, {"Name": "X", "IsStandard": True, "Colour": "red", "IsActive": "maybe"})
    assert bad.status == 422, bad
    assert set(bad.error["fields"]) == {"IsStandard", "Colour", "IsActive"}  # read-only, unknown, wrong type

    missing = action_api.post(BOOKS, {"Description": "no name"})
    assert (missing.status, missing.error["fields"]) == (422, ["Name"])

    for path in ("objects/Nothing__x/records", "objects/Spaceship/records"):
        unknown = action_api.post(path, {"Name": "X"})
        assert unknown.status == 404, unknown
        assert unknown.error["fields"] == ["sobject"]
        # Salesforce's own reason for refusing the object travels with the answer.
        assert "Salesforce" in unknown.error["message"]

    wrong = action_api.get(f"{BOOKS}/001000000000001AAA")
    assert wrong.status == 422
    assert wrong.error["fields"] == ["record_id"]


def test_an_object_the_profile_cannot_reach_answers_salesforces_reason(
    action_api: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    refusal = [
        {"message": "Insufficient access rights on object Pricebook2", "errorCode": "INSUFFICIENT_ACCESS"}
    ]
    sf_emulator.add_fault(
        "error",
        status=403,
        path=r"/sobjects/Pricebook2/describe",
        body=json.dumps(refusal),
        content_type="application/json",
    )
    denied = action_api.post(f"{BOOKS}/query", {})
    assert denied.status == 403, denied
    assert denied.error["code"] == "salesforce_forbidden"
    assert denied.error["salesforce"][0]["errorCode"] == "INSUFFICIENT_ACCESS"
    assert "Insufficient access" in denied.error["message"]
