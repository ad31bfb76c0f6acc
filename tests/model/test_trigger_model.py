"""A stateful model of the trigger engine: what each subscription must receive, checked against
what the real poller delivers (tests/model/README.md says what is modelled and what it found).

Hypothesis drives random interleavings of Salesforce changes (creates, updates, deletes, late
commits, History-tracked and untracked field transitions, list-view entries and exits, bulk loads
read in the smallest pages the poller allows), subscription pauses and resumes, and faults (SNS
refusing entries, a poll killed at any I/O step, a poll whose lease expires under it while a
second poll runs) with polls. The real poller handler runs against the emulator over HTTP and moto
in-process; time is the emulator's org clock, frozen and moved only by the model.

The connection relays Lead: each Lead change also makes a change event in Salesforce's shape that
the real relay handler turns into trigger events (a second row source), its faults as rules (an
event dropped, duplicated, a gap or an overflow, a batch reordered, delivered late within the
reconciliation's grace, SNS refusing some of the relay's entries); Lead's polls are reconciliations.

Invariant ("every expected event is delivered, with one id, and nothing else"):
* every change a subscription must see is delivered (checked after the faults stop and clean polls
  drain what is left), and nothing a subscription must not see is delivered, ever;
* one change has one event id: two deliveries of one change with different ids are a failure;
* the same id delivered twice is allowed only when one of its deliveries came from a poll that
  did not finish normally (killed, or overtaken after its lease expired): the at-least-once of
  docs/triggers.md ("Faults": a re-send after a crash carries the same id). A healthy poll
  re-sending what another healthy poll or the relay delivered is a failure.

``KNOWN_ENGINE_GAPS`` names the rules today's engine fails (the minimal failing examples are in
tests/model/README.md); they are off so the suite passes, and ``MODEL_GAPS=all`` (or a comma
list) turns them on: the engine that fixes them removes them from the set.

Sizes: ``MODEL_EXAMPLES`` (default 8) and ``MODEL_STEPS`` (default 25); ``make model`` runs 500
examples of 40 steps.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sfconnector.models.realtime import RealtimeObject, RealtimeState
from sfconnector.models.subscriptions import SubscriptionCreate, SubscriptionPatch
from sfconnector.runtime import get_runtime
from sfconnector.triggers.subscriptions import SubscriptionService

from tests.fixtures.actions import seed_connection
from tests.fixtures.aws import AwsEnv, SchedulerEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller
from tests.integration.triggers.relay_harness import Relay, row_of, run_queue
from tests.model.harness import Gate, Killed, install

# Fixed, their rules on and their examples regression tests: canonical_values (canonical field
# matched values), pause_alone (``resumed_at``), field_isolation (INVALID_FIELD drops the field),
# backlog_timeout (a checkpoint after each page's events), lease_loss (state writes conditional on
# the lease, a lease check before each publish step).
KNOWN_ENGINE_GAPS: frozenset[str] = frozenset()
"""Rules the engine still fails (each with its minimal failing example in tests/model/README.md)."""

PAUSE_DELIVERS_CHANGES_MADE_WHILE_PAUSED = False
"""The model's one switch for "paused": False (the issue's choice, "resume from the resume time"):
a change stamped while a subscription is paused is never delivered to it, whether or not the
sObject is shared with an active subscription. True: pausing only delays delivery."""

_wanted = os.environ.get("MODEL_GAPS", "")
ENABLED_GAPS = KNOWN_ENGINE_GAPS if _wanted == "all" else frozenset(g for g in _wanted.split(",") if g)

SKIPPED = frozenset(os.environ.get("MODEL_SKIP", "").split(","))
"""Rules a targeted hunt leaves out (``MODEL_SKIP=bulk``: the costliest step)."""

MAX_BULKS = int(os.environ.get("MODEL_BULKS", "1"))
"""Bulk loads per example (each is hundreds of events through moto: CI keeps one)."""

LOOKBACK, MARGIN, LEASE = 300, 15, 180
SETTLE = MARGIN + 2
SOBJECTS = ("Lead", "Contact", "Account")
RELAYED = "Lead"
"""The sObject the connection relays: its changes reach subscribers through the relay handler,
and its polls are reconciliations (every ``INTERVAL``, a ``GRACE`` behind "now")."""
INTERVAL, GRACE = 900, 120  # RealtimeState.reconcile_seconds, POLL_RECONCILE_GRACE_SECONDS
FATES = ("deliver", "drop", "duplicate", "gap", "overflow")
"""What becomes of a relayed change's event: delivered (held until a ``relay_flush``, or late: at
the latest before a reconciliation could read past it), dropped, sent twice, a ``GAP_*`` event
(the relay re-reads the record), or a ``GAP_OVERFLOW`` (the relay hands the object to
reconciliation)."""
SELLER = "sam.seller@acme-emulator.example"
HOT, COLD = "Hot", "Cold"  # Account.Rating: history-tracked in the emulator
WEB, OTHER = "Web", "Other"  # Account.AccountSource: no history; the list view's filter


def gap_on(name: str) -> bool:
    return name not in KNOWN_ENGINE_GAPS or name in ENABLED_GAPS


def gap(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A rule today's engine fails: off unless enabled (KNOWN_ENGINE_GAPS, MODEL_GAPS)."""
    return precondition(lambda _self: gap_on(name))


