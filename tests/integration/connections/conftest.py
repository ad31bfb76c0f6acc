"""Fixtures of the connections tests: moto (``aws``), the emulator over HTTP (``sf_emulator``), a
Connected App registered with this deployment's callback URL, and the handler's settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sfconnector.oauth.wiring import reset_connection_service
from sfconnector.runtime import reset_runtime

from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.connections.harness import CALLBACK_URL, OTHER_REDIRECT, ConnectionsApi


def register_app(emulator: EmulatorHandle, **options: object) -> tuple[str, str]:
    app = emulator.register_app("Workflow connector", [CALLBACK_URL, OTHER_REDIRECT], **options)
    return str(app["client_id"]), str(app["client_secret"])


@pytest.fixture
def connections(
    aws: AwsEnv, sf_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ConnectionsApi]:
    monkeypatch.setenv("SF_LOGIN_URL_PRODUCTION", sf_emulator.base_url)
    monkeypatch.setenv("ALLOW_INSECURE_LOOPBACK_LOGIN", "true")
    # As template.yaml's Globals give every function (Powertools objects live for the process).
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "salesforce-connector")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SalesforceConnector")
    reset_runtime()
    reset_connection_service()
    client_id, client_secret = register_app(sf_emulator)
    api = ConnectionsApi(emulator=sf_emulator, aws=aws, client_id=client_id, client_secret=client_secret)
    try:
        yield api
    finally:
        reset_connection_service()
        reset_runtime()
