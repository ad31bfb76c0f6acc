"""Found by the chaos soak (bench/soak_triggers.py): polling must resume after a budget skip.

The budget guard skips a cycle while the last usage the poller saw (its cached client's
Sforce-Limit-Info, else the connection's stored ``api_usage``) is above POLL_BUDGET_SHARE. A
skipped cycle sends no query, so before the engine probed, it never saw the usage fall again: a
warm container skipped until it was recycled, and a cold one read the same stale ``api_usage``.
Salesforce's allowance is a rolling 24 hours: once it is back, the next probe must see it and
the change made meanwhile must arrive, without a cold start or any cache being cleared.
"""

from __future__ import annotations

import pytest

from tests.fixtures.actions import SeededConnection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller


@pytest.fixture
def poller(aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def test_polling_resumes_when_the_allowance_comes_back(poller: Poller) -> None:
    poller.subscribe("leads.created")
    poller.poll()
    poller.emulator.set_api_calls(14_000)  # of 15 000: above the 80 % budget
    poller.poll()  # its answer carries the high usage
    assert poller.poll()["reason"] == "api_budget"
    poller.emulator.set_api_calls(10)  # the rolling 24 h window moved on
    lead = poller.write("insert", "Lead", {"LastName": "Resumes", "Company": "Acme"})
    poller.emulator.advance_clock(3600)
    for _ in range(3):
        poller.poll()
    assert lead in [m["body"]["subject"] for m in poller.drain()]
