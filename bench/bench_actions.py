"""The connector's own time per action kind: handler time minus Salesforce and AWS round trips.

Every action runs through its family function's real Lambda handler (API Gateway event in, proxy
response out), warm, against an in-process Salesforce emulator over HTTP and moto for AWS. The
HTTP transport of the Salesforce client is timed (request sent to response body read), as is
every botocore call; what is left of the handler's wall time is the connector's own work:
routing, validation, describe-driven checks, SOQL and composite building, JSON, logging and
metrics. Round trips are reported beside it.

Usage: python bench/bench_actions.py [--n 200] [--warmup 10] [--only kind,kind]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CONNECTION = "bench-conn"
REGION = "us-east-1"
TARGET_MS = 3.0


# --------------------------------------------------------------------------------- timing probes


class Clock:
    """Time spent waiting on Salesforce (HTTP transport) and AWS (botocore) during one invocation."""

    def __init__(self) -> None:
        self.salesforce = 0.0
        self.aws = 0.0
        self.sf_requests = 0

    def reset(self) -> None:
        self.salesforce = 0.0
        self.aws = 0.0
        self.sf_requests = 0


CLOCK = Clock()


class TimedTransport(httpx.BaseTransport):
    """Wraps the real transport; the body is read inside, so its download counts as round trip."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = self.inner.handle_request(request)
            content = response.read()
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                content=content,
                request=request,
                extensions=response.extensions,
            )
        finally:
            CLOCK.salesforce += time.perf_counter() - started
            CLOCK.sf_requests += 1

    def close(self) -> None:
        self.inner.close()


