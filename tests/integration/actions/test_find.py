"""Find semantics: AND-ed typed criteria, the match count, which record is returned, chosen fields."""

from __future__ import annotations

from functools import partial
from typing import Any

from tests.fixtures.actions import ActionApi
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import Calls, OrgReader, Seed


def test_several_matches_report_the_count_and_pick_newest_or_oldest(
    action_api: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    ids = [
        sf_emulator.dml("insert", "Account", {"Name": "Triplet", "Industry": "Energy"}, seconds_ago=age)["id"]
        for age in (300, 200, 100)
    ]
    newest = action_api.post("accounts/find", {"criteria": {"Name": "triplet"}})
    assert newest.status == 200, newest
    assert (newest.body["found"], newest.body["match_count"], newest.body["id"]) == (True, 3, ids[-1])
    oldest = action_api.post("accounts/find", {"criteria": {"Name": "Triplet"}, "pick": "oldest"})
    assert oldest.body["id"] == ids[0]


def test_criteria_are_and_ed_and_typed(action_api: ActionApi, sf_emulator: EmulatorHandle) -> None:
    sf_emulator.dml("insert", "Account", {"Name": "Typed", "NumberOfEmployees": 10, "Active__c": "Yes"})
    target = sf_emulator.dml(
        "insert", "Account", {"Name": "Typed", "NumberOfEmployees": 20, "Website": None}
    )["id"]
    found = action_api.post("accounts/find", {"criteria": {"Name": "Typed", "NumberOfEmployees": "20"}})
    assert (found.body["match_count"], found.body["id"]) == (1, target)
    none = action_api.post("accounts/find", {"criteria": {"Name": "Typed", "NumberOfEmployees": 30}})
    assert (none.body["found"], none.body["match_count"]) == (False, 0)
    nulls = action_api.post("accounts/find", {"criteria": {"Name": "Typed", "Active__c": None}})
    assert nulls.body["id"] == target


def test_quotes_in_criteria_cannot_change_the_query(
    action_api: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    sf_emulator.dml("insert", "Account", {"Name": "O'Hara & Sons"})
    found = action_api.post("accounts/find", {"criteria": {"Name": "O'Hara & Sons"}})
    assert found.body["match_count"] == 1
    injected = action_api.post("accounts/find", {"criteria": {"Name": "x' OR Name != 'x"}})
    assert injected.status == 200, injected
    assert injected.body["match_count"] == 0


def test_dates_and_booleans_as_criteria(action_api: ActionApi, sf_emulator: EmulatorHandle) -> None:
    target = sf_emulator.dml(
        "insert", "Opportunity", {"Name": "Dated", "StageName": "Prospecting", "CloseDate": "2031-03-04"}
    )["id"]
    found = action_api.post(
        "opportunities/find", {"criteria": {"CloseDate": "2031-03-04", "IsClosed": "false", "Name": "Dated"}}
    )
    assert found.status == 200, found
    assert found.body["id"] == target


def test_chosen_fields_including_a_parent_field(action_api: ActionApi, org: OrgReader) -> None:
    contact = org.one("SELECT Id, Email, Account.Name FROM Contact WHERE AccountId != null LIMIT 1")
    found = action_api.post(
        "contacts/find", {"criteria": {"Id": contact["Id"]}, "fields": ["email", "Account.Name"]}
    )
    assert found.status == 200, found
    record = found.body["record"]
    assert set(record) == {"attributes", "Id", "Email", "Account"}
    assert record["Account"]["Name"] == contact["Account"]["Name"]


def test_get_with_chosen_fields(action_api: ActionApi, org: OrgReader) -> None:
    account = org.one("SELECT Id, Name FROM Account LIMIT 1")
    got = action_api.get(f"accounts/{account['Id']}", query={"fields": "Name,Industry"})
    assert got.status == 200, got
    assert set(got.body["record"]) == {"attributes", "Id", "Name", "Industry"}
    assert got.body["record"]["Name"] == account["Name"]
    bad = action_api.get(f"accounts/{account['Id']}", query={"fields": "Name,Nope"})
    assert bad.status == 422, bad
    assert bad.error["fields"] == ["Nope"]


def test_find_all_reports_more_than_the_limit(action_api: ActionApi, org: OrgReader) -> None:
    primaries = org.query("SELECT Id FROM OpportunityContactRole WHERE IsPrimary = true")
    assert len(primaries) > 2
    page = action_api.post(
        "associations/find_all", {"condition": "IsPrimary = true", "limit": 2, "fields": ["Role"]}
    )
    assert page.status == 200, page
    assert (page.body["count"], page.body["has_more"]) == (2, True)
    assert set(page.body["records"][0]) == {"attributes", "Id", "Role"}


def _contact_roles(emulator: EmulatorHandle, opportunity: str, ages: list[int]) -> None:
    for i, age in enumerate(ages):
        contact = emulator.dml("insert", "Contact", {"LastName": f"Pager {i}"})["id"]
        emulator.dml(
            "insert",
            "OpportunityContactRole",
            {"OpportunityId": opportunity, "ContactId": contact, "Role": "Evaluator"},
            seconds_ago=age,
        )


def test_find_all_pages_through_every_match_one_call_per_page(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, seed: Seed, calls: Calls
) -> None:
    # Several roles share a creation second: the id orders them, and none is lost or repeated.
    _contact_roles(sf_emulator, seed.opportunity, [50, 50, 50, 40, 40, 30, 20])
    expected = [
        r["Id"]
        for r in org.query(
            f"SELECT Id FROM OpportunityContactRole WHERE OpportunityId = '{seed.opportunity}' "  # noqa: S608
            "ORDER BY CreatedDate ASC, Id ASC"
        )
    ]
    assert len(expected) == 7
    body: dict[str, Any] = {
        "condition": f"OpportunityId = '{seed.opportunity}'",
        "limit": 3,
        "fields": ["Role"],
    }
    assert action_api.post("associations/find_all", {**body, "limit": 1}).status == 200  # warm describe

    pages: list[list[str]] = []
    request = dict(body)
    while True:
        page, used = calls(partial(action_api.post, "associations/find_all", dict(request)))
        assert (page.status, used) == (200, 1), page
        assert all(set(r) == {"attributes", "Id", "Role"} for r in page.body["records"])
        pages.append([r["Id"] for r in page.body["records"]])
        token = page.body["next_page"]
        assert page.body["has_more"] is (token is not None)
        assert page.body["count"] == len(pages[-1])
        if token is None:
            break
        request["next_page"] = token
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == expected


def test_find_all_next_page_tokens_are_checked_before_salesforce(
    action_api: ActionApi, seed: Seed, calls: Calls
) -> None:
    body = {"condition": "IsPrimary = true", "limit": 1}
    first = action_api.post("associations/find_all", body)
    assert first.status == 200, first
    token = first.body["next_page"]
    assert str(token).startswith("00K")
    role, seconds = token.split("-")
    for bad, code in [
        ("../../limits", "invalid_request"),
        ("00K-1", "invalid_request"),
        # The document's pattern says both since issue 20's fuzz findings: a contact role's id (00K)
        # and at most ten digits of seconds.
        (f"{seed.account}-{seconds}", "invalid_request"),
        (f"{role}-999999999999", "invalid_request"),
        (f"{role[:15]}{'ZZZ' if role[15:] != 'ZZZ' else 'AAA'}-{seconds}", "validation_failed"),  # checksum
    ]:
        response, used = calls(partial(action_api.post, "associations/find_all", {**body, "next_page": bad}))
        assert (response.status, used) == (422, 0), (bad, response)
        assert response.error["code"] == code, bad
        assert response.error["fields"] == ["next_page"], bad
