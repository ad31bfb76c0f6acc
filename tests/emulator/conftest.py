"""The emulator's own tests: a REST client on the running emulator."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle


@pytest.fixture
def api(sf_emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with sf_emulator.rest_client() as client:
        yield client
