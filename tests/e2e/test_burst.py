"""A burst on the local stack (issue 22): thousands of Leads created, then updated, in Salesforce
through sObject Collections (200 records per call), and some deleted, reach an SQS subscriber
exactly once per change, while another subscribed object's events keep flowing during the drain.

The stack runs as ``make run`` does (``python -m devstack``, SCHEDULE_SPEEDUP=60: a poll every
second), its poller in worker processes stopped at the template's 120 s Timeout as Lambda stops
it, so a cycle that outruns its timeout here would outrun it deployed.

Marked ``burst`` and deselected by default (``-m burst`` runs it; ~10 minutes, past make test's
budget). On the first-generation engine (2026-12-06, a 2-core machine under load) 5,000 Leads were
not drained in 1,200 s: 12 poll cycles were stopped at their 120 s Timeout, 7,022 events arrived of
the ~9,500 expected, 4,672 of them re-sent (same id, same change). On the second-generation engine
(2026-12-07, the same machine, loaded): drained in 516-547 s, 10,100 events, 0 re-sent, 0
duplicate changes, no poll timeout; the Accounts written during the drain arrived with a median
lag of 36 s (max 72 s) once the publish loop served the small streams first (before that fix,
158 of them waited for the whole backlog). ``BURST_LEADS`` (default 5000),
``BURST_DELETES`` (default 500) and ``BURST_TIMEOUT`` (seconds to wait for the drain, default 900)
size it; it takes the drain time plus ~30 s of stack start and stop.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest

from tests.e2e.test_devstack import READY_LINE, StackProcess, _assert_gone, _free_port

LEADS = int(os.environ.get("BURST_LEADS", "5000"))
DELETES = min(int(os.environ.get("BURST_DELETES", "500")), LEADS)
DRAIN_TIMEOUT = float(os.environ.get("BURST_TIMEOUT", "900"))
BATCH = 200  # sObject Collections' limit per call
SELLER = "sam.seller@acme-emulator.example"
WITNESS_EVERY_S = 2.0
QUIET_S = 10.0
"""After the last expected event: how long to keep listening for a duplicate."""

pytestmark = [pytest.mark.e2e, pytest.mark.burst, pytest.mark.timeout(int(DRAIN_TIMEOUT) + 300)]


@dataclass
class Subscriber:
    """An SQS queue on the trigger topic (raw delivery, filtered to the connection), read by a thread."""

    sqs: Any
    queue_url: str
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            now = time.monotonic()
            for message in got:
                self.received.append((now, json.loads(message["Body"])))
            if got:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
                )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def of(self, trigger: str) -> list[dict[str, Any]]:
        return [body for _, body in list(self.received) if body.get("type") == trigger]


class Salesforce:
    """The org as a Salesforce user changes it: REST calls with the user's own session."""

    def __init__(self, emulator_url: str) -> None:
        self.http = httpx.Client(timeout=120.0)
        self.admin = emulator_url
        token = self.http.post(f"{emulator_url}/__emulator__/tokens", json={"username": SELLER}).json()
        self.base = f"{token['instance_url']}/services/data/v62.0"
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}
        self.calls = 0

    def collection(self, method: str, records: list[dict[str, Any]]) -> list[str]:
        assert len(records) <= BATCH
        response = self.http.request(
            method,
            f"{self.base}/composite/sobjects",
            json={"allOrNone": True, "records": records},
            headers=self.headers,
        )
        self.calls += 1
        assert response.status_code == 200, response.text
        results = response.json()
        assert all(r["success"] for r in results), results[:3]
        return [str(r["id"]) for r in results]

    def delete(self, ids: list[str]) -> None:
        response = self.http.delete(
            f"{self.base}/composite/sobjects",
            params={"ids": ",".join(ids), "allOrNone": "true"},
            headers=self.headers,
        )
        self.calls += 1
        assert response.status_code == 200, response.text
        assert all(r["success"] for r in response.json())

    def create_account(self, name: str) -> str:
        return self.collection("POST", [{"attributes": {"type": "Account"}, "Name": name}])[0]


