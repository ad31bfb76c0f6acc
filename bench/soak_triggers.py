"""A bounded chaos soak of the trigger poller on loopback: 0 lost, duplicates only with their first id.

One process: moto (``mock_aws``: DynamoDB, SNS, a real SQS subscriber queue on the topic), the
Salesforce emulator over HTTP, one connection with a subscription to every served trigger (the
spec's record, field matched (twice: a tracked and an untracked field) and entered list view
triggers and the deleted extras, 43). For ``--duration`` seconds:

* a **writer** thread changes records across all 12 polled sObjects through the emulator's admin
  API as another Salesforce user: creates, updates, watched-field transitions (field matched on a
  history-tracked field, decided from the History subquery; and on a field without history, decided
  from the poller's snapshot), list-view entries and exits (Accounts and Contacts: a list view of
  the untracked field's value; records are also created inside it), case comments (created,
  updated), deletes, and late commits stamped 3-25 s in the past (inside the soak's 40 s lookback);
  every change is logged with the events it must produce. Polling cannot see a state that lived
  and ended between two reads, and without History neither the snapshot nor the list view's
  membership can (docs/triggers.md "Not covered"): the writer changes an untracked field again
  only once a clean poll has read its previous value;
* the **scheduler** (main thread) starts a poll about every second through the real poller
  handler; a quarter of the cycles start two invocations that overlap (the lease must make one
  skip); some invocations are killed at a random point: from a random Salesforce or AWS request
  on, every request of that thread raises ``Killed`` (a BaseException, so no handler catches it and
  nothing more happens, the lease included: as a SIGKILL would leave it), before or after that
  request is answered;
* **faults**: the emulator's fault admin injects 503s with Salesforce's HTML body (also on
  Composite subrequests' next pages), latency, session expiry and REQUEST_LIMIT_EXCEEDED (the
  allowance is given back two cycles later); SNS: the poller's SNS client is a wrapper around the
  real moto client that fails chosen PublishBatch entries (``InternalError``, not the sender's
  fault: never sent to moto) and now and then a whole call (``ClientError``).

Then the writer stops, the faults are cleared and clean cycles run until nothing more arrives.
The writer's log is compared with what reached the SQS queue. A change is covered by a delivered
event of its subscription and record: created / deleted exactly; updated by an updated event
stamped at or after the change (several changes between two reads are one event with the latest
values); field matched and entered list view by an event at or after the transition. An update,
transition or entry followed by the record's deletion before a poll read it is "superseded" (the
row is gone from the live query; its deletion is delivered). Printed: changes made, events
expected, delivered, lost, superseded, duplicated (same id / new id), unexpected (events nobody
logged, e.g. roll-ups), p50/p95 delivery lag in poll cycles, and the chaos injected.

Usage: python bench/soak_triggers.py [--duration 60] [--seed 1] [--json result.json]
Exit status 1 when an event was lost or a duplicate carries a new id.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.util
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

ROOT = Path(__file__).resolve().parents[1]
LOOKBACK, MARGIN, LEASE, PROBE = 40, 2, 10, 5
"""The poller's settings scaled to a soak in real time (production: 300, 15, 180, 300 s)."""
SELLER = "sam.seller@acme-emulator.example"


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


_CALLS = _load("bench_poll_calls")
"""The call benchmark's org helpers: subscriptions, seed records, watched fields."""

# ------------------------------------------------------------------------------------ kill switch


class Killed(BaseException):
    """The invocation dies here (a BaseException: the handler's except clauses do not catch it)."""


_KILL = threading.local()


def arm_kill(after_requests: int, *, after_answer: bool) -> None:
    _KILL.left, _KILL.after, _KILL.dead = after_requests, after_answer, False


def _gate(call: Callable[[], Any]) -> Any:
    """Every Salesforce and AWS request of the poller goes through here."""
    if getattr(_KILL, "dead", False):
        raise Killed
    left = getattr(_KILL, "left", None)
    if left is None:
        return call()
    _KILL.left = left - 1
    if _KILL.left > 0:
        return call()
    _KILL.dead = True
    if _KILL.after:
        call()
    raise Killed


