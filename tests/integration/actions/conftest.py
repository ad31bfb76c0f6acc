"""Helpers of the action tests: read the emulator's state directly, and know which action a call hit.

``org`` reads records and runs queries with its own token through the emulator's REST API, so the
tests check what Salesforce (the emulator) actually stores, not what the action said it did. Those
reads are API calls too: tests that count calls read the counter around the action only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sfconnector import catalog

from tests.fixtures.actions import ApiResponse
from tests.fixtures.emulator import EmulatorHandle

Calls = Callable[[Callable[[], ApiResponse]], tuple[ApiResponse, int]]

_ROUTES = [(a, re.compile("^" + re.sub(r"\{[a-z_]+\}", "[^/]+", a.route) + "$")) for a in catalog.ACTIONS]


def action_for(method: str, path: str) -> str | None:
    """The catalog action a request hits (None when no route matches)."""
    for action, pattern in _ROUTES:
        if action.method == method and pattern.match(path):
            return action.key
    return None


@dataclass
class OrgReader:
    """Direct access to the emulator's data (its own token, not through the connector)."""

    http: httpx.Client

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"/sobjects/{sobject}/{record_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        record: dict[str, Any] = response.json()
        return record

    def query(self, soql: str, *, all_rows: bool = False) -> list[dict[str, Any]]:
        response = self.http.get("/queryAll" if all_rows else "/query", params={"q": soql})
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()["records"]
        return records

    def one(self, soql: str) -> dict[str, Any]:
        records = self.query(soql)
        assert records, f"no record for {soql}"
        return records[0]


@pytest.fixture
def org(sf_emulator: EmulatorHandle) -> Iterator[OrgReader]:
    client = sf_emulator.rest_client(timeout=30)
    try:
        yield OrgReader(client)
    finally:
        client.close()


@dataclass(frozen=True)
class Seed:
    account: str
    contact: str
    opportunity: str
    pricebook_entry: str
    case: str
    feed_item: str


@pytest.fixture
def seed(org: OrgReader, sf_emulator: EmulatorHandle) -> Seed:
    """Ids of seeded records the scenarios build on (and a fresh opportunity for line items)."""
    account = org.one("SELECT Id FROM Account ORDER BY CreatedDate LIMIT 1")["Id"]
    contact = org.one("SELECT Id FROM Contact ORDER BY CreatedDate LIMIT 1")["Id"]
    standard = org.one("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["Id"]
    entry = org.one(f"SELECT Id FROM PricebookEntry WHERE Pricebook2Id = '{standard}' AND IsActive = true")  # noqa: S608
    # A fresh opportunity on the standard price book hosts the line items (written outside the API).
    opportunity = sf_emulator.dml(
        "insert",
        "Opportunity",
        {
            "Name": "Line items host",
            "StageName": "Prospecting",
            "CloseDate": "2030-01-31",
            "AccountId": account,
            "Pricebook2Id": standard,
        },
    )["id"]
    case = org.one("SELECT Id FROM Case ORDER BY CreatedDate LIMIT 1")["Id"]
    feed_item = org.one("SELECT Id FROM FeedItem ORDER BY CreatedDate LIMIT 1")["Id"]
    return Seed(account, contact, opportunity, entry["Id"], case, feed_item)


@pytest.fixture
def calls(sf_emulator: EmulatorHandle) -> Calls:
    """``calls(lambda: api.post(...))`` -> (response, Salesforce API calls it cost)."""

    def measure(send: Callable[[], ApiResponse]) -> tuple[ApiResponse, int]:
        before = sf_emulator.api_calls()
        response = send()
        return response, sf_emulator.api_calls() - before

    return measure
