"""Salesforce API calls per action kind, counted by the emulator (composite = 1 call).

Every action kind is measured twice: COLD (a new container: empty describe cache, so validating
fields costs one describe call per sObject) and WARM (the describe is cached, as in a warm Lambda
within the cache TTL). The promise is the warm figure: one call per action, two for an upsert on a
non-external field; attachment content is two (its binary Body cannot travel in a composite).
The ``X-Salesforce-Api-Calls`` header the connector returns must agree with the emulator's count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sfconnector.runtime import reset_runtime

from tests.fixtures.actions import ActionApi, ApiResponse
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import OrgReader, Seed

Call = Callable[[ActionApi, Seed, EmulatorHandle, str], ApiResponse]


@dataclass(frozen=True)
class Cost:
    kind: str
    call: Call
    cold: int
    warm: int
    status: int = 200


def _new_account(emulator: EmulatorHandle, tag: str) -> str:
    return str(emulator.dml("insert", "Account", {"Name": f"Cost {tag}"})["id"])


def _new_invoice(emulator: EmulatorHandle, tag: str) -> str:
    return str(emulator.dml("insert", "Invoice__c", {"Name": tag, "Invoice_Number__c": f"N-{tag}"})["id"])


def _new_attachment(emulator: EmulatorHandle, parent: str, tag: str) -> str:
    return str(emulator.dml("insert", "Attachment", {"ParentId": parent, "Name": tag, "Body": "aGk="})["id"])


COSTS = [
    Cost(
        "create", lambda api, s, e, t: api.post("accounts", {"Name": f"Cost {t}"}), cold=2, warm=1, status=201
    ),
    Cost("get", lambda api, s, e, t: api.get(f"accounts/{s.account}"), cold=1, warm=1),
    Cost("update", lambda api, s, e, t: api.patch(f"accounts/{s.account}", {"Phone": t}), cold=2, warm=1),
    Cost("delete", lambda api, s, e, t: api.delete(f"accounts/{_new_account(e, t)}"), cold=1, warm=1),
    Cost("find", lambda api, s, e, t: api.post("accounts/find", {"criteria": {"Name": t}}), cold=2, warm=1),
    Cost(
        "upsert by External ID (create)",
        lambda api, s, e, t: api.put(
            "accounts/upsert", {"match_field": "External_Id__c", "record": {"External_Id__c": t, "Name": t}}
        ),
        cold=2,
        warm=1,
        status=201,
    ),
    Cost(
        "upsert by External ID (update)",
        lambda api, s, e, t: api.put(
            "contacts/upsert",
            {"match_field": "External_Id__c", "record": {"External_Id__c": f"C-{s.contact}", "Title": t}},
        ),
        cold=2,
        warm=1,
        status=200,
    ),
    Cost(
        "upsert by Email (create)",
        lambda api, s, e, t: api.put(
            "contacts/upsert",
            {"match_field": "Email", "record": {"Email": f"{t}@example.com", "LastName": t}},
        ),
        cold=3,
        warm=2,
        status=201,
    ),
    Cost(
        "upsert by Email (update)",
        lambda api, s, e, t: api.put(
            "contacts/upsert",
            {"match_field": "Email", "record": {"Email": "cost.fixed@example.com", "Title": t}},
        ),
        cold=3,
        warm=2,
        status=200,
    ),
    Cost(
        "create child (case comment)",
        lambda api, s, e, t: api.post(f"cases/{s.case}/comments", {"CommentBody": t}),
        cold=2,
        warm=1,
        status=201,
    ),
    Cost(
        "find all (contact roles)",
        lambda api, s, e, t: api.post("associations/find_all", {"condition": "IsPrimary = true"}),
        cold=2,
        warm=1,
    ),
    Cost(
        "custom object create",
        lambda api, s, e, t: api.post("custom_objects/Invoice__c", {"Name": t, "Invoice_Number__c": t}),
        cold=2,
        warm=1,
        status=201,
    ),
    Cost(
        "custom object delete",
        lambda api, s, e, t: api.delete(f"custom_objects/Invoice__c/{_new_invoice(e, t)}"),
        cold=2,
        warm=1,
    ),
    Cost(
        "attachment add",
        lambda api, s, e, t: api.post(
            "attachments",
            {
                "parent_id": s.account,
                "name": f"{t}.txt",
                "content_base64": "aGVsbG8=",
                "store_as": "attachment",
            },
        ),
        cold=1,
        warm=1,
        status=201,
    ),
    Cost(
        # The default: a Salesforce File when the org has Files (ContentVersion's describe, cached).
        "attachment add as a file",
        lambda api, s, e, t: api.post(
            "attachments", {"parent_id": s.account, "name": f"{t}.txt", "content_base64": "aGVsbG8="}
        ),
        cold=2,
        warm=1,
        status=201,
    ),
    Cost(
        "file add",
        lambda api, s, e, t: api.post(
            "files", {"parent_id": s.account, "name": f"{t}.txt", "content_base64": "aGVsbG8="}
        ),
        cold=1,
        warm=1,
        status=201,
    ),
    Cost("file list", lambda api, s, e, t: api.get(f"files/parents/{s.account}"), cold=1, warm=1),
    Cost("attachment ids", lambda api, s, e, t: api.get(f"attachments/parents/{s.account}"), cold=1, warm=1),
    Cost(
        "attachment content",
        lambda api, s, e, t: api.get(f"attachments/{_new_attachment(e, s.account, t)}/content"),
        cold=2,
        warm=2,
    ),
]


@pytest.mark.parametrize("cost", COSTS, ids=lambda c: c.kind)
def test_salesforce_api_calls_per_action(
    cost: Cost, action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, seed: Seed
) -> None:
    sf_emulator.dml("update", "Contact", {"External_Id__c": f"C-{seed.contact}"}, id=seed.contact)
    sf_emulator.dml("insert", "Contact", {"LastName": "Fixed", "Email": "cost.fixed@example.com"})

    measured = {}
    for phase, tag in (("cold", "costcold"), ("warm", "costwarm")):
        if phase == "cold":
            reset_runtime()  # a new container: nothing cached
        before = sf_emulator.api_calls()
        response = cost.call(action_api, seed, sf_emulator, tag)
        used = sf_emulator.api_calls() - before
        assert response.status == cost.status, (phase, response)
        assert response.headers["X-Salesforce-Api-Calls"] == str(used), phase
        measured[phase] = used
    assert measured == {"cold": cost.cold, "warm": cost.warm}


def test_a_retried_idempotent_create_costs_nothing(
    action_api: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    headers = {"Idempotency-Key": "cost-retry-1"}
    first = action_api.post("accounts", {"Name": "Once"}, headers=headers)
    assert first.status == 201, first
    before = sf_emulator.api_calls()
    again = action_api.post("accounts", {"Name": "Once"}, headers=headers)
    assert again.status == 201, again
    assert sf_emulator.api_calls() == before
    assert again.headers["X-Salesforce-Api-Calls"] == "0"