def _batches(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


@pytest.fixture
def stack() -> Iterator[StackProcess]:
    ports = {"API_PORT": _free_port(), "SF_EMULATOR_PORT": _free_port(), "MOTO_PORT": _free_port()}
    # The poller's burst: the demo connection's relay (on by default in `make run`) stays off, or
    # Leads would also come through it (twice, with the same ids, until reconciliation lands).
    process = StackProcess(ports, {"SCHEDULE_SPEEDUP": "60", "REALTIME": "0"})
    try:
        yield process
    finally:
        process.stop()
        _assert_gone(process)


def test_a_burst_of_leads_reaches_the_subscriber_exactly_once_per_change(stack: StackProcess) -> None:
    stack.wait_for(READY_LINE)
    api = f"http://127.0.0.1:{stack.ports['API_PORT']}"
    moto = f"http://127.0.0.1:{stack.ports['MOTO_PORT']}"
    cid = httpx.get(f"{api}/__devstack__/health").json()["demo_connection_id"]
    assert cid, stack.output

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    sns, sqs = session.client("sns", endpoint_url=moto), session.client("sqs", endpoint_url=moto)
    topic = next(
        t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith("trigger-events")
    )
    queue_url = sqs.create_queue(QueueName="burst-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"connection_id": [cid]})},
    )
    subscriber = Subscriber(sqs, queue_url)
    subscriber.start()

    for trigger in ("leads.created", "leads.updated", "leads.deleted", "accounts.created"):
        made = httpx.post(
            f"{api}/connections/{cid}/subscriptions", json={"trigger": trigger, "fields": ["Id", "Name"]}
        )
        assert made.status_code == 201, made.text

    org = Salesforce(f"http://127.0.0.1:{stack.ports['SF_EMULATOR_PORT']}")
    witnesses: dict[str, float] = {}
    burst_started = time.monotonic()
    lead_ids: list[str] = []
    for batch in _batches(list(range(LEADS))):
        records = [
            {"attributes": {"type": "Lead"}, "LastName": f"Burst {i}", "Company": "Burst Co"} for i in batch
        ]
        lead_ids += org.collection("POST", records)
    time.sleep(1.1)  # LastModifiedDate past CreatedDate (second precision): an update, not the insert
    for batch in _batches(lead_ids):
        org.collection(
            "PATCH", [{"attributes": {"type": "Lead"}, "Id": rid, "Title": "Updated"} for rid in batch]
        )
    deleted = lead_ids[:DELETES]
    for batch in _batches(deleted):
        org.delete(batch)
    written = time.monotonic() - burst_started
    assert org.calls == 2 * -(-LEADS // BATCH) + -(-DELETES // BATCH)

    expected = {"leads.created": LEADS - DELETES, "leads.updated": LEADS - DELETES, "leads.deleted": DELETES}
    deadline = time.monotonic() + DRAIN_TIMEOUT
    next_witness = time.monotonic()
    done_at: float | None = None
    while time.monotonic() < deadline:
        if done_at is None and time.monotonic() >= next_witness:
            witnesses[org.create_account(f"Witness {len(witnesses)}")] = time.monotonic()
            next_witness += WITNESS_EVERY_S
        live = set(lead_ids[DELETES:])
        counts = {
            trigger: len(
                {
                    e["subject"]
                    for e in subscriber.of(trigger)
                    if trigger == "leads.deleted" or e["subject"] in live
                }
            )
            for trigger in expected
        }
        if done_at is None and all(counts[t] >= n for t, n in expected.items()):
            done_at = time.monotonic()
        if done_at is not None and time.monotonic() - done_at >= QUIET_S:
            break
        time.sleep(0.5)
    subscriber.stop()
    drained = (done_at or time.monotonic()) - burst_started

    events = [body for _, body in subscriber.received]
    ids = Counter(e["id"] for e in events)
    per_change = Counter((e["type"], e["subject"]) for e in events)
    distinct = {t: len({e["subject"] for e in subscriber.of(t)}) for t in expected}
    report = (
        f"{LEADS} leads, {DELETES} deleted: written in {written:.1f} s, drained in {drained:.1f} s; "
        f"{len(events)} events, {sum(n - 1 for n in ids.values())} re-sent ids, "
        f"{sum(n - 1 for n in per_change.values())} duplicate changes; "
        f"distinct records per trigger: {distinct}; "
        f"poll timeouts: {stack.output.count('Task timed out')}"
    )
    print(report)
    assert done_at is not None, f"not drained in {DRAIN_TIMEOUT:.0f} s: {report}"
    # Exactly once: no event id twice, no (trigger, record) twice.
    assert [i for i, n in ids.items() if n > 1] == [], report
    assert [c for c, n in per_change.items() if n > 1] == [], report
    live = set(lead_ids[DELETES:])
    for trigger in ("leads.created", "leads.updated"):
        subjects = {e["subject"] for e in subscriber.of(trigger)}
        assert live <= subjects, f"{trigger}: {len(live - subjects)} missing; {report}"
        # A lead deleted before a poll saw it alive has no created/updated event (polling reads
        # live rows); one seen alive has at most one of each (no duplicates, checked above).
        assert subjects - live <= set(deleted)
    assert {e["subject"] for e in subscriber.of("leads.deleted")} == set(deleted), report

    # The other sObject's events kept flowing while the leads drained: every Account created
    # during the drain arrived, and within a few poll intervals, not after the backlog.
    arrived = {e["subject"]: t for t, e in subscriber.received if e.get("type") == "accounts.created"}
    assert set(witnesses) <= set(arrived), f"witness accounts missing: {len(set(witnesses) - set(arrived))}"
    during = {rid: created for rid, created in witnesses.items() if created < done_at - QUIET_S}
    lags = sorted(arrived[rid] - created for rid, created in during.items())
    if lags:
        print(f"witness lag during the drain: median {lags[len(lags) // 2]:.1f} s, max {lags[-1]:.1f} s")
        # An Account written while a cycle publishes the backlog is read by the next cycle: it
        # waits at most one cycle's time bound (POLL_MAX_CYCLE_SECONDS, 60 s of wall time, which
        # SCHEDULE_SPEEDUP does not shorten) and the next cycle's reads, never the backlog's drain.
        bound = 2 * 60 + 15
        assert lags[-1] < bound, f"an Account waited {lags[-1]:.0f} s behind the Lead backlog; {report}"
    assert stack.output.count("Task timed out") == 0, report
