"""Cold start of every function: import, first request, their sum and peak memory, beside the bare stack.

A Lambda cold start imports the handler module once into a new process, and the first request then
pays for everything the import left for later: boto3 and its clients, the Powertools Logger,
Tracer and Metrics, the Salesforce client, the pydantic validators and schemas built on first use.
Counting the import alone would flatter any code that defers work, so each measurement here runs
one fresh interpreter, laid out like Lambda (the function's directory and the layer's package on
``sys.path``, Lambda's environment variables, the X-Ray SDK on its Lambda path), that

1. imports the handler module (``import app``), then
2. invokes ``app.lambda_handler`` once with the API Gateway event of the function's typical first
   request (a create for the record families, ``GET /connections/{id}`` for connections,
   ``GET /catalog`` and ``GET /openapi.json`` for the documents function), answered for real: AWS by
   a moto server and Salesforce by the emulator, both in this (the parent) process, over HTTP,

and reports the CPU time of both steps (``time.process_time``: the child's own work, not the time
it waits for the servers' answers), their sum, the part of it spent importing modules (the
import's and the first request's, timed at ``importlib._bootstrap._find_and_load``), the wall time
and the process's peak RSS (``VmHWM``). Every module loads from bytecode, as from the layer
``layers/core/Makefile`` builds (``--from-source`` compiles every module instead, as Lambda did
with a layer built without bytecode). Targets run round-robin, several times each; the best run
is reported (higher figures come from other processes on the machine, as ``timeit`` notes), with
the median beside it.

Two references:

* the bare stack: what any Powertools REST function on this stack imports before a line of its
  own code (boto3, httpx, pydantic, Powertools' REST resolver and Logger), import only;
* the bare-stack function (``bench/bare_function``): a hand-written function on that stack doing
  the same first request (secret, describe, composite create, usage write, Logger/Tracer/Metrics),
  i.e. the floor of this cold start on this stack.

Target: within 1.15x. Usage:
python bench/bench_cold_import.py [--reps N] [--only name,name] [--explain] [--from-source]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
LAYER = ROOT / "layers" / "core"
TARGET_RATIO = 1.15
REGION = "us-east-1"
CONNECTION = "bench-cold"
FLOOR = "bare-stack function (bench/bare_function)"

_PROBE = textwrap.dedent(
    """
    import json, sys, time
    sys.path[:0] = {paths!r}
    t0, c0 = time.perf_counter(), time.process_time()
    {body}
    t1, c1 = time.perf_counter(), time.process_time()
    modules = len(sys.modules)
    event = {event!r}
    in_imports = [0.0]
    if event is not None:
        # CPU time the first request spends importing modules: every import the interpreter runs
        # goes through importlib._bootstrap._find_and_load; the outermost call is timed.
        import importlib._bootstrap as bootstrap

        find_and_load = bootstrap._find_and_load
        depth = [0]

        def timed_find_and_load(name, import_):
            depth[0] += 1
            c = time.process_time()
            try:
                return find_and_load(name, import_)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    in_imports[0] += time.process_time() - c

        bootstrap._find_and_load = timed_find_and_load
        event = event.replace("__UNIQUE__", str(time.time_ns()))

        class Context:
            function_name = "ColdStartBench"
            function_version = "$LATEST"
            memory_limit_in_mb = 512
            invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ColdStartBench"
            aws_request_id = "cold-start-bench"
            log_group_name = "/aws/lambda/ColdStartBench"
            log_stream_name = "bench"

            def get_remaining_time_in_millis(self):
                return 29_000

        answer = app.lambda_handler(json.loads(event), Context())
        if answer["statusCode"] != {expect!r}:
            raise SystemExit("first request answered %s: %s" % (answer["statusCode"], answer["body"][:500]))
    t2, c2 = time.perf_counter(), time.process_time()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child of a big parent (this
    # bench runs moto and the emulator) would report the parent's size.
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({{
        "import_s": t1 - t0, "import_cpu": c1 - c0, "first_s": t2 - t1, "first_cpu": c2 - c1,
        "peak_kb": peak_kb, "modules": modules, "modules_after": len(sys.modules),
        "first_imports_cpu": in_imports[0],
    }}))
    """
)

BARE_STACK = """
import boto3
import httpx
import pydantic
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
"""

BARE_MINIMAL = """
import boto3
import httpx
import pydantic
import aws_lambda_powertools
"""


@dataclass
class Target:
    name: str
    body: str
    paths: list[str]
    event: str | None = None
    """The first request's API Gateway event (JSON), or None to measure the import only."""
    expect: int = 200