@dataclass
class Sub:
    name: str
    trigger: str
    sobject: str
    kind: str  # created / updated / deleted / matched / entered
    params: dict[str, Any] = field(default_factory=dict)
    sid: str = ""
    paused_since: int | None = None
    paused: list[tuple[int, int]] = field(default_factory=list)
    """Closed pause intervals [from, to) of change stamps."""


SUBS = [
    Sub("lead_created", "leads.created", "Lead", "created"),
    Sub("lead_updated", "leads.updated", "Lead", "updated"),
    Sub("lead_deleted", "leads.deleted", "Lead", "deleted"),
    Sub("lead_created_pausable", "leads.created", "Lead", "created"),
    Sub("contact_created_pausable", "contacts.created", "Contact", "created"),
    Sub("account_updated", "accounts.updated", "Account", "updated"),
    Sub("rating_hot", "accounts.field_matched", "Account", "matched",
        {"field": "Rating", "value": HOT, "mode": "changed_to"}),
    Sub("source_web", "accounts.field_matched", "Account", "matched",
        {"field": "AccountSource", "value": WEB, "mode": "changed_to"}),
    Sub("entered_web", "accounts.entered_list_view", "Account", "entered"),
    # A reference written with a 15-character id (Salesforce answers with 18): every Account the
    # seller creates is owned by them, so it is created equal and fires (created since the start).
    Sub("owner_is_seller", "accounts.field_matched", "Account", "matched",
        {"field": "OwnerId", "mode": "changed_to"}),
]  # fmt: skip
UNTRACKED_SUBS = ("source_web", "owner_is_seller")
"""Decided by the snapshot: a poll sees states, so transitions are counted, not stamped."""
SUB_GAPS = {"owner_is_seller": "canonical_values"}
PAUSABLE = ("lead_created_pausable", "contact_created_pausable")
PAUSE_GAPS = {"lead_created_pausable": "pause_shared", "contact_created_pausable": "pause_alone"}


@dataclass
class Rec:
    sobject: str
    rid: str
    created: int
    last: int
    """Stamp of its latest change."""
    deleted: int | None = None
    rating: str = COLD
    source: str = OTHER
    source_at: int = 0
    unread: list[int] = field(default_factory=list)
    """A relayed record's changes the relay has not delivered (dropped, held, a gap delete, an
    overflow): read once a clean reconciliation's window passed them."""


@dataclass
class Held:
    """A change event the relay holds (the relay queue's message, not delivered yet)."""

    body: str
    rid: str
    at: int
    """The change's version: the relay delivers it before a reconciliation reads past it."""
    covers: bool
    """Its delivery delivers the change (a gap delete and an overflow leave it to reconciliation)."""
    merged: tuple[str, ...] = ()
    """The other records of a merged event (one transaction's identical changes)."""


@dataclass
class Expect:
    sub: str
    rid: str  # 15 characters
    kind: str
    at: int
    optional: bool = False


@dataclass
class Delivery:
    poll: int
    body: dict[str, Any]


