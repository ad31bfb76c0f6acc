"""1,000 connections polled in-process: wall time, Salesforce calls, AWS requests, the poller's memory.

moto (``mock_aws``) holds the state table, the topic, the payload bucket and the connections'
secrets; ``--orgs`` emulator orgs (each its own HTTP server on loopback) are shared by the
connections round-robin. Subscriptions are spread like real tenants (seeded): 60 % of connections
have 1-2 subscriptions on one sObject, 30 % 3-8 over 2-4 sObjects, 10 % 10-30 over up to 12.
Each cycle polls every connection once, one after the other, through the real poller handler (one
warm process, as one warm Lambda container would take invocations one at a time):

1. ``first``: every stream is created (and describes read where a subscription wants every field);
2. ``steady``: each org first gets ``--changes`` changes (creates and updates spread over its
   sObjects, by another user), so every connection subscribed to them has events;
3. ``memory``: the same as 2 under tracemalloc: the peak of Python allocations per invocation
   above what the process held before it (the container's steady state is not counted).

Printed per cycle: wall time, per-invocation p50/p95/max, Salesforce calls, events, DynamoDB /
SNS / S3 requests (botocore operations counted by service and operation), and ru_maxrss of the
whole process (moto and the emulators included: an upper bound for the poller).

Usage: python bench/bench_scale.py [--connections 1000] [--orgs 4] [--changes 40] [--seed 3]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import importlib.util
import os
import random
import resource
import statistics
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REGION = "us-east-1"
SOBJECTS = ("Account", "Contact", "Lead", "Opportunity", "Case", "Product2", "Task", "Event",
            "OpportunityContactRole", "OpportunityLineItem", "CaseComment", "Invoice__c")  # fmt: skip


def _load(name: str) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _layer(*names: str) -> Any:
    """The first of ``sfconnector.<name>`` that exists."""
    for name in names:
        try:
            return importlib.import_module(f"sfconnector.{name}")
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(names[0])


OPS: Counter[str] = Counter()


def count_botocore() -> None:
    from botocore.client import BaseClient

    inner = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private: every operation goes through it)

    def counted(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        OPS[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return inner(self, operation, params)

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010


@contextlib.contextmanager
def stack(orgs: int) -> Iterator[tuple[Any, list[Any]]]:
    """moto with the template's poller resources and ``orgs`` emulator servers; the runtime."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(var, None)
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION, "TABLE_NAME": "scale-StateTable", "PAYLOAD_BUCKET": "scale-payloads",
        "SECRET_PREFIX": "scale/connections/", "POWERTOOLS_SERVICE_NAME": "salesforce-connector",
        "POWERTOOLS_METRICS_NAMESPACE": "SalesforceConnector", "AWS_LAMBDA_FUNCTION_NAME": "poller",
        "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true",
        "POLL_SAFETY_MARGIN_SECONDS": "1",
    })  # fmt: skip
    import boto3
    import httpx
    from moto import mock_aws
    from sfconnector.runtime import Runtime, reset_runtime, set_runtime
    from sfemulator.org import Org, OrgConfig
    from sfemulator.server import EmulatorServer

    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
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
        sns = boto3.client("sns", region_name=REGION)
        os.environ["TOPIC_ARN"] = sns.create_topic(Name="scale-events")["TopicArn"]
        servers = [
            EmulatorServer(Org(OrgConfig(daily_api_limit=100_000_000)), port=0).start() for _ in range(orgs)
        ]
        # The emulators' exact origins are the only non-Salesforce hosts the connector may call.
        os.environ["SALESFORCE_LOCAL_ORIGINS"] = ",".join(s.base_url for s in servers)
        reset_runtime()
        timed = _load("bench_actions").TimedTransport(httpx.HTTPTransport())
        runtime = set_runtime(Runtime(http=httpx.Client(transport=timed, timeout=30)))
        try:
            yield runtime, servers
        finally:
            for server in servers:
                server.stop()
            reset_runtime()


