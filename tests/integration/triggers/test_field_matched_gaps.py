"""Field matched across a poller gap: a History row stamped before the window of the cycle that
finally reads its record (the record was modified again inside the safety margin of the cycle that
covered the change, after the poller had been behind by more than a lookback) still fires, once."""

from __future__ import annotations

import pytest

from tests.fixtures.actions import SeededConnection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller, by_subscription

LOOKBACK = 300  # PollerSettings' default POLL_LOOKBACK_SECONDS


@pytest.fixture
def poller(aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def test_a_transition_before_a_gap_fires_once_when_its_record_is_modified_again(poller: Poller) -> None:
    sub = poller.subscribe("accounts.field_matched", params={"field": "Rating", "value": "Hot"})
    rid = str(poller.query("SELECT Id FROM Account ORDER BY CreatedDate LIMIT 1")[0]["Id"])
    poller.write("update", "Account", {"Rating": "Cold"}, id=rid)
    poller.poll()
    poller.drain()
    poller.emulator.advance_clock(60)
    poller.write("update", "Account", {"Rating": "Hot"}, id=rid)  # the transition, at t
    # No cycle for more than a lookback (budget skips, a paused schedule), then the record is
    # modified again inside the safety margin of the cycle that resumes: that cycle's window
    # covers t but the row it would return is already stamped after the window's end.
    poller.emulator.advance_clock(LOOKBACK + 120)
    poller.write("update", "Account", {"Description": "edited again"}, id=rid)
    first = poller.poll(settle=False)
    assert first["error"] is None, first
    # The next window starts a lookback before the previous window's end, after t: the row comes
    # back at its latest stamp, and its History row at t must still be read and fired.
    second = poller.poll()
    assert second["error"] is None, second
    events = by_subscription(poller.drain()).get(sub.subscription_id, [])
    assert [(e["subject"], e["old_value"], e["new_value"]) for e in events] == [(rid, "Cold", "Hot")], (
        first,
        second,
    )
    for _ in range(3):  # the History row is re-read while inside the window, never re-sent
        assert poller.poll()["events_published"] == 0
        poller.emulator.advance_clock(LOOKBACK // 2)
    assert poller.drain() == []


def test_a_transition_before_a_backlog_fires_once_when_the_drain_reaches_its_record(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A backlog drained over several cycles (one page of 200 rows per cycle, a keyset resume
    # after each), spread over more than a lookback per page. The record's transition is stamped
    # before the backlog, but the record was modified again after it: its row is read only when
    # the drain reaches its new stamp, several lookbacks past the transition's History row.
    monkeypatch.setenv("POLL_QUERY_BATCH_SIZE", "200")
    monkeypatch.setenv("POLL_MAX_CALLS_PER_CYCLE", "1")
    matched = poller.subscribe("accounts.field_matched", params={"field": "Rating", "value": "Hot"})
    created = poller.subscribe("accounts.created")
    rid = str(poller.query("SELECT Id FROM Account ORDER BY CreatedDate LIMIT 1")[0]["Id"])
    poller.write("update", "Account", {"Rating": "Cold"}, id=rid)
    poller.poll()
    poller.drain()
    poller.write("update", "Account", {"Rating": "Hot"}, id=rid)  # the transition, at t
    born = poller.write("insert", "Account", {"Name": "Born before the backlog"})
    backlog: list[str] = []
    for page in range(3):
        poller.emulator.advance_clock(LOOKBACK + 100)
        backlog += [poller.write("insert", "Account", {"Name": f"Backlog {page}-{i}"}) for i in range(200)]
    poller.emulator.advance_clock(LOOKBACK + 100)
    poller.write("update", "Account", {"Description": "edited after the backlog"}, id=rid)
    poller.write("update", "Account", {"Description": "edited after the backlog"}, id=born)
    reports = [poller.poll() for _ in range(6)]
    assert [s["complete"] for s in reports[0]["streams"]] == [False], reports[0]
    assert all(r["error"] is None for r in reports), reports
    got = by_subscription(poller.drain())
    events = got.get(matched.subscription_id, [])
    assert [(e["subject"], e["old_value"], e["new_value"]) for e in events] == [(rid, "Cold", "Hot")]
    assert sorted(e["subject"] for e in got[created.subscription_id]) == sorted([born, *backlog])
    for _ in range(2):  # once the drain is over, nothing is re-sent
        poller.emulator.advance_clock(LOOKBACK // 2)
        assert poller.poll()["events_published"] == 0
    assert poller.drain() == []
