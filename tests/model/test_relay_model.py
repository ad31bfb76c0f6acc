"""The trigger engine's model with a second row source: the relay (tests/model/README.md).

A connection relays Lead (its realtime state says so, the partner bus associated); its
subscriptions (created, updated, deleted) receive each change from the relay function (the real
handler, change events in Salesforce's shape built from the emulator's rows) or, when the relay
dropped it, from the poller's reconciliation (the real handler, every 900 s, a grace behind "now").
Hypothesis drives creates, updates and deletes, the relay's faults (an event dropped, duplicated,
a batch reordered) and the passing of time with polls.

Invariant: every change a subscription must see is delivered once by id (whichever path carried
it), nothing else, never the same id twice. The model keeps to the contract's one condition: the
relay delivers an event within the reconciliation's grace period or never (docs/realtime.md
"Reconciliation", what remains possible). A record updated twice before anything read the first
version may lose that version (a poll reads states): such an update is optional.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from sfconnector.models.realtime import RealtimeObject, RealtimeState
from sfconnector.runtime import get_runtime

from tests.fixtures.actions import seed_connection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import SELLER, Poller
from tests.integration.triggers.relay_harness import Relay, row_of

INTERVAL, GRACE = 900, 120


@dataclass
class Lead:
    rid: str
    updates: list[int] = field(default_factory=list)
    """Versions (LastModifiedDate seconds) of its updates."""
    read: int = 0
    """Updates a delivery or a poll has covered (older ones may be lost, superseded)."""
    deleted: bool = False


class RelayModel(RuleBasedStateMachine):
    aws: AwsEnv
    emulator: EmulatorHandle

    def __init__(self) -> None:
        super().__init__()
        self.leads: dict[str, Lead] = {}
        self.queued: list[str] = []
        """Events the relay holds (delivered, shuffled or not, before the next poll)."""
        self.delivered: list[dict[str, Any]] = []
        self.log: list[str] = []

    @initialize()
    def start(self) -> None:
        em = self.emulator
        em.reset()
        em.set_clock(em.now() + dt.timedelta(hours=1), frozen=True)
        conn = seed_connection(self.aws, em, f"conn-relay-{uuid.uuid4().hex[:8]}")
        self.poller = Poller(self.aws, em, conn)
        self.subs = {
            k: self.poller.subscribe(f"leads.{k}").subscription_id for k in ("created", "updated", "deleted")
        }
        get_runtime().connections.update(
            conn.connection_id,
            realtime=RealtimeState(
                requested=["Lead"],
                objects=[RealtimeObject(sobject="Lead", mode="relayed")],
                association="associated",
            ),
        )
        self.relay = Relay(self.aws, em, conn)
        em.advance_clock(1)
        self._poll()

    # ---- Salesforce changes and the relay ----------------------------------------------------

    def _event(self, change: str, rid: str, fate: str, changed: tuple[str, ...] = ()) -> None:
        if fate == "drop":
            self.log.append(f"  dropped {change} {rid[:15]}")
            return
        body = self.relay.event(change, "Lead", [rid], row_of(self.poller, "Lead", rid), changed)
        self.queued += [body, body] if fate == "duplicate" else [body]

    @rule(fate=st.sampled_from(["deliver", "drop", "duplicate"]))
    def create(self, fate: str) -> None:
        rid = self.poller.write(
            "insert", "Lead", {"LastName": f"R{len(self.leads)}", "Company": "C"}, username=SELLER
        )
        self.leads[rid] = Lead(rid)
        self._event("CREATE", rid, fate)
        self.log.append(f"create {rid[:15]} ({fate})")
        self.emulator.advance_clock(1)

    @rule(data=st.data(), fate=st.sampled_from(["deliver", "drop", "duplicate"]))
    def update(self, data: st.DataObject, fate: str) -> None:
        live = [lead for lead in self.leads.values() if not lead.deleted]
        if not live:
            return
        lead = data.draw(st.sampled_from(live))
        self.poller.write("update", "Lead", {"Title": f"T{len(lead.updates)}"}, id=lead.rid)
        lead.updates.append(int(self.emulator.now().timestamp()))
        self._event("UPDATE", lead.rid, fate, ("Title",))
        self.log.append(f"update {lead.rid[:15]} ({fate})")
        self.emulator.advance_clock(1)

    @rule(data=st.data(), fate=st.sampled_from(["deliver", "drop", "duplicate"]))
    def delete(self, data: st.DataObject, fate: str) -> None:
        live = [lead for lead in self.leads.values() if not lead.deleted]
        if not live:
            return
        lead = data.draw(st.sampled_from(live))
        self.poller.write("delete", "Lead", id=lead.rid)
        lead.deleted = True
        self._event("DELETE", lead.rid, fate)
        self.log.append(f"delete {lead.rid[:15]} ({fate})")
        self.emulator.advance_clock(1)

    @rule(seed=st.integers(0, 2**16), reorder=st.booleans())
    def relay_flush(self, seed: int, reorder: bool) -> None:
        self._flush(seed if reorder else None)

    def _flush(self, seed: int | None = None) -> None:
        bodies, self.queued = self.queued, []
        if seed is not None:
            random.Random(seed).shuffle(bodies)
        if bodies:
            _, failed = self.relay.deliver(bodies)
            assert failed == []
            self.log.append(f"relayed {len(bodies)}{' reordered' if seed is not None else ''}")
        self._collect()

    # ---- time and polls ----------------------------------------------------------------------

    @rule(seconds=st.sampled_from([60, 400, INTERVAL + GRACE]))
    def time_passes(self, seconds: int) -> None:
        self._flush()  # the relay delivers within the grace period or never
        self.emulator.advance_clock(seconds)
        self._poll()

    def _poll(self) -> None:
        report = self.poller.poll(settle=False)
        self.log.append(
            f"poll reconciled={report.get('reconciled')} published={report.get('events_published')} "
            f"known={report.get('relayed_known')}"
        )
        self._collect()

    def _collect(self) -> None:
        self.delivered += [m["body"] for m in self.poller.drain()]

    # ---- the invariant -----------------------------------------------------------------------

    def teardown(self) -> None:
        if not hasattr(self, "poller"):
            return
        try:
            self._flush()
            for _ in range(2):  # two reconciliations read what is left
                self.emulator.advance_clock(INTERVAL + GRACE)
                self._poll()
            self._check()
        except AssertionError as error:
            raise AssertionError(f"{error}\nsteps:\n  " + "\n  ".join(self.log[-200:])) from None

    def _check(self) -> None:
        ids = [d["id"] for d in self.delivered]
        assert len(ids) == len(set(ids)), (
            f"an id delivered twice: {sorted(i for i in ids if ids.count(i) > 1)}"
        )
        kinds = {sid: kind for kind, sid in self.subs.items()}
        got: dict[tuple[str, str], list[int]] = {}
        for d in self.delivered:
            kind = kinds[d["subscription_id"]]
            stamp = int(dt.datetime.fromisoformat(d["time"].replace("Z", "+00:00")).timestamp())
            got.setdefault((kind, d["subject"][:15]), []).append(stamp)
        for lead in self.leads.values():
            rid = lead.rid[:15]
            assert len(got.pop(("created", rid), [])) == 1, f"created of {rid}"
            assert len(got.pop(("deleted", rid), [])) == (1 if lead.deleted else 0), f"deleted of {rid}"
            updates = got.pop(("updated", rid), [])
            assert len(updates) == len(set(updates)), f"one version of {rid} under several ids"
            assert set(updates) <= set(lead.updates), f"{rid}: versions never written {updates}"
            if lead.updates and not lead.deleted:
                assert lead.updates[-1] in updates, f"lost: {rid}'s last update ({updates})"
        assert not got, f"delivered, never expected: {got}"


@pytest.fixture
def relay_model(aws: AwsEnv, sf_emulator: EmulatorHandle, fresh_runtime: None) -> type[RelayModel]:
    get_runtime().poller_clock = lambda: sf_emulator.now().timestamp()
    RelayModel.aws, RelayModel.emulator = aws, sf_emulator
    return RelayModel


@pytest.mark.timeout(600)
def test_relay_and_reconciliation_model(relay_model: type[RelayModel]) -> None:
    run_state_machine_as_test(
        relay_model,
        settings=settings(
            max_examples=int(os.environ.get("MODEL_EXAMPLES", "6")),
            stateful_step_count=int(os.environ.get("MODEL_STEPS", "20")),
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
