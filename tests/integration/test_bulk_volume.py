"""Bulk jobs at the issue's volumes, through the bulk function's real handler (emulator over HTTP,
moto): a 50,000-record upsert with failures whose failed rows come back with Salesforce's reason,
and a 100,000-record query streamed to the payload bucket.

About 15 s here (the emulator's Bulk API writes 500 rows per hold of its lock); the figures with
timings and the one-by-one comparison are bench/bench_bulk.py's, in docs/benchmarks.md.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import boto3
import pytest
import requests
from sfconnector.models.tenancy import tenant_key

from tests.fixtures.actions import ActionApi
from tests.fixtures.aws import TEST_TENANT, AwsEnv

pytestmark = pytest.mark.timeout(600)

UPSERT_ROWS = 50_000
QUERY_ROWS = 100_000
FAILING = range(0, UPSERT_ROWS, 1_000)
"""Rows with no Name: a new Account without its required field fails in Salesforce (50 rows)."""


def _wait(api: ActionApi, job_id: str, seconds: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body: dict[str, Any] = api.get(f"bulk/jobs/{job_id}").body
        if body["finished"]:
            return body
        time.sleep(0.5)
    raise AssertionError(f"bulk job {job_id} did not finish in {seconds} s")


def _put_csv(aws: AwsEnv, name: str, header: str, lines: Any) -> str:
    key = f"tenants/{tenant_key(TEST_TENANT)}/bulk-inputs/{name}.csv"
    body = header + "".join(lines)
    boto3.client("s3", region_name=aws.region).put_object(Bucket=aws.bucket, Key=key, Body=body.encode())
    return key


def _calls(response: Any) -> int:
    return int(response.headers["X-Salesforce-Api-Calls"])


def test_a_50000_record_upsert_returns_its_failed_rows_with_salesforces_reason(
    action_api: ActionApi, aws: AwsEnv
) -> None:
    key = _put_csv(
        aws,
        "accounts-50k",
        "External_Id__c,Name\r\n",
        (f"VOL-{i:06d},{'' if i in FAILING else f'Volume {i}'}\r\n" for i in range(UPSERT_ROWS)),
    )
    created = action_api.post(
        "bulk/jobs",
        {"object": "Account", "operation": "upsert", "external_id_field": "External_Id__c", "input_key": key},
    )
    assert created.status == 201, created
    assert _calls(created) == 4  # describe, create, upload (streamed from S3), close: not 50,000
    job = _wait(action_api, created.body["id"])
    assert job["state"] == "JobComplete", job
    assert (job["records_processed"], job["records_failed"]) == (UPSERT_ROWS, len(FAILING))
    failed = action_api.get(f"bulk/jobs/{job['id']}/results/failed")
    assert failed.status == 200, failed
    assert _calls(failed) == 1
    rows = failed.body["records"]
    assert sorted(r["fields"]["External_Id__c"] for r in rows) == [f"VOL-{i:06d}" for i in FAILING]
    reason = "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]"
    assert all(r["error"].startswith(reason) for r in rows)


def test_a_100000_record_query_streams_to_the_payload_bucket(action_api: ActionApi, aws: AwsEnv) -> None:
    key = _put_csv(
        aws, "leads-100k", "LastName,Company\r\n", (f"Volume {i},Query Co\r\n" for i in range(QUERY_ROWS))
    )
    load = action_api.post("bulk/jobs", {"object": "Lead", "operation": "insert", "input_key": key})
    assert load.status == 201, load
    loaded = _wait(action_api, load.body["id"])
    assert (loaded["records_processed"], loaded["records_failed"]) == (QUERY_ROWS, 0)

    created = action_api.post(
        "bulk/queries", {"object": "Lead", "fields": ["Id", "LastName"], "condition": "Company = 'Query Co'"}
    )
    assert created.status == 201, created
    job = _wait(action_api, created.body["id"])
    assert job["records_processed"] == QUERY_ROWS
    results = action_api.get(f"bulk/jobs/{job['id']}/results/records")
    assert results.status == 200, results
    assert results.body["count"] == QUERY_ROWS
    assert _calls(results) == 2  # 50,000 records per results page
    rows = list(csv.DictReader(io.StringIO(requests.get(results.body["url"], timeout=60).text)))
    assert len(rows) == QUERY_ROWS
    assert {r["LastName"] for r in rows} == {f"Volume {i}" for i in range(QUERY_ROWS)}
