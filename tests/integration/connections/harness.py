"""Drives the connections Lambda handler with API Gateway events, and plays the user's browser
against the emulator's consent page over plain HTTP (the e2e test does it in a real browser)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from sfconnector.runtime import reset_runtime

from tests.fixtures.actions import load_function
from tests.fixtures.aws import TEST_TENANT, AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.connections.apigw import DOMAIN, STAGE, api_event, lambda_context

ROOT = Path(__file__).resolve().parents[3]
API_BASE = f"https://{DOMAIN}/{STAGE}"
CALLBACK_URL = f"{API_BASE}/oauth/callback"
OTHER_REDIRECT = "https://platform.example.com/oauth/salesforce"


@contextmanager
def connections_environment(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorHandle) -> Iterator[None]:
    """The connections function's settings pointing at the emulator (the ``aws`` fixture gives the
    template's Globals), and no cached runtime or connection service before or after."""
    monkeypatch.setenv("SF_LOGIN_URL_PRODUCTION", emulator.base_url)
    monkeypatch.setenv("ALLOW_INSECURE_LOOPBACK_LOGIN", "true")
    reset_runtime()
    try:
        yield
    finally:
        reset_runtime()


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def outcome(self) -> str | None:
        """The callback page's machine-readable outcome (``data-outcome``)."""
        marker = 'data-outcome="'
        start = self.body.find(marker)
        if start < 0:
            return None
        start += len(marker)
        return self.body[start : self.body.index('"', start)]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and ("selected" in a or self._select not in self.fields):
            self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


@dataclass
class BrowserResponse:
    status_code: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """The user's browser, minus rendering: plain urllib, no redirects followed. Deliberately not
    httpx, so that what the *connector* logs through httpx is all the log test sees."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirect)

    def _send(self, request: urllib.request.Request) -> BrowserResponse:
        try:
            with self._opener.open(request, timeout=30) as response:
                return BrowserResponse(
                    response.status, dict(response.headers), response.read().decode("utf-8")
                )
        except urllib.error.HTTPError as error:
            with error:
                return BrowserResponse(error.code, dict(error.headers), error.read().decode("utf-8"))

    def get(self, url: str) -> BrowserResponse:
        return self._send(urllib.request.Request(url, method="GET"))

    def post(self, url: str, data: dict[str, str]) -> BrowserResponse:
        body = urllib.parse.urlencode(data).encode("ascii")
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        return self._send(request)


@dataclass
class ConnectionsApi:
    """The connections function as its callers (platform, browser) see it."""

    emulator: EmulatorHandle
    aws: AwsEnv
    client_id: str
    client_secret: str = field(repr=False)
    browser: Browser = field(default_factory=Browser, repr=False)

    def call(
        self, method: str, path: str, body: Any = None, *, iam: bool = True, user_arn: str = TEST_TENANT
    ) -> Result:
        handler = load_function("connections").lambda_handler
        result = handler(api_event(method, path, body=body, iam=iam, user_arn=user_arn), lambda_context())
        headers = {k: v for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = values[-1]
        return Result(int(result["statusCode"]), headers, result.get("body") or "")

    # ---- the flow --------------------------------------------------------------------------------

    def create(self, expect: int = 201, **overrides: Any) -> dict[str, Any]:
        body = {
            "name": "Acme",
            "environment": "production",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            **overrides,
        }
        result = self.call("POST", "/connections", {k: v for k, v in body.items() if v is not None})
        assert result.status == expect, result.body
        data: dict[str, Any] = result.json()
        return data

    def consent(self, authorize_url: str, *, decision: str = "allow", username: str | None = None) -> str:
        """Open the consent page, choose Allow/Deny; returns where Salesforce redirects the browser."""
        page = self.browser.get(authorize_url)
        assert page.status_code == 200, page.text
        form = _FormParser()
        form.feed(page.text)
        assert form.action is not None
        fields = dict(form.fields)
        if username is not None:
            fields["username"] = username
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(authorize_url))
        answer = self.browser.post(origin + form.action, data={**fields, "decision": decision})
        assert answer.status_code in (302, 303), answer.text
        return answer.headers["Location"]

    def callback(self, location: str) -> Result:
        """Follow Salesforce's redirect to this deployment's callback."""
        assert location.startswith(API_BASE + "/"), location
        return self.call("GET", location[len(API_BASE) :], iam=False)

    def connect(self, **overrides: Any) -> str:
        started = self.create(**overrides)
        page = self.callback(self.consent(started["authorize_url"]))
        assert page.status == 200, page.body
        assert page.outcome == "connected"
        return str(started["connection_id"])

    # ---- inspection ------------------------------------------------------------------------------

    def get(self, connection_id: str) -> dict[str, Any]:
        result = self.call("GET", f"/connections/{connection_id}")
        assert result.status == 200, result.body
        data: dict[str, Any] = result.json()
        return data

    def secret(self, connection_id: str) -> dict[str, Any]:
        """The connection's secret as stored in Secrets Manager."""
        sm = boto3.client("secretsmanager", region_name=self.aws.region)
        value = sm.get_secret_value(SecretId=f"{self.aws.secret_prefix}{connection_id}")["SecretString"]
        data: dict[str, Any] = json.loads(value)
        return data

    def table_items(self) -> list[dict[str, Any]]:
        ddb = boto3.client("dynamodb", region_name=self.aws.region)
        return list(ddb.scan(TableName=self.aws.table_name).get("Items", []))

    def refresh_grant(
        self, refresh_token: str, *, client_id: str | None = None, client_secret: str | None = None
    ) -> BrowserResponse:
        """Use a refresh token directly at the emulator (is it still valid?)."""
        return self.browser.post(
            f"{self.emulator.base_url}/services/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": client_id or self.client_id,
                "client_secret": client_secret or self.client_secret,
            },
        )


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class Container:
    """One Lambda container's view of a connection: its token provider and Salesforce client."""

    provider: Any
    client: Any


