"""Bulk jobs at the issue's sizes: Salesforce calls and wall time to write records one by one vs a
bulk job, a 50,000-record bulk upsert with failures, and reading 100,000 records by query pages vs a
bulk query streamed to S3.

Everything runs through the bulk function's (and the accounts function's) real Lambda handler
against an in-process emulator over HTTP and moto (bench_actions.environment). Calls are the
emulator's counter. Polling for the job's state is counted apart: a workflow waits for
``bulk_job.finished`` instead (the watcher: 1 call per unfinished job and minute).

Usage: python bench/bench_bulk.py [--one-by-one 2000] [--bulk-insert 10000] [--upsert 50000]
       [--query 100000] [--poll 1.0]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bench_actions as actions_bench  # noqa: E402  (run as a script)

CONNECTION = actions_bench.CONNECTION
REGION = actions_bench.REGION
INPUTS = "tenants/bench/bulk-inputs"


def calls(admin: Any) -> int:
    return int(admin.get("/__emulator__/usage").json()["api_calls"])


def invoke(handler: Any, method: str, path: str, body: Any = None) -> tuple[int, Any, int]:
    raw = handler(
        actions_bench.api_event(method, f"/connections/{CONNECTION}/{path}", body), actions_bench._Context()
    )

    headers = dict(raw.get("headers") or {})
    headers.update({k: v[-1] for k, v in (raw.get("multiValueHeaders") or {}).items() if v})
    return (
        int(raw["statusCode"]),
        json.loads(raw["body"] or "null"),
        int(headers.get("X-Salesforce-Api-Calls", 0)),
    )


def put_csv(key: str, rows: list[list[str]], header: list[str]) -> None:
    import boto3

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=os.environ["PAYLOAD_BUCKET"], Key=key, Body=buf.getvalue().encode()
    )


def wait(bulk: Any, job_id: str, poll: float) -> tuple[dict[str, Any], int]:
    polls = 0
    while True:
        _, job, spent = invoke(bulk, "GET", f"bulk/jobs/{job_id}")
        polls += spent
        if job["finished"]:
            return job, polls
        time.sleep(poll)


def one_by_one(admin: Any, n: int) -> dict[str, Any]:
    accounts = actions_bench.load_function("accounts").lambda_handler
    before, started = calls(admin), time.perf_counter()
    for i in range(n):
        status, _, _ = invoke(accounts, "POST", "accounts", {"Name": f"One {i}"})
        assert status == 201, status
    return {"records": n, "calls": calls(admin) - before, "seconds": time.perf_counter() - started}


def bulk_insert(admin: Any, bulk: Any, n: int, poll: float) -> dict[str, Any]:
    put_csv(f"{INPUTS}/insert.csv", [[f"Bulk {i}", "Energy"] for i in range(n)], ["Name", "Industry"])
    before, started = calls(admin), time.perf_counter()
    status, job, start_calls = invoke(
        bulk,
        "POST",
        "bulk/jobs",
        {"object": "Account", "operation": "insert", "input_key": f"{INPUTS}/insert.csv"},
    )
    assert status == 201, job
    done, polls = wait(bulk, job["id"], poll)
    assert done["records_failed"] == 0, done
    return {
        "records": n,
        "calls_to_start": start_calls,
        "calls_polling": polls,
        "calls": calls(admin) - before,
        "seconds": time.perf_counter() - started,
    }


def bulk_upsert(admin: Any, bulk: Any, n: int, poll: float) -> dict[str, Any]:
    # Every 1,000th row is new without a Name: Salesforce refuses it (REQUIRED_FIELD_MISSING).
    rows = [[f"UP-{i:06d}", "" if i % 1000 == 999 else f"Upsert {i}"] for i in range(n)]
    put_csv(f"{INPUTS}/upsert.csv", rows, ["External_Id__c", "Name"])
    before, started = calls(admin), time.perf_counter()
    status, job, start_calls = invoke(
        bulk,
        "POST",
        "bulk/jobs",
        {
            "object": "Account",
            "operation": "upsert",
            "external_id_field": "External_Id__c",
            "input_key": f"{INPUTS}/upsert.csv",
        },
    )
    assert status == 201, job
    done, polls = wait(bulk, job["id"], poll)
    processed_at = time.perf_counter()
    status, failed, result_calls = invoke(bulk, "GET", f"bulk/jobs/{job['id']}/results/failed")
    assert status == 200, failed
    reasons = {r["error"].split(":", 1)[0] for r in failed["records"]}
    return {
        "records": n,
        "failed": done["records_failed"],
        "failed_rows_returned": failed["count"],
        "reasons": sorted(reasons),
        "calls_to_start": start_calls,
        "calls_polling": polls,
        "calls_results": result_calls,
        "calls": calls(admin) - before,
        "seconds_to_finish": processed_at - started,
    }


def read_by_pages(admin: Any, n: int) -> dict[str, Any]:
    from sfconnector.runtime import get_runtime

    client = get_runtime().salesforce(CONNECTION, "bench")
    before, started = calls(admin), time.perf_counter()
    tracemalloc.start()
    count = sum(1 for _ in client.query("SELECT Id, Name, Industry FROM Account"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "records": count,
        "calls": calls(admin) - before,
        "seconds": time.perf_counter() - started,
        "peak_mib": peak / 2**20,
    }


def bulk_query(admin: Any, bulk: Any, poll: float) -> dict[str, Any]:
    before, started = calls(admin), time.perf_counter()
    status, job, start_calls = invoke(
        bulk, "POST", "bulk/queries", {"object": "Account", "fields": ["Id", "Name", "Industry"]}
    )
    assert status == 201, job
    _, polls = wait(bulk, job["id"], poll)
    tracemalloc.start()
    status, results, result_calls = invoke(bulk, "GET", f"bulk/jobs/{job['id']}/results/records")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert status == 200, results
    return {
        "records": results["count"],
        "csv_mib": results["size"] / 2**20,
        "calls_to_start": start_calls,
        "calls_polling": polls,
        "calls_results": result_calls,
        "calls": calls(admin) - before,
        "seconds": time.perf_counter() - started,
        "results_peak_mib": peak / 2**20,
    }


def seed_accounts(admin: Any, total: int) -> None:
    """Accounts up to ``total`` through the emulator's own Bulk API (not counted: usage is reset)."""
    have = calls(admin)
    token = admin.post("/__emulator__/tokens", json={}).json()["access_token"]
    version = admin.get("/services/data").json()[-1]["url"]
    headers = {"Authorization": f"Bearer {token}"}
    existing = admin.get(
        f"{version}/query", params={"q": "SELECT COUNT() FROM Account"}, headers=headers
    ).json()["totalSize"]
    missing = total - existing
    if missing > 0:
        job = admin.post(
            f"{version}/jobs/ingest", json={"object": "Account", "operation": "insert"}, headers=headers
        ).json()
        data = "Name\n" + "".join(f"Seed {i}\n" for i in range(missing))
        admin.put(f"{version}/jobs/ingest/{job['id']}/batches", content=data.encode(), headers=headers)
        admin.patch(f"{version}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, headers=headers)
        while (
            admin.get(f"{version}/jobs/ingest/{job['id']}", headers=headers).json()["state"] != "JobComplete"
        ):
            time.sleep(0.5)
    admin.post("/__emulator__/usage", json={"api_calls": have})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one-by-one", type=int, default=2_000, help="Accounts created one request each")
    parser.add_argument("--bulk-insert", type=int, default=10_000)
    parser.add_argument("--upsert", type=int, default=50_000)
    parser.add_argument("--query", type=int, default=100_000, help="Accounts in the org for the reads")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between job state requests")
    args = parser.parse_args()
    with actions_bench.environment() as admin:
        admin.timeout = 600
        bulk = actions_bench.load_function("bulk").lambda_handler
        results: dict[str, Any] = {}
        if args.one_by_one:
            results["one_by_one"] = one_by_one(admin, args.one_by_one)
        if args.bulk_insert:
            results["bulk_insert"] = bulk_insert(admin, bulk, args.bulk_insert, args.poll)
        if args.upsert:
            results["bulk_upsert"] = bulk_upsert(admin, bulk, args.upsert, args.poll)
        if args.query:
            seed_accounts(admin, args.query)
            results["query_pages"] = read_by_pages(admin, args.query)
            results["bulk_query"] = bulk_query(admin, bulk, args.poll)
        for name, figures in results.items():
            shown = ", ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
            )
            print(f"{name}: {shown}")


if __name__ == "__main__":
    main()