def connect(runtime: Any, server: Any, admin: Any, cid: str) -> None:
    from pydantic import SecretStr

    # Both layouts of the layer (issue 13 moved these modules to sfconnector.stores).
    ConnectionRecord = _layer("stores.connections", "connections").ConnectionRecord
    ConnectionSecret = _layer("stores.tokens", "tokens").ConnectionSecret

    minted = admin.post("/__emulator__/tokens", json={}).json()
    org = server.org
    runtime.token_store.put(cid, ConnectionSecret(
        client_id=org.connected_app.client_id, client_secret=SecretStr(org.connected_app.client_secret),
        refresh_token=SecretStr(minted["refresh_token"]), access_token=SecretStr(minted["access_token"]),
        instance_url=minted["instance_url"], login_url=server.base_url,
    ))  # fmt: skip
    runtime.connections.create(ConnectionRecord(
        connection_id=cid, name=cid, status="connected", login_url=server.base_url,
        instance_url=minted["instance_url"], org_id=org.org_id,
    ))  # fmt: skip


def tenant_subscriptions(rng: random.Random) -> list[Any]:
    """A tenant's triggers: few for most, many for some (the spread described in the module doc)."""
    from sfconnector import catalog

    roll = rng.random()
    n_objects, n_subs = (1, rng.randint(1, 2)) if roll < 0.6 else (
        (rng.randint(2, 4), rng.randint(3, 8)) if roll < 0.9 else (rng.randint(5, 12), rng.randint(10, 30))
    )  # fmt: skip
    objects = rng.sample(SOBJECTS, n_objects)
    served = [t for t in catalog.TRIGGERS if t.stream is not None and (t.sobject or "Invoice__c") in objects
              and t.kind is not catalog.TriggerKind.FIELD_MATCHED]  # fmt: skip
    return [rng.choice(served) for _ in range(n_subs)]


def subscribe(runtime: Any, cid: str, triggers: list[Any], start: dt.datetime) -> int:
    from sfconnector.models.subscriptions import Subscription

    for trig in triggers:
        sobject = trig.sobject or "Invoice__c"
        runtime.subscriptions.put(Subscription(
            subscription_id=uuid.uuid4().hex, connection_id=cid, trigger=trig.key, kind=trig.kind.value,
            family=trig.family, sobject=sobject, start_at=start,
            params={"sobject": sobject} if trig.sobject is None else {},
        ))  # fmt: skip
    return len(triggers)


def changes(admin: Any, calls: Any, seeds: dict[str, Any], rng: random.Random, n: int) -> None:
    for _ in range(n):
        sobject = rng.choice(SOBJECTS)
        if rng.random() < 0.5:
            calls.insert(admin, sobject, calls._new(sobject, seeds))
        else:
            calls._dml(admin, "update", sobject, {**calls.UPDATES[sobject]}, seeds[sobject])


def _seeds(runtime: Any, cid: str) -> dict[str, Any]:
    client = runtime.salesforce(cid)
    seeds: dict[str, Any] = {}
    for sobject in SOBJECTS:
        seeds[sobject] = next(iter(client.query(f"SELECT Id FROM {sobject} LIMIT 1")))["Id"]  # noqa: S608
    item = next(iter(client.query("SELECT OpportunityId, PricebookEntryId FROM OpportunityLineItem LIMIT 1")))
    seeds["line_item_refs"] = {
        "OpportunityId": item["OpportunityId"],
        "PricebookEntryId": item["PricebookEntryId"],
    }
    return seeds


