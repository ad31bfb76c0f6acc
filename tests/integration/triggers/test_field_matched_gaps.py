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
