"""The price of the match lock and of the subscription limits, and what they buy.

* Upsert of a Lead by Email (a field that is not an External ID) through the leads function's real
  handler, warm, against an in-process emulator over HTTP and moto: median / p95 wall time with the
  match lock and without it (the lock replaced by a no-op), new Emails (create) and one Email
  again (update); the DynamoDB time is the lock's two writes.
* 20 parallel upserts of one new Email (one handler per thread, as Lambda runs one request per
  container): Leads made and wall time, with and without the lock; 8 upserts of 8 different
  Emails at once, with the lock (distinct values do not wait for each other).
* Subscription create latency through the connections function at 0 and at 199 existing
  subscriptions (a limit of 200); the list's default page beside all 199 in one answer (bytes).

Usage: python bench/bench_upsert_limits.py [--n 60]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is the path

from bench.bench_actions import (
    CLOCK,
    CONNECTION,
    REGION,
    _Context,
    api_event,
    environment,
    load_function,
    p95,
    time_botocore,
)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _upsert(email: str, name: str) -> dict[str, Any]:
    body = {"match_field": "Email", "record": {"Email": email, "LastName": name, "Company": "Bench"}}
    event: dict[str, Any] = api_event("PUT", f"/connections/{CONNECTION}/leads/upsert", body)
    return event


@contextlib.contextmanager
def _lock(enabled: bool) -> Iterator[None]:
    from sfconnector.runtime import get_runtime
    from sfconnector.stores.locks import MatchLock

    runtime = get_runtime()
    saved = runtime.__dict__.pop("match_lock", None)
    if not enabled:

        class NoLock(MatchLock):
            def held(self, connection_id: str, match_key: str) -> Any:
                return nullcontext()

        runtime.install(match_lock=NoLock(lambda: runtime.dynamodb, runtime.settings.table_name))
    try:
        yield
    finally:
        runtime.__dict__.pop("match_lock", None)
        if saved is not None:
            runtime.install(match_lock=saved)


def sequential(handler: Handler, n: int, tag: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"create": [], "update": [], "create_aws": []}
    for i in range(n + 5):
        for kind, email in (("create", f"{tag}{i}@bench.example"), ("update", f"{tag}-same@bench.example")):
            CLOCK.reset()
            started = time.perf_counter()
            answer = handler(_upsert(email, f"N{i}"), _Context())
            elapsed = (time.perf_counter() - started) * 1000
            if answer["statusCode"] not in (200, 201):
                raise SystemExit(f"upsert: HTTP {answer['statusCode']}: {answer.get('body')}")
            if i >= 5:
                out[kind].append(elapsed)
                if kind == "create":
                    out["create_aws"].append(CLOCK.aws * 1000)
    return out


def parallel(events: list[dict[str, Any]]) -> tuple[float, list[int]]:
    from sfconnector.api.app import build_family_app, build_lambda_handler

    handlers = [build_lambda_handler(build_family_app("leads")) for _ in events]
    barrier = threading.Barrier(len(events))
    statuses: list[int] = []

    def run(i: int) -> None:
        barrier.wait()
        statuses.append(int(handlers[i](events[i], _Context())["statusCode"]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(events))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (time.perf_counter() - started) * 1000, statuses


def leads_with(admin: Any, email: str) -> int:
    """How many Leads the org holds with this Email (read with a token of its own)."""
    token = admin.post("/__emulator__/tokens", json={}).json()["access_token"]
    answer = admin.get(
        "/services/data/v62.0/query",
        params={"q": f"SELECT Id FROM Lead WHERE Email = '{email}'"},  # noqa: S608
        headers={"Authorization": f"Bearer {token}"},
    )
    answer.raise_for_status()
    return int(answer.json()["totalSize"])


def subscriptions(n: int) -> list[str]:
    """Create latency (ms) at 0 and at 199 subscriptions, and the list's sizes."""
    import boto3
    from sfconnector.models.subscriptions import Subscription
    from sfconnector.runtime import get_runtime

    group = "bench-polling"
    boto3.client("scheduler", region_name=REGION).create_schedule_group(Name=group)
    os.environ.update(
        {
            "SCHEDULE_GROUP_NAME": group,
            "POLLER_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:bench-PollerFunction",
            "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/bench-SchedulerRole",
        }
    )
    connections = load_function("connections").lambda_handler
    base = f"/connections/{CONNECTION}/subscriptions"

    aws_ms: dict[int, list[float]] = {0: [], 199: []}
    reads: dict[int, dict[str, int]] = {0: {}, 199: {}}

    def create_then_delete(at: int | None = None) -> float:
        CLOCK.reset()
        OPERATIONS.clear()
        started = time.perf_counter()
        answer = connections(api_event("POST", base, {"trigger": "leads.created"}), _Context())
        elapsed = (time.perf_counter() - started) * 1000
        if at is not None:
            aws_ms[at].append(CLOCK.aws * 1000)
            reads[at] = dict(OPERATIONS)
        if answer["statusCode"] != 201:
            raise SystemExit(f"create: HTTP {answer['statusCode']}: {answer.get('body')}")
        sid = json.loads(answer["body"])["subscription_id"]
        connections(api_event("DELETE", f"{base}/{sid}"), _Context())
        return elapsed

    create_then_delete()  # warm: describe cached, schedule exists
    at_zero = [create_then_delete(0) for _ in range(n)]
    repo = get_runtime().subscriptions
    triggers = ["leads.created", "leads.updated", "accounts.created", "accounts.updated", "contacts.created"]
    for i in range(199):
        repo.put(
            Subscription.model_validate(
                {
                    "subscription_id": f"{i + 1:032x}",
                    "connection_id": CONNECTION,
                    "trigger": triggers[i % 5],
                    "kind": triggers[i % 5].split(".")[1],
                    "family": triggers[i % 5].split(".")[0],
                    "sobject": "Lead",
                    "start_at": "2026-11-30T10:00:00Z",
                }
            )
        )
    at_199 = [create_then_delete(199) for _ in range(n)]
    page = connections(api_event("GET", base), _Context())
    sizes = [len(page["body"])]
    pages = 1
    token = json.loads(page["body"]).get("next_token")
    total = len(page["body"])
    while token:
        event = api_event("GET", base)
        event["queryStringParameters"] = {"next_token": token}
        event["multiValueQueryStringParameters"] = {"next_token": [token]}
        answer = connections(event, _Context())
        total += len(answer["body"])
        pages += 1
        token = json.loads(answer["body"]).get("next_token")
    full = connections(api_event("POST", base, {"trigger": "cases.created"}), _Context())
    refused = json.loads(full["body"]) if full["statusCode"] != 201 else {}
    # 199 + 1: the 201st is refused.
    over = connections(api_event("POST", base, {"trigger": "cases.created"}), _Context())
    return [
        _timing("subscription create, 0 existing:  ", at_zero)
        + f" (AWS {statistics.median(aws_ms[0]):6.2f} ms; DynamoDB requests {_ops(reads[0])})",
        _timing("subscription create, 199 existing:", at_199)
        + f" (AWS {statistics.median(aws_ms[199]):6.2f} ms; DynamoDB requests {_ops(reads[199])})",
        f"list of 199: default page {sizes[0]:,} bytes (50 subscriptions); all {pages} pages {total:,} bytes",
        f"the 200th create: HTTP {full['statusCode']} {refused.get('error', {}).get('code', '')}; "
        f"the 201st: HTTP {over['statusCode']} {json.loads(over['body']).get('error', {}).get('code', '')}",
    ]


