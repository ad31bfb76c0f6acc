"""Trigger semantics beyond "once per change": same-window create + update, sample events, the
describe refresh riding in a query Composite, and the stream rules on Salesforce-shaped rows."""

from __future__ import annotations

from typing import Any

import pytest
from sfconnector import catalog
from sfconnector.runtime import get_runtime
from sfconnector.stores.cursors import CursorStore, stream_sk
from sfconnector.triggers import streams
from sfconnector.triggers.sample import sample_events

from tests.fixtures.actions import SeededConnection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller, by_subscription


@pytest.fixture
def poller(aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def test_created_and_modified_in_one_window_fires_created_and_updated(poller: Poller) -> None:
    created = poller.subscribe("contacts.created")
    updated = poller.subscribe("contacts.updated")
    poller.poll()
    contact = poller.write("insert", "Contact", {"LastName": "Quick"})
    poller.emulator.advance_clock(2)
    poller.write("update", "Contact", {"Title": "Changed its mind"}, id=contact)
    poller.poll()
    got = by_subscription(poller.drain())
    assert [e["subject"] for e in got[created.subscription_id]] == [contact]
    assert [e["data"]["Title"] for e in got[updated.subscription_id]] == ["Changed its mind"]


def test_sample_events_are_the_exact_envelopes_published_nowhere(poller: Poller) -> None:
    sub = poller.subscribe("leads.created", fields=["LastName", "Company"])
    rt = get_runtime()
    connection = rt.connections.get(poller.connection.connection_id)
    assert connection is not None
    calls = poller.emulator.api_calls()
    sample = sample_events(sub, client=rt.salesforce(sub.connection_id), connection=connection, limit=3)
    assert poller.emulator.api_calls() - calls == 1
    newest = poller.query("SELECT Id FROM Lead ORDER BY CreatedDate DESC, Id DESC LIMIT 3")
    assert [e.subject for e in sample] == [r["Id"] for r in newest]
    for event in sample:
        assert event.type == "leads.created"
        assert event.subscription_id == sub.subscription_id
        assert event.data is not None
        assert set(event.data) == {"Id", "LastName", "Company"}
    assert poller.drain() == []
    # The same change polled later carries the same envelope (id included).
    lead = poller.write("insert", "Lead", {"LastName": "Sampled", "Company": "Acme"})
    poller.poll()
    delivered = poller.drain()[0]["body"]
    again = sample_events(sub, client=rt.salesforce(sub.connection_id), connection=connection, limit=1)[0]
    assert again.subject == lead
    assert again.to_json_dict() == delivered


def test_a_stale_describe_rides_in_the_query_composite(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLL_DESCRIBE_REFRESH_SECONDS", "60")
    poller.subscribe("accounts.created")  # every field: needs the describe
    first = poller.poll()
    assert first["salesforce_calls"] == 2  # the describe once, then the query
    store: CursorStore = get_runtime().poller_ports.cursors
    state = store.load(poller.connection.connection_id)[stream_sk("Account")]
    assert state.fields is not None
    assert "Industry" in state.fields
    described_at = state.fields_at
    poller.emulator.advance_clock(120)
    refreshed = poller.poll()
    assert refreshed["salesforce_calls"] == 1  # describe and query in one Composite
    assert store.load(poller.connection.connection_id)[stream_sk("Account")].fields_at != described_at


def _row(**fields: Any) -> dict[str, Any]:
    base = {
        "attributes": {"type": "Account"},
        "Id": "001Hs00000AbCdEIAV",
        "CreatedDate": "2026-12-01T10:00:00.000+0000",
        "LastModifiedDate": "2026-12-01T10:00:00.000+0000",
        "SystemModstamp": "2026-12-01T10:00:00.000+0000",
        "IsDeleted": False,
    }
    return base | fields


def test_stream_rules_on_salesforce_shaped_rows() -> None:
    created = catalog.STREAMS[catalog.TriggerKind.CREATED]
    updated = catalog.STREAMS[catalog.TriggerKind.UPDATED]
    deleted = catalog.STREAMS[catalog.TriggerKind.DELETED]
    fresh = _row()
    assert streams.row_version(fresh, created) == streams.parse_stamp("2026-12-01T10:00:00.000+0000")
    assert streams.row_version(fresh, updated) is None  # a creation is not an update
    # A SystemModstamp-only change (a roll-up, a system job) is not a modification.
    touched = _row(SystemModstamp="2026-12-01T11:00:00.000+0000")
    assert streams.row_version(touched, updated) is None
    modified = _row(
        LastModifiedDate="2026-12-01T11:00:00.000+0000", SystemModstamp="2026-12-01T11:00:00.000+0000"
    )
    version = streams.row_version(modified, updated)
    assert version is not None
    gone = _row(IsDeleted=True, SystemModstamp="2026-12-01T12:00:00.000+0000")
    assert streams.row_version(gone, deleted) == streams.parse_stamp("2026-12-01T12:00:00.000+0000")
    assert streams.row_version(gone, updated) is None
    assert streams.row_version(fresh, deleted) is None
    # Ids: one created event per record whatever its version; one updated event per version.
    sid = "f" * 32
    assert streams.event_id(sid, fresh["Id"], created, 1) == streams.event_id(sid, fresh["Id"], created, 2)
    assert streams.event_id(sid, fresh["Id"], updated, 1) != streams.event_id(sid, fresh["Id"], updated, 2)
    assert streams.event_id(sid, fresh["Id"], updated, 1) != streams.event_id(
        "e" * 32, fresh["Id"], updated, 1
    )


def test_sample_events_of_the_deleted_trigger_come_from_the_recycle_bin(poller: Poller) -> None:
    sub = poller.subscribe("tasks.deleted", fields=["Subject"])
    doomed = poller.write("insert", "Task", {"Subject": "Short-lived"})
    poller.emulator.advance_clock(2)
    poller.write("delete", "Task", id=doomed)
    rt = get_runtime()
    connection = rt.connections.get(poller.connection.connection_id)
    assert connection is not None
    sample = sample_events(sub, client=rt.salesforce(sub.connection_id), connection=connection, limit=2)
    assert sample[0].subject == doomed
    assert sample[0].event_type == "deleted"
    assert sample[0].data == {"Id": doomed, "Subject": "Short-lived"}


@pytest.mark.parametrize("shared", [False, True], ids=["alone", "sharing its sObject"])
def test_a_resumed_subscription_receives_from_its_resume_time_whether_or_not_shared(
    poller: Poller, shared: bool
) -> None:
    """Paused has one meaning: what changed while paused is not delivered, what changes after
    the resume is. Before, a subscription alone on its sObject received the paused period on
    resume, one sharing it with an active subscription did not."""
    sub = poller.subscribe("accounts.updated")
    other = poller.subscribe("accounts.created") if shared else None
    account = poller.write("insert", "Account", {"Name": "Paused"})
    poller.poll()
    poller.repo.update(poller.connection.connection_id, sub.subscription_id, status="paused")
    poller.emulator.advance_clock(5)
    poller.write("update", "Account", {"Name": "While paused"}, id=account)
    poller.poll()
    poller.emulator.advance_clock(60)
    poller.repo.update(
        poller.connection.connection_id,
        sub.subscription_id,
        status="active",
        resumed_at=poller.emulator.now(),
    )
    poller.emulator.advance_clock(5)
    later = poller.write("insert", "Account", {"Name": "Later"})
    poller.emulator.advance_clock(5)
    poller.write("update", "Account", {"Name": "After resume"}, id=later)
    poller.poll()
    got = by_subscription(poller.drain())
    assert [e["data"]["Name"] for e in got.get(sub.subscription_id, [])] == ["After resume"]
    if other is not None:
        assert {e["subject"] for e in got[other.subscription_id]} == {account, later}