def _stamp(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


class TriggerModel(RuleBasedStateMachine):
    aws: AwsEnv
    emulator: EmulatorHandle
    gate: Gate
    service: SubscriptionService

    def __init__(self) -> None:
        super().__init__()
        self.subs = {s.name: Sub(**{**s.__dict__, "params": dict(s.params), "paused": []}) for s in SUBS}
        self.records: dict[str, Rec] = {}
        self.expects: list[Expect] = []
        self.deliveries: list[Delivery] = []
        self.impaired: set[int] = set()
        """Polls that did not finish normally (killed, or overtaken after their lease expired)."""
        self.polls = 0
        self.clean_upper = 0
        """The window's upper bound of the last clean poll: every change stamped before it was read."""
        self.max_upper = 0
        self.refusing = 0
        """Polls left during which SNS refuses the picked entries."""
        self.refuse_mod = 2
        self.draining = False
        self.toggled_at = 0
        self.bad_field = False
        self.bulks = 0
        self.log: list[str] = []
        self.held: list[Held] = []
        """Change events the relay holds, in the order Salesforce sent them."""
        self.relay_flushes = 0
        """Relay deliveries so far (a delivery's ``poll`` is minus its number)."""
        self.recon_upper = 0
        """The window's end of the last clean reconciliation of ``RELAYED`` (a grace behind "now")."""
        self.recon_draining = False

    # ---- set-up ------------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        em = self.emulator
        em.reset()
        em.configure(min_query_batch_size=200)
        # The seed's records lie far before the subscriptions' start (out of every lookback).
        em.set_clock(em.now() + dt.timedelta(hours=1), frozen=True)
        conn = seed_connection(self.aws, em, f"conn-model-{uuid.uuid4().hex[:8]}")
        self.poller = Poller(self.aws, em, conn)
        self.cid = conn.connection_id
        # RELAYED is relayed: the realtime state the setup leaves, the partner bus associated and
        # its event source bound to the connection (the relay finds the connection through it).
        get_runtime().connections.update(
            self.cid,
            realtime=RealtimeState(
                requested=[RELAYED],
                objects=[RealtimeObject(sobject=RELAYED, mode="relayed")],
                association="associated",
                reconcile_seconds=INTERVAL,
            ),
        )
        self.relay = Relay(self.aws, em, conn)
        view = em.put_list_view(
            "Account", f"Model_{uuid.uuid4().hex[:6]}", columns=["Id", "AccountSource"], orderBy="Id",
            filters=[{"field": "AccountSource", "operator": "equals", "values": [WEB]}],
        )  # fmt: skip
        for sub in self.subs.values():
            if not gap_on(SUB_GAPS.get(sub.name, "")):
                continue
            if sub.kind == "entered":
                sub.params = {"list_view_id": view["id"]}
            if sub.name == "owner_is_seller":
                sub.params["value"] = em.sales_user_id[:15]
            # Through the subscriptions service, as the API creates them (its checks, its values).
            body = SubscriptionCreate(trigger=sub.trigger, params=sub.params)
            sub.sid = self.service.create(conn.connection_id, body).subscription_id
        self.now = int(em.now().timestamp())
        self.start_at = self.now
        self._tick()
        self._poll()  # the first cycle: describes, the list view's baseline

    # ---- helpers -----------------------------------------------------------------------------

    def _tick(self, seconds: int = 1) -> None:
        self.now = int(self.emulator.advance_clock(seconds).timestamp())

    def _active(self, sub: Sub, at: int) -> bool:
        if at < self.start_at:
            return False
        if PAUSE_DELIVERS_CHANGES_MADE_WHILE_PAUSED:
            return True
        if sub.paused_since is not None and at >= sub.paused_since:
            return False
        return not any(lo <= at < hi for lo, hi in sub.paused)

    def _expect(self, sobject: str, rid: str, kind: str, at: int, *, field_name: str | None = None) -> None:
        for sub in self.subs.values():
            if not sub.sid or sub.sobject != sobject or sub.kind != kind or not self._active(sub, at):
                continue
            if kind == "matched" and sub.params["field"] != field_name:
                continue
            self.expects.append(Expect(sub.name, rid[:15], kind, at))

    def _write(self, operation: str, sobject: str, fields: dict[str, Any], rid: str | None = None,
               ago: int = 0) -> str:  # fmt: skip
        if operation == "undelete":
            answer = self.emulator.dml(operation, sobject, fields, id=rid, username=SELLER)
        elif ago:
            answer = self.emulator.late_commit(sobject, fields, seconds_ago=ago, id=rid, username=SELLER)
        else:
            answer = self.emulator.dml(operation, sobject, fields, id=rid, username=SELLER)
        return str(answer["id"])

    def _live(self, sobject: str) -> list[Rec]:
        return [r for r in self.records.values() if r.sobject == sobject and r.deleted is None]

    def _supersede(self, rid: str) -> None:
        """A record deleted before a poll read its last changes: its row leaves the live query."""
        for e in self.expects:
            if e.rid == rid[:15] and e.kind in ("updated", "matched", "entered"):
                e.optional = True

    def _read(self, rec: Rec) -> bool:
        """Every change of the record reached the engine: read by a clean poll, or for a relayed
        record, delivered by the relay or read by a clean reconciliation."""
        if rec.sobject == RELAYED:
            return all(at < self.recon_upper for at in rec.unread)
        return rec.last < self.clean_upper

    # ---- the relay ---------------------------------------------------------------------------

    def _relay(self, change: str, rec: Rec, fate: str, changed: tuple[str, ...] = ()) -> None:
        """Salesforce's change event of the record's current version, as ``fate`` says."""
        if rec.sobject != RELAYED:
            return
        at = rec.last
        rec.unread.append(at)
        self.log.append(f"  its {change} event: {fate}")
        if fate == "drop":
            return
        row = row_of(self.poller, RELAYED, rec.rid)
        if fate == "overflow":
            body = self.relay.event("GAP_OVERFLOW", RELAYED, ["000000000000000AAA"], row)
        else:
            kind = f"GAP_{change}" if fate == "gap" else change
            body = self.relay.event(kind, RELAYED, [rec.rid], row, changed)
        # A gap delete, an overflow and a gap re-read refused for a deleted field (INVALID_FIELD)
        # leave the change to reconciliation (the reconcile marker).
        covers = fate != "overflow" and not (fate == "gap" and (change == "DELETE" or self.bad_field))
        self.held += [Held(body, rec.rid, at, covers)] * (2 if fate == "duplicate" else 1)

    def _relay_deliver(self, batch: list[Held], *, refuse: int = 0) -> None:
        """The relay queue's messages through the real relay handler (batches of 10, its partial
        batch response applied). ``refuse``: SNS refuses 1 in ``refuse`` of its entries (by
        message); a failed message is retried (held again) while the contract allows it (a
        reconciliation cannot have read its change yet), else the relay never delivers it."""
        if not batch:
            return
        self.relay_flushes += 1
        index = -self.relay_flushes
        sqs, queue = self.relay.sqs, self.relay.queue
        sent: dict[str, Held] = {}
        for first in range(0, len(batch), 10):  # as EventBridge's rule would, but 10 a request
            chunk = batch[first : first + 10]
            entries: list[Any] = [{"Id": str(i), "MessageBody": h.body} for i, h in enumerate(chunk)]
            answer = sqs.send_message_batch(QueueUrl=queue, Entries=entries)
            sent |= {ok["MessageId"]: chunk[int(ok["Id"])] for ok in answer["Successful"]}
        gate, before = self.gate, self.gate.refuse
        if refuse:
            gate.refuse = lambda entry: zlib.crc32(entry["Message"].encode()) % refuse == 0
        try:
            _, failed = run_queue(sqs, queue)
        finally:
            gate.refuse = before
        retried = never = 0
        for message_id, held in sent.items():
            rec = self.records[held.rid]
            if message_id not in failed:
                for covered in (rec, *(self.records[rid] for rid in held.merged)):
                    if held.covers and held.at in covered.unread:
                        covered.unread.remove(held.at)
            elif held.at > self.now - GRACE:
                self.held.append(held)
                retried += 1
            else:
                never += 1
        self.log.append(
            f"relay #{-index}: {len(batch)} event(s), {len(failed)} failed ({retried} retried, {never} never)"
            + (f", SNS refusing 1/{refuse}" if refuse else "")
        )
        self._collect(index)
        self._check_nothing_else()

    def _relay_due(self) -> None:
        """What the relay holds that a reconciliation now could read past: delivered first (the
        relay delivers within the grace period or never: docs/realtime.md "Reconciliation")."""
        due = [h for h in self.held if h.at <= self.now - GRACE]
        if due:
            self.held = [h for h in self.held if h.at > self.now - GRACE]
            self._relay_deliver(due)

    def _settled(self) -> bool:
        """The relay delivers what it holds; then whether every change reached the engine (a
        subscription is toggled only then: a change made before the toggle belongs to before)."""
        held, self.held = self.held, []
        self._relay_deliver(held)
        return all(self._read(r) for r in self.records.values())

    @rule(seed=st.integers(0, 2**16), reorder=st.booleans(), refuse=st.sampled_from([0, 2, 3]))
    def relay_flush(self, seed: int, reorder: bool, refuse: int) -> None:
        """The relay delivers what it holds: in Salesforce's order or shuffled across batches
        (SQS standard), SNS refusing 1 in ``refuse`` of its entries."""
        held, self.held = self.held, []
        if reorder:
            random.Random(seed).shuffle(held)
        self._relay_deliver(held, refuse=refuse)

    # ---- Salesforce changes ------------------------------------------------------------------

    @rule(sobject=st.sampled_from(SOBJECTS), web=st.booleans(), fate=st.sampled_from(FATES))
    def create(self, sobject: str, web: bool, fate: str = "deliver") -> None:
        fields: dict[str, Any] = {"LastName": f"M{len(self.records)}"}
        if sobject == "Lead":
            fields["Company"] = "Model"
        if sobject == "Account":
            fields = {"Name": f"M{len(self.records)}", "Rating": COLD, "AccountSource": WEB if web else OTHER}
        rid = self._write("insert", sobject, fields)
        rec = Rec(
            sobject, rid, self.now, self.now, source=fields.get("AccountSource", OTHER), source_at=self.now
        )
        self.records[rid] = rec
        self._expect(sobject, rid, "created", self.now)
        if sobject == "Account":
            self._expect(sobject, rid, "matched", self.now, field_name="OwnerId")
        if sobject == "Account" and web:
            self._expect(sobject, rid, "matched", self.now, field_name="AccountSource")
            self._expect(sobject, rid, "entered", self.now)
        self.log.append(f"create {sobject} {rid[:15]} web={web} at={self.now}")
        self._relay("CREATE", rec, fate)
        self._tick()

    @rule(
        data=st.data(), sobject=st.sampled_from(["Lead", "Account"]), late=st.integers(0, 60),
        fate=st.sampled_from(FATES),
    )  # fmt: skip
    def update(self, data: st.DataObject, sobject: str, late: int, fate: str) -> None:
        live = self._live(sobject)
        if late:
            # A late commit is stamped in the past: after the record's last change, inside the
            # lookback of every window, outside pause switches and backlog drains (docs/triggers.md
            # "Not covered").
            floor = max([self.max_upper - LOOKBACK + 5, self.toggled_at + 1])
            live = [r for r in live if r.last + 1 < self.now - late]
            if self.draining or self.recon_draining or self.now - late < floor:
                live = []
        if not live:
            return
        rec = data.draw(st.sampled_from(live))
        at = self.now - late
        field_name = "Title" if sobject == "Lead" else "Description"
        self._write("update", sobject, {field_name: f"v{at}"}, rec.rid, late)
        rec.last = at
        self._expect(sobject, rec.rid, "updated", at)
        self.log.append(f"update {sobject} {rec.rid[:15]} at={at} late={late}")
        self._relay("UPDATE", rec, fate, (field_name,))
        self._tick()

    @rule(data=st.data())
    def rating(self, data: st.DataObject) -> None:
        """A History-tracked field's transition: changed_to fires per History row into the value."""
        live = self._live("Account")
        if not live:
            return
        rec = data.draw(st.sampled_from(live))
        value = COLD if rec.rating == HOT else HOT
        self._write("update", "Account", {"Rating": value}, rec.rid)
        rec.rating, rec.last = value, self.now
        self._expect("Account", rec.rid, "updated", self.now)
        if value == HOT:
            self._expect("Account", rec.rid, "matched", self.now, field_name="Rating")
        self.log.append(f"rating {rec.rid[:15]} -> {value} at={self.now}")
        self._tick()

    @rule(data=st.data())
    def source(self, data: st.DataObject) -> None:
        """An untracked field's transition (snapshot) that is also a list-view entry or exit. A
        poll sees states, not transitions: the field moves again only once a clean poll read it."""
        live = [r for r in self._live("Account") if r.source_at < self.clean_upper]
        if not live:
            return
        rec = data.draw(st.sampled_from(live))
        value = OTHER if rec.source == WEB else WEB
        self._write("update", "Account", {"AccountSource": value}, rec.rid)
        rec.source, rec.source_at, rec.last = value, self.now, self.now
        self._expect("Account", rec.rid, "updated", self.now)
        if value == WEB:
            self._expect("Account", rec.rid, "matched", self.now, field_name="AccountSource")
            self._expect("Account", rec.rid, "entered", self.now)
        self.log.append(f"source {rec.rid[:15]} -> {value} at={self.now}")
        self._tick()

    @rule(data=st.data(), sobject=st.sampled_from(["Lead", "Account"]), fate=st.sampled_from(FATES))
    def delete(self, data: st.DataObject, sobject: str, fate: str) -> None:
        live = self._live(sobject)
        if not live:
            return
        rec = data.draw(st.sampled_from(live))
        self._write("delete", sobject, {}, rec.rid)
        rec.deleted = rec.last = self.now
        self._supersede(rec.rid)
        self._expect(sobject, rec.rid, "deleted", self.now)
        self.log.append(f"delete {sobject} {rec.rid[:15]} at={self.now}")
        self._relay("DELETE", rec, fate)
        self._tick()

    @rule(data=st.data(), fate=st.sampled_from(FATES))
    def undelete(self, data: st.DataObject, fate: str) -> None:
        """A record back from the recycle bin (its deletion already read): a live row again whose
        LastModifiedDate moved (updated fires), and back in the list view if its value is in it."""
        binned = [
            r for r in self.records.values()
            if r.deleted is not None and self._read(r) and r.sobject in ("Lead", "Account")
        ]  # fmt: skip
        if not binned:
            return
        rec = data.draw(st.sampled_from(binned))
        self._write("undelete", rec.sobject, {}, rec.rid)
        rec.deleted, rec.last = None, self.now
        self._expect(rec.sobject, rec.rid, "updated", self.now)
        if rec.sobject == "Account" and rec.source == WEB:
            self._expect("Account", rec.rid, "entered", self.now)
        self.log.append(f"undelete {rec.sobject} {rec.rid[:15]} at={self.now}")
        self._relay("UNDELETE", rec, fate)
        self._tick()

    @rule(count=st.integers(201, 300), fate=st.sampled_from(["deliver", "drop", "overflow"]))
    def bulk(self, count: int, fate: str = "overflow") -> None:
        """A bulk load read in pages of 200 (the smallest batch the poller allows) with two
        Salesforce calls per cycle: the backlog drains over several cycles. Lead being relayed,
        its change events are delivered, dropped, or replaced by an overflow (the backlog is
        then the reconciliation's)."""
        if "bulk" in SKIPPED or self.bulks >= MAX_BULKS:
            return
        self.bulks += 1
        with self.emulator.rest_client() as http:
            for first in range(0, count, 200):
                # One transaction of identical creations: Salesforce merges their change events
                # into one with every record id (the relay fans it out), as it does here.
                records = [
                    {"attributes": {"type": "Lead"}, "LastName": "Bulk", "Company": "Model"}
                    for _ in range(first, min(count, first + 200))
                ]
                answer = http.post("/composite/sobjects", json={"allOrNone": True, "records": records})
                rids = [str(row["id"]) for row in answer.json()]
                for rid in rids:
                    self.records[rid] = Rec("Lead", rid, self.now, self.now, unread=[self.now])
                    self._expect("Lead", rid, "created", self.now)
                if fate == "deliver":
                    quoted = ", ".join(f"'{rid}'" for rid in rids)
                    soql = f"SELECT FIELDS(ALL) FROM Lead WHERE Id IN ({quoted}) LIMIT 200"  # noqa: S608
                    rows = http.get("/queryAll", params={"q": soql}).json()["records"]
                    merged = self.relay.event("CREATE", RELAYED, [row["Id"] for row in rows], rows[0])
                    self.held.append(
                        Held(merged, rows[0]["Id"], self.now, True, tuple(r["Id"] for r in rows[1:]))
                    )
        if fate == "overflow":
            row = {"SystemModstamp": self.emulator.now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")}
            overflow = self.relay.event("GAP_OVERFLOW", RELAYED, ["000000000000000AAA"], row)
            self.held.append(Held(overflow, rids[0], self.now, False))
        self.log.append(f"bulk {count} leads at={self.now}, their events: {fate}")
        self._tick()

    # ---- subscriptions -----------------------------------------------------------------------

    @precondition(lambda self: self.clean_upper > self.toggled_at)
    @rule(name=st.sampled_from(PAUSABLE))
    def pause_or_resume(self, name: str) -> None:
        """Toggled only once a clean poll read every change before it (a change made just before
        the pause belongs to the active time), the relay's included."""
        if not self._settled():
            return
        sub = self.subs[name]
        if sub.paused_since is None:
            if not gap_on(PAUSE_GAPS[name]):
                return
            self.service.update(self.cid, sub.sid, SubscriptionPatch(status="paused"))
            sub.paused_since = self.now
        else:
            self.service.update(self.cid, sub.sid, SubscriptionPatch(status="active"))
            sub.paused.append((sub.paused_since, self.now))
            sub.paused_since = None
        self.toggled_at = self.now
        self.log.append(f"{'pause' if sub.paused_since else 'resume'} {name} at={self.now}")
        self._tick()

    # One precondition: hypothesis keeps only one per rule.
    @precondition(lambda self: gap_on("field_isolation") and not self.bad_field)
    @rule()
    def field_deleted(self) -> None:
        """A subscription names a field an admin then deleted (stored as the API accepted it then;
        the emulator cannot delete a field, so the field never existed). Its own deliveries are
        left open (flagged with last_error or trimmed); every other subscription must go on."""
        self.poller.subscribe("leads.updated", fields=["Title", "Gone__c"])
        self.bad_field = True
        self.log.append("a leads.updated subscription names the deleted field Gone__c")

    @rule(name=st.sampled_from(PAUSABLE), creates=st.integers(1, 3))
    def pause_window(self, name: str, creates: int) -> None:
        """Paused for a while: everything before read by a clean poll, the pause, ``creates``
        records of its sObject created and polled while paused, the resume."""
        sub = self.subs[name]
        if sub.paused_since is not None or not gap_on(PAUSE_GAPS[name]):
            return
        self._poll()
        if not self._settled():
            return
        self.service.update(self.cid, sub.sid, SubscriptionPatch(status="paused"))
        sub.paused_since = self.now
        self.log.append(f"pause {name} at={self.now}")
        self._tick()
        for _ in range(creates):
            self.create(sub.sobject, False)
        self._poll()
        self.service.update(self.cid, sub.sid, SubscriptionPatch(status="active"))
        sub.paused.append((sub.paused_since, self.now))
        sub.paused_since = None
        self.toggled_at = self.now
        self.log.append(f"resume {name} at={self.now}")
        self._tick()

    # ---- time and polls ----------------------------------------------------------------------

    @rule(seconds=st.sampled_from([30, 120, 400, INTERVAL + GRACE]))
    def time_passes(self, seconds: int) -> None:
        """No poll for a while (a slow schedule, skipped cycles, a paused schedule); the longest
        makes the relayed object's reconciliation due."""
        self._tick(seconds)
        self.log.append(f"idle {seconds}s")

    @rule()
    def poll(self) -> None:
        self._poll()

    @rule(seconds=st.integers(1, MARGIN - 1))
    def poll_soon(self, seconds: int) -> None:
        """A cycle ``seconds`` after the last change: what changed inside the safety margin is
        not in its window (it may still be committing) and is owed to a later one."""
        self._tick(seconds)
        self._poll(settle=False)

    @gap("sns_refusal")
    @rule(polls=st.integers(1, 3), mod=st.integers(1, 3), every=st.sampled_from([SETTLE, 120, 400]))
    def sns_refuses(self, polls: int, mod: int, every: int) -> None:
        """An SNS outage: every attempt of some entries (1 of ``mod``, by message) is refused
        during ``polls`` polls ``every`` seconds apart."""
        self.refusing, self.refuse_mod = polls, mod
        self.log.append(f"sns refuses 1/{mod} for {polls} polls {every}s apart")
        for _ in range(polls):
            self._tick(every - SETTLE + 1)
            self._poll()

    @gap("crash")
    @rule(at=st.integers(1, 24), after_answer=st.booleans())
    def crash(self, at: int, after_answer: bool) -> None:
        """A poll killed at its ``at``-th AWS or Salesforce request; the next runs once its lease
        expired."""
        self.log.append(f"poll killed at request {at} ({'after' if after_answer else 'before'} its answer)")
        self._poll(crash_at=at, after_answer=after_answer)
        self._tick(LEASE + 1)

    @gap("backlog_timeout")
    @rule(count=st.integers(401, 450), share=st.floats(0.2, 0.9))
    def timeout_mid_backlog(self, count: int, share: float) -> None:
        """Two pages of new Leads whose cycle reaches Lambda's timeout in its publish loop (killed
        at a PublishBatch inside the second page's events). A cycle that commits per page re-sends
        at most the page in flight (200 rows) after it; one that commits at the end re-sends
        everything it published, and a cycle that always times out never progresses."""
        self.bulk(count)
        # Lead is relayed: the overflow sets its reconcile marker, and the reconciliation's window
        # (a grace behind "now") must hold the new rows.
        self._tick(GRACE)
        per_row = sum(
            1 for s in self.subs.values() if s.sid and s.trigger == "leads.created" and s.paused_since is None
        )
        page = 200 * per_row // 10  # PublishBatch requests of one page's events
        killed = self.polls + 1
        self._poll(crash_at_publish=page + max(1, int(page * share)))
        self._tick(LEASE + 1)
        first = {d.body["id"]: d.body["subject"] for d in self.deliveries if d.poll == killed}
        self._poll()
        resent = {
            first[d.body["id"]] for d in self.deliveries if d.poll == self.polls and d.body["id"] in first
        }
        assert len(resent) <= 200, (
            f"the cycle after a timeout re-sent the events of {len(resent)} records (one page: 200)"
            "\nsteps:\n  " + "\n  ".join(self.log)
        )

    @gap("lease_loss")
    @rule(at=st.integers(2, 12))
    def lease_lost(self, at: int) -> None:
        """At a poll's ``at``-th AWS request its lease has expired: a Lead is created, a second
        poll runs whole (and publishes it), then the first goes on with its stale clock and
        reads."""
        self.log.append(f"lease lost at AWS request {at}")

        first = self.polls + 1

        def second() -> None:
            self._collect(first)  # what the first published so far is the first's
            # Overtaken from now on: what it published before is re-decided (same ids) by the
            # poll holding the lease, which may re-send it (the at-least-once of a takeover).
            self.impaired.add(first)
            self.create("Lead", False)  # a change the first poll's reads do not hold
            self._tick(LEASE + 5)
            self._poll()

        self._poll(takeover_at=at, takeover=second)

    def _poll(self, *, settle: bool = True, **arm: Any) -> dict[str, Any] | None:
        if settle:
            self._tick(SETTLE)
        self._relay_due()
        self.polls += 1
        index = self.polls
        upper = self.now - MARGIN
        self.max_upper = max(self.max_upper, upper)
        gate = self.gate
        refusing = self.refusing > 0
        if refusing:
            mod = self.refuse_mod
            gate.refuse = lambda entry: zlib.crc32(entry["Message"].encode()) % mod == 0
            self.refusing -= 1
        report: dict[str, Any] | None = None
        gate.arm(**arm)
        started = time.monotonic()
        try:
            report = self.poller.poll(settle=False)
        except Killed:
            self.impaired.add(index)
        finally:
            gate.disarm()
            gate.refuse = None
        if gate.took_over:
            self.impaired.add(index)
            gate.took_over = False
        self._collect(index)
        if report is not None and report.get("outcome") == "polled":
            done = all(s.get("complete") for s in report.get("streams", []))
            self.draining = not done
            clean = done and not report.get("error") and not report.get("events_failed") and not refusing
            if clean and index not in self.impaired and not arm:
                self.clean_upper = upper
            if RELAYED in report.get("reconciled", []):
                self.recon_draining = not all(
                    s.get("complete") for s in report.get("streams", []) if s["sobject"] == RELAYED
                )
                if clean and index not in self.impaired and not arm:
                    self.recon_upper = self.now - GRACE
        took = time.monotonic() - started
        self.log.append(f"poll #{index} {'killed' if report is None else _brief(report)} ({took:.1f} s)")
        self._check_nothing_else()
        return report

    def _collect(self, index: int) -> None:
        """What reached the subscriber queue, as delivered by poll ``index`` (deleted ten at a
        time: a bulk load's thousand events cost a hundred requests, not a thousand)."""
        sqs = boto3.client("sqs", region_name=self.aws.region)
        url = self.poller.queue_url
        while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages"
        ):
            self.deliveries += [Delivery(index, json.loads(m["Body"])) for m in got]
            entries: list[Any] = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)

    # ---- the invariant -----------------------------------------------------------------------

    def _groups(
        self,
    ) -> tuple[dict[tuple[str, str, str], list[Expect]], dict[tuple[str, str, str], list[Delivery]]]:
        by_sid = {s.sid: s for s in self.subs.values()}
        expects: dict[tuple[str, str, str], list[Expect]] = defaultdict(list)
        for e in self.expects:
            expects[(e.sub, e.rid, e.kind)].append(e)
        got: dict[tuple[str, str, str], list[Delivery]] = defaultdict(list)
        for d in self.deliveries:
            sub = by_sid.get(d.body["subscription_id"])
            if sub is None:
                continue  # a subscription whose deliveries the model leaves open (field_deleted)
            got[(sub.name, d.body["subject"][:15], d.body["event_type"])].append(d)
        return expects, got

    def _check_nothing_else(self) -> None:
        expects, got = self._groups()
        ids: dict[str, list[Delivery]] = defaultdict(list)
        for d in self.deliveries:
            ids[d.body["id"]].append(d)
        for event_id, ds in ids.items():
            polls = [d.poll for d in ds]
            assert len(ds) == 1 or any(p in self.impaired for p in polls), (
                f"event {event_id} ({_what(ds[0])}) delivered {len(ds)} times by healthy polls {polls}"
            )
        for key, ds in got.items():
            es = expects.get(key, [])
            distinct = {d.body["id"]: d for d in ds}
            times = sorted(_version(d) for d in distinct.values())
            allowed = {e.at for e in es}
            what = f"{key[0]} {key[2]} of {key[1]}"
            assert es, f"{what}: delivered {len(distinct)} event(s) nobody expects (times {times})"
            if key[2] in ("created", "deleted"):
                # created: one per record, ever; deleted: one per deletion (an undeleted record
                # deleted again is a new deletion).
                assert len(distinct) <= len(es), (
                    f"{what}: {len(distinct)} different ids for {len(es)} change(s) (times {times})"
                )
            elif key[2] == "entered" or key[0] in UNTRACKED_SUBS:
                assert len(distinct) <= len(es), f"{what}: {len(distinct)} events for {len(es)} transitions"
            else:
                assert len(times) == len(set(times)), f"{what}: one version under several ids: {times}"
                assert set(times) <= allowed, (
                    f"{what}: versions {sorted(set(times) - allowed)} never expected"
                )

    def _check_every_expected(self) -> None:
        expects, got = self._groups()
        for key, es in expects.items():
            times = sorted(_version(d) for d in {d.body["id"]: d for d in got.get(key, [])}.values())
            for e in es:
                if e.optional:
                    continue
                what = f"{key[0]} {key[2]} of {key[1]} at {e.at}"
                if key[2] == "created":
                    assert times, f"lost: {what}"
                elif key[2] == "deleted" or (key[2] == "matched" and key[0] == "rating_hot"):
                    assert e.at in times, f"lost: {what} (delivered {times})"
                else:
                    assert any(t >= e.at for t in times), f"lost: {what} (delivered {times})"

    @invariant()
    def log_size(self) -> None:
        # Keeps the narrative short enough to read in a failure message.
        del self.log[:-200]

    def teardown(self) -> None:
        if not hasattr(self, "poller"):
            return
        try:
            self.refusing = 0
            self._settled()  # the relay delivers what it holds
            quiet = 0
            for _ in range(12):
                self._tick(INTERVAL + GRACE - SETTLE)  # each final poll reconciles RELAYED too
                before = len(self.deliveries)
                report = self._poll()
                if len(self.deliveries) == before and report and not (self.draining or self.recon_draining):
                    quiet += 1
                    if quiet == 2:
                        break
                else:
                    quiet = 0
            self._check_nothing_else()
            self._check_every_expected()
            if os.environ.get("MODEL_VERBOSE"):
                print(
                    f"{len(self.expects)} expected, {len(self.deliveries)} delivered\n  "
                    + "\n  ".join(self.log)
                )
        except AssertionError as error:
            _trace(f"FAIL {error}")
            raise AssertionError(f"{error}\nsteps:\n  " + "\n  ".join(self.log)) from None
        _trace(f"pass: {len(self.expects)} expected, {len(self.deliveries)} delivered, {self.polls} polls")