@dataclass
class Figure:
    """One target's figures: times from its best run (lowest CPU sum), the median beside them."""

    name: str
    import_s: float
    import_cpu: float
    first_s: float
    first_cpu: float
    first_imports_cpu: float
    """The part of ``first_cpu`` spent importing modules."""
    median_cpu: float
    """Median over the runs of import + first request CPU time."""
    peak_mb: float
    modules: int
    modules_after: int

    @property
    def cpu(self) -> float:
        return self.import_cpu + self.first_cpu

    @property
    def seconds(self) -> float:
        return self.import_s + self.first_s

    @property
    def imports_cpu(self) -> float:
        """Every import of the cold start: the handler module's and the first request's."""
        return self.import_cpu + self.first_imports_cpu


# ----------------------------------------------------------------------------- the local servers


@dataclass
class Stack:
    env: dict[str, str]
    """The Lambda environment of the functions (pointing at moto's server)."""
    ids: dict[str, str]
    """Records the first requests refer to (an opportunity, a contact, a pricebook entry...)."""


def _lambda_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_", "_X_AMZN"))
    }
    # What Lambda and template.yaml's Globals set; no function may need more.
    env.update(
        {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": "ColdStartBench",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            # The X-Ray SDK takes its Lambda path (local sampling, no X-Ray client) on this variable;
            # with tracing Active, Lambda sets the trace header of every invocation (sampled here,
            # so the traced calls do all their work) and the daemon address (a local UDP port here).
            "LAMBDA_TASK_ROOT": str(FUNCTIONS),
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "POWERTOOLS_SERVICE_NAME": "salesforce-connector",
            "POWERTOOLS_METRICS_NAMESPACE": "SalesforceConnector",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",
            "PYTHONDONTWRITEBYTECODE": "1",
            **extra,
        }
    )
    return env


@contextlib.contextmanager
def local_stack() -> Iterator[Stack]:
    """A moto server with the template's resources, the emulator, and a seeded connection."""
    import boto3
    import httpx
    from moto.server import ThreadedMotoServer
    from sfemulator.org import Org, OrgConfig
    from sfemulator.server import EmulatorServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    pycache = tempfile.TemporaryDirectory(prefix="bench-pycache-")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    bound: Any = moto._server  # asked for port 0: the port it bound
    endpoint = f"http://127.0.0.1:{bound.server_port}"
    server = EmulatorServer(Org(OrgConfig(daily_api_limit=100_000_000)), port=0).start()
    admin = httpx.Client(base_url=server.base_url, timeout=30)
    try:
        aws: dict[str, Any] = {
            "region_name": REGION,
            "endpoint_url": endpoint,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        table = "bench-StateTable"
        boto3.client("dynamodb", **aws).create_table(
            TableName=table,
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
        boto3.client("s3", **aws).create_bucket(Bucket="bench-payloads")
        topic = boto3.client("sns", **aws).create_topic(Name="bench-events")["TopicArn"]
        env = _lambda_env(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "TABLE_NAME": table,
                "TOPIC_ARN": topic,
                "PAYLOAD_BUCKET": "bench-payloads",
                "SECRET_PREFIX": "bench/connections/",
                # One tenant: the bench's unsigned events and its connection ("bench").
                "DEFAULT_TENANT": "bench",
                # The connections function's logins go to the emulator (never used by GET).
                "SF_LOGIN_URL_PRODUCTION": server.base_url,
                "SF_LOGIN_URL_SANDBOX": server.base_url,
                "SALESFORCE_LOCAL_ORIGINS": server.base_url,
                "ALLOW_INSECURE_LOOPBACK_LOGIN": "true",
                # Every module's bytecode, the layer's included, comes from one cache written by
                # the warm-up run: see warm_env().
                "PYTHONPYCACHEPREFIX": pycache.name,
            }
        )
        _seed_connection(env, server, admin)
        yield Stack(env=env, ids=_seed_records(admin))
    finally:
        admin.close()
        server.stop()
        moto.stop()
        pycache.cleanup()


def _seed_connection(env: dict[str, str], server: Any, admin: Any) -> None:
    from pydantic import SecretStr
    from sfconnector.runtime import Runtime
    from sfconnector.stores.connections import ConnectionRecord
    from sfconnector.stores.tokens import ConnectionSecret

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        runtime = Runtime()
        minted = admin.post("/__emulator__/tokens", json={}).json()
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
                name="Cold start bench org",
                status="connected",
                login_url=server.base_url,
                instance_url=minted["instance_url"],
                org_id=org.org_id,
                tenant_id="bench",
            )
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _seed_records(admin: Any) -> dict[str, str]:
    """Ids of the emulator's seed records the first requests refer to."""
    from sfconnector import API_VERSION

    token = admin.post("/__emulator__/tokens", json={}).json()["access_token"]

    def first_id(soql: str, field: str = "Id") -> str:
        answer = admin.get(
            f"/services/data/{API_VERSION}/query",
            params={"q": soql},
            headers={"Authorization": f"Bearer {token}"},
        )
        answer.raise_for_status()
        return str(answer.json()["records"][0][field])

    opportunity = first_id("SELECT Id FROM Opportunity WHERE Pricebook2Id != null LIMIT 1")
    pricebook = first_id(f"SELECT Pricebook2Id FROM Opportunity WHERE Id = '{opportunity}'", "Pricebook2Id")  # noqa: S608
    return {
        "account": first_id("SELECT Id FROM Account LIMIT 1"),
        "contact": first_id("SELECT Id FROM Contact LIMIT 1"),
        "opportunity": opportunity,
        "entry": first_id(
            f"SELECT Id FROM PricebookEntry WHERE Pricebook2Id = '{pricebook}' AND IsActive = true LIMIT 1"  # noqa: S608
        ),
    }


