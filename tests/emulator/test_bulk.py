"""Bulk API 2.0 in the emulator: ingest jobs (CSV in, per-row results out) and query jobs (CSV pages).

Small data on purpose (make test's budget): the 50,000-row upsert and 100,000-row query live in
bench/bench_bulk.py.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx

from tests.fixtures.emulator import EmulatorHandle


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _wait(api: httpx.Client, kind: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info: dict[str, Any] = api.get(f"/jobs/{kind}/{job_id}").json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return info
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never finished")


def _in_org(api: httpx.Client, lead_id: str) -> int:
    """How many rows queryAll (recycle bin included) finds for the id (an id minted by the org)."""
    soql = f"SELECT Id FROM Lead WHERE Id = '{lead_id}'"  # noqa: S608 - an org-minted id, no input
    return int(api.get("/queryAll", params={"q": soql}).json()["totalSize"])


def _ingest(api: httpx.Client, spec: dict[str, Any], data: bytes) -> dict[str, Any]:
    job = api.post("/jobs/ingest", json={"contentType": "CSV", **spec})
    assert job.status_code == 200, job.text
    job_id = job.json()["id"]
    upload = api.put(f"/jobs/ingest/{job_id}/batches", content=data, headers={"Content-Type": "text/csv"})
    assert upload.status_code == 201, upload.text
    closed = api.patch(f"/jobs/ingest/{job_id}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    return _wait(api, "ingest", job_id)


def test_upsert_job_reports_each_row_with_salesforce_errors(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    data = (
        b"External_Id__c,Name,Rating\n"
        b"ACC-0001,,Warm\n"  # an existing account: updated, its Name untouched (empty cell)
        b'BULK-1,"Quoted, Inc.",Hot\n'  # new
        b"BULK-2,,Cold\n"  # new without a Name: REQUIRED_FIELD_MISSING
        b"BULK-3,Bad Rating,NotARating\n"  # a plain picklist accepts it (not restricted)
    )
    before = sf_emulator.api_calls()
    info = _ingest(
        api, {"object": "Account", "operation": "upsert", "externalIdFieldName": "External_Id__c"}, data
    )
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 4
    assert info["numberRecordsFailed"] == 1
    assert info["jobType"] == "V2Ingest"
    ok = _rows(api.get(f"/jobs/ingest/{info['id']}/successfulResults").text)
    assert [(r["External_Id__c"], r["sf__Created"]) for r in ok] == [
        ("ACC-0001", "false"),
        ("BULK-1", "true"),
        ("BULK-3", "true"),
    ]
    assert ok[1]["Name"] == "Quoted, Inc."
    failed = _rows(api.get(f"/jobs/ingest/{info['id']}/failedResults").text)
    assert len(failed) == 1
    assert failed[0]["External_Id__c"] == "BULK-2"
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]")
    created = api.get(f"/sobjects/Account/{ok[1]['sf__Id']}").json()
    assert created["Name"] == "Quoted, Inc."
    rows = api.get(
        "/query", params={"q": "SELECT Name, Rating FROM Account WHERE External_Id__c = 'ACC-0001'"}
    )
    assert rows.json()["records"][0]["Rating"] == "Warm"
    assert rows.json()["records"][0]["Name"]  # not blanked by the empty cell
    # create, upload, close, 1 poll at least, successful, failed, sobject get, query: each one call
    assert sf_emulator.api_calls() - before >= 7


def test_insert_update_delete_and_hard_delete(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    info = _ingest(api, {"object": "Lead", "operation": "insert"}, b"LastName,Company\nOne,Acme\nTwo,Acme\n")
    ids = [r["sf__Id"] for r in _rows(api.get(f"/jobs/ingest/{info['id']}/successfulResults").text)]
    assert len(ids) == 2
    update = f"Id,Company\r\n{ids[0]},Globex\r\n001000000000000AAA,Nope\r\n".encode()
    info = _ingest(api, {"object": "Lead", "operation": "update", "lineEnding": "CRLF"}, update)
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    assert api.get(f"/sobjects/Lead/{ids[0]}").json()["Company"] == "Globex"
    info = _ingest(api, {"object": "Lead", "operation": "delete"}, f"Id\n{ids[0]}\n".encode())
    assert info["numberRecordsFailed"] == 0
    assert _in_org(api, ids[0]) == 1  # in the recycle bin
    info = _ingest(api, {"object": "Lead", "operation": "hardDelete"}, f"Id\n{ids[1]}\n".encode())
    assert info["numberRecordsFailed"] == 0
    assert _in_org(api, ids[1]) == 0  # no recycle bin for a hard delete


def test_hard_delete_is_refused_without_the_permission(
    api: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    sf_emulator.configure(bulk_hard_delete=False)
    refused = api.post("/jobs/ingest", json={"object": "Lead", "operation": "hardDelete"})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "FEATURENOTENABLED"


def test_bad_header_and_line_ending_fail_the_job(api: httpx.Client) -> None:
    info = _ingest(api, {"object": "Account", "operation": "insert"}, b"Name,Nope__c\nA,B\n")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Nope__c"
    info = _ingest(api, {"object": "Account", "operation": "insert"}, b"Name\r\nA\r\n")
    assert info["state"] == "Failed"
    assert "LineEnding" in info["errorMessage"]


def test_job_lifecycle_errors(api: httpx.Client) -> None:
    assert api.post("/jobs/ingest", json={"object": "Account", "operation": "merge"}).status_code == 400
    assert api.post("/jobs/ingest", json={"object": "Nope", "operation": "insert"}).status_code == 400
    no_ext = api.post("/jobs/ingest", json={"object": "Account", "operation": "upsert"})
    assert no_ext.status_code == 400
    job_id = api.post("/jobs/ingest", json={"object": "Account", "operation": "insert"}).json()["id"]
    assert api.put(f"/jobs/ingest/{job_id}/batches", content=b"Name\nA\n").status_code == 201
    again = api.put(f"/jobs/ingest/{job_id}/batches", content=b"Name\nB\n")
    assert again.status_code == 400
    assert again.json()[0]["errorCode"] == "BULK_API_ERROR"
    early = api.get(f"/jobs/ingest/{job_id}/successfulResults")
    assert early.status_code == 409
    aborted = api.patch(f"/jobs/ingest/{job_id}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert api.get(f"/jobs/ingest/{job_id}/unprocessedrecords").status_code == 200
    assert api.delete(f"/jobs/ingest/{job_id}").status_code == 204
    assert api.get(f"/jobs/ingest/{job_id}").status_code == 404


def test_query_job_pages_csv_with_locator(api: httpx.Client, sf_emulator: EmulatorHandle) -> None:
    soql = "SELECT Id, Name, Owner.Name FROM Account ORDER BY Name"
    job = api.post("/jobs/query", json={"operation": "query", "query": soql})
    assert job.status_code == 200
    assert job.json()["state"] == "UploadComplete"
    assert job.json()["object"] == "Account"
    info = _wait(api, "query", job.json()["id"])
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 30
    before = sf_emulator.api_calls()
    rows: list[dict[str, str]] = []
    locator: str | None = None
    pages = 0
    while True:
        params = {"maxRecords": "12", **({"locator": locator} if locator else {})}
        page = api.get(f"/jobs/query/{info['id']}/results", params=params)
        assert page.headers["content-type"].startswith("text/csv")
        got = _rows(page.text)
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(got)
        rows.extend(got)
        pages += 1
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert pages == 3
    assert sf_emulator.api_calls() - before == 3
    assert list(rows[0]) == ["Id", "Name", "Owner.Name"]
    assert len(rows) == 30
    assert [r["Name"] for r in rows] == sorted(r["Name"] for r in rows)
    bad = api.post("/jobs/query", json={"operation": "query", "query": "SELECT Nope FROM Account"})
    assert bad.status_code == 400
