"""Many records (issue 20): Salesforce calls and wall time to write records one by one vs in batches,
and to read a large object by find-many pages.

Through the real handlers (the contacts function), warm, against an in-process emulator over HTTP
and moto (``bench.bench_actions.environment``). Salesforce calls are the emulator's own counter.

* write N contacts (default 10,000): one ``POST /contacts`` each, then ``POST /contacts/batch`` of
  200 (create), then the same records updated in batches of 200;
* read R contacts (default 100,000, loaded by the emulator's admin API, which costs no call) with
  ``POST /contacts/query`` pages of 2,000.

Usage: python bench/bench_many.py [--writes 10000] [--reads 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is the path

from bench.bench_actions import CONNECTION, _Context, api_event, environment, load_function


def _calls(admin: httpx.Client) -> int:
    return int(admin.get("/__emulator__/usage").json()["api_calls"])


def _send(handler: Any, method: str, path: str, body: Any) -> dict[str, Any]:
    answer: dict[str, Any] = handler(api_event(method, f"/connections/{CONNECTION}/{path}", body), _Context())
    if answer["statusCode"] >= 300:
        raise SystemExit(f"{method} {path}: {answer['statusCode']} {answer['body'][:300]}")
    body_out: dict[str, Any] = json.loads(answer["body"])
    return body_out


def _report(label: str, records: int, calls: int, seconds: float) -> None:
    print(
        f"{label:<44} {records:>7} records  {calls:>6} Salesforce calls  ({calls / records:.3f} per record)  "
        f"{seconds:7.1f} s  ({records / seconds:,.0f} records/s)"
    )


def writes(admin: httpx.Client, handler: Any, n: int) -> None:
    _send(handler, "POST", "contacts/find", {"criteria": {"LastName": "warm"}})  # the describe is cached
    before, start = _calls(admin), time.perf_counter()
    for i in range(n):
        _send(handler, "POST", "contacts", {"LastName": f"One {i}", "Email": f"one{i}@bench.example"})
    _report("one by one (POST /contacts)", n, _calls(admin) - before, time.perf_counter() - start)

    ids: list[str] = []
    before, start = _calls(admin), time.perf_counter()
    for offset in range(0, n, 200):
        records = [
            {"LastName": f"Batch {i}", "Email": f"batch{i}@bench.example"}
            for i in range(offset, min(n, offset + 200))
        ]
        result = _send(handler, "POST", "contacts/batch", {"operation": "create", "records": records})
        if result["failed"]:
            raise SystemExit(f"batch failures: {result['results'][:2]}")
        ids += [r["id"] for r in result["results"]]
    _report(
        "batches of 200 (POST /contacts/batch create)", n, _calls(admin) - before, time.perf_counter() - start
    )

    before, start = _calls(admin), time.perf_counter()
    for offset in range(0, n, 200):
        records = [{"Id": i, "Title": "Buyer"} for i in ids[offset : offset + 200]]
        _send(handler, "POST", "contacts/batch", {"operation": "update", "records": records})
    _report("batches of 200 (update)", n, _calls(admin) - before, time.perf_counter() - start)


def reads(admin: httpx.Client, handler: Any, n: int) -> None:
    # Loaded through the emulator's admin API (no Salesforce call, no connector code).
    start = time.perf_counter()
    for i in range(n):
        admin.post(
            "/__emulator__/dml",
            json={
                "operation": "insert",
                "sobject": "Contact",
                "fields": {"LastName": f"Read {i}", "Title": "Reader"},
            },
        ).raise_for_status()
    print(f"(loaded {n:,} contacts in {time.perf_counter() - start:.0f} s through the admin API)")
    body: dict[str, Any] = {"criteria": {"Title": "Reader"}, "fields": ["LastName"], "limit": 2000}
    seen: set[str] = set()
    pages = 0
    before, start = _calls(admin), time.perf_counter()
    token = None
    while True:
        page = _send(handler, "POST", "contacts/query", {**body, "next": token} if token else body)
        pages += 1
        seen.update(r["Id"] for r in page["records"])
        token = page["next"]
        if token is None:
            break
    seconds = time.perf_counter() - start
    _report(f"find many, pages of 2,000 ({pages} pages)", len(seen), _calls(admin) - before, seconds)
    if len(seen) != n:
        raise SystemExit(f"read {len(seen)} distinct records, expected {n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=100_000)
    args = parser.parse_args()
    with environment() as admin:
        handler = load_function("contacts").lambda_handler
        writes(admin, handler, args.writes)
        reads(admin, handler, args.reads)


if __name__ == "__main__":
    main()