def _trace(line: str) -> None:
    """Progress of a long run (``MODEL_TRACE=<file>``): one line per example."""
    path = os.environ.get("MODEL_TRACE")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line.splitlines()[0] + "\n")


def _brief(report: dict[str, Any]) -> str:
    keys = ("outcome", "reason", "events_published", "events_failed", "salesforce_calls", "error")
    parts = [f"{k}={report.get(k)}" for k in keys if report.get(k) not in (None, 0)]
    parts += [
        f"{s['sobject']}:{'done' if s.get('complete') else 'stopped'}" for s in report.get("streams", [])
    ]
    return " ".join(parts)


def _version(d: Delivery) -> int:
    """The change's stamp: a History row's ``changed_at``, else the event's ``time``."""
    return _stamp(d.body.get("changed_at") or d.body["time"])


def _what(d: Delivery) -> str:
    return f"{d.body['type']} {d.body['subject']} {d.body['time']}"


@pytest.fixture
def model(
    aws: AwsEnv,
    scheduler: SchedulerEnv,
    sf_emulator: EmulatorHandle,
    fresh_runtime: None,
    monkeypatch: pytest.MonkeyPatch,
) -> type[TriggerModel]:
    """The machine wired to this test's moto, emulator and runtime."""
    monkeypatch.setenv("POLL_QUERY_BATCH_SIZE", "200")
    # Two calls: a cycle reads the Composite of every stream's first page plus one more page.
    monkeypatch.setenv("POLL_MAX_CALLS_PER_CYCLE", "2")
    gate = install(monkeypatch)
    runtime = get_runtime()
    runtime.poller_clock = lambda: sf_emulator.now().timestamp()
    # The service stamps subscriptions (start, updated_at) with the org's clock, as the poller reads it.
    TriggerModel.service = SubscriptionService(
        connections=runtime.connections,
        subscriptions=runtime.subscriptions,
        polling=runtime.polling,
        client_factory=runtime.salesforce,
        clock=lambda: sf_emulator.now().replace(microsecond=0),
    )
    TriggerModel.aws, TriggerModel.emulator, TriggerModel.gate = aws, sf_emulator, gate
    publisher: Any = runtime.poller_ports.publisher
    if hasattr(publisher, "_sleep"):
        publisher._sleep = lambda _s: None  # SNS retry backoff: the model's clock is the emulator's
    return TriggerModel