def run_cycle(handler: Any, cids: list[str], clock: Any, *, memory: bool) -> dict[str, Any]:
    from tests.fixtures.actions import FakeLambdaContext

    OPS.clear()
    clock.reset()
    durations, peaks = [], []
    totals: Counter[str] = Counter()
    started = time.perf_counter()
    for cid in cids:
        if memory:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
        t0 = time.perf_counter()
        report = handler({"connection_id": cid}, FakeLambdaContext(function_name="poller"))
        durations.append(time.perf_counter() - t0)
        if memory:
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
        totals["sf_calls"] += report["salesforce_calls"]
        totals["events"] += report["events_published"]
        totals["errors"] += 1 if report.get("error") else 0
        totals[f"outcome:{report['outcome']}"] += 1
    wall = time.perf_counter() - started
    ordered = sorted(durations)
    return {
        "wall": wall, "p50": statistics.median(ordered), "p95": ordered[round(0.95 * (len(ordered) - 1))],
        "max": ordered[-1], "totals": dict(totals), "ops": dict(OPS), "peak": max(peaks) if peaks else None,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sf": clock.salesforce, "aws": clock.aws, "n": len(cids),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--orgs", type=int, default=4)
    parser.add_argument("--changes", type=int, default=40, help="changes per org before the steady cycles")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--memory-sample", type=int, default=200, help="connections polled under tracemalloc")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    calls = _load("bench_poll_calls")
    actions = calls._ACTIONS
    actions.time_botocore()
    count_botocore()
    rng = random.Random(args.seed)
    import httpx

    with stack(args.orgs) as (runtime, servers):
        from tests.fixtures.actions import load_function

        admins = [httpx.Client(base_url=s.base_url, timeout=30) for s in servers]
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=5)
        cids, subs = [], 0
        t0 = time.perf_counter()
        for i in range(args.connections):
            cid = f"scale-{i:04d}"
            connect(runtime, servers[i % len(servers)], admins[i % len(servers)], cid)
            subs += subscribe(runtime, cid, tenant_subscriptions(rng), start)
            cids.append(cid)
        seeds = [_seeds(runtime, cids[k]) for k in range(len(servers))]
        setup = time.perf_counter() - t0
        handler = load_function("poller").lambda_handler
        rows = []
        for label in ("first", "steady", "memory"):
            if label != "first":
                for k, admin in enumerate(admins):
                    changes(admin, calls, seeds[k], rng, args.changes)
                time.sleep(2.2)  # past the 1 s safety margin of this bench
            if label == "memory":
                tracemalloc.start()
            sample = cids[: args.memory_sample] if label == "memory" else cids
            rows.append((label, run_cycle(handler, sample, actions.CLOCK, memory=label == "memory")))
        tracemalloc.stop()
        for admin in admins:
            admin.close()
    per = subs / args.connections
    print(f"{args.connections} connections on {args.orgs} emulator orgs, {subs} subscriptions ({per:.1f} per "
          f"connection), setup {setup:.0f} s; one cycle = every connection polled once")  # fmt: skip
    heads = ("cycle", "polls", "wall s", "SF s", "AWS s", "own s", "p50 ms", "p95 ms", "max ms", "SF calls",
             "calls/conn", "events", "ddb req", "ddb/conn", "sns req", "sm req", "errors", "peak KiB",
             "maxrss MB")  # fmt: skip
    widths = (6, 5, 7, 6, 6, 6, 7, 7, 7, 8, 10, 7, 8, 8, 7, 6, 6, 8, 9)
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for label, r in rows:
        ops = r["ops"]
        ddb = sum(v for k, v in ops.items() if k.startswith("dynamodb:"))
        sns = sum(v for k, v in ops.items() if k.startswith("sns:"))
        sm = sum(v for k, v in ops.items() if k.startswith("secretsmanager:"))
        t, n = r["totals"], r["n"]
        own = r["wall"] - r["sf"] - r["aws"]
        peak = "-" if r["peak"] is None else f"{r['peak'] / 1024:.0f}"
        values = (
            label, n, f"{r['wall']:.1f}", f"{r['sf']:.1f}", f"{r['aws']:.1f}", f"{own:.1f}",
            f"{1000 * r['p50']:.1f}", f"{1000 * r['p95']:.1f}",
            f"{1000 * r['max']:.0f}", t["sf_calls"], f"{t['sf_calls'] / n:.2f}", t["events"], ddb,
            f"{ddb / n:.2f}", sns, sm, t["errors"], peak, f"{r['maxrss_mb']:.0f}",
        )  # fmt: skip
        print(" ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True)))
    for label, r in rows:
        print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in sorted(r["ops"].items())))


if __name__ == "__main__":
    main()
