"""Field matched values written the way people write them: a 15-character id copied from a
Salesforce URL, a datetime with ``Z`` or an offset. The subscription is created through the
subscription service (the API's path) and stored canonical, so it fires when the record takes
that value (issue 22, item 5: before, such subscriptions were accepted and never fired)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sfconnector.models.subscriptions import Subscription, SubscriptionCreate
from sfconnector.runtime import get_runtime
from sfconnector.salesforce.ids import to_15

from tests.fixtures.actions import SeededConnection
from tests.fixtures.aws import AwsEnv, SchedulerEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller, by_subscription


@pytest.fixture
def poller(
    aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection, scheduler: SchedulerEnv
) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def _subscribe(poller: Poller, trigger: str, params: dict[str, Any]) -> Subscription:
    body = SubscriptionCreate.model_validate({"trigger": trigger, "params": params})
    return get_runtime().subscription_service.create(poller.connection.connection_id, body)


def _first(poller: Poller, soql: str) -> str:
    return str(poller.query(soql)[0]["Id"])


def test_a_15_character_owner_id_fires_when_the_record_gets_that_owner(poller: Poller) -> None:
    account = _first(poller, "SELECT Id, OwnerId FROM Account ORDER BY CreatedDate LIMIT 1")
    owner = str(poller.query(f"SELECT OwnerId FROM Account WHERE Id = '{account}'")[0]["OwnerId"])  # noqa: S608
    users = [u["Id"] for u in poller.query("SELECT Id FROM User") if u["Id"] != owner]
    new_owner = str(users[0])
    sub = _subscribe(poller, "accounts.field_matched", {"field": "OwnerId", "value": to_15(new_owner)})
    assert sub.params["value"] == new_owner  # stored as Salesforce returns it
    poller.write("update", "Account", {"Description": "before"}, id=account)
    poller.poll()  # the snapshot learns the current owner (OwnerId is not history-tracked)
    poller.drain()
    poller.write("update", "Account", {"OwnerId": new_owner}, id=account)
    poller.poll()
    events = by_subscription(poller.drain()).get(sub.subscription_id, [])
    assert [(e["subject"], e["new_value"]) for e in events] == [(account, new_owner)]


@pytest.mark.parametrize("spelling", ["z", "offset"])
def test_a_datetime_written_with_z_or_an_offset_fires_on_that_moment(poller: Poller, spelling: str) -> None:
    contact = _first(poller, "SELECT Id FROM Contact ORDER BY CreatedDate LIMIT 1")
    moment = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    written = {
        "z": "2026-12-06T10:00:00Z",
        "offset": moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),  # 15:30+05:30
    }[spelling]
    sub = _subscribe(poller, "contacts.field_matched", {"field": "EmailBouncedDate", "value": written})
    assert sub.params["value"] == "2026-12-06T10:00:00.000+0000"
    poller.write("update", "Contact", {"Description": "before"}, id=contact)
    poller.poll()
    poller.drain()
    poller.write("update", "Contact", {"EmailBouncedDate": "2026-12-06T10:00:00.000+0000"}, id=contact)
    poller.poll()
    events = by_subscription(poller.drain()).get(sub.subscription_id, [])
    assert [e["subject"] for e in events] == [contact]
    assert events[0]["new_value"] == "2026-12-06T10:00:00.000+0000"
