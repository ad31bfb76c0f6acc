"""A poll cycle's API budget guard and polling state (the I/O shell's edges; flow: **guard** ->
plan -> fetch -> decide -> publish -> settle -> commit -> **report**): whether the org's daily API
usage lets the cycle call Salesforce at all (or only as a probe), and the polling state shown on
the connection afterwards.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sfconnector.triggers.fetch import share_used
from sfconnector.triggers.ports import PollerPorts, PollerSettings

if TYPE_CHECKING:
    from sfconnector.salesforce.client import SalesforceClient
    from sfconnector.stores.connections import ConnectionRecord

__all__ = ["budget_reason", "over_budget", "record_polling"]

logger = logging.getLogger(__name__)


def over_budget(
    connection: ConnectionRecord, client: SalesforceClient, settings: PollerSettings, now: float
) -> tuple[bool, bool]:
    """The budget guard, before any call: (skip the cycle, go ahead as a probe). The usage last
    seen may be stale (a skipped cycle sends no call, and the allowance is a rolling 24 hours): at
    most once per ``budget_probe_seconds`` while it stays high (the time of the last probe is the
    connection's ``polling.at``), the cycle goes ahead as a probe: its first Composite, which it
    sends anyway, brings a fresh Sforce-Limit-Info, and the guard after each call stops the
    cycle there if the usage is still high. No ``GET /limits``: that would be one more counted
    call."""
    share = share_used(connection, client)
    if share is None or share < settings.budget_share:
        return False, False
    polling = connection.polling
    probed_at = polling.at if polling is not None and polling.state == "skipped_budget" else None
    if probed_at is not None and int(now) - probed_at < settings.budget_probe_seconds:
        return True, False  # probed recently: no call until the next probe is due
    return False, True


def budget_reason(client: SalesforceClient, connection: ConnectionRecord, settings: PollerSettings) -> str:
    share = share_used(connection, client) or 1.0
    return f"daily API usage {share:.0%} is above the polling budget {settings.budget_share:.0%}"


def record_polling(
    ports: PollerPorts, connection: ConnectionRecord, state: str, reason: str | None, *, force: bool = False
) -> int:
    """Report the polling state on the connection when it changed (one UpdateItem then);
    ``force``: also when only its time moved (a budget probe, whose time paces the next one)."""
    current = connection.polling
    if not force and current is not None and current.state == state and current.reason == reason:
        return 0
    if current is None and state == "polling":
        return 0
    try:
        ports.connections.update(
            connection.connection_id, polling={"state": state, "reason": reason, "at": int(ports.clock())}
        )
    except Exception as exc:  # the report is a convenience: never fail a cycle on it
        logger.warning(
            "could not record the polling state of %s (%s)", connection.connection_id, type(exc).__name__
        )
        return 0
    return 1
