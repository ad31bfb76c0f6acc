"""The org's API usage that ``GET /connections/{id}`` shows is what the actions last saw in
``Sforce-Limit-Info``: recorded after the action, at most once per connection per interval in a
container, and never at the cost of the action's own answer."""

from __future__ import annotations

import boto3
import pytest
from sfconnector.runtime import reset_runtime

from tests.fixtures.actions import ActionApi, seed_connection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.connections.harness import ConnectionsApi

DAILY_LIMIT = 15_000


@pytest.fixture
def actions(connections: ConnectionsApi, aws: AwsEnv, sf_emulator: EmulatorHandle) -> ActionApi:
    sf_emulator.configure(daily_api_limit=DAILY_LIMIT)
    return ActionApi(seed_connection(aws, sf_emulator, "conn-usage").connection_id)


def _usage(connections: ConnectionsApi, connection_id: str) -> tuple[int, int, int] | None:
    usage = connections.get(connection_id)["api_usage"]
    return None if usage is None else (usage["used"], usage["max"], usage["remaining"])


def test_an_action_records_the_usage_the_connection_shows(
    connections: ConnectionsApi, actions: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    assert _usage(connections, actions.connection_id) is None
    created = actions.post("accounts", {"Name": "Usage One"})
    assert created.status == 201, created
    used = sf_emulator.api_calls()
    assert _usage(connections, actions.connection_id) == (used, DAILY_LIMIT, DAILY_LIMIT - used)
    assert connections.get(actions.connection_id)["api_usage"]["as_of"]


def test_usage_is_written_at_most_once_per_interval(
    connections: ConnectionsApi, actions: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    assert actions.post("accounts", {"Name": "Usage First"}).status == 201
    first = sf_emulator.api_calls()
    assert actions.post("accounts/find", {"criteria": {"Name": "Usage First"}}).status == 200
    assert sf_emulator.api_calls() > first
    # Within the interval (60 s by default) the container does not write again.
    assert _usage(connections, actions.connection_id) == (first, DAILY_LIMIT, DAILY_LIMIT - first)

    reset_runtime()  # a new container writes on its first action
    assert actions.post("accounts/find", {"criteria": {"Name": "Usage First"}}).status == 200
    now = sf_emulator.api_calls()
    assert _usage(connections, actions.connection_id) == (now, DAILY_LIMIT, DAILY_LIMIT - now)


def test_an_interval_of_zero_writes_after_every_action(
    connections: ConnectionsApi,
    actions: ActionApi,
    sf_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_USAGE_RECORD_INTERVAL_SECONDS", "0")
    reset_runtime()
    for name in ("Usage A", "Usage B"):
        assert actions.post("accounts", {"Name": name}).status == 201
        used = sf_emulator.api_calls()
        assert _usage(connections, actions.connection_id) == (used, DAILY_LIMIT, DAILY_LIMIT - used)


def test_a_failed_usage_write_never_fails_the_action(
    actions: ActionApi,
    aws: AwsEnv,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("API_USAGE_RECORD_INTERVAL_SECONDS", "0")
    reset_runtime()
    assert actions.post("accounts", {"Name": "Before the outage"}).status == 201
    # The state table disappears (the secret, which the action needs, is still there).
    boto3.client("dynamodb", region_name=aws.region).delete_table(TableName=aws.table_name)
    capsys.readouterr()
    created = actions.post("accounts", {"Name": "During the outage"})
    assert created.status == 201, created
    assert created.body["record"]["Name"] == "During the outage"
    logged = capsys.readouterr().out + caplog.text
    assert "Could not record the API usage of connection conn-usage" in logged
