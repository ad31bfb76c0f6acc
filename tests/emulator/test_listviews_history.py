"""List views (list, describe with SOQL, results), field history, getUpdated / getDeleted."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.fixtures.emulator import EmulatorHandle


def test_list_views_list_describe_and_results(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    listing = api.get("/sobjects/Account/listviews").json()
    assert listing["sobjectType"] == "Account"
    assert listing["done"] is True
    assert listing["size"] == len(listing["listviews"]) >= 3
    hot = next(v for v in listing["listviews"] if v["developerName"] == "Hot_Accounts")
    assert hot["id"].startswith("00B")
    assert hot["soqlCompatible"] is True
    assert (
        hot["describeUrl"]
        == f"/services/data/{sf_emulator.api_version}/sobjects/Account/listviews/{hot['id']}/describe"
    )
    described = api.get(hot["describeUrl"].split(sf_emulator.api_version)[1]).json()
    assert described["sobjectType"] == "Account"
    assert described["query"].startswith("SELECT Name, Industry, Rating")
    assert "WHERE Rating = 'Hot'" in described["query"]
    assert described["whereCondition"] == {"field": "Rating", "operator": "equals", "values": ["'Hot'"]}
    # The describe's SOQL is a real query: running it gives exactly the list view's members.
    members = api.get("/query", params={"q": described["query"]}).json()
    assert members["totalSize"] > 0
    assert all(r["Rating"] == "Hot" for r in members["records"])
    results = api.get(hot["resultsUrl"].split(sf_emulator.api_version)[1], params={"limit": 2}).json()
    assert results["size"] == members["totalSize"]
    assert len(results["records"]) == 2
    first_row = {c["fieldNameOrPath"]: c["value"] for c in results["records"][0]["columns"]}
    assert first_row["Id"] == members["records"][0]["Id"]
    assert first_row["Rating"] == "Hot"
    assert any(c["hidden"] for c in results["columns"])


def test_list_view_membership_changes_with_data(api: httpx.Client) -> None:
    view = next(
        v
        for v in api.get("/sobjects/Account/listviews").json()["listviews"]
        if v["developerName"] == "Hot_Accounts"
    )
    query = api.get(f"/sobjects/Account/listviews/{view['id']}/describe").json()["query"]
    rid = api.post("/sobjects/Account", json={"Name": "Newly Hot", "Rating": "Cold"}).json()["id"]
    ids = {r["Id"] for r in api.get("/query", params={"q": query}).json()["records"]}
    assert rid not in ids
    api.patch(f"/sobjects/Account/{rid}", json={"Rating": "Hot"})
    ids = {r["Id"] for r in api.get("/query", params={"q": query}).json()["records"]}
    assert rid in ids


def test_every_list_view_query_runs(api: httpx.Client) -> None:
    for sobject in ("Account", "Contact", "Lead", "Opportunity", "Case", "Product2", "Invoice__c"):
        views = api.get(f"/sobjects/{sobject}/listviews").json()["listviews"]
        assert views, sobject
        for view in views:
            query = api.get(f"/sobjects/{sobject}/listviews/{view['id']}/describe").json()["query"]
            response = api.get("/query", params={"q": query})
            assert response.status_code == 200, (view["developerName"], response.text)
    assert api.get("/sobjects/Account/listviews/00BHs0000000000AAA/describe").status_code == 404


def test_tracked_field_changes_write_history_rows(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    opp = api.post(
        "/sobjects/Opportunity",
        json={"Name": "Tracked", "StageName": "Prospecting", "CloseDate": "2030-01-01"},
    ).json()["id"]
    api.patch(
        f"/sobjects/Opportunity/{opp}", json={"StageName": "Negotiation/Review", "Description": "untracked"}
    )
    rows = api.get(
        "/query",
        params={
            "q": f"SELECT Field, OldValue, NewValue, CreatedById FROM OpportunityFieldHistory "  # noqa: S608
            f"WHERE OpportunityId = '{opp}' ORDER BY CreatedDate"
        },
    ).json()["records"]
    changes = [(r["Field"], r["OldValue"], r["NewValue"]) for r in rows]
    assert ("created", None, None) in changes
    assert ("StageName", "Prospecting", "Negotiation/Review") in changes
    assert all(r["CreatedById"] == sf_emulator.admin_user_id for r in rows)
    assert not any(field == "Description" for field, _, _ in changes)
    case = api.post("/sobjects/Case", json={"Subject": "History"}).json()["id"]
    api.patch(f"/sobjects/Case/{case}", json={"Status": "Working"})
    case_rows = api.get(
        "/query",
        params={"q": f"SELECT Field, OldValue, NewValue FROM CaseHistory WHERE CaseId = '{case}'"},  # noqa: S608
    ).json()["records"]
    assert {"Field": "Status", "OldValue": "New", "NewValue": "Working"} in [
        {k: r[k] for k in ("Field", "OldValue", "NewValue")} for r in case_rows
    ]
    acct = api.post("/sobjects/Account", json={"Name": "Rated", "Rating": "Cold"}).json()["id"]
    api.patch(f"/sobjects/Account/{acct}", json={"Rating": "Hot"})
    acct_rows = api.get(
        "/query",
        params={"q": f"SELECT Field, NewValue FROM AccountHistory WHERE AccountId = '{acct}'"},  # noqa: S608
    ).json()["records"]
    assert {"Field": "Rating", "NewValue": "Hot"} in [
        {"Field": r["Field"], "NewValue": r["NewValue"]} for r in acct_rows
    ]


def test_seed_has_history(api: httpx.Client) -> None:
    for history in ("AccountHistory", "OpportunityFieldHistory", "CaseHistory", "ContactHistory"):
        changed = api.get("/query", params={"q": f"SELECT COUNT() FROM {history} WHERE Field != 'created'"})  # noqa: S608
        assert changed.json()["totalSize"] > 0, history


def test_get_updated_and_get_deleted(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    start = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
    sf_emulator.set_clock(start, frozen=True)
    with sf_emulator.rest_client() as now_api:
        created = now_api.post("/sobjects/Contact", json={"LastName": "Replicated"}).json()["id"]
        doomed = now_api.post("/sobjects/Contact", json={"LastName": "Doomed"}).json()["id"]
        sf_emulator.advance_clock(120)
        now_api.delete(f"/sobjects/Contact/{doomed}")
        sf_emulator.advance_clock(600)
        window = {"start": "2024-03-01T11:59:00+00:00", "end": "2024-03-01T12:10:00+00:00"}
        updated = now_api.get("/sobjects/Contact/updated/", params=window).json()
        assert created in updated["ids"]
        assert doomed not in updated["ids"]
        assert updated["latestDateCovered"] == "2024-03-01T12:10:00.000+0000"
        deleted = now_api.get("/sobjects/Contact/deleted/", params=window).json()
        assert deleted["deletedRecords"] == [{"id": doomed, "deletedDate": "2024-03-01T12:02:00.000+0000"}]
        assert deleted["latestDateCovered"] == "2024-03-01T12:10:00.000+0000"
        reversed_window = now_api.get(
            "/sobjects/Contact/updated/", params={"start": window["end"], "end": window["start"]}
        )
        assert reversed_window.status_code == 400
        assert reversed_window.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
        too_old = now_api.get(
            "/sobjects/Contact/updated/", params={"start": "2023-01-01T00:00:00Z", "end": window["end"]}
        )
        assert too_old.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_a_list_view_changed_in_salesforce_serves_its_new_query(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    columns = ["Name", "Rating"]
    created = sf_emulator.put_list_view(
        "Account", "Warm_Ones", columns=columns, orderBy="Name",
        filters=[{"field": "Rating", "operator": "equals", "values": ["Warm"]}],
    )  # fmt: skip
    assert created["created"] is True
    view_id = created["id"]
    assert view_id.startswith("00B")
    listed = api.get("/sobjects/Account/listviews").json()["listviews"]
    assert view_id in [v["id"] for v in listed]
    described = api.get(f"/sobjects/Account/listviews/{view_id}/describe").json()
    assert "WHERE Rating = 'Warm'" in described["query"]
    warm = api.get("/query", params={"q": described["query"]}).json()["records"]
    assert warm
    assert {r["Rating"] for r in warm} == {"Warm"}
    changed = sf_emulator.put_list_view(
        "Account", "Warm_Ones", columns=columns, orderBy="Name",
        filters=[{"field": "Rating", "operator": "equals", "values": ["Cold"]}],
    )  # fmt: skip
    assert (changed["id"], changed["created"]) == (view_id, False)
    now = api.get(f"/sobjects/Account/listviews/{view_id}/describe").json()["query"]
    assert now != described["query"]
    assert {r["Rating"] for r in api.get("/query", params={"q": now}).json()["records"]} == {"Cold"}
    sf_emulator.delete_list_view(view_id)
    assert api.get(f"/sobjects/Account/listviews/{view_id}/describe").status_code == 404
    bad = sf_emulator.http.post(
        "/__emulator__/listviews",
        json={
            "sobject": "Account",
            "developerName": "Bad",
            "label": "Bad",
            "columns": ["Nope"],
            "orderBy": "Name",
        },
    )
    assert bad.status_code == 400
    assert "Nope" in bad.json()["error"]
    sf_emulator.put_list_view("Account", "Gone_On_Reset", columns=columns, orderBy="Name")
    sf_emulator.reset()  # tokens too: a new client
    with sf_emulator.rest_client() as fresh:
        names = [v["developerName"] for v in fresh.get("/sobjects/Account/listviews").json()["listviews"]]
    assert "Gone_On_Reset" not in names
    assert "Hot_Accounts" in names
