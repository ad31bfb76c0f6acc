"""Find many (``POST .../{family}/query``, issue 20 item 1) through the real handlers, against the
emulator: keyset pages (one Salesforce call each), the caller's order, deleted records, and tokens
that cannot be reused elsewhere or tampered with."""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Any

from tests.fixtures.actions import ActionApi, seed_connection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import Calls, OrgReader


def _pages(
    api: ActionApi, path: str, body: dict[str, Any], calls: Calls
) -> tuple[list[list[str]], list[int]]:
    pages: list[list[str]] = []
    costs: list[int] = []
    token = None
    while True:
        sent = {**body, "next": token} if token else body
        response, cost = calls(partial(api.post, path, sent))
        assert response.status == 200, response
        assert response.headers["X-Salesforce-Api-Calls"] == str(cost)
        pages.append([r["Id"] for r in response.body["records"]])
        costs.append(cost)
        assert response.body["count"] == len(pages[-1])
        token = response.body["next"]
        if token is None:
            return pages, costs
        assert len(pages) < 10, "the pages never end"


def test_three_pages_by_keyset_one_call_each(action_api: ActionApi, org: OrgReader, calls: Calls) -> None:
    every = [r["Id"] for r in org.query("SELECT Id FROM Account ORDER BY Id")]
    assert len(every) == 30  # the seed
    pages, costs = _pages(action_api, "accounts/query", {"limit": 12, "fields": ["Name"]}, calls)
    assert [len(p) for p in pages] == [12, 12, 6]
    assert [i for p in pages for i in p] == every
    # The first page pays the describe (a cold container); every page after it is ONE call.
    assert costs == [2, 1, 1]


def test_pages_follow_the_callers_order_and_criteria(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, calls: Calls
) -> None:
    for n, revenue in enumerate([500, 100, None, 300, 100, None, 900, 100]):
        fields: dict[str, Any] = {"Name": f"Ordered {n}", "Industry": "Chemicals"}
        if revenue is not None:
            fields["AnnualRevenue"] = revenue
        sf_emulator.dml("insert", "Account", fields)
    expected = org.query(
        "SELECT Id FROM Account WHERE Industry = 'Chemicals' ORDER BY AnnualRevenue DESC NULLS LAST, Id ASC"
    )
    body = {
        "criteria": {"Industry": "Chemicals"},
        "order_by": ["AnnualRevenue DESC"],
        "fields": ["Name"],
        "limit": 2,
    }
    pages, costs = _pages(action_api, "accounts/query", body, calls)
    assert [i for p in pages for i in p] == [r["Id"] for r in expected]
    assert len(expected) >= 7
    assert all(len(p) <= 2 for p in pages)
    assert set(costs[1:]) == {1}
    # Two keys (ties on revenue broken by name, empty revenues last), pages of 3.
    two = org.query(
        "SELECT Id FROM Account WHERE Industry = 'Chemicals' "
        "ORDER BY AnnualRevenue ASC NULLS LAST, Name DESC NULLS LAST, Id ASC"
    )
    body2 = {**body, "order_by": ["AnnualRevenue ASC", "Name DESC"], "limit": 3}
    pages2, _ = _pages(action_api, "accounts/query", body2, calls)
    assert [i for p in pages2 for i in p] == [r["Id"] for r in two]
    # The key read for the token is not answered when it was not asked for.
    first = action_api.post("accounts/query", body)
    assert all("AnnualRevenue" not in r for r in first.body["records"])


def test_a_guarded_condition_and_deleted_records(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader
) -> None:
    gone = sf_emulator.dml("insert", "Account", {"Name": "Gone soon", "Industry": "Biotechnology"})["id"]
    kept = sf_emulator.dml("insert", "Account", {"Name": "Kept", "Industry": "Biotechnology"})["id"]
    sf_emulator.dml("delete", "Account", {}, id=gone)
    body = {"condition": "Industry = 'Biotechnology' AND Name LIKE 'Gone%' OR Name = 'Kept'"}
    mixed = action_api.post("accounts/query", body)
    assert mixed.status == 422  # AND and OR mixed without parentheses
    assert mixed.error["fields"] == ["condition"]
    body = {"condition": "Industry = 'Biotechnology' AND (Name LIKE 'Gone%' OR Name = 'Kept')"}
    live = action_api.post("accounts/query", body)
    assert [r["Id"] for r in live.body["records"]] == [kept]
    both = action_api.post(
        "accounts/query", {"criteria": {"Industry": "Biotechnology"}, "condition": "Name = 'Kept'"}
    )
    assert [r["Id"] for r in both.body["records"]] == [kept]  # criteria AND condition
    everything = action_api.post("accounts/query", {**body, "include_deleted": True, "fields": ["IsDeleted"]})
    assert {r["Id"]: r["IsDeleted"] for r in everything.body["records"]} == {gone: True, kept: False}


def test_a_token_answers_only_its_connection_and_its_query(
    aws: AwsEnv, sf_emulator: EmulatorHandle, action_api: ActionApi
) -> None:
    first = action_api.post("accounts/query", {"limit": 5})
    token = first.body["next"]
    assert token
    other = ActionApi(seed_connection(aws, sf_emulator, "conn-other").connection_id)
    stolen = other.post("accounts/query", {"limit": 5, "next": token})
    assert stolen.status == 422, stolen
    assert stolen.error["fields"] == ["next"]
    changed = action_api.post(
        "accounts/query", {"limit": 5, "criteria": {"Industry": "Energy"}, "next": token}
    )
    assert (changed.status, changed.error["fields"]) == (422, ["next"])

    # A hand-edited token (a quote in the key value, another id) never reaches Salesforce as SOQL.
    decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for forged in ({**decoded, "i": "x' OR Name != '"}, {**decoded, "k": ["a"]}, {**decoded, "f": "0" * 24}):
        raw = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        answer = action_api.post("accounts/query", {"limit": 5, "next": raw})
        assert answer.status == 422, answer
        assert answer.error["fields"] == ["next"]


def test_bad_queries_answer_4xx_naming_the_field(action_api: ActionApi, calls: Calls) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"limit": 2001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"fields": ["Nmae"]}, "Nmae"),
        ({"criteria": {"Colour__c": "red"}}, "Colour__c"),
        ({"order_by": ["Description"]}, "order_by"),  # a long text area cannot be sorted
        ({"order_by": ["Name SIDEWAYS"]}, "order_by"),
        ({"order_by": ["Industry"]}, "order_by"),  # a picklist: sorted by its values' order
        ({"next": "not a token!"}, "next"),
    ]
    for body, field in cases:
        response, cost = calls(partial(action_api.post, "accounts/query", body))
        assert cost <= 1  # at most the describe: nothing was queried
        assert 400 <= response.status < 500, (body, response)
        assert any(field in name for name in response.error["fields"]), (body, response.error)
    unknown = action_api.post("/connections/conn-test/objects/Nothing__x/records/query", {})
    assert unknown.status == 404, unknown
    assert unknown.error["fields"] == ["sobject"]
