"""Find semantics: AND-ed typed criteria, the match count, which record is returned, chosen fields."""

from __future__ import annotations

from tests.fixtures.actions import ActionApi
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import OrgReader


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
