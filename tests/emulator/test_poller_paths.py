"""What a trigger poller does against Salesforce, end to end over HTTP: queryAll windows on
SystemModstamp packed five per Composite request, nextRecordsUrl pages as Composite subrequests,
the recycle bin, who made each change, and the faults a poll must survive (503 mid-pagination, a
session expiring mid-poll, the daily allowance running out, late commits)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle

V = "/services/data/v62.0"
POLLED = [
    "Account", "Contact", "Lead", "Opportunity", "Case", "CaseComment", "Product2", "Task", "Event",
    "OpportunityContactRole", "OpportunityLineItem", "Invoice__c",
]  # fmt: skip


def _soql_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_query(sobject: str, start: dt.datetime, end: dt.datetime) -> str:
    return (
        f"SELECT Id, IsDeleted, CreatedById, LastModifiedById, SystemModstamp FROM {sobject} "  # noqa: S608
        f"WHERE SystemModstamp >= {_soql_time(start)} AND SystemModstamp < {_soql_time(end)} "
        "ORDER BY SystemModstamp, Id"
    )


def sub(ref: str, url: str, **headers: str) -> dict[str, Any]:
    request: dict[str, Any] = {"method": "GET", "url": url, "referenceId": ref}
    if headers:
        request["httpHeaders"] = headers
    return request


def query_all(ref: str, soql: str, **headers: str) -> dict[str, Any]:
    return sub(ref, f"{V}/queryAll?q={quote(soql)}", **headers)


def composite(api: httpx.Client, subrequests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    response = api.post("/composite", json={"compositeRequest": subrequests})
    assert response.status_code == 200, response.text
    return {r["referenceId"]: r for r in response.json()["compositeResponse"]}


@pytest.fixture
def frozen(sf_emulator: EmulatorHandle) -> dt.datetime:
    """The org clock frozen on a whole second after the seed."""
    start = (sf_emulator.now() + dt.timedelta(seconds=5)).replace(microsecond=0)
    sf_emulator.set_clock(start, frozen=True)
    return start


def test_one_window_per_sobject_five_per_composite_call_sees_every_change_with_its_author(
    api: httpx.Client, sf_emulator: EmulatorHandle, frozen: dt.datetime
) -> None:
    picks: dict[str, list[str]] = {}
    for sobject in POLLED:
        # A line item's change also stamps its opportunity (the Amount roll-up): pick others.
        where = " WHERE HasOpportunityLineItem = false" if sobject == "Opportunity" else ""
        soql = f"SELECT Id FROM {sobject}{where} ORDER BY Id LIMIT 2"  # noqa: S608
        rows = api.get("/query", params={"q": soql}).json()["records"]
        assert len(rows) == 2, sobject
        picks[sobject] = [r["Id"] for r in rows]
    # A person changes the first record in Salesforce; a second later the connector changes the second.
    for sobject, (theirs, _) in picks.items():
        sf_emulator.dml("update", sobject, {}, id=theirs, username=sf_emulator.sales_username)
    sf_emulator.advance_clock(1)
    for sobject, (_, ours) in picks.items():
        assert api.patch(f"/sobjects/{sobject}/{ours}", json={}).status_code == 204
    sf_emulator.advance_clock(1)
    before = sf_emulator.api_calls()
    answers: dict[str, dict[str, Any]] = {}
    for i in range(0, len(POLLED), 5):
        chunk = POLLED[i : i + 5]
        end = frozen + dt.timedelta(seconds=2)
        answers |= composite(api, [query_all(s, window_query(s, frozen, end)) for s in chunk])
    assert sf_emulator.api_calls() == before + 3  # 12 queries, five per Composite request
    # The line items' change rolled up into their opportunities, stamped and authored like them.
    line_items = api.get(
        "/query", params={"q": "SELECT Id, OpportunityId FROM OpportunityLineItem ORDER BY Id LIMIT 2"}
    ).json()["records"]
    rolled_up = {r["OpportunityId"] for r in line_items}
    for sobject, (theirs, ours) in picks.items():
        result = answers[sobject]
        assert result["httpStatusCode"] == 200, result
        body = result["body"]
        assert body["done"] is True
        rows = {r["Id"]: r for r in body["records"]}
        assert set(rows) - {theirs, ours} == (rolled_up if sobject == "Opportunity" else set())
        stamps = [(r["SystemModstamp"], r["Id"]) for r in body["records"]]
        assert stamps == sorted(stamps)  # ORDER BY SystemModstamp, Id
        assert rows[theirs]["LastModifiedById"] == sf_emulator.sales_user_id, sobject
        assert rows[ours]["LastModifiedById"] == sf_emulator.admin_user_id, sobject
        assert rows[theirs]["SystemModstamp"] == frozen.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        later = (frozen + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        assert rows[ours]["SystemModstamp"] == later
        assert rows[theirs]["attributes"] == {"type": sobject, "url": f"{V}/sobjects/{sobject}/{theirs}"}


def test_records_created_through_another_users_token_carry_that_user(
    sf_emulator: EmulatorHandle, frozen: dt.datetime
) -> None:
    with sf_emulator.rest_client(sf_emulator.access_token(sf_emulator.sales_username)) as theirs:
        rid = theirs.post("/sobjects/Lead", json={"LastName": "Walk-in", "Company": "Door"}).json()["id"]
    with sf_emulator.rest_client() as ours:
        ours.patch(f"/sobjects/Lead/{rid}", json={"Status": "Working - Contacted"})
        row = ours.get(f"/sobjects/Lead/{rid}").json()
    assert row["CreatedById"] == sf_emulator.sales_user_id
    assert row["OwnerId"] == sf_emulator.sales_user_id
    assert row["LastModifiedById"] == sf_emulator.admin_user_id
    assert sf_emulator.sales_user_id not in (sf_emulator.admin_user_id, sf_emulator.integration_user_id)


def test_query_all_window_shows_deletions_from_the_recycle_bin(
    api: httpx.Client, sf_emulator: EmulatorHandle, frozen: dt.datetime
) -> None:
    lead = sf_emulator.dml("insert", "Lead", {"LastName": "Short", "Company": "Lived"})["id"]
    task = sf_emulator.dml("insert", "Task", {"Subject": "Call back"})["id"]
    sf_emulator.advance_clock(3)
    sf_emulator.dml("delete", "Lead", id=lead, username=sf_emulator.sales_username)
    api.delete(f"/sobjects/Task/{task}")
    end = frozen + dt.timedelta(seconds=10)
    answers = composite(
        api,
        [
            query_all("leads", window_query("Lead", frozen + dt.timedelta(seconds=1), end)),
            query_all("tasks", window_query("Task", frozen + dt.timedelta(seconds=1), end)),
            sub("live", f"{V}/query?q={quote(window_query('Lead', frozen, end))}"),
        ],
    )
    (gone,) = answers["leads"]["body"]["records"]
    assert gone["Id"] == lead
    assert gone["IsDeleted"] is True
    assert gone["LastModifiedById"] == sf_emulator.sales_user_id
    assert gone["SystemModstamp"] == (frozen + dt.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    (task_row,) = answers["tasks"]["body"]["records"]
    assert (task_row["Id"], task_row["IsDeleted"]) == (task, True)
    assert answers["live"]["body"]["records"] == []  # query (not queryAll) never shows the recycle bin


def _bulk_leads(api: httpx.Client, count: int, company: str) -> None:
    for start in range(0, count, 200):
        records = [
            {"attributes": {"type": "Lead"}, "LastName": f"Bulk {i:04d}", "Company": company}
            for i in range(start, min(start + 200, count))
        ]
        result = api.post("/composite/sobjects", json={"allOrNone": True, "records": records}).json()
        assert all(r["success"] for r in result)


def test_next_records_url_pages_are_composite_subrequests(
    api: httpx.Client, sf_emulator: EmulatorHandle, frozen: dt.datetime
) -> None:
    _bulk_leads(api, 4100, "Default Batch")
    end = frozen + dt.timedelta(seconds=1)
    soql = window_query("Lead", frozen, end)
    before = sf_emulator.api_calls()
    first = composite(
        api, [query_all("leads", soql), query_all("accounts", window_query("Account", frozen, end))]
    )
    page = first["leads"]["body"]
    assert page["totalSize"] == 4100
    assert len(page["records"]) == 2000  # the default batch
    assert page["nextRecordsUrl"].startswith(f"{V}/query/0r8")
    assert page["nextRecordsUrl"].endswith("-2000")
    ids = [r["Id"] for r in page["records"]]
    while not page["done"]:
        page = composite(api, [sub("more", page["nextRecordsUrl"])])["more"]["body"]
        ids += [r["Id"] for r in page["records"]]
    assert len(ids) == len(set(ids)) == 4100
    assert ids == sorted(ids)  # one SystemModstamp: ordered by Id
    assert sf_emulator.api_calls() == before + 3


def test_batch_size_header_of_a_subrequest_sets_its_pages(
    api: httpx.Client, sf_emulator: EmulatorHandle, frozen: dt.datetime
) -> None:
    _bulk_leads(api, 450, "Small Batches")
    soql = window_query("Lead", frozen, frozen + dt.timedelta(seconds=1))
    page = composite(api, [query_all("q", soql, **{"Sforce-Query-Options": "batchSize=200"})])["q"]["body"]
    sizes = [len(page["records"])]
    while not page["done"]:
        more = sub("m", page["nextRecordsUrl"], **{"Sforce-Query-Options": "batchSize=200"})
        page = composite(api, [more])["m"]["body"]
        sizes.append(len(page["records"]))
    assert sizes == [200, 200, 50]


def test_a_503_on_a_next_page_inside_a_composite_request_loses_nothing(
    api: httpx.Client, sf_emulator: EmulatorHandle, frozen: dt.datetime
) -> None:
    _bulk_leads(api, 450, "Outage")
    sf_emulator.configure(min_query_batch_size=200)
    soql = window_query("Lead", frozen, frozen + dt.timedelta(seconds=1))
    headers = {"Sforce-Query-Options": "batchSize=200"}
    page = composite(api, [query_all("q", soql, **headers)])["q"]["body"]
    fault = sf_emulator.add_fault(
        "error", status=503, path=r"/query/0r8[^/?]*-\d+$", subrequests=True, count=1
    )
    assert fault["subrequests"] is True
    before = sf_emulator.api_calls()
    request = {"compositeRequest": [sub("m", page["nextRecordsUrl"], **headers)]}
    outage = api.post("/composite", json=request)
    assert outage.status_code == 503
    assert outage.headers["content-type"].startswith("text/html")
    assert sf_emulator.api_calls() == before  # an outage is not counted
    # The cursor survives: the same page comes back on retry.
    again = api.post("/composite", json=request)
    assert again.status_code == 200
    ids = [r["Id"] for r in page["records"]] + [
        r["Id"] for r in again.json()["compositeResponse"][0]["body"]["records"]
    ]
    assert len(set(ids)) == 400
    # Without ``subrequests`` a path fault only sees the Composite request's own path.
    sf_emulator.clear_faults()
    sf_emulator.add_fault("error", status=503, path=r"/query/0r8")
    assert api.post("/composite", json=request).status_code == 200


def test_the_nth_request_fault(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    sf_emulator.add_fault("error", status=503, nth=3)
    statuses = [api.get("/limits").status_code for _ in range(5)]
    assert statuses == [200, 200, 503, 200, 200]
    refused = sf_emulator.http.post("/__emulator__/faults", json={"kind": "error", "nth": 2, "count": 1})
    assert refused.status_code == 400
    assert "nth" in refused.json()["error"]


def test_a_session_expiring_mid_poll(sf_emulator: EmulatorHandle, frozen: dt.datetime) -> None:
    tokens = sf_emulator.mint_token()
    soql = window_query("Account", frozen - dt.timedelta(days=90), frozen)
    sf_emulator.add_fault("session_expired", path="/composite", nth=2)
    with sf_emulator.rest_client(tokens["access_token"]) as api:
        assert composite(api, [query_all("a", soql)])["a"]["body"]["totalSize"] == 30
        expired = api.post("/composite", json={"compositeRequest": [query_all("a", soql)]})
        assert expired.status_code == 401
        assert expired.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
        assert api.get("/limits").status_code == 401  # the token is gone for good, not just this request
    refreshed = sf_emulator.http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": sf_emulator.client_id,
            "client_secret": sf_emulator.client_secret,
        },
    )
    assert refreshed.status_code == 200
    with sf_emulator.rest_client(refreshed.json()["access_token"]) as api:
        assert composite(api, [query_all("a", soql)])["a"]["body"]["totalSize"] == 30


def test_the_daily_allowance_running_out_mid_poll(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    soql = "SELECT Id FROM Account LIMIT 1"
    ok = api.post("/composite", json={"compositeRequest": [query_all("a", soql)]})
    assert ok.headers["Sforce-Limit-Info"] == "api-usage=1/15000"
    sf_emulator.add_fault("limit_exceeded", nth=2)
    assert api.get("/limits").status_code == 200
    refused = api.post("/composite", json={"compositeRequest": [query_all("a", soql)]})
    assert refused.status_code == 403
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=15000/15000"
    assert api.get("/limits").status_code == 403  # used up from here on, fault or not
    assert sf_emulator.api_calls() == 15000
    # The natural way: a nearly used allowance lets the poll's first call through and refuses the next.
    sf_emulator.reset()
    sf_emulator.set_api_calls(14999)
    with sf_emulator.rest_client() as fresh:
        last = fresh.post("/composite", json={"compositeRequest": [query_all("a", soql)]})
        assert last.status_code == 200
        assert last.headers["Sforce-Limit-Info"] == "api-usage=15000/15000"
        assert fresh.post("/composite", json={"compositeRequest": [query_all("a", soql)]}).status_code == 403


def test_a_late_commit_lands_behind_a_cursor_with_its_history(
    api: httpx.Client, sf_emulator: EmulatorHandle, frozen: dt.datetime
) -> None:
    account = api.get(
        "/query", params={"q": "SELECT Id, Rating FROM Account WHERE Rating != 'Hot' LIMIT 1"}
    ).json()
    rid = account["records"][0]["Id"]
    cursor = frozen - dt.timedelta(seconds=30)  # a poll already covered everything up to here
    committed = sf_emulator.late_commit("Account", {"Rating": "Hot"}, id=rid, seconds_ago=90)
    stamp = (frozen - dt.timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert committed["SystemModstamp"] == stamp
    after_cursor = composite(api, [query_all("a", window_query("Account", cursor, frozen))])
    assert after_cursor["a"]["body"]["records"] == []
    lookback = composite(
        api, [query_all("a", window_query("Account", cursor - dt.timedelta(minutes=5), frozen))]
    )
    assert [r["Id"] for r in lookback["a"]["body"]["records"]] == [rid]
    fields = "Field, OldValue, NewValue, CreatedDate"
    where = f"AccountId = '{rid}' AND Field = 'Rating'"
    soql = f"SELECT {fields} FROM AccountHistory WHERE {where} ORDER BY CreatedDate DESC LIMIT 1"  # noqa: S608
    history = api.get("/query", params={"q": soql}).json()["records"]
    assert history[0]["NewValue"] == "Hot"
    assert history[0]["OldValue"] == account["records"][0]["Rating"]
    assert history[0]["CreatedDate"] == stamp  # the history row is stamped in the past with its record