def time_botocore() -> None:
    from botocore.client import BaseClient

    # A private botocore method, the one every client operation goes through (moto answers inside it).
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009

    def timed(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return original(self, operation_name, api_params)
        finally:
            CLOCK.aws += time.perf_counter() - started

    setattr(BaseClient, "_make_api_call", timed)  # noqa: B010


# --------------------------------------------------------------------------------------- harness


class _Context:
    function_name = "BenchFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:BenchFunction"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def api_event(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    all_headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def load_function(name: str) -> ModuleType:
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"bench_function_{name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Case:
    """One action kind: the function, and a factory of the i-th request (method, path, body, headers)."""

    label: str
    function: str
    request: Callable[[int], tuple[str, str, Any, dict[str, str] | None]]
    expect: int


@dataclass
class Result:
    label: str
    total_ms: list[float] = field(default_factory=list)
    sf_ms: list[float] = field(default_factory=list)
    aws_ms: list[float] = field(default_factory=list)
    own_ms: list[float] = field(default_factory=list)
    sf_calls: list[int] = field(default_factory=list)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# ----------------------------------------------------------------------------------------- setup


@contextlib.contextmanager
def environment() -> Iterator[Any]:
    """moto with the template's resources, the emulator, a seeded connection, a timed runtime."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(var, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "TABLE_NAME": "bench-StateTable",
            "PAYLOAD_BUCKET": "bench-payloads",
            "SECRET_PREFIX": "bench/connections/",
            # One tenant: the bench's unsigned events and its connection ("bench").
            "DEFAULT_TENANT": "bench",
            "POWERTOOLS_SERVICE_NAME": "salesforce-connector",
            "POWERTOOLS_METRICS_NAMESPACE": "SalesforceConnector",
            "AWS_LAMBDA_FUNCTION_NAME": "BenchFunction",
        }
    )
    import boto3
    import pytest
    from moto import mock_aws
    from pydantic import SecretStr
    from sfconnector.runtime import Runtime, reset_runtime, set_runtime
    from sfconnector.stores.connections import ConnectionRecord
    from sfconnector.stores.tokens import ConnectionSecret
    from sfemulator.org import Org, OrgConfig
    from sfemulator.server import EmulatorServer

    if str(ROOT) not in sys.path:  # the tests' fixtures (run as a script, bench/ is the path)
        sys.path.insert(0, str(ROOT))
    from tests.fixtures.aws import make_dynamodb_writes_atomic

    with pytest.MonkeyPatch.context() as patch, mock_aws():
        make_dynamodb_writes_atomic(patch)  # the soak's overlapping pollers race for the lease
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=os.environ["TABLE_NAME"],
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=os.environ["PAYLOAD_BUCKET"])
        os.environ["TOPIC_ARN"] = boto3.client("sns", region_name=REGION).create_topic(Name="bench-events")[
            "TopicArn"
        ]
        server = EmulatorServer(Org(OrgConfig(daily_api_limit=100_000_000)), port=0).start()
        # The emulator's exact origin is the only non-Salesforce host the connector may call.
        os.environ["SALESFORCE_LOCAL_ORIGINS"] = server.base_url
        admin = httpx.Client(base_url=server.base_url, timeout=30)
        try:
            minted = admin.post("/__emulator__/tokens", json={}).json()
            http = httpx.Client(transport=TimedTransport(httpx.HTTPTransport()), timeout=30)
            reset_runtime()
            runtime = set_runtime(Runtime(http=http))
            org = server.org
            runtime.token_store.put(
                CONNECTION,
                ConnectionSecret(
                    client_id=org.connected_app.client_id,
                    client_secret=SecretStr(org.connected_app.client_secret),
                    refresh_token=SecretStr(minted["refresh_token"]),
                    access_token=SecretStr(minted["access_token"]),
                    instance_url=minted["instance_url"],
                    login_url=server.base_url,
                ),
            )
            runtime.connections.create(
                ConnectionRecord(
                    connection_id=CONNECTION,
                    name="Bench org",
                    status="connected",
                    login_url=server.base_url,
                    instance_url=minted["instance_url"],
                    org_id=org.org_id,
                    tenant_id="bench",
                )
            )
            yield admin
        finally:
            admin.close()
            server.stop()
            reset_runtime()


def insert(admin: httpx.Client, sobject: str, fields: dict[str, Any]) -> str:
    answer = admin.post(
        "/__emulator__/dml", json={"operation": "insert", "sobject": sobject, "fields": fields}
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


def cases(admin: httpx.Client, n: int) -> list[Case]:
    base = f"/connections/{CONNECTION}"
    account = insert(admin, "Account", {"Name": "Bench Account", "External_Id__c": "BENCH-0"})
    contact = insert(
        admin, "Contact", {"LastName": "Bench", "Email": "bench@example.com", "AccountId": account}
    )
    opportunity = insert(
        admin,
        "Opportunity",
        {"Name": "Bench deal", "StageName": "Prospecting", "CloseDate": "2030-01-01", "AccountId": account},
    )
    insert(
        admin,
        "OpportunityContactRole",
        {"OpportunityId": opportunity, "ContactId": contact, "IsPrimary": True},
    )
    case = insert(admin, "Case", {"Subject": "Bench case"})
    feed_item = insert(admin, "FeedItem", {"ParentId": account, "Body": "Bench post", "Type": "TextPost"})
    small = bytes(range(256)) * 16  # 4 KiB
    attachment = insert(
        admin,
        "Attachment",
        {"ParentId": account, "Name": "bench.bin", "Body": base64.b64encode(small).decode()},
    )
    big = bytes(range(256)) * 4096  # 1 MiB: shows what is proportional to the content
    big_attachment = insert(
        admin,
        "Attachment",
        {"ParentId": account, "Name": "bench-1m.bin", "Body": base64.b64encode(big).decode()},
    )
    to_delete = [insert(admin, "Account", {"Name": f"Delete me {i}"}) for i in range(n + 50)]
    b64 = base64.b64encode(small).decode()
    big_b64 = base64.b64encode(big).decode()

    return [
        Case("create", "accounts", lambda i: ("POST", f"{base}/accounts", {"Name": f"Bench {i}"}, None), 201),
        Case(
            "create + Idempotency-Key",
            "accounts",
            lambda i: (
                "POST",
                f"{base}/accounts",
                {"Name": f"Idem {i}"},
                {"Idempotency-Key": f"k-{uuid.uuid4()}"},
            ),
            201,
        ),
        Case("get", "accounts", lambda i: ("GET", f"{base}/accounts/{account}", None, None), 200),
        Case(
            "update",
            "accounts",
            lambda i: (
                "PATCH",
                f"{base}/accounts/{account}",
                {"Industry": "Energy", "NumberOfEmployees": i},
                None,
            ),
            200,
        ),
        Case("delete", "accounts", lambda i: ("DELETE", f"{base}/accounts/{to_delete[i]}", None, None), 200),
        Case(
            "find",
            "contacts",
            lambda i: ("POST", f"{base}/contacts/find", {"criteria": {"Email": "bench@example.com"}}, None),
            200,
        ),
        Case(
            "upsert (external id)",
            "accounts",
            lambda i: (
                "PUT",
                f"{base}/accounts/upsert",
                {"match_field": "External_Id__c", "record": {"External_Id__c": "BENCH-0", "Name": f"Up {i}"}},
                None,
            ),
            200,
        ),
        Case(
            "upsert (Email: lookup + write)",
            "contacts",
            lambda i: (
                "PUT",
                f"{base}/contacts/upsert",
                {
                    "match_field": "Email",
                    "record": {"Email": "bench@example.com", "LastName": "Bench", "Title": f"T{i}"},
                },
                None,
            ),
            200,
        ),
        Case(
            "create_child (case comment)",
            "cases",
            lambda i: ("POST", f"{base}/cases/{case}/comments", {"CommentBody": f"Note {i}"}, None),
            201,
        ),
        Case(
            "create_child (feed comment)",
            "attachments",
            lambda i: (
                "POST",
                f"{base}/attachments/feed_items/{feed_item}/comments",
                {"CommentBody": f"C {i}"},
                None,
            ),
            201,
        ),
        Case(
            "find_all (guarded SOQL)",
            "associations",
            lambda i: (
                "POST",
                f"{base}/associations/find_all",
                {
                    "condition": f"OpportunityId = '{opportunity}' AND (IsPrimary = true OR Role != null)",
                    "limit": 50,
                },
                None,
            ),
            200,
        ),
        Case(
            "attachment_ids",
            "attachments",
            lambda i: ("GET", f"{base}/attachments/parents/{account}", None, None),
            200,
        ),
        Case(
            "attachment_content (4 KiB)",
            "attachments",
            lambda i: ("GET", f"{base}/attachments/{attachment}/content", None, None),
            200,
        ),
        Case(
            "attachment_add (4 KiB base64)",
            "attachments",
            lambda i: (
                "POST",
                f"{base}/attachments",
                {"parent_id": account, "name": f"f{i}.bin", "content_base64": b64},
                None,
            ),
            201,
        ),
        Case(
            "attachment_content (1 MiB)",
            "attachments",
            lambda i: ("GET", f"{base}/attachments/{big_attachment}/content", None, None),
            200,
        ),
        Case(
            "attachment_add (1 MiB base64)",
            "attachments",
            lambda i: (
                "POST",
                f"{base}/attachments",
                {"parent_id": account, "name": f"g{i}.bin", "content_base64": big_b64},
                None,
            ),
            201,
        ),
    ]


# ------------------------------------------------------------------------------------------- run


def run(case: Case, handler: Callable[[dict[str, Any], Any], dict[str, Any]], n: int, warmup: int) -> Result:
    result = Result(case.label)
    context = _Context()
    for i in range(warmup + n):
        method, path, body, headers = case.request(i)
        event = api_event(method, path, body, headers)
        CLOCK.reset()
        started = time.perf_counter()
        response = handler(event, context)
        total = time.perf_counter() - started
        if response["statusCode"] != case.expect:
            raise SystemExit(f"{case.label}: HTTP {response['statusCode']}: {response.get('body')}")
        if i < warmup:
            continue
        result.total_ms.append(total * 1000)
        result.sf_ms.append(CLOCK.salesforce * 1000)
        result.aws_ms.append(CLOCK.aws * 1000)
        result.own_ms.append((total - CLOCK.salesforce - CLOCK.aws) * 1000)
        result.sf_calls.append(CLOCK.sf_requests)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="measured invocations per action kind")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--only", default="", help="comma-separated labels (prefix match)")
    args = parser.parse_args()

    out = sys.stdout
    # The functions log and emit metrics to stdout as in Lambda; that work is measured, its text dropped.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        time_botocore()
        with environment() as admin:
            all_cases = cases(admin, args.warmup + args.n)
            wanted = [w for w in args.only.split(",") if w]
            selected = [c for c in all_cases if not wanted or any(c.label.startswith(w) for w in wanted)]
            handlers = {name: load_function(name).lambda_handler for name in {c.function for c in selected}}
            results = [run(c, handlers[c.function], args.n, args.warmup) for c in selected]

    print(
        f"python {platform.python_version()} on {platform.platform()}; {dt.datetime.now(dt.UTC):%Y-%m-%d}; "
        f"{args.n} warm invocations per action after {args.warmup} warm-up",
        file=out,
    )
    header = (
        f"{'action kind':<32} {'SF calls':>8} {'total ms':>9} {'SF ms':>7} {'AWS ms':>7} "
        f"{'own med':>8} {'own p95':>8}"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in results:
        print(
            f"{r.label:<32} {statistics.median(r.sf_calls):>8.0f} {statistics.median(r.total_ms):>9.2f} "
            f"{statistics.median(r.sf_ms):>7.2f} {statistics.median(r.aws_ms):>7.2f} "
            f"{statistics.median(r.own_ms):>8.2f} {p95(r.own_ms):>8.2f}",
            file=out,
        )
    # The target is about the per-action overhead; the 1 MiB rows show the part proportional to content.
    per_action = [r for r in results if "MiB" not in r.label] or results
    worst = max(per_action, key=lambda r: statistics.median(r.own_ms))
    worst_ms = statistics.median(worst.own_ms)
    verdict = "met" if worst_ms <= TARGET_MS else "NOT met"
    print(
        f"\nslowest own time: {worst.label} at {worst_ms:.2f} ms median "
        f"(target <= {TARGET_MS} ms: {verdict})",
        file=out,
    )


if __name__ == "__main__":
    main()
