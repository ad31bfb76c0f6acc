"""API accounting, the daily limit, fault injection, the clock and late commits."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle


def test_every_rest_response_carries_the_usage(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    first = api.get("/limits")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/15000"
    assert first.json()["DailyApiRequests"] == {"Max": 15000, "Remaining": 14999}
    failed = api.get("/sobjects/Account/001Hs00000ZZZZZ")
    assert failed.status_code == 404
    assert failed.headers["Sforce-Limit-Info"] == "api-usage=2/15000"  # errors count too
    httpx.post(f"{sf_emulator.login_url}/services/oauth2/token", data={"grant_type": "nope"})
    sf_emulator.admin("GET", "org")
    assert sf_emulator.api_calls() == 2  # OAuth and admin endpoints count nothing


def test_daily_limit_exhaustion(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    sf_emulator.configure(daily_api_limit=3)
    for _ in range(3):
        assert api.get("/limits").status_code == 200
    refused = api.get("/limits")
    assert refused.status_code == 403
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    sf_emulator.configure(daily_api_limit=15000)
    sf_emulator.exhaust_daily_limit()
    assert api.get("/limits").status_code == 403
    assert sf_emulator.api_calls() == 15000
    # A new day (the org's clock) brings a fresh allowance.
    sf_emulator.set_clock(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    with sf_emulator.rest_client() as fresh:
        assert fresh.get("/limits").headers["Sforce-Limit-Info"] == "api-usage=1/15000"


def test_503_fault_answers_html_like_salesforce_maintenance(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    sf_emulator.add_fault("error", status=503, path="/query", count=2)
    for _ in range(2):
        outage = api.get("/query", params={"q": "SELECT Id FROM Account LIMIT 1"})
        assert outage.status_code == 503
        assert outage.headers["content-type"].startswith("text/html")
        assert "Service Unavailable" in outage.text
    assert api.get("/query", params={"q": "SELECT Id FROM Account LIMIT 1"}).status_code == 200
    assert api.get("/limits").status_code == 200
    assert sf_emulator.api_calls() == 2  # faulted requests never reached the API
    listed = sf_emulator.admin("GET", "faults")["faults"]
    assert listed[0]["fired"] == 2


def test_500_fault_and_skip(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    sf_emulator.add_fault("error", status=500, method="POST", skip=1, count=1)
    assert api.post("/sobjects/Account", json={"Name": "ok"}).status_code == 201
    broken = api.post("/sobjects/Account", json={"Name": "boom"})
    assert broken.status_code == 500
    assert broken.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert api.post("/sobjects/Account", json={"Name": "ok again"}).status_code == 201


def test_dropped_connection(sf_emulator: EmulatorHandle) -> None:
    sf_emulator.add_fault("drop", path="/limits", count=1)
    with sf_emulator.rest_client() as api:
        with pytest.raises(httpx.TransportError):
            api.get("/limits")
        assert api.get("/limits").status_code == 200


def test_latency_fault(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    sf_emulator.add_fault("latency", latency_ms=300, path="/limits")
    started = time.perf_counter()
    assert api.get("/limits").status_code == 200
    assert time.perf_counter() - started >= 0.3
    sf_emulator.clear_faults()
    assert sf_emulator.admin("GET", "faults")["faults"] == []


def test_error_rate_is_probabilistic(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    sf_emulator.add_fault("error", status=503, rate=0.5, path="/limits")
    statuses = [api.get("/limits").status_code for _ in range(60)]
    assert 5 < statuses.count(503) < 55
    assert set(statuses) == {200, 503}


def test_bad_fault_spec_is_a_clear_400(sf_emulator: EmulatorHandle) -> None:
    response = sf_emulator.http.post("/__emulator__/faults", json={"kind": "error", "path": "(["})
    assert response.status_code == 400
    assert "path" in response.json()["error"]
    response = sf_emulator.http.post("/__emulator__/faults", json={"kind": "explode"})
    assert response.status_code == 400
    assert "kind" in response.json()["error"]


def test_clock_set_freeze_and_advance(sf_emulator: EmulatorHandle) -> None:
    frozen = sf_emulator.set_clock("2025-01-01T00:00:00Z", frozen=True)
    assert frozen == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert sf_emulator.now() == frozen
    assert sf_emulator.advance_clock(3600) == frozen + dt.timedelta(hours=1)
    running = sf_emulator.set_clock("2025-06-01T00:00:00Z")
    time.sleep(0.05)
    assert sf_emulator.now() > running


def test_late_commit_lands_behind_a_cursor(sf_emulator: EmulatorHandle) -> None:
    now = (sf_emulator.now() + dt.timedelta(hours=1)).replace(microsecond=0)
    sf_emulator.set_clock(now, frozen=True)

    def soql_time(moment: dt.datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def stamp(moment: dt.datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    with sf_emulator.rest_client() as api:
        cursor = soql_time(now - dt.timedelta(seconds=30))
        soql = f"SELECT Id FROM Account WHERE SystemModstamp >= {cursor}"  # noqa: S608
        assert api.get("/query", params={"q": soql}).json()["totalSize"] == 0
        late = sf_emulator.late_commit("Account", {"Name": "Long Transaction"}, seconds_ago=45)
        assert late["SystemModstamp"] == stamp(now - dt.timedelta(seconds=45))
        assert late["CreatedDate"] == late["SystemModstamp"]
        assert api.get("/query", params={"q": soql}).json()["totalSize"] == 0  # it landed behind the cursor
        lookback = (
            f"SELECT Id FROM Account WHERE SystemModstamp >= {soql_time(now - dt.timedelta(seconds=90))}"  # noqa: S608
        )
        assert [r["Id"] for r in api.get("/query", params={"q": lookback}).json()["records"]] == [late["id"]]
        existing = api.get("/query", params={"q": "SELECT Id FROM Contact LIMIT 1"}).json()["records"][0][
            "Id"
        ]
        moved = sf_emulator.late_commit(
            "Contact",
            {"Title": "Late"},
            id=existing,
            seconds_ago=10,
            username="sam.seller@acme-emulator.example",
        )
        assert moved["LastModifiedDate"] == stamp(now - dt.timedelta(seconds=10))
        record = api.get(f"/sobjects/Contact/{existing}").json()
        assert record["Title"] == "Late"
        assert record["LastModifiedById"] != sf_emulator.admin_user_id
    assert sf_emulator.api_calls() == 5  # the late commits went through the admin API, uncounted
    refused = sf_emulator.http.post(
        "/__emulator__/late-commit",
        json={"operation": "insert", "sobject": "Account", "fields": {"Name": "x"}},
    )
    assert refused.status_code == 400


def test_admin_dml_as_another_user(sf_emulator: EmulatorHandle) -> None:
    created = sf_emulator.dml(
        "insert", "Lead", {"LastName": "Other", "Company": "Co"}, username="riley.rep@acme-emulator.example"
    )
    with sf_emulator.rest_client() as api:
        lead = api.get(f"/sobjects/Lead/{created['id']}").json()
    riley = next(u for u in sf_emulator.users() if u["username"].startswith("riley."))
    assert lead["CreatedById"] == riley["id"]
    assert lead["OwnerId"] == riley["id"]
    bad = sf_emulator.http.post(
        "/__emulator__/dml", json={"operation": "insert", "sobject": "Lead", "fields": {}}
    )
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
