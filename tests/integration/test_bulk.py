"""Bulk jobs end to end: the bulk function's Lambda handler, driven by API Gateway events, talks to
the Salesforce emulator's Bulk API 2.0 over HTTP, with AWS from moto (connection secret, state
table, payload bucket). Salesforce calls are counted by the emulator and the answers' header.

Sizes are small here: a job's calls do not depend on its size, which the call-count test shows with
two sizes; the issue's 50,000-record upsert and 100,000-record query are test_bulk_volume.py (and
bench/bench_bulk.py, figures in docs/benchmarks.md).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import time
from typing import Any

import boto3
import pytest
import requests
from jsonschema import Draft7Validator
from sfconnector.actions.bulk import BulkSettings
from sfconnector.api.asyncapi import asyncapi_document
from sfconnector.models.tenancy import tenant_key
from sfconnector.runtime import get_runtime

from tests.fixtures.actions import FUNCTIONS, ActionApi, ApiResponse, FakeLambdaContext
from tests.fixtures.aws import TEST_TENANT, AwsEnv, subscriber_queue
from tests.fixtures.emulator import EmulatorHandle


def load_module(function: str, name: str) -> Any:
    """``functions/<function>/<name>.py`` as a module (the watcher's entry point)."""
    spec = importlib.util.spec_from_file_location(
        f"sfconnector_{function}_{name}", FUNCTIONS / function / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wait(api: ActionApi, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = api.get(f"bulk/jobs/{job_id}")
        assert got.status == 200, got
        body: dict[str, Any] = got.body
        if body["finished"]:
            return body
        time.sleep(0.05)
    raise AssertionError(f"bulk job {job_id} never finished")


def _calls(response: ApiResponse) -> int:
    return int(response.headers["X-Salesforce-Api-Calls"])


def test_bulk_upsert_with_failures_returns_salesforce_reasons(
    action_api: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    records: list[dict[str, Any]] = [
        {"External_Id__c": f"BULK-{i:03d}", "Name": f'Bulk, "{i}" Inc.', "NumberOfEmployees": i}
        for i in range(20)
    ]
    records[3] = {"External_Id__c": "BULK-003", "NumberOfEmployees": 3}  # new, no Name: fails in Salesforce
    records[7] = {"External_Id__c": "BULK-007", "Name": None}  # new, Name cleared: fails too
    records.append({"External_Id__c": "ACC-0001", "Rating": "Warm"})  # a seed account: updated
    before = sf_emulator.api_calls()
    created = action_api.post(
        "bulk/jobs",
        {
            "object": "Account",
            "operation": "upsert",
            "external_id_field": "External_Id__c",
            "records": records,
        },
    )
    assert created.status == 201, created
    assert created.body["state"] == "UploadComplete"
    assert _calls(created) == 4  # describe, create, upload, close
    assert sf_emulator.api_calls() - before == 4
    job = _wait(action_api, created.body["id"])
    assert job["state"] == "JobComplete"
    assert (job["records_processed"], job["records_failed"]) == (21, 2)

    failed = action_api.get(f"bulk/jobs/{job['id']}/results/failed")
    assert failed.status == 200, failed
    assert _calls(failed) == 1
    rows = {r["fields"]["External_Id__c"]: r for r in failed.body["records"]}
    assert set(rows) == {"BULK-003", "BULK-007"}
    assert rows["BULK-003"]["error"].startswith("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]")

    ok = action_api.get(f"bulk/jobs/{job['id']}/results/successful").body
    assert ok["count"] == 19
    by_ext = {r["fields"]["External_Id__c"]: r for r in ok["records"]}
    assert by_ext["ACC-0001"]["created"] is False
    assert by_ext["BULK-005"]["created"] is True
    with sf_emulator.rest_client() as sf:
        record = sf.get(f"/sobjects/Account/{by_ext['BULK-005']['id']}").json()
    assert record["Name"] == 'Bulk, "5" Inc.'  # quoted correctly through the CSV
    assert record["NumberOfEmployees"] == 5


def test_a_jobs_calls_do_not_depend_on_its_size(action_api: ActionApi, sf_emulator: EmulatorHandle) -> None:
    costs = []
    for size in (5, 500):
        records = [{"LastName": f"Bulk {i}", "Company": "Size Co"} for i in range(size)]
        created = action_api.post("bulk/jobs", {"object": "Lead", "operation": "insert", "records": records})
        assert created.status == 201, created
        job = _wait(action_api, created.body["id"])
        assert (job["records_processed"], job["records_failed"]) == (size, 0)
        costs.append(_calls(created))
    assert costs == [4, 3]  # the describe is cached after the first job


def test_bulk_query_streams_records_to_s3(action_api: ActionApi, sf_emulator: EmulatorHandle) -> None:
    get_runtime().install(bulk_settings=BulkSettings(query_page_records=7))
    created = action_api.post(
        "bulk/queries",
        {"object": "Account", "fields": ["Id", "Name", "Owner.Name"], "condition": "Name != null"},
    )
    assert created.status == 201, created
    job = _wait(action_api, created.body["id"])
    assert job["records_processed"] == 30
    results = action_api.get(f"bulk/jobs/{job['id']}/results/records")
    assert results.status == 200, results
    assert results.body["count"] == 30
    assert _calls(results) == 5  # 30 records, 7 per page
    assert "/tenants/" in results.body["url"]
    text = requests.get(results.body["url"], timeout=10).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 30
    assert list(rows[0]) == ["Id", "Name", "Owner.Name"]
    assert all(r["Id"].startswith("001") for r in rows)


def test_csv_input_from_the_payload_bucket(action_api: ActionApi, aws: AwsEnv) -> None:
    key = f"tenants/{tenant_key(TEST_TENANT)}/bulk-inputs/leads.csv"
    data = "LastName,Company\r\n" + "".join(f"Csv {i},Stream Co\r\n" for i in range(50)) + "No Company,\r\n"
    boto3.client("s3", region_name=aws.region).put_object(Bucket=aws.bucket, Key=key, Body=data.encode())
    created = action_api.post("bulk/jobs", {"object": "Lead", "operation": "insert", "input_key": key})
    assert created.status == 201, created
    job = _wait(action_api, created.body["id"])
    assert (job["records_processed"], job["records_failed"]) == (51, 1)
    failed = action_api.get(f"bulk/jobs/{job['id']}/results/failed").body["records"]
    assert failed[0]["error"].startswith("REQUIRED_FIELD_MISSING")

    outside = action_api.post(
        "bulk/jobs", {"object": "Lead", "operation": "insert", "input_key": "tenants/other/bulk-inputs/x.csv"}
    )
    assert outside.status == 422
    assert outside.error["fields"] == ["input_key"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"object": "Account", "operation": "merge", "records": [{"Name": "A"}]}, 422, "operation"),
        ({"object": "Account", "operation": "upsert", "records": [{"Name": "A"}]}, 422, "external_id_field"),
        ({"object": "Account", "operation": "insert", "records": [{"Nope__c": "A"}]}, 422, "records.Nope__c"),
        (
            {"object": "Account", "operation": "insert", "records": [{"NumberOfEmployees": "many"}]},
            422,
            "records[0].NumberOfEmployees",
        ),
        ({"object": "Account", "operation": "insert"}, 422, "records"),
        (
            {"object": "Account", "operation": "delete", "records": [{"Id": "003000000000001"}]},
            422,
            "records[0].Id",
        ),
        ({"object": "Nope__c", "operation": "insert", "records": [{"Name": "A"}]}, 404, "sobject"),
    ],
)
def test_bad_inputs_are_refused_naming_the_field(
    action_api: ActionApi, sf_emulator: EmulatorHandle, body: dict[str, Any], status: int, field: str
) -> None:
    before = sf_emulator.api_calls()
    answer = action_api.post("bulk/jobs", body)
    assert answer.status == status, answer
    assert any(field in f for f in answer.error["fields"]), answer.error
    assert sf_emulator.api_calls() - before <= 1  # at most the describe: no job was started


def test_jobs_of_other_connections_and_wrong_results_kinds(action_api: ActionApi) -> None:
    missing = action_api.get("bulk/jobs/750000000000001AAA")
    assert missing.status == 404
    assert missing.error["fields"] == ["job_id"]
    created = action_api.post(
        "bulk/jobs", {"object": "Lead", "operation": "insert", "records": [{"LastName": "X", "Company": "Y"}]}
    )
    job_id = created.body["id"]
    wrong = action_api.get(f"bulk/jobs/{job_id}/results/records")
    assert wrong.status == 422
    assert wrong.error["fields"] == ["which"]
    _wait(action_api, job_id)
    finished = action_api.delete(f"bulk/jobs/{job_id}")
    assert finished.status == 200, finished  # idempotent: a finished job is answered as it is
    assert (finished.body["state"], finished.body["finished"]) == ("JobComplete", True)
    assert _calls(finished) == 2
    early = action_api.post("bulk/queries", {"object": "Lead", "fields": ["Id"]}).body["id"]
    aborted = action_api.delete(f"bulk/jobs/{early}")
    assert aborted.status == 200, aborted
    assert aborted.body["state"] in ("Aborted", "JobComplete")


def _received(aws: AwsEnv, url: str) -> list[dict[str, Any]]:
    got = boto3.client("sqs", region_name=aws.region).receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return [
        {
            "body": json.loads(m["Body"]),
            "attributes": {k: v["StringValue"] for k, v in m["MessageAttributes"].items()},
        }
        for m in got.get("Messages", [])
    ]


def test_the_watcher_publishes_bulk_job_finished_once(
    action_api: ActionApi, sf_emulator: EmulatorHandle, aws: AwsEnv
) -> None:
    """A workflow waits for the event instead of polling: the watcher's run costs one Salesforce
    call per unfinished job and publishes each finished job once, with the connection's tenant."""
    queue = subscriber_queue(aws, "bulk-subscriber")
    watcher = load_module("bulk", "watcher")
    created = action_api.post(
        "bulk/jobs", {"object": "Lead", "operation": "insert", "records": [{"LastName": "W", "Company": "X"}]}
    )
    job = _wait(action_api, created.body["id"])
    before = sf_emulator.api_calls()
    report = watcher.lambda_handler({}, FakeLambdaContext())
    assert report == {"checked": 1, "finished": 1, "salesforce_calls": 1, "dropped": 0, "errors": 0}
    assert sf_emulator.api_calls() - before == 1
    [message] = _received(aws, queue)
    assert message["attributes"]["event_type"] == "bulk_job.finished"
    assert message["attributes"]["tenant_id"] == TEST_TENANT
    assert message["attributes"]["connection_id"] == action_api.connection_id
    assert message["body"]["subject"] == job["id"]
    assert message["body"]["data"]["state"] == "JobComplete"
    assert message["body"]["data"]["records_processed"] == 1
    # The event is the message the AsyncAPI document describes (payload and SNS attributes).
    documented = asyncapi_document(title="t", version="1")["components"]["messages"]["bulk_job.finished"]
    assert list(Draft7Validator(documented["payload"]).iter_errors(message["body"])) == []
    assert list(Draft7Validator(documented["headers"]).iter_errors(message["attributes"])) == []
    again = watcher.lambda_handler({}, FakeLambdaContext())
    assert again["checked"] == 0  # off the watch list: no call, no second event
    assert _received(aws, queue) == []


def test_hard_delete_without_the_permission_is_salesforces_refusal(
    action_api: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    sf_emulator.configure(bulk_hard_delete=False)
    with sf_emulator.rest_client() as sf:
        lead = sf.post("/sobjects/Lead", json={"LastName": "Keep", "Company": "Me"}).json()["id"]
    refused = action_api.post(
        "bulk/jobs", {"object": "Lead", "operation": "hard_delete", "records": [{"Id": lead}]}
    )
    assert 400 <= refused.status < 500, refused
    assert refused.error["salesforce"][0]["errorCode"] == "FEATURENOTENABLED"
    sf_emulator.configure(bulk_hard_delete=True)
    allowed = action_api.post(
        "bulk/jobs", {"object": "Lead", "operation": "hard_delete", "records": [{"Id": lead}]}
    )
    assert allowed.status == 201, allowed
    assert _wait(action_api, allowed.body["id"])["records_failed"] == 0


def test_an_input_over_the_upload_limit_is_413(
    action_api: ActionApi, aws: AwsEnv, sf_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit is Salesforce's 150 MB; lowered here so the test needs no 150 MB object."""
    from sfconnector.actions import bulk as bulk_service

    monkeypatch.setattr(bulk_service, "MAX_UPLOAD_BYTES", 64)
    key = f"tenants/{tenant_key(TEST_TENANT)}/bulk-inputs/big.csv"
    boto3.client("s3", region_name=aws.region).put_object(
        Bucket=aws.bucket, Key=key, Body=b"LastName\n" + b"x\n" * 64
    )
    before = sf_emulator.api_calls()
    answer = action_api.post("bulk/jobs", {"object": "Lead", "operation": "insert", "input_key": key})
    assert answer.status == 413, answer
    assert answer.error["fields"] == ["input_key"]
    assert sf_emulator.api_calls() - before <= 1  # the describe at most: no job started


def test_inputs_are_read_and_results_written_in_bounded_pieces(aws: AwsEnv) -> None:
    """The streaming the bulk function relies on: an input comes in 1 MiB chunks (each request that
    re-sends it opens a new stream), results go up in parts of at most one buffered part."""
    from sfconnector.bulkfiles import PART_BYTES, READ_CHUNK, BulkFiles

    s3 = boto3.client("s3", region_name=aws.region)
    files = BulkFiles(aws.bucket, s3_factory=lambda: s3)
    key = f"{files.input_prefix('t-1')}big.csv"
    s3.put_object(Bucket=aws.bucket, Key=key, Body=b"Name\n" + b"y" * (3 * READ_CHUNK))
    opened = files.open_input(key)
    assert opened is not None
    stream, head = opened
    assert head.startswith(b"Name\n")
    assert stream.size == 3 * READ_CHUNK + 5
    for _ in range(2):  # re-iterable: a retried upload sends the whole object again
        sizes = [len(chunk) for chunk in stream]
        assert sum(sizes) == stream.size
        assert max(sizes) <= READ_CHUNK
    sent: list[int] = []
    s3.meta.events.register(
        "provide-client-params.s3.UploadPart", lambda params, **_: sent.append(len(params["Body"]))
    )
    parts = (b"z" * READ_CHUNK for _ in range(20))  # 20 MiB: three parts
    staged = files.write("conn-1", "t-1", parts, filename="r.csv")
    assert staged.size == 20 * READ_CHUNK
    assert staged.key.startswith("tenants/t-1/bulk-results/conn-1/")
    assert sent == [PART_BYTES, PART_BYTES, 20 * READ_CHUNK - 2 * PART_BYTES]
    assert s3.get_object(Bucket=aws.bucket, Key=staged.key)["ContentLength"] == 20 * READ_CHUNK


def test_large_ingest_results_come_as_a_presigned_url(action_api: ActionApi) -> None:
    get_runtime().install(bulk_settings=BulkSettings(inline_rows=3))
    records = [{"LastName": f"Url {i}", "Company": "Url Co"} for i in range(5)]
    created = action_api.post("bulk/jobs", {"object": "Lead", "operation": "insert", "records": records})
    job = _wait(action_api, created.body["id"])
    results = action_api.get(f"bulk/jobs/{job['id']}/results/successful")
    assert results.status == 200, results
    assert (results.body["count"], results.body["records"]) == (5, None)
    assert "/bulk-results/" in results.body["url"]
    rows = list(csv.DictReader(io.StringIO(requests.get(results.body["url"], timeout=10).text)))
    assert [r["LastName"] for r in rows] == [f"Url {i}" for i in range(5)]
    assert all(r["sf__Id"].startswith("00Q") and r["sf__Created"] == "true" for r in rows)