OPERATIONS: dict[str, int] = {}


def count_dynamodb_requests() -> None:
    """Count the DynamoDB requests by operation (into OPERATIONS)."""
    from botocore.client import BaseClient

    # The private method every client operation goes through (as bench_actions' timing does).
    inner = getattr(BaseClient, "_make_api_call")  # noqa: B009

    def counted(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            OPERATIONS[operation_name] = OPERATIONS.get(operation_name, 0) + 1
        return inner(self, operation_name, api_params)

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010


def _ops(counted: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counted.items()))


def _timing(label: str, values: list[float]) -> str:
    return f"{label} median {statistics.median(values):7.2f} ms, p95 {p95(values):7.2f} ms"


def _statuses(label: str, wall: float, statuses: list[int]) -> str:
    return f"{label}: statuses {sorted(set(statuses))}, {wall:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--only-subscriptions", action="store_true", help="skip the upsert figures")
    args = parser.parse_args()
    out = sys.stdout
    lines: list[str] = []
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        time_botocore()
        count_dynamodb_requests()
        with environment() as admin:
            if not args.only_subscriptions:
                lines.extend(upserts(admin, args.n))
            lines.extend(subscriptions(max(10, args.n // 3)))
    for line in lines:
        print(line, file=out)


def upserts(admin: Any, n: int) -> list[str]:
    lines: list[str] = []
    leads = load_function("leads").lambda_handler
    for enabled in (False, True):
        with _lock(enabled):
            timings = sequential(leads, n, f"seq{int(enabled)}-")
        label = "with lock   " if enabled else "without lock"
        lines.append(
            f"upsert by Email {label}: create median {statistics.median(timings['create']):6.2f} ms "
            f"(p95 {p95(timings['create']):6.2f}, "
            f"DynamoDB {statistics.median(timings['create_aws']):5.2f}); "
            f"update median {statistics.median(timings['update']):6.2f} ms "
            f"(p95 {p95(timings['update']):6.2f})"
        )
    for enabled in (False, True):
        for trial in range(3):
            email = f"burst{int(enabled)}-{trial}@bench.example"
            with _lock(enabled):
                wall, statuses = parallel([_upsert(email, f"W{i}") for i in range(20)])
            label = "with lock   " if enabled else "without lock"
            made = leads_with(admin, email)
            lines.append(
                f"20 parallel upserts of one new Email {label}, trial {trial}: {made} Lead(s), "
                f"statuses {sorted(set(statuses))}, {wall:7.1f} ms"
            )
    with _lock(True):
        wall, statuses = parallel([_upsert(f"distinct{i}@bench.example", "D") for i in range(8)])
    lines.append(_statuses("8 parallel upserts of 8 different Emails with lock", wall, statuses))
    with _lock(True):
        wall, statuses = parallel([_upsert("one@bench.example", "D") for i in range(8)])
    lines.append(_statuses("8 parallel upserts of one new Email with lock", wall, statuses))
    return lines


if __name__ == "__main__":
    main()