# The CI guard (~1 min of CPU at 8 x 20 here; more on a busy machine); `make model` sets
# MODEL_TIMEOUT=0, since a mark wins over pytest's --timeout.
@pytest.mark.timeout(int(os.environ.get("MODEL_TIMEOUT", "600")))
def test_trigger_engine_model(model: type[TriggerModel]) -> None:
    run_state_machine_as_test(
        model,
        settings=settings(
            max_examples=int(os.environ.get("MODEL_EXAMPLES", "8")),
            stateful_step_count=int(os.environ.get("MODEL_STEPS", "20")),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            # MODEL_SHRINK=0: report the first failing example as found (shrinking replays it many
            # times, minutes per replay on a busy machine).
            phases=[p for p in Phase if p is not Phase.shrink or os.environ.get("MODEL_SHRINK", "1") != "0"],
        ),
    )


GAP_EXAMPLES: dict[str, Callable[[TriggerModel], object]] = {
    "field_isolation": lambda m: (m.field_deleted(), m.create("Lead", False), m.poll()),
    "canonical_values": lambda m: (m.create("Account", False), m.poll()),
    "backlog_timeout": lambda m: m.timeout_mid_backlog(401, 0.5),
    "pause_alone": lambda m: (m.pause_window("contact_created_pausable", 1), m.poll()),
}
"""Hand-minimised failing examples of the known gaps (tests/model/README.md), replayed by
``MODEL_REPLAY=1``: each must fail while its gap is in KNOWN_ENGINE_GAPS (strict xfail), so an
engine that fixes one shows XPASS until the gap leaves the set."""


@pytest.mark.parametrize("gap_name", sorted(GAP_EXAMPLES))
def test_known_gap_example(
    gap_name: str, model: type[TriggerModel], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A fixed gap's example is a regression test (always run); an open one's is replayed by
    ``MODEL_REPLAY=1`` and must still fail."""
    if gap_name in KNOWN_ENGINE_GAPS:
        if not os.environ.get("MODEL_REPLAY"):
            pytest.skip("MODEL_REPLAY=1 replays the known gaps")
        request.applymarker(pytest.mark.xfail(raises=AssertionError, strict=True, reason="known engine gap"))
    monkeypatch.setattr(sys.modules[__name__], "ENABLED_GAPS", frozenset({gap_name}))
    machine = model()
    machine.start()
    GAP_EXAMPLES[gap_name](machine)
    machine.teardown()