def install_kill_switch() -> None:
    import httpx
    from botocore.client import BaseClient

    make_call = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private: every operation goes through it)
    handle = httpx.HTTPTransport.handle_request

    def gated_call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        return _gate(lambda: make_call(self, operation, params))

    def gated_handle(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        return _gate(lambda: handle(self, request))  # type: ignore[no-any-return]

    setattr(BaseClient, "_make_api_call", gated_call)  # noqa: B010
    setattr(httpx.HTTPTransport, "handle_request", gated_handle)  # noqa: B010


# ------------------------------------------------------------------------------------ flaky SNS


@dataclass
class Chaos:
    faults: dict[str, int] = field(default_factory=dict)
    sns_entries_failed: int = 0
    sns_calls_failed: int = 0
    overlaps: int = 0
    kills: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    cycle_errors: int = 0


class FlakySns:
    """The real moto SNS client, failing chosen PublishBatch entries (never sent) or whole calls."""

    def __init__(self, real: Any, rng: random.Random, chaos: Chaos, lock: threading.Lock) -> None:
        self.real, self.rng, self.chaos, self.lock = real, rng, chaos, lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def publish_batch(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        with self.lock:
            fail_call = self.rng.random() < 0.05
            fail = {e["Id"] for e in kwargs["PublishBatchRequestEntries"] if self.rng.random() < 0.1}
        if fail_call:
            self.chaos.sns_calls_failed += 1
            error = {"Error": {"Code": "InternalError", "Message": "injected"}}
            raise ClientError(error, "PublishBatch")  # type: ignore[arg-type]
        entries = [e for e in kwargs["PublishBatchRequestEntries"] if e["Id"] not in fail]
        answer: dict[str, Any] = {"Successful": [], "Failed": []}
        if entries:
            answer = dict(self.real.publish_batch(**{**kwargs, "PublishBatchRequestEntries": entries}))
        self.chaos.sns_entries_failed += len(fail)
        failed = [
            {"Id": i, "Code": "InternalError", "Message": "injected", "SenderFault": False} for i in fail
        ]
        answer["Failed"] = list(answer.get("Failed", [])) + failed
        return answer


# ----------------------------------------------------------------------------------------- writer


@dataclass
class Expect:
    """An event the writer's change must produce for one subscription."""

    sub: str
    record: str
    event: str  # created / updated / deleted / matched
    at: int  # the change's stamp (epoch seconds, floor)
    cycle: int


@dataclass
class Writer:
    admin: Any
    subs: list[Any]
    seeds: dict[str, Any]
    new_body: Callable[[str, dict[str, Any]], dict[str, Any]]
    rng: random.Random
    cycle: Callable[[], int]
    event_of: dict[str, str]
    """subscription id -> the change event its stream fires (created, updated, deleted, matched,
    entered)"""
    read_since: Callable[[float], bool] = lambda _at: True
    """Whether a poll that ran to the end has read every row changed at or before this time."""
    expects: list[Expect] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    live: dict[str, list[str]] = field(default_factory=dict)
    born: dict[str, float] = field(default_factory=dict)
    touched: dict[str, float] = field(default_factory=dict)
    watched_value: dict[str, Any] = field(default_factory=dict)
    untracked_value: dict[str, Any] = field(default_factory=dict)
    untracked_at: dict[str, float] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)

    @functools.cached_property
    def by_id(self) -> dict[str, Any]:
        return {s.subscription_id: s for s in self.subs}

    ORDINARY = {
        "Account": "Description", "Contact": "Department", "Lead": "Title", "Opportunity": "Description",
        "Case": "Description", "Product2": "Description", "Task": "Description", "Event": "Description",
        "OpportunityLineItem": "Description", "OpportunityContactRole": "Role", "CaseComment": "CommentBody",
        "Invoice__c": "Amount__c",
    }  # fmt: skip
    WATCHED: ClassVar[dict[str, tuple[str, str, str]]] = _CALLS.WATCHED
    """Field matched on a history-tracked field: (field, the matched value, another value)."""
    UNTRACKED: ClassVar[dict[str, tuple[str, str, str]]] = _CALLS.UNTRACKED
    """Field matched on a field without history (the snapshot decides); for Accounts and Contacts
    also the filter of the entered list view subscription's list view."""
    LISTED = ("Account", "Contact")
    ROLES = ("Evaluator", "Decision Maker", "Influencer", "Other")

    def _expect(self, sobject: str, record: str, event: str, at: int, watched: str | None = None) -> None:
        for sub in self.subs:
            if sub.sobject != sobject or self.event_of[sub.subscription_id] != event:
                continue
            if event == "matched" and sub.params.get("field") != watched:
                continue
            self.expects.append(Expect(sub.subscription_id, record, event, at, self.cycle()))

    def _entered(self, sobject: str, record: str, at: int) -> None:
        """The untracked field moved into its value: a transition, and an entry where listed."""
        self._expect(sobject, record, "matched", at, self.UNTRACKED[sobject][0])
        if sobject in self.LISTED:
            self._expect(sobject, record, "entered", at)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.admin.post(path, json=body)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def _pick(
        self,
        sobject: str,
        *,
        min_age: float = 0,
        quiet: float = 2.5,
        ready: Callable[[str], bool] | None = None,
    ) -> str | None:
        """A live record old enough and not changed for ``quiet`` seconds (so that each change
        has its own stamp and a late commit is stamped after the record's last change), and
        ``ready`` when given."""
        now = time.time()
        pool = [
            r for r in self.live.get(sobject, [])
            if now - self.touched.get(r, 0) > quiet and now - self.born.get(r, 0) > min_age
            and (ready is None or ready(r))
        ]  # fmt: skip
        return self.rng.choice(pool) if pool else None

    def create(self, sobject: str) -> None:
        body = self.new_body(sobject, self.seeds)
        watched = self.WATCHED.get(sobject)
        if watched:
            body[watched[0]] = watched[2]  # created not equal: the transition is what fires
        untracked = self.UNTRACKED.get(sobject)
        born_in = untracked is not None and self.rng.random() < 0.25
        if untracked:
            # A record created equal fires changed_to (created since the start) and enters the view.
            body[untracked[0]] = untracked[1] if born_in else untracked[2]
        at = int(time.time())
        rid = str(self._post("/__emulator__/dml", {"operation": "insert", "sobject": sobject,
                                                    "fields": body, "username": SELLER})["id"])  # fmt: skip
        self.live.setdefault(sobject, []).append(rid)
        self.born[rid] = self.touched[rid] = time.time()
        if watched:
            self.watched_value[rid] = watched[2]
        if untracked:
            self.untracked_value[rid] = body[untracked[0]]
            self.untracked_at[rid] = time.time()
        self._expect(sobject, rid, "created", at)
        if born_in:
            self._entered(sobject, rid, at)

    def update(self, sobject: str, *, watched: bool = False, late: bool = False) -> None:
        ago = self.rng.randint(3, 25) if late else 0
        rid = self._pick(sobject, min_age=ago + 2 if late else 1.5, quiet=ago + 2.5)
        if rid is None:
            return
        n = sum(self.changes.values())
        name = self.ORDINARY[sobject]
        value: Any = f"soak {n}"
        if name == "Role":
            value = self.ROLES[n % len(self.ROLES)]
        elif name == "Amount__c":
            value = float(n)
        fields = {name: value}
        event, watched_name = "updated", None
        if watched:
            field_name, hit, miss = self.WATCHED[sobject]
            watched_name = field_name
            current = self.watched_value.get(rid)
            fields = {field_name: miss if current == hit else hit}
            self.watched_value[rid] = fields[field_name]
            event = "matched" if fields[field_name] == hit else "updated"
        at = int(time.time()) - ago
        body: dict[str, Any] = {
            "operation": "update",
            "sobject": sobject,
            "id": rid,
            "fields": fields,
            "username": SELLER,
        }
        if late:
            body["seconds_ago"] = ago
        self._post("/__emulator__/late-commit" if late else "/__emulator__/dml", body)
        self.touched[rid] = time.time()
        self._expect(sobject, rid, "updated", at)
        if event == "matched":
            self._expect(sobject, rid, "matched", at, watched_name)

    def untracked(self, sobject: str) -> None:
        """Move the untracked field in or out of its value, on a record whose current value a
        clean poll has read (so that no state lives and ends unseen between two reads)."""
        name, hit, miss = self.UNTRACKED[sobject]
        rid = self._pick(
            sobject, ready=lambda r: r in self.untracked_at and self.read_since(self.untracked_at[r])
        )
        if rid is None:
            return
        value = miss if self.untracked_value.get(rid) == hit else hit
        at = int(time.time())
        self._post("/__emulator__/dml", {"operation": "update", "sobject": sobject, "id": rid,
                                          "fields": {name: value}, "username": SELLER})  # fmt: skip
        self.touched[rid] = self.untracked_at[rid] = time.time()
        self.untracked_value[rid] = value
        self._expect(sobject, rid, "updated", at)
        if value == hit:
            self._entered(sobject, rid, at)

    def delete(self, sobject: str) -> None:
        rid = self._pick(sobject, min_age=4)
        if rid is None:
            return
        at = int(time.time())
        self._post("/__emulator__/dml", {"operation": "delete", "sobject": sobject, "id": rid,
                                          "fields": {}, "username": SELLER})  # fmt: skip
        self.live[sobject].remove(rid)
        self.deleted[rid] = at
        self._expect(sobject, rid, "deleted", at)

    def step(self) -> None:
        sobject = self.rng.choice(list(self.ORDINARY))
        roll = self.rng.random()
        run: Callable[[], None]
        if sobject == "CaseComment" and roll < 0.5:
            op, run = "comment", lambda: self.create("CaseComment")
        elif roll < 0.35:
            op, run = "create", lambda: self.create(sobject)
        elif roll < 0.6:
            op, run = "update", lambda: self.update(sobject)
        elif roll < 0.64 and sobject in self.WATCHED:
            op, run = "watched", lambda: self.update(sobject, watched=True)
        elif roll < 0.75 and sobject in self.UNTRACKED:
            op, run = "untracked", lambda: self.untracked(sobject)
        elif roll < 0.87:
            op, run = "late commit", lambda: self.update(sobject, late=True)
        else:
            op, run = "delete", lambda: self.delete(sobject)
        before = len(self.expects)
        run()
        if len(self.expects) > before or op == "delete":
            self.changes[op] = self.changes.get(op, 0) + 1

    def run(self, rate: float) -> None:
        try:
            while not self.stop.is_set():
                self.step()
                self.stop.wait(self.rng.expovariate(rate))
        except Exception as exc:  # the soak reports it instead of hanging
            self.errors.append(f"{type(exc).__name__}: {exc}")


# ------------------------------------------------------------------------------------------- soak


@dataclass
class Result:
    seed: int
    duration_s: float
    cycles: int
    changes: dict[str, int]
    changes_made: int
    events_expected: int
    delivered: int
    lost: int
    superseded: int
    duplicated_same_id: int
    duplicated_new_id: int
    unexpected: int
    lag_p50_cycles: float
    lag_p95_cycles: float
    chaos: dict[str, Any]
    lost_examples: list[str]
    unexpected_by_record: dict[str, int]
    """Deliveries nobody logged, counted per trigger and record (who causes them)."""
    writer_errors: list[str]


def _list_views(admin: Any) -> dict[str, str]:
    """Per listed sObject, a list view of the records whose untracked field has its value."""
    views = {}
    for sobject in Writer.LISTED:
        name, value, _other = Writer.UNTRACKED[sobject]
        answer = admin.post("/__emulator__/listviews", json={
            "sobject": sobject, "developerName": f"Soak_{sobject}", "label": f"Soak {sobject}",
            "columns": ["Id", name], "orderBy": "Id",
            "filters": [{"field": name, "operator": "equals", "values": [value]}],
        })  # fmt: skip
        answer.raise_for_status()
        views[sobject] = str(answer.json()["id"])
    return views


def _subscribe(runtime: Any, connection: str, views: dict[str, str]) -> list[Any]:
    from sfconnector import catalog

    start = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).replace(microsecond=0)
    out: list[Any] = []
    for trig in catalog.TRIGGERS:
        if trig.stream is None:
            continue
        sobject = trig.sobject or "Invoice__c"
        variants: list[dict[str, Any]] = [{"sobject": sobject} if trig.sobject is None else {}]
        if trig.kind is catalog.TriggerKind.FIELD_MATCHED:
            variants = [
                {"field": name, "value": value, "mode": "changed_to"}
                for name, value, _other in (Writer.WATCHED[sobject], Writer.UNTRACKED[sobject])
            ]
        elif trig.kind is catalog.TriggerKind.ENTERED_LIST_VIEW:
            variants = [{"list_view_id": views[sobject]}]
        out += [_CALLS.put_subscription(runtime, connection, trig, p, start) for p in variants]
    return out


