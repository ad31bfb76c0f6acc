"""A backlog drains over as many cycles as it needs, each bounded and each making progress, and
the other sObjects of the connection do not wait for it (issue 22: "a backlog can wedge a
connection"). Real emulator and moto; the bounds are set small so that a few hundred records
stand for a 100 000-record bulk load."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.fixtures.actions import SeededConnection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller
from tests.integration.triggers.test_crashes import _leads


@pytest.fixture
def poller(aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def _drain_cycles(poller: Poller, cycles: int) -> tuple[list[dict[str, object]], list[str]]:
    reports, subjects = [], []
    for _ in range(cycles):
        reports.append(poller.poll())
        subjects += [m["body"]["subject"] for m in poller.drain()]
    return reports, subjects


def test_a_backlog_is_read_a_bounded_number_of_rows_per_cycle_and_others_do_not_wait(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("POLL_QUERY_BATCH_SIZE", "POLL_MAX_ROWS_PER_CYCLE"):
        monkeypatch.setenv(name, "200")  # pages of 200 rows, one page of the backlog per cycle
    for trigger in ("leads.created", "contacts.created"):
        poller.subscribe(trigger)
    poller.poll()
    leads = _leads(poller, 700)
    contact = poller.write("insert", "Contact", {"LastName": "Not waiting"})
    first = poller.poll()
    got = [m["body"]["subject"] for m in poller.drain()]
    assert first["stopped"] == "rows"
    assert first["records_seen"] <= 200 + 1  # one page of the backlog, the contact's page beside it
    assert contact in got  # the other sObject did not wait for the backlog
    reports, more = _drain_cycles(poller, 5)
    assert all(r["records_seen"] <= 200 + 1 for r in reports)  # the contact re-read in the lookback
    delivered = Counter(got + more)
    assert set(delivered) == leads | {contact}
    assert max(delivered.values()) == 1  # each once: no cycle re-sent what an earlier one sent


def test_a_cycle_out_of_time_commits_what_it_published_and_the_next_resumes_after_it(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time is checked inside the publish loop: past POLL_MAX_CYCLE_SECONDS a cycle stops
    publishing after its first step (100 messages), commits the rows whose events went out and
    the next cycle resumes right after them. Before, one cycle published everything it read,
    with no time check, and wrote its state only at the end."""
    monkeypatch.setenv("POLL_MAX_CYCLE_SECONDS", "0.001")
    poller.subscribe("leads.created")
    poller.poll()
    leads = _leads(poller, 250)
    first = poller.poll()
    assert first["stopped"] == "time"
    assert first["events_published"] == 100
    got = [m["body"]["subject"] for m in poller.drain()]
    reports, more = _drain_cycles(poller, 4)
    assert [r["events_published"] for r in reports][:2] == [100, 50]
    delivered = Counter(got + more)
    assert set(delivered) == leads
    assert max(delivered.values()) == 1


def test_out_of_time_a_backlog_never_takes_the_other_sobjects_turn(
    poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The publish loop serves the streams with the fewest events first: a cycle whose time runs out
    on one sObject's backlog has already published the others' few events (found by the burst e2e:
    Accounts created during a 5,000-Lead drain waited for the whole backlog, since the Lead stream,
    published first, spent every cycle's time)."""
    monkeypatch.setenv("POLL_MAX_CYCLE_SECONDS", "0.001")  # one publish step per cycle
    for trigger in ("leads.created", "accounts.created"):
        poller.subscribe(trigger)
    poller.poll()
    leads = _leads(poller, 250)
    account = poller.write("insert", "Account", {"Name": "Not waiting either"})
    first = poller.poll()
    assert first["stopped"] == "time"
    got = [m["body"]["subject"] for m in poller.drain()]
    assert account in got  # published in the first cycle, before the backlog's step
    _reports, more = _drain_cycles(poller, 5)
    delivered = Counter(got + more)
    assert set(delivered) == leads | {account}
    assert max(delivered.values()) == 1
