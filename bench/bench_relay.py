"""What Event Relay costs a write in the emulator, and how soon a change reaches SQS.

The emulator runs in this process (a thread) with moto in-process (``mock_aws``), as in the tests:
a CDC channel with an Account member, a relay in RUN, the partner bus associated and a rule into an
SQS queue. Prints, for ``POST /sobjects/Account`` over one keep-alive connection, the response time
p50/p95 without any CDC member and with the relay on (delivery runs on the relay's own thread), and
with the relay on but no AWS configured (the change events are built and stored only), the
change-to-SQS latency p50/p95 (from sending the write to receiving its event from the queue).
Client, emulator and moto share one GIL, so these are upper bounds. Never asserts on time.

    python bench/bench_relay.py [--writes 300] [--latency-samples 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import boto3
import httpx
from moto import mock_aws
from sfemulator import moto_events
from sfemulator.org import Org
from sfemulator.server import EmulatorServer

REGION = "us-east-1"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return statistics.median(ordered) * 1000, p95 * 1000


def _writes(api: httpx.Client, count: int) -> list[float]:
    times = []
    for n in range(count):
        start = time.perf_counter()
        response = api.post("/sobjects/Account", json={"Name": f"Bench {n}"})
        times.append(time.perf_counter() - start)
        assert response.status_code == 201, response.text
    return times


def _tooling(api: httpx.Client, kind: str, name: str, metadata: dict[str, Any]) -> str:
    response = api.post(f"/tooling/sobjects/{kind}", json={"FullName": name, "Metadata": metadata})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _setup_relay(server: EmulatorServer, api: httpx.Client) -> str:
    admin = httpx.Client(base_url=server.base_url)
    admin.post("/__emulator__/config", json={"aws_endpoint_url": "default", "event_delivery_limit": 10**9})
    channel = _tooling(api, "PlatformEventChannel", "Bench__chn", {"channelType": "data", "label": "Bench"})
    _tooling(api, "PlatformEventChannelMember", "Bench_Account",
             {"eventChannel": "Bench__chn", "selectedEntity": "AccountChangeEvent"})  # fmt: skip
    _tooling(api, "NamedCredential", "BenchAws", {"endpoint": f"arn:aws:{REGION}:123456789012", "label": "x"})
    _tooling(api, "EventRelayConfig", "BenchRelay",
             {"eventChannel": "Bench__chn", "destinationResourceName": "callout:BenchAws", "label": "x",
              "state": "RUN"})  # fmt: skip
    admin.post("/__emulator__/relay/flush")
    admin.close()
    source = f"aws.partner/salesforce.com/{server.org.org_id}/{channel}"
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name=source, EventSourceName=source)
    events.put_rule(Name="bench", EventBusName=source, EventPattern=json.dumps({"source": [source]}))
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="bench")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_targets(Rule="bench", EventBusName=source, Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def _to_sqs(api: httpx.Client, url: str, count: int) -> list[float]:
    sqs = boto3.client("sqs", region_name=REGION)
    times = []
    for n in range(count):
        start = time.perf_counter()
        api.post("/sobjects/Account", json={"Name": f"Latency {n}"})
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if messages:
                break
            time.sleep(0.001)
        times.append(time.perf_counter() - start)
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--latency-samples", type=int, default=50)
    args = parser.parse_args()
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ[var] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    moto_events.install()
    with mock_aws():
        server = EmulatorServer(Org()).start()
        try:
            token = httpx.post(f"{server.base_url}/__emulator__/tokens", json={}).json()["access_token"]
            api = httpx.Client(
                base_url=f"{server.base_url}/services/data/{server.org.version}",
                headers={"Authorization": f"Bearer {token}"},
            )
            _writes(api, 20)  # warm-up
            plain = _percentiles(_writes(api, args.writes))
            url = _setup_relay(server, api)
            httpx.post(f"{server.base_url}/__emulator__/config", json={"aws_endpoint_url": ""})
            captured = _percentiles(_writes(api, args.writes))  # change events built and stored only
            httpx.post(f"{server.base_url}/__emulator__/config", json={"aws_endpoint_url": "default"})
            relayed = _percentiles(_writes(api, args.writes))
            httpx.post(f"{server.base_url}/__emulator__/relay/flush", timeout=60)
            boto3.client("sqs", region_name=REGION).purge_queue(QueueUrl=url)
            latency = _percentiles(_to_sqs(api, url, args.latency_samples))
            api.close()
        finally:
            server.stop()
    rows = [
        ("POST /sobjects/Account, no CDC member", plain, args.writes),
        ("POST /sobjects/Account, relay, no AWS", captured, args.writes),
        ("POST /sobjects/Account, relay RUN", relayed, args.writes),
        ("change to SQS (in-process moto)", latency, args.latency_samples),
    ]
    for label, (p50, p95), samples in rows:
        print(f"{label:<40} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({samples} samples)")


if __name__ == "__main__":
    main()