def _subscriber(region: str, topic_arn: str) -> str:
    import boto3

    sqs = boto3.client("sqs", region_name=region)
    url = sqs.create_queue(QueueName="soak-subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=region).subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return str(url)


def _drain(region: str, url: str) -> list[dict[str, Any]]:
    import boto3

    sqs = boto3.client("sqs", region_name=region)
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        for message in got:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("503 html", {"kind": "error", "status": 503, "path": "/composite", "count": 1}),
    (
        "503 html next page",
        {"kind": "error", "status": 503, "path": "/query/", "subrequests": True, "count": 1},
    ),
    ("latency 1.5 s", {"kind": "latency", "latency_ms": 1500, "count": 2}),
    ("session expired", {"kind": "session_expired", "path": "/composite", "count": 1}),
    ("REQUEST_LIMIT_EXCEEDED", {"kind": "limit_exceeded", "count": 1}),
]


def give_back_allowance(admin: Any) -> None:
    """The org's allowance is back (the rolling 24 h window moved on); the poller must notice by
    itself (its budget probe), from its stale reading of a used-up allowance."""
    admin.post("/__emulator__/usage", json={"api_calls": 0}).raise_for_status()


def soak(duration: float, seed: int, rate: float = 6.0) -> Result:
    os.environ.update(
        {
            "POLL_LOOKBACK_SECONDS": str(LOOKBACK),
            "POLL_SAFETY_MARGIN_SECONDS": str(MARGIN),
            "POLL_LEASE_SECONDS": str(LEASE),
            "POLL_BUDGET_PROBE_SECONDS": str(PROBE),
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    import logging

    logging.disable(logging.CRITICAL)
    calls = _CALLS
    actions = calls._ACTIONS
    rng = random.Random(seed)
    chaos, lock = Chaos(), threading.Lock()
    started = time.time()
    with actions.environment() as admin:
        import boto3
        from sfconnector import catalog
        from sfconnector.events import SnsEventPublisher
        from sfconnector.runtime import get_runtime

        from tests.fixtures.actions import FakeLambdaContext, load_function

        runtime = get_runtime()
        region = actions.REGION
        topic = os.environ["TOPIC_ARN"]
        queue = _subscriber(region, topic)
        seeds = calls._seeds()
        subs = _subscribe(runtime, actions.CONNECTION, _list_views(admin))
        ports = runtime.poller_ports
        ports.publisher = SnsEventPublisher(
            cast("Any", FlakySns(boto3.client("sns", region_name=region), rng, chaos, lock)), topic,
            s3=boto3.client("s3", region_name=region), bucket=os.environ["PAYLOAD_BUCKET"],
        )  # fmt: skip
        handler = load_function("poller").lambda_handler
        install_kill_switch()
        cycle = [0]
        event_of = {s.subscription_id: catalog.trigger(s.trigger).stream.event.value for s in subs}  # type: ignore[union-attr]
        read_at = [0.0]
        """When the latest poll that ran to the end started (its window ends MARGIN before)."""
        writer = Writer(
            admin, subs, seeds, calls._new, random.Random(seed + 1), lambda: cycle[0], event_of,
            read_since=lambda at: read_at[0] - MARGIN - 1.0 > at,
        )  # fmt: skip
        for sobject in Writer.ORDINARY:  # a pool of older records for updates and late commits
            for _ in range(3):
                writer.create(sobject)
        received: list[tuple[int, dict[str, Any]]] = []

        clean: list[bool] = []
        """Per invocation of the current cycle: whether it polled to the end without an error."""

        def invoke(kill: tuple[int, bool] | None) -> None:
            if kill is not None:
                arm_kill(kill[0], after_answer=kill[1])
            try:
                report = handler(
                    {"connection_id": actions.CONNECTION}, FakeLambdaContext(function_name="poller")
                )
                with lock:
                    # Clean: it read every stream to the end (a budget probe or a time-bounded
                    # cycle polls without an error yet leaves rows unread).
                    clean.append(
                        report.get("outcome") == "polled"
                        and not report.get("error")
                        and not report.get("reason")
                        and all(s.get("complete") for s in report.get("streams", []))
                    )
                    if report.get("outcome") == "skipped":
                        chaos.skipped[report["reason"]] = chaos.skipped.get(report["reason"], 0) + 1
                    if report.get("error"):
                        chaos.cycle_errors += 1
            except Killed:
                with lock:
                    chaos.kills += 1
            finally:
                _KILL.left, _KILL.dead = None, False

        def one_cycle(chaotic: bool) -> bool:
            """One scheduled poll (two when overlapping); whether one of them polled cleanly."""
            cycle[0] += 1
            clean.clear()
            begun = time.time()
            kill = None
            if chaotic and rng.random() < 0.1:
                kill = (rng.randint(1, 10), rng.random() < 0.5)
            threads = [threading.Thread(target=invoke, args=(kill,))]
            if chaotic and rng.random() < 0.25:
                chaos.overlaps += 1
                threads.append(threading.Thread(target=invoke, args=(None,)))
            for t in threads:
                t.start()
                time.sleep(rng.random() * 0.05)
            for t in threads:
                t.join(60)
            received.extend((cycle[0], body) for body in _drain(region, queue))
            if any(clean):
                read_at[0] = begun
            return any(clean)

        writer_thread = threading.Thread(target=writer.run, args=(rate,), daemon=True)
        writer_thread.start()
        limits: set[int] = set()
        """REQUEST_LIMIT_EXCEEDED faults not fired yet (one fires at the next REST call, which may
        come many cycles later: a killed invocation's lease, skipped cycles)."""
        give_back_at: int | None = None
        while time.time() - started < duration:
            tick = time.time()
            if rng.random() < 0.2:
                name, spec = rng.choice(FAULTS)
                added = admin.post("/__emulator__/faults", json=spec)
                added.raise_for_status()
                chaos.faults[name] = chaos.faults.get(name, 0) + 1
                if spec["kind"] == "limit_exceeded":
                    limits.add(int(added.json()["id"]))
            if limits:
                fired = {
                    int(f["id"]) for f in admin.get("/__emulator__/faults").json()["faults"] if f["fired"]
                }
                if limits & fired:
                    # The allowance is used up from the moment the fault fired: back 2 cycles later.
                    limits -= fired
                    give_back_at = cycle[0] + 2
            if give_back_at is not None and cycle[0] >= give_back_at:
                give_back_allowance(admin)
                give_back_at = None
            one_cycle(chaotic=True)
            time.sleep(max(0.0, 1.0 - (time.time() - tick)))
        writer.stop.set()
        writer_thread.join(30)
        admin.delete("/__emulator__/faults")
        give_back_allowance(admin)
        # Clean cycles until the last change is past the safety margin and three polls that ran to
        # the end (not skipped: a killed invocation's lease lasts LEASE seconds) found nothing more.
        quiet, deadline = 0, time.time() + 3 * (LEASE + LOOKBACK)
        settle = time.time() + MARGIN + 1.5
        while (quiet < 3 or time.time() < settle) and time.time() < deadline:
            before = len(received)
            ran = one_cycle(chaotic=False)
            if ran and time.time() > settle:
                quiet = quiet + 1 if len(received) == before else 0
            time.sleep(1.0)
        return _compare(writer, received, chaos, seed, time.time() - started, cycle[0])


def _key(body: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two deliveries the same change (whatever their ids)."""
    return (body["subscription_id"], body["subject"], body["event_type"], body["time"],
            json.dumps(body.get("old_value")), json.dumps(body.get("new_value")))  # fmt: skip


def _stamp(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _compare(
    writer: Writer,
    received: list[tuple[int, dict[str, Any]]],
    chaos: Chaos,
    seed: int,
    took: float,
    cycles: int,
) -> Result:
    first: dict[str, tuple[int, dict[str, Any]]] = {}
    ids_of_key: dict[tuple[Any, ...], str] = {}
    same = new = 0
    for at_cycle, body in received:
        key = _key(body)
        if body["id"] in first:
            same += 1
            continue
        if key in ids_of_key:
            new += 1  # the same change under another id: a subscriber's dedupe cannot catch it
            continue
        first[body["id"]] = (at_cycle, body)
        ids_of_key[key] = body["id"]
    by_target: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    for at_cycle, body in first.values():
        target = (body["subscription_id"], body["subject"][:15], body["event_type"])
        stamp = _stamp(body.get("changed_at") or body["time"])
        by_target.setdefault(target, []).append((stamp, at_cycle))
    lost, superseded = 0, 0
    lags: list[int] = []
    examples: list[str] = []
    used: set[tuple[str, str, str, int]] = set()
    for e in writer.expects:
        got = by_target.get((e.sub, e.record[:15], e.event), [])
        exact = e.event in ("created", "deleted")
        covering = got if exact else [g for g in got if g[0] >= e.at]
        if covering:
            lags.append(min(c for _s, c in covering) - e.cycle)
            for stamp, _c in covering:
                used.add((e.sub, e.record[:15], e.event, stamp))
        elif e.event in ("updated", "matched", "entered") and e.record in writer.deleted:
            superseded += 1
        else:
            lost += 1
            if len(examples) < 10:
                sub = writer.by_id[e.sub]
                examples.append(
                    f"{e.event} {e.record} at {e.at} (cycle {e.cycle}) {sub.trigger} {sub.params}"
                )
    unused = [
        (s, r, ev, stamp) for (s, r, ev), got in by_target.items() for stamp, _c in got
        if (s, r, ev, stamp) not in used
    ]  # fmt: skip
    unexpected = len(unused)
    surprises: dict[str, int] = {}
    for s, r, _ev, _at in unused:
        name = f"{writer.by_id[s].trigger} {r}"
        surprises[name] = surprises.get(name, 0) + 1
    ordered = sorted(lags) or [0]
    return Result(
        seed=seed, duration_s=round(took, 1), cycles=cycles, changes=dict(writer.changes),
        changes_made=sum(writer.changes.values()), events_expected=len(writer.expects),
        delivered=len(first), lost=lost, superseded=superseded, duplicated_same_id=same,
        duplicated_new_id=new, unexpected=unexpected, lag_p50_cycles=statistics.median(ordered),
        lag_p95_cycles=ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        chaos=asdict(chaos), lost_examples=examples,
        unexpected_by_record=surprises, writer_errors=writer.errors,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()
    result = soak(args.duration, args.seed)
    print(f"trigger soak: {result.duration_s} s, {result.cycles} poll cycles, seed {result.seed}")
    print(f"changes made      {result.changes_made:>6}  {result.changes}")
    for name in ("events_expected", "delivered", "lost", "superseded", "duplicated_same_id",
                 "duplicated_new_id", "unexpected", "lag_p50_cycles", "lag_p95_cycles"):  # fmt: skip
        print(f"{name.replace('_', ' '):<18}{getattr(result, name):>6}")
    print(f"chaos             {result.chaos}")
    for line in result.lost_examples:
        print(f"  lost: {line}")
    for name, count in sorted(result.unexpected_by_record.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  unexpected: {count} x {name}")
    for line in result.writer_errors:
        print(f"  writer error: {line}")
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    sys.exit(1 if result.lost or result.duplicated_new_id else 0)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
