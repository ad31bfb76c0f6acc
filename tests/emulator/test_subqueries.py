"""Parent-child relationship subqueries in SOQL, over HTTP: Salesforce's nested result shape (a
``{totalSize, done, records}`` or null), every child relationship of the describes, Salesforce's errors
for invalid ones, and field history read in the same query as its record (written in the same
transaction as the change, stamped like it, also under late commits)."""

# SOQL is built from test values on purpose here (the emulator is the system under test).
# ruff: noqa: S608
from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle

V = "/services/data/v62.0"
STAMP = "%Y-%m-%dT%H:%M:%S.000+0000"


@pytest.fixture
def frozen(sf_emulator: EmulatorHandle) -> dt.datetime:
    start = (sf_emulator.now() + dt.timedelta(seconds=5)).replace(microsecond=0)
    sf_emulator.set_clock(start, frozen=True)
    return start


def soql_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def query(api: httpx.Client, soql: str, *, all_rows: bool = False) -> httpx.Response:
    return api.get("/queryAll" if all_rows else "/query", params={"q": soql})


def rows(api: httpx.Client, soql: str, **options: Any) -> list[dict[str, Any]]:
    response = query(api, soql, **options)
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


def test_children_come_nested_or_null(api: httpx.Client) -> None:
    account = api.post("/sobjects/Account", json={"Name": "Parent Co"}).json()["id"]
    lonely = api.post("/sobjects/Account", json={"Name": "Lonely Co"}).json()["id"]
    for name in ("Zed", "Amy", "Max"):
        api.post("/sobjects/Contact", json={"LastName": name, "AccountId": account})
    found = rows(
        api,
        "SELECT Name, (SELECT LastName, Account.Name FROM Contacts WHERE LastName != 'Max' "
        "ORDER BY LastName), "
        f"Id FROM Account WHERE Id IN ('{account}', '{lonely}') ORDER BY Name",
    )
    alone, parent = found  # ORDER BY Name: "Lonely Co" first
    assert list(parent) == ["attributes", "Name", "Contacts", "Id"]  # SELECT order
    contacts = parent["Contacts"]
    assert list(contacts) == ["totalSize", "done", "records"]
    assert contacts["totalSize"] == 2
    assert contacts["done"] is True
    amy = contacts["records"][0]
    assert amy["attributes"]["type"] == "Contact"
    assert amy["attributes"]["url"].startswith(f"{V}/sobjects/Contact/003")
    assert (amy["LastName"], amy["Account"]["Name"]) == ("Amy", "Parent Co")
    assert [c["LastName"] for c in contacts["records"]] == ["Amy", "Zed"]
    assert alone["Contacts"] is None


def test_limit_applies_per_parent_and_several_subqueries_mix(api: httpx.Client) -> None:
    found = rows(
        api,
        "SELECT Id, (SELECT Id FROM Opportunities ORDER BY Amount DESC NULLS LAST LIMIT 1), "
        "(SELECT Id, CaseNumber FROM Cases), (SELECT Id FROM Contacts LIMIT 2) FROM Account",
    )
    assert len(found) == 30
    with_opps = [a for a in found if a["Opportunities"] is not None]
    assert with_opps
    assert all(a["Opportunities"]["totalSize"] == 1 for a in with_opps)
    assert all(a["Contacts"] is None or a["Contacts"]["totalSize"] <= 2 for a in found)
    total_cases = sum(a["Cases"]["totalSize"] for a in found if a["Cases"])
    direct = query(api, "SELECT COUNT() FROM Case WHERE AccountId != null").json()["totalSize"]
    assert total_cases == direct


def test_query_all_includes_deleted_children(api: httpx.Client) -> None:
    account = api.post("/sobjects/Account", json={"Name": "Bin Co"}).json()["id"]
    contact = api.post("/sobjects/Contact", json={"LastName": "Gone", "AccountId": account}).json()["id"]
    api.delete(f"/sobjects/Contact/{contact}")
    soql = f"SELECT Id, (SELECT Id, IsDeleted FROM Contacts) FROM Account WHERE Id = '{account}'"
    assert rows(api, soql)[0]["Contacts"] is None
    (bin_row,) = rows(api, soql, all_rows=True)[0]["Contacts"]["records"]
    assert (bin_row["Id"], bin_row["IsDeleted"]) == (contact, True)


