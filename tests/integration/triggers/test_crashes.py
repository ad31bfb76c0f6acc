"""Crashes and faults: nothing is lost, nothing accepted is sent twice, re-sent events keep their ids.

The SNS partial failure uses a wrapper around moto's real SNS client that reports chosen entries
as failed (moto itself never fails an entry); everything else is the real emulator and moto.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sfconnector.runtime import get_runtime
from sfconnector.stores.cursors import CursorStore

from tests.fixtures.actions import SeededConnection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller


@pytest.fixture
def poller(aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def _leads(poller: Poller, n: int) -> set[str]:
    """``n`` new leads written by a person (sObject Collections, 200 per request)."""
    ids: set[str] = set()
    with poller.emulator.rest_client() as http:
        for start in range(0, n, 200):
            records = [
                {"attributes": {"type": "Lead"}, "LastName": f"Bulk {i}", "Company": "Acme"}
                for i in range(start, min(n, start + 200))
            ]
            answer = http.post("/composite/sobjects", json={"allOrNone": True, "records": records}).json()
            ids.update(r["id"] for r in answer)
    return ids


def _subjects(messages: list[dict[str, Any]]) -> list[str]:
    return [m["body"]["subject"] for m in messages]


def test_killed_between_publish_and_cursor_write_resends_the_same_ids(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    poller.subscribe("leads.created")
    poller.poll()
    leads = {poller.write("insert", "Lead", {"LastName": f"L{i}", "Company": "Acme"}) for i in range(3)}
    real_save = CursorStore.save

    def crash(self: CursorStore, connection_id: str, state: Any, **_lease: Any) -> int:
        raise RuntimeError("killed after publishing, before the cursor write")

    monkeypatch.setattr(CursorStore, "save", crash)
    with pytest.raises(RuntimeError):
        poller.poll()
    first = poller.drain()
    assert set(_subjects(first)) == leads
    monkeypatch.setattr(CursorStore, "save", real_save)
    again = poller.poll(settle=False)
    resent = poller.drain()
    assert again["events_published"] == 3
    assert {m["body"]["id"] for m in resent} == {m["body"]["id"] for m in first}
    poller.poll()
    assert poller.drain() == []


def test_a_crashed_runs_lease_expires(poller: Poller) -> None:
    poller.subscribe("leads.created")
    store = get_runtime().poller_ports.cursors
    now = poller.emulator.now().timestamp()
    assert store.acquire_lease(poller.connection.connection_id, "crashed-run", now=now, seconds=180)
    lead = poller.write("insert", "Lead", {"LastName": "Waits", "Company": "Acme"})
    calls = poller.emulator.api_calls()
    assert poller.poll()["reason"] == "another_poll_running"
    assert poller.emulator.api_calls() == calls
    poller.emulator.advance_clock(200)
    assert poller.poll(settle=False)["outcome"] == "polled"
    assert _subjects(poller.drain()) == [lead]


class FailingSns:
    """The real (moto) SNS client, except that PublishBatch reports the entries ``fail`` picks as
    failed (SenderFault false: retryable) while ``attempts_left`` lasts."""

    def __init__(self, real: Any, fail: Any, attempts: int) -> None:
        self.real, self.fail, self.attempts_left = real, fail, attempts
        self.requests: list[list[str]] = []

    def publish_batch(self, **kwargs: Any) -> Any:
        entries = kwargs["PublishBatchRequestEntries"]
        self.requests.append([e["Id"] for e in entries])
        failing = [e for e in entries if self.attempts_left > 0 and self.fail(e)]
        self.attempts_left -= 1 if failing else 0
        passing = [e for e in entries if e not in failing]
        answer: dict[str, Any] = {"Successful": [], "Failed": []}
        if passing:
            answer = dict(
                self.real.publish_batch(TopicArn=kwargs["TopicArn"], PublishBatchRequestEntries=passing)
            )
            answer.setdefault("Failed", [])
        answer["Failed"] = list(answer["Failed"]) + [
            {"Id": e["Id"], "Code": "InternalError", "Message": "injected", "SenderFault": False}
            for e in failing
        ]
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _install(fake: FailingSns) -> None:
    publisher: Any = get_runtime().poller_ports.publisher
    publisher._client = fake
    publisher._sleep = lambda _s: None


def test_sns_failing_part_of_a_batch_retries_only_those_entries(poller: Poller) -> None:
    poller.subscribe("leads.created")
    poller.poll()
    leads = {poller.write("insert", "Lead", {"LastName": f"L{i}", "Company": "Acme"}) for i in range(12)}
    picked: list[str] = []

    def every_third(entry: dict[str, Any]) -> bool:
        if len(picked) < 10:
            picked.append(entry["Id"])
        return picked.index(entry["Id"]) % 3 == 0 if entry["Id"] in picked else False

    fake = FailingSns(get_runtime().sns, every_third, attempts=1)
    _install(fake)
    report = poller.poll()
    assert report["events_published"] == 12
    assert report["events_failed"] == 0
    # 12 entries: a request of 10, the retry of only its failed entries, then the last 2.
    failed = fake.requests[0][::3]
    assert len(failed) == 4
    assert len(fake.requests[0]) == 10
    assert fake.requests[1] == failed
    assert sum(len(r) for r in fake.requests) == 12 + len(failed)
    messages = poller.drain()
    assert sorted(_subjects(messages)) == sorted(leads)


def test_sns_failing_beyond_the_retries_resends_only_the_failed_next_cycle(poller: Poller) -> None:
    poller.subscribe("leads.created")
    other = poller.subscribe("leads.created")
    poller.poll()
    leads = {poller.write("insert", "Lead", {"LastName": f"L{i}", "Company": "Acme"}) for i in range(5)}
    doomed: set[str] = set()

    def fail(entry: dict[str, Any]) -> bool:
        if '"subscription_id":"' + other.subscription_id in entry["Message"] and len(doomed) < 2:
            doomed.add(entry["Id"])
        return entry["Id"] in doomed

    fake = FailingSns(get_runtime().sns, fail, attempts=10)
    _install(fake)
    report = poller.poll()
    assert report["events_failed"] == 2
    assert report["events_published"] == 8
    first = poller.drain()
    fake.attempts_left = 0  # SNS healthy again
    again = poller.poll()
    resent = poller.drain()
    assert {m["body"]["id"] for m in resent} == doomed, again
    everything = first + resent
    assert len(everything) == 10
    assert {m["body"]["subject"] for m in everything} == leads
    poller.poll()
    assert poller.drain() == []


def _paged(poller: Poller, monkeypatch: pytest.MonkeyPatch, fault: dict[str, Any]) -> None:
    """250 leads read in pages of 200 (two Composite calls); ``fault`` hits the second."""
    monkeypatch.setenv("POLL_QUERY_BATCH_SIZE", "200")
    poller.subscribe("leads.created")
    poller.poll()
    leads = _leads(poller, 250)
    poller.emulator.add_fault("error", path="/composite$", skip=1, **fault)
    first = poller.poll()
    got = _subjects(poller.drain())
    poller.emulator.clear_faults()
    second = poller.poll(settle=False)
    got += _subjects(poller.drain())
    assert sorted(got) == sorted(leads), (first, second)  # every lead once: nothing lost, no doubles
    poller.poll()
    assert poller.drain() == []


def test_503_mid_pagination_loses_nothing(poller: Poller, monkeypatch: pytest.MonkeyPatch) -> None:
    _paged(poller, monkeypatch, {"status": 503, "count": 10})


def test_request_limit_exceeded_mid_poll_loses_nothing(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    _paged(
        poller,
        monkeypatch,
        {"status": 403, "count": 10, "body": json.dumps(body), "content_type": "application/json"},
    )


def test_session_expiry_mid_poll_refreshes_and_loses_nothing(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    _paged(
        poller,
        monkeypatch,
        {"status": 401, "count": 1, "body": json.dumps(body), "content_type": "application/json"},
    )


def test_a_backlog_larger_than_one_cycle_resumes_after_the_last_row(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLL_QUERY_BATCH_SIZE", "200")
    monkeypatch.setenv("POLL_MAX_CALLS_PER_CYCLE", "1")
    poller.subscribe("leads.created")
    poller.poll()
    leads = _leads(poller, 450)  # three pages, all inside one lookback
    reports = [poller.poll(), poller.poll(settle=False), poller.poll(settle=False)]
    assert [r["salesforce_calls"] for r in reports] == [1, 1, 1]
    assert [r["events_published"] for r in reports] == [200, 200, 50]
    assert [s["complete"] for r in reports for s in r["streams"]] == [False, False, True]
    got = _subjects(poller.drain())
    assert sorted(got) == sorted(leads)
    poller.poll()
    assert poller.drain() == []


def test_killed_while_a_backfill_joins_resends_nothing(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = poller.subscribe("accounts.created")
    poller.poll()
    old = poller.write("insert", "Account", {"Name": "Two hours ago"}, seconds_ago=7200)
    backfill = poller.subscribe("accounts.created", start_at=poller.minutes_ago(180))
    real_delete = CursorStore.delete

    def crash(self: CursorStore, connection_id: str, sk: str) -> None:
        raise RuntimeError("killed after the shared stream took the subscription over")

    monkeypatch.setattr(CursorStore, "delete", crash)
    with pytest.raises(RuntimeError):
        poller.poll()
    assert _subjects(poller.drain()) == [old]
    monkeypatch.setattr(CursorStore, "delete", real_delete)
    report = poller.poll()
    assert not any(s["catchup_for"] for s in report["streams"]), report  # the orphan is gone
    assert poller.drain() == []
    new = poller.write("insert", "Account", {"Name": "Later"})
    poller.poll()
    delivered = [m["body"] for m in poller.drain()]
    assert sorted((e["subscription_id"], e["subject"]) for e in delivered) == sorted(
        [(live.subscription_id, new), (backfill.subscription_id, new)]
    )
    store = get_runtime().poller_ports.cursors
    assert list(store.load(poller.connection.connection_id)) == ["CURSOR#Account"]


def test_a_refresh_token_revoked_mid_poll_pauses_polling_and_loses_nothing(
    poller: Poller, aws: AwsEnv, sf_emulator: EmulatorHandle
) -> None:
    from tests.fixtures.actions import seed_connection

    poller.subscribe("leads.created")
    poller.poll()
    lead = poller.write("insert", "Lead", {"LastName": "During the outage", "Company": "Acme"})
    poller.emulator.revoke_refresh_token(poller.connection.refresh_token)
    poller.emulator.expire_sessions()
    report = poller.poll()
    assert report["error"] is not None
    assert report["events_published"] == 0
    record = get_runtime().connections.get(poller.connection.connection_id)
    assert record is not None
    assert record.status == "needs_reauth"
    calls = poller.emulator.api_calls()
    assert poller.poll()["reason"] == "connection_needs_reauth"
    assert poller.emulator.api_calls() == calls
    # Authorised again (new tokens, as the OAuth callback stores them): the change arrives once.
    seed_connection(aws, sf_emulator, poller.connection.connection_id)
    poller.poll()
    delivered = poller.drain()
    # The topic also carried the connection's lifecycle event; subscribers filter on `trigger`.
    assert [m["body"]["type"] for m in delivered if "trigger" not in m["attributes"]] == [
        "connection.needs_reauth"
    ]
    assert _subjects([m for m in delivered if "trigger" in m["attributes"]]) == [lead]


def test_a_refused_event_is_resent_from_the_outbox_even_after_its_record_moved_on(poller: Poller) -> None:
    """SNS refuses a lead's updated event; the lead is modified again before SNS recovers. The
    refused version's event still arrives (same id), from the outbox, besides the new version's:
    before the outbox, the pending entry named a version the row no longer carried (lost)."""
    sub = poller.subscribe("leads.updated")
    lead = poller.write("insert", "Lead", {"LastName": "Moves", "Company": "Acme"})
    poller.poll()
    poller.emulator.advance_clock(5)
    poller.write("update", "Lead", {"Company": "First"}, id=lead)
    fake = FailingSns(get_runtime().sns, lambda _e: True, attempts=1000)
    _install(fake)
    report = poller.poll()
    assert report["events_failed"] == 1
    assert report["outbox_kept"] == 1
    refused = {e for r in fake.requests for e in r}
    assert len(refused) == 1
    poller.write("update", "Lead", {"Company": "Second"}, id=lead)
    fake.attempts_left = 0  # SNS healthy again
    report = poller.poll()
    assert report["outbox_resent"] == 1
    assert report["outbox_kept"] == 0
    got = poller.drain()
    assert [m["body"]["subscription_id"] for m in got] == [sub.subscription_id] * 2
    assert refused < {m["body"]["id"] for m in got}
    assert {m["body"]["data"]["Company"] for m in got} == {"First", "Second"}
    poller.poll()
    assert poller.drain() == []


def test_an_event_refused_for_long_counts_as_stale_and_is_never_dropped(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLL_OUTBOX_MAX_AGE_SECONDS", "600")
    poller.subscribe("leads.created")
    poller.poll()
    lead = poller.write("insert", "Lead", {"LastName": "Waits", "Company": "Acme"})
    fake = FailingSns(get_runtime().sns, lambda _e: True, attempts=1000)
    _install(fake)
    assert poller.poll()["outbox_stale"] == 0
    for _ in range(3):
        poller.emulator.advance_clock(300)
        report = poller.poll()
    assert report["outbox_kept"] == 1
    assert report["outbox_stale"] == 1
    assert report["outbox_oldest_seconds"] >= 900
    fake.attempts_left = 0
    assert poller.poll()["outbox_resent"] == 1
    assert _subjects(poller.drain()) == [lead]


def test_a_poll_that_lost_its_lease_writes_no_state(poller: Poller, monkeypatch: pytest.MonkeyPatch) -> None:
    """A poll whose lease expired and was taken by another run while it published must not write
    its stream state over the other run's (state writes are conditional on the lease owner)."""
    poller.subscribe("leads.created")
    poller.poll()
    runtime = get_runtime()
    store = runtime.poller_ports.cursors
    cid = poller.connection.connection_id
    before = store.load(cid)["CURSOR#Lead"]
    lead = poller.write("insert", "Lead", {"LastName": "Overtaken", "Company": "Acme"})
    publisher: Any = runtime.poller_ports.publisher
    real = publisher.publish_batch

    def overtaken(messages: Any) -> Any:
        now = poller.emulator.now().timestamp()
        store.client.delete_item(
            TableName=store.table_name, Key={"pk": {"S": f"CONNECTION#{cid}"}, "sk": {"S": "POLL_LEASE"}}
        )
        assert store.acquire_lease(cid, "the-next-run", now=now, seconds=180)
        return real(messages)

    monkeypatch.setattr(publisher, "publish_batch", overtaken)
    report = poller.poll()
    assert "lease" in (report["error"] or "")
    assert store.load(cid)["CURSOR#Lead"].model_dump() == before.model_dump()  # nothing written
    assert [m["body"]["subject"] for m in poller.drain()] == [
        lead
    ]  # published: the next run re-sends it, same id
