"""A scripted stand-in for Salesforce on httpx.MockTransport.

Used for behaviour the real emulator cannot be made to show precisely (an exact sequence of 503s,
an HTML body from the edge, a connection reset): the transport is the only mocked part; the client,
its retry loop and its parsing are the real code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sfconnector.salesforce.client import AccessToken, DescribeCache, RetryPolicy, SalesforceClient

DATA = Path(__file__).parent / "data"
INSTANCE = "https://acme.my.salesforce.com"
TOKEN_1 = "00D000000000001!AQ0AQFirstAccessTokenValue.abcdefghijklmnop"
TOKEN_2 = "00D000000000001!AQ0AQSecondAccessTokenValue.qrstuvwxyz0123"
LIMIT_HEADER = {"Sforce-Limit-Info": "api-usage=18/15000"}

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def sf_json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers={**LIMIT_HEADER, **(headers or {})})


def invalid_session() -> httpx.Response:
    return sf_json(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])


def unavailable(status: int = 503) -> httpx.Response:
    html = (
        b"<html><head><title>Service Unavailable</title></head><body>Maintenance "
        + b"x" * 500
        + b"</body></html>"
    )
    return httpx.Response(status, content=html, headers={"Content-Type": "text/html; charset=UTF-8"})


class FakeTokens:
    """A TokenProvider that hands out TOKEN_1 and, after a refresh, TOKEN_2."""

    def __init__(self) -> None:
        self.token = AccessToken(access_token=SecretStr(TOKEN_1), instance_url=INSTANCE)
        self.refreshes: list[AccessToken] = []

    def current(self) -> AccessToken:
        return self.token

    def refresh(self, stale: AccessToken) -> AccessToken:
        self.refreshes.append(stale)
        self.token = AccessToken(access_token=SecretStr(TOKEN_2), instance_url=INSTANCE)
        return self.token


@dataclass
class FakeSalesforce:
    """Answers requests from a script: ``replies`` in order, then ``default``."""

    replies: list[Reply] = field(default_factory=list)
    default: Reply | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else self.default
        if reply is None:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    def script(self, *replies: Reply) -> FakeSalesforce:
        self.replies.extend(replies)
        return self

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


@dataclass
class Harness:
    sf: FakeSalesforce
    tokens: FakeTokens
    sleeps: list[float]
    client: SalesforceClient
    describe_cache: DescribeCache


@pytest.fixture
def harness() -> Harness:
    sf = FakeSalesforce()
    tokens = FakeTokens()
    sleeps: list[float] = []
    cache = DescribeCache()
    client = SalesforceClient(
        tokens,
        http=httpx.Client(transport=httpx.MockTransport(sf)),
        org_key="00D000000000001",
        retry=RetryPolicy(jitter=lambda d: d, sleep=sleeps.append),
        describe_cache=cache,
    )
    return Harness(sf, tokens, sleeps, client, cache)