def connection_client(aws: AwsEnv, connection_id: str, **provider_options: Any) -> Container:
    """A Salesforce client for a stored connection, wired as an action function's runtime wires it
    (its own secret cache, i.e. its own Lambda container)."""
    from sfconnector.events import SnsEventPublisher
    from sfconnector.oauth.hosts import SalesforceHosts
    from sfconnector.oauth.provider import ConnectionTokenProvider
    from sfconnector.salesforce.client import SalesforceClient
    from sfconnector.settings import CoreSettings
    from sfconnector.stores.connections import ConnectionRepository
    from sfconnector.stores.refresh_lock import RefreshLock
    from sfconnector.stores.tokens import SecretsTokenStore

    ddb = boto3.client("dynamodb", region_name=aws.region)
    provider = ConnectionTokenProvider(
        connection_id,
        store=SecretsTokenStore(
            lambda: boto3.client("secretsmanager", region_name=aws.region), aws.secret_prefix
        ),
        connections=ConnectionRepository(
            lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name
        ),
        http=httpx.Client(timeout=30),
        lock=RefreshLock(ddb, aws.table_name),
        hosts=SalesforceHosts.from_settings(CoreSettings.from_env()),
        publisher=SnsEventPublisher(boto3.client("sns", region_name=aws.region), aws.topic_arn),
        **provider_options,
    )
    return Container(
        provider, SalesforceClient(provider, http=httpx.Client(timeout=30), org_key=connection_id)
    )


def subscribe_queue(aws: AwsEnv) -> tuple[Any, str]:
    """An SQS queue subscribed to the topic for connection.needs_reauth events."""
    sqs = boto3.client("sqs", region_name=aws.region)
    url = sqs.create_queue(QueueName="connection-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=aws.region).subscribe(
        TopicArn=aws.topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps({"event_type": ["connection.needs_reauth"]})},
    )
    return sqs, url