def test_every_child_relationship_of_the_describes_can_be_queried(api: httpx.Client) -> None:
    names = [s["name"] for s in api.get("/sobjects").json()["sobjects"] if s["queryable"]]
    checked = 0
    for parent in names:
        for rel in api.get(f"/sobjects/{parent}/describe").json()["childRelationships"]:
            if not rel["relationshipName"]:
                continue
            soql = f"SELECT Id, (SELECT Id FROM {rel['relationshipName']} LIMIT 3) FROM {parent} LIMIT 50"
            response = query(api, soql)
            assert response.status_code == 200, (parent, rel, response.text)
            for record in response.json()["records"]:
                child = record[rel["relationshipName"]]
                if child is not None:
                    assert {c["attributes"]["type"] for c in child["records"]} == {rel["childSObject"]}
            checked += 1
    assert checked >= 40


@pytest.mark.parametrize(
    ("soql", "code", "message"),
    [
        (
            "SELECT Id, (SELECT Id FROM Nopes) FROM Account",
            "INVALID_TYPE",
            "Didn't understand relationship 'Nopes' in FROM part of query call. If you are attempting to use "
            "a custom relationship, be sure to append the '__r' after the custom relationship name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        ),
        (
            "SELECT Id, (SELECT Id FROM Contact) FROM Account",
            "INVALID_TYPE",
            "Didn't understand relationship 'Contact' in FROM part of query call.",
        ),
        (
            "SELECT Id, (SELECT Id FROM Histories) FROM Lead",
            "INVALID_TYPE",
            "Didn't understand relationship 'Histories' in FROM part of query call.",
        ),
        (
            "SELECT Id, (SELECT Bogus FROM Contacts) FROM Account",
            "INVALID_FIELD",
            "No such column 'Bogus' on entity 'Contact'.",
        ),
        (
            "SELECT Id, (SELECT Id FROM Contacts WHERE Amount > 3) FROM Account",
            "INVALID_FIELD",
            "No such column 'Amount' on entity 'Contact'.",
        ),
        (
            "SELECT Id, (SELECT Id FROM Contacts), (SELECT Id FROM Contacts) FROM Account",
            "INVALID_FIELD",
            "duplicate field selected: Contacts",
        ),
        (
            "SELECT Id, (SELECT Id FROM Contacts OFFSET 1) FROM Account",
            "MALFORMED_QUERY",
            "OFFSET is not allowed in a subquery",
        ),
        (
            "SELECT Id, (SELECT COUNT() FROM Contacts) FROM Account",
            "MALFORMED_QUERY",
            "Aggregate functions are not supported in a subquery",
        ),
    ],
)
def test_invalid_subqueries_answer_salesforces_errors(
    api: httpx.Client, sf_emulator: EmulatorHandle, soql: str, code: str, message: str
) -> None:
    before = sf_emulator.api_calls()
    response = query(api, soql)
    assert response.status_code == 400
    (error,) = response.json()
    assert error["errorCode"] == code
    assert message in error["message"]
    # Salesforce points at the offending token, except for a duplicate selection.
    assert error["message"].startswith(f"\n{soql}\n") is ("duplicate" not in message)
    assert sf_emulator.api_calls() == before + 1  # an error is a call too


def test_the_unknown_relationship_error_points_at_it(api: httpx.Client) -> None:
    soql = "SELECT Id, (SELECT Id FROM Nopes) FROM Account"
    message = query(api, soql).json()[0]["message"]
    lines = message.split("\n")
    assert lines[1] == soql
    assert lines[2] == " " * soql.index("Nopes") + "^"
    assert lines[3] == f"ERROR at Row:1:Column:{soql.index('Nopes') + 1}"


def history_query(sobject: str, since: dt.datetime, where: str) -> str:
    return (
        "SELECT Id, SystemModstamp, (SELECT Field, OldValue, NewValue, CreatedDate, CreatedById "
        "FROM Histories "
        f"WHERE CreatedDate >= {soql_time(since)} ORDER BY CreatedDate, Id) FROM {sobject} WHERE {where} "
        "ORDER BY SystemModstamp, Id"
    )


def test_tracked_changes_come_with_their_record_in_one_query(
    api: httpx.Client, sf_emulator: EmulatorHandle, frozen: dt.datetime
) -> None:
    opp = rows(api, "SELECT Id, StageName FROM Opportunity WHERE IsClosed = false LIMIT 1")[0]
    api.patch(f"/sobjects/Opportunity/{opp['Id']}", json={"StageName": "Closed Won"})
    sf_emulator.advance_clock(2)
    sf_emulator.dml("update", "Opportunity", {"StageName": "Negotiation/Review"}, id=opp["Id"],
                    username=sf_emulator.sales_username)  # fmt: skip
    sf_emulator.advance_clock(2)
    api.patch(f"/sobjects/Opportunity/{opp['Id']}", json={"StageName": "Closed Won", "Description": "x"})
    before = sf_emulator.api_calls()
    window = f"SystemModstamp >= {soql_time(frozen)}"
    composite = api.post(
        "/composite",
        json={"compositeRequest": [
            {"method": "GET", "referenceId": "o",
             "url": f"{V}/queryAll?q={quote(history_query('Opportunity', frozen, window))}"},
        ]},
    ).json()  # fmt: skip
    assert sf_emulator.api_calls() == before + 1
    (record,) = composite["compositeResponse"][0]["body"]["records"]
    changes = [
        (h["Field"], h["OldValue"], h["NewValue"], h["CreatedById"])
        for h in record["Histories"]["records"]
        if h["Field"] == "StageName"
    ]
    admin, sales = sf_emulator.admin_user_id, sf_emulator.sales_user_id
    assert changes == [
        ("StageName", opp["StageName"], "Closed Won", admin),
        ("StageName", "Closed Won", "Negotiation/Review", sales),
        ("StageName", "Negotiation/Review", "Closed Won", admin),
    ]
    stamps = [h["CreatedDate"] for h in record["Histories"]["records"] if h["Field"] == "StageName"]
    assert stamps == [(frozen + dt.timedelta(seconds=s)).strftime(STAMP) for s in (0, 2, 4)]
    assert record["SystemModstamp"] == stamps[-1]  # the same transaction stamps both
    assert record["Histories"]["records"][0]["attributes"]["type"] == "OpportunityFieldHistory"
    # Description is not tracked: its change wrote no row.
    assert {h["Field"] for h in record["Histories"]["records"]} <= {"StageName", "Amount", "CloseDate"}


@pytest.mark.parametrize(
    ("sobject", "field", "value", "history"),
    [
        ("Account", "Rating", "Cold", "AccountHistory"),
        ("Contact", "Title", "Chief Tester", "ContactHistory"),
        ("Case", "Priority", "Low", "CaseHistory"),
        ("Opportunity", "Amount", 4242.0, "OpportunityFieldHistory"),
    ],
)
def test_each_tracked_object_answers_its_histories(
    api: httpx.Client, frozen: dt.datetime, sobject: str, field: str, value: Any, history: str
) -> None:
    rid = rows(api, f"SELECT Id FROM {sobject} LIMIT 1")[0]["Id"]
    api.patch(f"/sobjects/{sobject}/{rid}", json={field: value})
    (record,) = rows(api, history_query(sobject, frozen, f"Id = '{rid}'"))
    (row,) = record["Histories"]["records"]
    assert row["attributes"]["type"] == history
    assert (row["Field"], row["NewValue"]) == (field, value)
    quiet = rows(api, history_query(sobject, frozen + dt.timedelta(seconds=1), f"Id = '{rid}'"))
    assert quiet[0]["Histories"] is None


def test_a_rolled_back_change_leaves_no_history(api: httpx.Client, frozen: dt.datetime) -> None:
    account = rows(api, "SELECT Id FROM Account WHERE Rating != 'Warm' LIMIT 1")[0]["Id"]
    failed = api.post(
        "/composite",
        json={"allOrNone": True, "compositeRequest": [
            {"method": "PATCH", "url": f"{V}/sobjects/Account/{account}", "referenceId": "ok",
             "body": {"Rating": "Warm"}},
            {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "bad", "body": {}},
        ]},
    ).json()  # fmt: skip
    assert failed["compositeResponse"][1]["httpStatusCode"] == 400
    (record,) = rows(api, history_query("Account", frozen, f"Id = '{account}'"))
    assert record["Histories"] is None


def test_a_late_commit_stamps_its_history_in_the_past_like_its_record(
    api: httpx.Client, sf_emulator: EmulatorHandle, frozen: dt.datetime
) -> None:
    case = rows(api, "SELECT Id FROM Case WHERE Status != 'Escalated' LIMIT 1")[0]["Id"]
    sf_emulator.late_commit("Case", {"Status": "Escalated"}, id=case, seconds_ago=120)
    since = frozen - dt.timedelta(minutes=5)
    (record,) = rows(api, history_query("Case", since, f"Id = '{case}'"))
    (row,) = record["Histories"]["records"]
    stamp = (frozen - dt.timedelta(seconds=120)).strftime(STAMP)
    assert (row["Field"], row["NewValue"], row["CreatedDate"]) == ("Status", "Escalated", stamp)
    assert record["SystemModstamp"] == stamp


def test_list_view_queries_run_as_composite_subrequests(api: httpx.Client) -> None:
    subrequests = []
    for sobject in ("Account", "Contact"):
        for view in api.get(f"/sobjects/{sobject}/listviews").json()["listviews"]:
            described = api.get(f"/sobjects/{sobject}/listviews/{view['id']}/describe").json()
            assert described["query"].startswith("SELECT ")
            ref = f"{sobject}_{view['developerName']}"
            subrequests.append((ref, view, described["query"]))
    assert len(subrequests) >= 5
    for start in range(0, len(subrequests), 5):
        chunk = subrequests[start : start + 5]
        answer = api.post(
            "/composite",
            json={"compositeRequest": [
                {"method": "GET", "referenceId": ref, "url": f"{V}/query?q={quote(soql)}"}
                for ref, _, soql in chunk
            ]},
        ).json()["compositeResponse"]  # fmt: skip
        for (ref, view, _), result in zip(chunk, answer, strict=True):
            assert result["httpStatusCode"] == 200, (ref, result)
            members = [r["Id"] for r in result["body"]["records"]]
            listed = api.get(view["resultsUrl"].split("v62.0", 1)[1], params={"limit": 2000}).json()
            ids = [
                next(c["value"] for c in r["columns"] if c["fieldNameOrPath"] == "Id")
                for r in listed["records"]
            ]
            assert members == ids, ref


def test_many_children_page_behind_their_own_next_records_url(api: httpx.Client) -> None:
    account = api.post("/sobjects/Account", json={"Name": "Big Family"}).json()["id"]
    for start in range(0, 450, 200):
        records = [
            {"attributes": {"type": "Contact"}, "LastName": f"Kid {i:03d}", "AccountId": account}
            for i in range(start, min(start + 200, 450))
        ]
        assert all(r["success"] for r in api.post("/composite/sobjects", json={"records": records}).json())
    soql = f"SELECT Id, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account WHERE Id = '{account}'"
    (record,) = rows(api, soql)
    children = record["Contacts"]
    assert children["totalSize"] == 450
    assert children["done"] is False
    assert len(children["records"]) == 200
    assert children["nextRecordsUrl"].startswith(f"{V}/query/01g")
    names = [c["LastName"] for c in children["records"]]
    page = children
    while not page["done"]:
        # A child page is a Composite subrequest like any other query page.
        answer = api.post(
            "/composite",
            json={
                "compositeRequest": [{"method": "GET", "url": page["nextRecordsUrl"], "referenceId": "kids"}]
            },
        ).json()
        page = answer["compositeResponse"][0]["body"]
        assert page["totalSize"] == 450
        names += [c["LastName"] for c in page["records"]]
    assert names == [f"Kid {i:03d}" for i in range(450)]
    few = rows(api, f"SELECT Id, (SELECT Id FROM Contacts LIMIT 200) FROM Account WHERE Id = '{account}'")
    assert few[0]["Contacts"]["done"] is True