# ------------------------------------------------------------------------------ the first requests


def api_event(method: str, path: str, body: Any = None) -> str:
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return json.dumps(
        {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
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
    )


def first_request(name: str, ids: dict[str, str]) -> tuple[str, str, int, str]:
    """(label, API Gateway event, expected status, what it does) of a function's typical first request."""
    base = f"/connections/{CONNECTION}"
    creates: dict[str, tuple[str, dict[str, Any]]] = {
        "accounts": ("accounts", {"Name": "Acme Corporation", "Industry": "Energy"}),
        "contacts": ("contacts", {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"}),
        "leads": ("leads", {"LastName": "Hopper", "Company": "Navy Labs"}),
        "opportunities": (
            "opportunities",
            {"Name": "Acme - 500 units", "StageName": "Prospecting", "CloseDate": "2030-06-30"},
        ),
        "cases": ("cases", {"Subject": "Cannot log in", "Origin": "Web"}),
        "products": ("products", {"Name": "Widget XL", "ProductCode": "WX-1"}),
        "tasks": ("tasks", {"Subject": "Call back", "Status": "Not Started", "Priority": "Normal"}),
        "events": (
            "events",
            {"Subject": "Demo", "StartDateTime": "2030-06-30T15:00:00Z", "DurationInMinutes": 60},
        ),
        "line_items": (
            "line_items",
            {
                "OpportunityId": ids["opportunity"],
                "PricebookEntryId": ids["entry"],
                "Quantity": 2,
                "UnitPrice": 10,
            },
        ),
        "associations": (
            "associations",
            {"OpportunityId": ids["opportunity"], "ContactId": ids["contact"], "Role": "Decision Maker"},
        ),
        "custom_objects": (
            "custom_objects/Invoice__c",
            {"Name": "INV-BENCH", "Invoice_Number__c": "INV-__UNIQUE__", "Amount__c": 120.5},
        ),
        "objects": ("objects/Pricebook2/records", {"Name": "Bench Prices", "IsActive": True}),
        "attachments": (
            "attachments",
            {
                "parent_id": ids["account"],
                "name": "bench.txt",
                "content_base64": base64.b64encode(b"cold start bench\n" * 64).decode(),
            },
        ),
    }
    if name in creates:
        segment, body = creates[name]
        return "create", api_event("POST", f"{base}/{segment}", body), 201, f"POST {segment}"
    if name == "connections":
        return "get", api_event("GET", f"{base}"), 200, "GET /connections/{id}"
    if name == "meta":
        return "catalog", api_event("GET", "/catalog"), 200, "GET /catalog"
    raise SystemExit(f"no first request is defined for the function {name!r}")


# ------------------------------------------------------------------------------------ measuring


def warm_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of the warm-up run: it writes the bytecode the measured runs read.

    Without it the layer's own modules (no ``__pycache__`` in this tree, where
    PYTHONDONTWRITEBYTECODE is usual) would be compiled from source in every measured run while
    the installed packages load their bytecode: an unequal comparison. With one cache prefix for
    all, every module loads from bytecode, as from a layer built with its bytecode.
    """
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run_once(target: Target, env: dict[str, str]) -> dict[str, float]:
    code = _PROBE.format(
        paths=target.paths,
        body=textwrap.dedent(target.body).strip(),
        event=target.event,
        expect=target.expect,
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(ROOT), check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{target.name}: failed:\n{(out.stderr or out.stdout).strip()[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure_all(targets: list[Target], reps: int, env: dict[str, str]) -> list[Figure]:
    """Round-robin over the targets, so a burst of load on the machine hits them all alike.

    The best run of each target is reported (as ``timeit`` advises: higher figures come from other
    processes interfering, not from the code), with the median beside it.
    """
    runs: dict[str, list[dict[str, float]]] = {t.name: [] for t in targets}
    for _ in range(reps):
        for target in targets:
            runs[target.name].append(_run_once(target, env))

    figures = []
    for t in targets:
        mine = runs[t.name]
        best = min(mine, key=lambda r: r["import_cpu"] + r["first_cpu"])
        figures.append(
            Figure(
                name=t.name,
                import_s=best["import_s"],
                import_cpu=best["import_cpu"],
                first_s=best["first_s"],
                first_cpu=best["first_cpu"],
                first_imports_cpu=best["first_imports_cpu"],
                median_cpu=float(statistics.median(r["import_cpu"] + r["first_cpu"] for r in mine)),
                peak_mb=float(statistics.median(r["peak_kb"] for r in mine)) / 1024,
                modules=int(statistics.median(r["modules"] for r in mine)),
                modules_after=int(statistics.median(r["modules_after"] for r in mine)),
            )
        )
    return figures


def _importtime(code: str, env: dict[str, str]) -> dict[str, int]:
    """Self time (us) per module imported by ``code`` (``python -X importtime``)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        check=False,
    )
    times: dict[str, int] = {}
    for line in out.stderr.splitlines():
        # "import time:   self [us] | cumulative | imported package"
        parts = line.split("|")
        if len(parts) != 3 or not parts[0].startswith("import time:"):
            continue
        try:
            own = int(parts[0].split(":", 1)[1].strip())
        except ValueError:
            continue
        times[parts[2].strip()] = own
    return times


def explain(target: Target, floor: Target, env: dict[str, str]) -> None:
    """What a function imports (in its import and first request) that the bare-stack function does not."""

    def imported(t: Target) -> dict[str, int]:
        return _importtime(_PROBE.format(paths=t.paths, body=t.body, event=t.event, expect=t.expect), env)

    base = imported(floor)
    extra = {mod: us for mod, us in imported(target).items() if mod not in base}
    groups: dict[str, int] = {}
    for mod, us in extra.items():
        parts = mod.split(".")
        key = (
            ".".join(parts[:2])
            if parts[0] in ("sfconnector", "aws_lambda_powertools", "pydantic")
            else parts[0]
        )
        groups[key] = groups.get(key, 0) + us
    print(
        f"  {target.name}: imported beyond the bare-stack function, self time by package"
        f" (ms, one run of python -X importtime; {sum(extra.values()) / 1000:.1f} ms in all):"
    )
    for key, us in sorted(groups.items(), key=lambda kv: -kv[1])[:15]:
        print(f"    {us / 1000:8.1f}  {key}")


def function_names() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS.glob("*/app.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated function names")
    parser.add_argument(
        "--explain", action="store_true", help="list what each function imports beyond the bare stack"
    )
    parser.add_argument(
        "--from-source",
        action="store_true",
        help="load no bytecode: every module compiled on import (a layer built without .pyc files)",
    )
    args = parser.parse_args()
    names = function_names()
    if args.only:
        wanted = set(args.only.split(","))
        names = [n for n in names if n in wanted]

    print(
        f"python {platform.python_version()} on {platform.platform()}; {args.reps} runs of each target,"
        " round-robin; the best run's figures (median of the sums beside them)"
    )
    with local_stack() as stack:
        layer = [str(LAYER)]
        targets = [
            Target("bare: boto3+httpx+pydantic+powertools", BARE_MINIMAL, layer),
            Target("bare: + Logger + APIGatewayRestResolver", BARE_STACK, layer),
        ]
        _, create_accounts, _, _ = first_request("accounts", stack.ids)
        floor = Target(
            FLOOR, "import app", [str(ROOT / "bench" / "bare_function"), *layer], create_accounts, 201
        )
        targets.append(floor)
        requests: dict[str, str] = {FLOOR: "POST accounts"}
        for name in names:
            _, event, expect, what = first_request(name, stack.ids)
            requests[name] = what
            targets.append(Target(name, "import app", [str(FUNCTIONS / name), *layer], event, expect))
        if "meta" in names:
            # The documents function's other first request: the whole API's OpenAPI document.
            name = "meta (openapi)"
            requests[name] = "GET /openapi.json"
            event = api_event("GET", "/openapi.json")
            targets.append(Target(name, "import app", [str(FUNCTIONS / "meta"), *layer], event, 200))
        # Write the bytecode, warm the OS file cache and check every first request answers.
        measure_all(targets, 1, warm_env(stack.env))
        env = stack.env
        if args.from_source:
            empty = tempfile.TemporaryDirectory(prefix="bench-no-pycache-")
            env = {**stack.env, "PYTHONPYCACHEPREFIX": empty.name}
            print("from source: no bytecode is loaded, every module is compiled on import")
        minimal, bare, floor_fig, *figures = measure_all(targets, args.reps, env)

        header = (
            f"{'target':<42} {'import':>7} {'1st req':>8} {'sum':>7} {'x bare':>7} {'x floor':>8}"
            f" {'sum med':>8} {'wall':>7} {'imports':>8} {'x bare':>7} {'peak MB':>8} {'modules':>8}"
            "  first request"
        )
        print(
            "\nCPU ms. sum = import + first request; x bare = sum / the bare stack's import;"
            "\nx floor = sum / the same for a bare-stack function doing the same create;"
            "\nimports = the import's and the first request's imports only"
            " (x bare: / the bare stack's import)"
        )
        print(header)
        print("-" * len(header))
        for fig in (minimal, bare, floor_fig, *figures):
            import_only = fig in (minimal, bare)
            first = "-" if import_only else f"{fig.first_cpu * 1000:.1f}"
            floor_ratio = "-" if import_only else f"{fig.cpu / floor_fig.cpu:.2f}"
            what = "(import only)" if import_only else requests[fig.name]
            modules = fig.modules if import_only else fig.modules_after
            print(
                f"{fig.name:<42} {fig.import_cpu * 1000:>7.1f} {first:>8} {fig.cpu * 1000:>7.1f}"
                f" {fig.cpu / bare.cpu:>7.2f} {floor_ratio:>8} {fig.median_cpu * 1000:>8.1f}"
                f" {fig.seconds * 1000:>7.1f} {fig.imports_cpu * 1000:>8.1f}"
                f" {fig.imports_cpu / bare.cpu:>7.2f}"
                f" {fig.peak_mb:>8.1f} {modules:>8}  {what}"
            )
        if figures:
            worst = max(figures, key=lambda f: f.cpu)
            worst_imports = max(figures, key=lambda f: f.imports_cpu)

            def verdict(ratio: float) -> str:
                return f"target <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'}"

            print(
                f"\nslowest cold start: {worst.name}, {worst.cpu * 1000:.0f} ms CPU"
                f" (import {worst.import_cpu * 1000:.0f} + first request {worst.first_cpu * 1000:.0f})"
                f"\n  = {worst.cpu / floor_fig.cpu:.2f}x the bare-stack function's cold start"
                f" ({verdict(worst.cpu / floor_fig.cpu)})"
                f"\n  = {worst.cpu / bare.cpu:.2f}x the bare stack's import"
                f" ({verdict(worst.cpu / bare.cpu)});"
                f" the bare-stack function itself is at {floor_fig.cpu / bare.cpu:.2f}x"
                f"\nmost imports: {worst_imports.name}, {worst_imports.imports_cpu * 1000:.0f} ms CPU"
                f" = {worst_imports.imports_cpu / bare.cpu:.2f}x the bare stack's import"
                f" ({verdict(worst_imports.imports_cpu / bare.cpu)});"
                f" the bare-stack function's imports: {floor_fig.imports_cpu / bare.cpu:.2f}x"
            )
            slow = [f for f in figures if f.cpu > TARGET_RATIO * floor_fig.cpu]
            if args.explain or slow:
                print()
                for fig in figures if args.explain else slow:
                    explain(next(t for t in targets if t.name == fig.name), floor, stack.env)


if __name__ == "__main__":
    main()
