"""Change-to-SQS latency on the local stack: the relay (Event Relay) against polling.

For each mode, ``python -m devstack`` starts as a subprocess on free ports (moto server, emulator,
functions) and is stopped with SIGINT afterwards (nothing is left running). A subscriber's SQS queue
(subscribed to the stack's SNS topic, as a customer's is) receives Lead created / updated / deleted
events; the Salesforce user makes N changes through the emulator's admin API (no connector call),
a third of each kind (each kind's events awaited before the next kind's changes: a poll sees only a
record's latest state), and each change's latency runs from sending it to its event being received
from the queue (received with 0.1 s long polls: a resolution of about 0.1 s). Prints p50 / p95 / max
per mode and kind, and the Salesforce API calls the emulator counted during the changes' delivery.

Modes:
  relay      REALTIME=1 (the demo connection relays Lead), SCHEDULE_SPEEDUP=0.01 (no poll runs)
  poll60     REALTIME=0, SCHEDULE_SPEEDUP=60: the 1-minute poll schedule fires every second
  poll       REALTIME=0, the default schedule (every minute, real time): slow, pass --modes poll

Client, stack and moto share the machine's cores; never asserts on time.

    python bench/bench_latency.py [--changes 30] [--modes relay,poll60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
from devstack.events import subscriber_queue
from devstack.stack import FAKE_CREDENTIALS

REPO = Path(__file__).resolve().parents[1]
READY = "Local stack ready"
MODES: dict[str, dict[str, str]] = {
    "relay": {"REALTIME": "1", "SCHEDULE_SPEEDUP": "0.01"},
    "poll60": {"REALTIME": "0", "SCHEDULE_SPEEDUP": "60"},
    "poll": {"REALTIME": "0", "SCHEDULE_SPEEDUP": "1"},
}
KINDS = ("created", "updated", "deleted")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Stack:
    """``python -m devstack`` as a subprocess; its output is kept for the ready line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.ports = {name: _free_port() for name in ("API_PORT", "SF_EMULATOR_PORT", "MOTO_PORT")}
        full = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full.update({k: str(v) for k, v in self.ports.items()}, PYTHONUNBUFFERED="1", **env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=REPO,
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.api = f"http://127.0.0.1:{self.ports['API_PORT']}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(READY in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the stack did not start:\n" + "\n".join(self.lines[-30:]))
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _measure(stack: Stack, changes: int) -> tuple[dict[str, list[float]], int, int]:
    """Latencies per kind, the Salesforce calls counted meanwhile, and the poll cycles that ran."""
    health = httpx.get(f"{stack.api}/__devstack__/health").json()
    cid, salesforce, moto = health["demo_connection_id"], health["salesforce_url"], health["moto_url"]
    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    sqs, sns = session.client("sqs", endpoint_url=moto), session.client("sns", endpoint_url=moto)
    sids = []
    for kind in KINDS:
        answer = httpx.post(
            f"{stack.api}/connections/{cid}/subscriptions",
            json={"trigger": f"leads.{kind}", "start": "now", "fields": ["LastName", "Company"]},
            timeout=60,
        )
        answer.raise_for_status()
        sids.append(answer.json()["subscription_id"])
    topic = next(
        t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith("trigger-events")
    )
    url = subscriber_queue(sqs, sns, topic, "bench-latency", sids)
    org = httpx.get(f"{salesforce}/__emulator__/org").json()
    seller = next(u["username"] for u in org["users"] if u["id"] == org["sales_user_id"])

    arrived: dict[tuple[str, str], float] = {}
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            now = time.monotonic()
            for message in messages:
                event = json.loads(message["Body"])
                arrived.setdefault((str(event["event_type"]), str(event["subject"])), now)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not messages:
                time.sleep(0.1)

    def dml(operation: str, fields: dict[str, Any], record_id: str = "") -> str:
        body: dict[str, Any] = {
            "operation": operation,
            "sobject": "Lead",
            "fields": fields,
            "username": seller,
        }
        if record_id:
            body["id"] = record_id
        answer = httpx.post(f"{salesforce}/__emulator__/dml", json=body)
        answer.raise_for_status()
        return str(answer.json().get("id") or record_id)

    def polls() -> int:
        schedules = httpx.get(f"{stack.api}/__devstack__/schedules").json()
        return sum(int(s["fired"]) for s in schedules if str(s["schedule"]).endswith(f"poll-{cid}"))

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    sent: dict[tuple[str, str], float] = {}
    per_kind = max(1, changes // 3)
    calls_before = int(httpx.get(f"{salesforce}/__emulator__/usage").json()["api_calls"])
    polls_before = polls()
    time.sleep(1.1)  # the subscriptions' start second is behind us
    ids = []
    for n in range(per_kind):
        started = time.monotonic()
        record = dml("insert", {"LastName": f"Bench {n}", "Company": "Latency Co"})
        sent[("created", record)] = started
        ids.append(record)
        time.sleep(0.2)

    def settle(kind: str) -> None:
        # A poll sees a record's latest state: an update deleted before the poll reached it is
        # only a deletion there. Each kind's events are in before the next kind's changes.
        deadline = time.monotonic() + 240
        while any((k, r) not in arrived for k, r in sent if k == kind) and time.monotonic() < deadline:
            time.sleep(0.2)

    settle("created")
    time.sleep(1.1)  # an update in the creation's second is not a modification (second precision)
    for record in ids:
        sent[("updated", record)] = time.monotonic()
        dml("update", {"Company": "Latency Co (updated)"}, record)
        time.sleep(0.2)
    settle("updated")
    for record in ids:
        sent[("deleted", record)] = time.monotonic()
        dml("delete", {}, record)
        time.sleep(0.2)
    deadline = time.monotonic() + 240
    while not sent.keys() <= arrived.keys() and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    receiver.join(5)
    calls = int(httpx.get(f"{salesforce}/__emulator__/usage").json()["api_calls"]) - calls_before
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for (kind, record), at in sent.items():
        if (kind, record) in arrived:
            latencies[kind].append(arrived[(kind, record)] - at)
    missing = len(sent) - sum(len(v) for v in latencies.values())
    if missing:
        print(f"   {missing} change(s) never arrived within 240 s")
    return latencies, calls, polls() - polls_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=30, help="changes per mode (a third of each kind)")
    parser.add_argument("--modes", default="relay,poll60", help="comma-separated: relay, poll60, poll")
    args = parser.parse_args()
    for mode in args.modes.split(","):
        env = MODES[mode]
        stack = Stack(env)
        try:
            stack.wait_ready()
            latencies, calls, cycles = _measure(stack, args.changes)
        finally:
            stack.stop()
        every = [x for v in latencies.values() for x in v]
        settings = " ".join(f"{k}={v}" for k, v in env.items())
        print(f"{mode:<7} ({settings}): {len(every)} changes, {calls} Salesforce calls, {cycles} poll cycles")
        for kind, samples in [*latencies.items(), ("all", every)]:
            if samples:
                p50, p95 = statistics.median(samples), _percentile(samples, 0.95)
                print(
                    f"   {kind:<8} p50 {p50:6.2f} s   p95 {p95:6.2f} s   max {max(samples):6.2f} s"
                    f"   (n={len(samples)})"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
