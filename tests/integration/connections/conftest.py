"""Fixtures of the connections tests: moto (``aws``), the emulator over HTTP (``sf_emulator``), a
Connected App registered with this deployment's callback URL, and the handler's settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.connections.harness import (
    CALLBACK_URL,
    OTHER_REDIRECT,
    ConnectionsApi,
    connections_environment,
)


def register_app(emulator: EmulatorHandle, **options: object) -> tuple[str, str]:
    app = emulator.register_app("Workflow connector", [CALLBACK_URL, OTHER_REDIRECT], **options)
    return str(app["client_id"]), str(app["client_secret"])


@pytest.fixture
def connections(
    aws: AwsEnv, sf_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ConnectionsApi]:
    with connections_environment(monkeypatch, sf_emulator):
        client_id, client_secret = register_app(sf_emulator)
        yield ConnectionsApi(emulator=sf_emulator, aws=aws, client_id=client_id, client_secret=client_secret)
