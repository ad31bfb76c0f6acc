"""Salesforce hosts only: a login host whose token response names another host (an internal
service, a metadata address) gets no token sent there, and no connection is made; a URL stored
before the check existed is refused at use. The hostile login host and the internal service are
real HTTP servers on loopback, the rest is the connections function over moto and the emulator."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from sfconnector.oauth.hosts import LoginHosts, SalesforceHosts
from sfconnector.oauth.settings import ConnectionsSettings
from sfconnector.runtime import reset_runtime
from sfconnector.settings import SettingsError

from tests.fixtures.actions import seed_connection
from tests.integration.connections.harness import CALLBACK_URL, ConnectionsApi, query_of, subscribe_queue

ORG = "00D5e000000HostAAA"
USER = "0055e000000HostAAA"


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with ``server.answer(path)`` and records the path it was asked."""

    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        status, body = self.server.answer(self.path)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.seen: list[tuple[str, str, str | None]] = []
        self.token_response: dict[str, Any] = {}

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, path: str) -> tuple[int, Any]:
        if path.startswith("/services/oauth2/token"):
            return 200, self.token_response
        return 200, {"secret": "internal data", "organization_id": ORG, "user_id": USER}


def _serve() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def internal() -> Iterator[_Server]:
    """An internal service the connector can reach but must never call."""
    yield from _serve()


@pytest.fixture
def hostile(connections: ConnectionsApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    """A login host the tenant chose (listed as allowed, standing in for a My Domain)."""
    for server in _serve():
        emulator = connections.emulator
        monkeypatch.setenv(
            "SALESFORCE_LOCAL_ORIGINS", f"{emulator.base_url},{emulator.https_url},{server.origin}"
        )
        reset_runtime()
        yield server


@pytest.mark.parametrize(
    "instance_url",
    [
        "internal",  # the internal service on loopback, another port than the login host's
        "http://169.254.169.254",
        "http://10.0.0.5:8500",
        "https://[fd00:ec2::254]",
        "https://2130706433",
        "https://evil.com",
        "https://acme.my.salesforce.com.evil.com",
        "https://acme.my.salesforce.com:8443",
    ],
)
def test_a_token_response_naming_another_host_makes_no_connection(
    connections: ConnectionsApi, hostile: _Server, internal: _Server, instance_url: str
) -> None:
    target = internal.origin if instance_url == "internal" else instance_url
    hostile.token_response = {
        "access_token": "00Dhostile!token",
        "refresh_token": "5Aep-hostile",
        "instance_url": target,
        "id": f"{target}/id/{ORG}/{USER}",
        "token_type": "Bearer",
    }
    started = connections.create(environment=hostile.origin)
    cid = started["connection_id"]
    state = query_of(started["authorize_url"])["state"]

    page = connections.callback(f"{CALLBACK_URL}?code=c0de&state={state}")

    assert page.status == 502, page.body
    assert page.outcome == "untrusted_host"
    assert "instance_url" in page.body
    assert internal.seen == []  # nothing fetched from (or sent to) the named host
    assert [path.split("?")[0] for _, path, _ in hostile.seen] == ["/services/oauth2/token"]
    view = connections.get(cid)
    assert view["status"] == "pending"
    assert view["instance_url"] is None
    assert "instance_url" in view["status_reason"]
    stored = connections.secret(cid)
    assert stored["access_token"] is None
    assert stored["refresh_token"] is None


def test_an_identity_url_on_another_host_is_refused_too(
    connections: ConnectionsApi, hostile: _Server, internal: _Server
) -> None:
    hostile.token_response = {
        "access_token": "00Dhostile!token",
        "refresh_token": "5Aep-hostile",
        "instance_url": hostile.origin,
        "id": f"{internal.origin}/id/{ORG}/{USER}",
    }
    started = connections.create(environment=hostile.origin)
    state = query_of(started["authorize_url"])["state"]
    page = connections.callback(f"{CALLBACK_URL}?code=c0de&state={state}")
    assert page.outcome == "untrusted_host", page.body
    assert internal.seen == []
    assert connections.get(started["connection_id"])["status"] == "pending"


def test_a_stored_instance_url_from_before_the_check_is_never_called(
    connections: ConnectionsApi, internal: _Server
) -> None:
    """A connection stored (by an older version) with an internal instance_url: the first use
    marks it needs_reauth and publishes the event once; the internal service hears nothing."""
    sqs, queue_url = subscribe_queue(connections.aws)
    seeded = seed_connection(connections.aws, connections.emulator, "conn-stored-bad")
    sm = boto3.client("secretsmanager", region_name=connections.aws.region)
    secret_id = f"{connections.aws.secret_prefix}{seeded.connection_id}"
    stored = json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
    sm.put_secret_value(
        SecretId=secret_id, SecretString=json.dumps({**stored, "instance_url": internal.origin})
    )
    reset_runtime()

    for _ in range(2):
        result = connections.call("GET", f"/connections/{seeded.connection_id}/objects/Account/fields")
        assert result.status == 401, result.body
        assert result.json()["error"]["code"] == "connection_needs_reauth"
    assert internal.seen == []
    view = connections.get(seeded.connection_id)
    assert view["status"] == "needs_reauth"
    assert "instance_url" in view["status_reason"]
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert len(messages.get("Messages", [])) == 1


def test_a_stored_login_url_from_before_the_check_gets_no_refresh_token(
    connections: ConnectionsApi, internal: _Server
) -> None:
    seeded = seed_connection(connections.aws, connections.emulator, "conn-bad-login")
    sm = boto3.client("secretsmanager", region_name=connections.aws.region)
    secret_id = f"{connections.aws.secret_prefix}{seeded.connection_id}"
    stored = json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
    sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps({**stored, "login_url": internal.origin}))
    reset_runtime()
    connections.emulator.expire_sessions()

    result = connections.call("GET", f"/connections/{seeded.connection_id}/objects/Account/fields")
    assert result.status == 401, result.body
    assert internal.seen == []  # the refresh token was not sent there
    assert connections.get(seeded.connection_id)["status"] == "needs_reauth"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254",
        "https://169.254.169.254",
        "http://10.0.0.5:8500",
        "https://10.0.0.5",
        "https://[::1]",
        "https://[fd00:ec2::254]",
        "https://[::ffff:127.0.0.1]",
        "https://2130706433",  # 127.0.0.1 in decimal
        "https://0x7f000001",
        "https://0177.0.0.1",
        "https://127.1",
        "https://evil.com",
        "https://salesforce.com.evil.com",
        "https://acme.my.salesforce.com.evil.com",
        "https://evilsalesforce.com",
        "https://x.my.salesforce.com:8443",
        "https://x.my.salesforce.com:80",
        "http://x.my.salesforce.com",
        "https://user@x.my.salesforce.com",
        "https://evil.com\\@x.my.salesforce.com",
        "https://evil.com#@x.my.salesforce.com",
        "https://x.my.salesforce.com%2f.evil.com",
        "https://x.my.salesforce.com./",
        "http://127.0.0.1:8080",  # loopback: only an exactly listed origin
        "ftp://x.my.salesforce.com",
    ],
)
def test_only_salesforce_hosts_pass(url: str) -> None:
    assert SalesforceHosts().problem(url) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://login.salesforce.com",
        "https://test.salesforce.com/",
        "https://acme.my.salesforce.com",
        "https://acme.my.salesforce.com:443",
        "https://ACME--uat.sandbox.my.salesforce.com",
        "https://na42.salesforce.com",
        "https://acme.lightning.force.com",
        "https://acme.my.salesforce-setup.com",
        "https://acme.my.salesforce-sites.com",
        "https://acme.cloudforce.com",
    ],
)
def test_salesforce_hosts_pass(url: str) -> None:
    assert SalesforceHosts().problem(url) is None


def test_the_allow_list_adds_other_clouds_and_exact_local_origins() -> None:
    base = {"TABLE_NAME": "tbl", "TOPIC_ARN": "arn:aws:sns:us-east-1:1:t", "PAYLOAD_BUCKET": "bkt",
            "SECRET_PREFIX": "p/", "AWS_REGION": "us-east-1"}  # fmt: skip
    settings = ConnectionsSettings.from_env(
        {
            **base,
            "SALESFORCE_EXTRA_DOMAINS": "salesforce.mil, *.force.mil,sfcrmproducts.cn",
            "SALESFORCE_LOCAL_ORIGINS": "http://127.0.0.1:8123",
        }
    )
    hosts = SalesforceHosts.from_settings(settings)
    assert hosts.problem("https://acme.my.salesforce.mil") is None
    assert hosts.problem("https://acme.lightning.force.mil") is None
    assert hosts.problem("https://acme.my.sfcrmproducts.cn") is None
    assert hosts.problem("http://127.0.0.1:8123") is None
    assert hosts.problem("http://127.0.0.1:8124") is not None
    assert hosts.problem("https://127.0.0.1:8123") is not None
    assert hosts.problem("https://evil.mil") is not None
    assert settings.login_hosts().resolve("https://acme.my.salesforce.mil") == (
        "my_domain",
        "https://acme.my.salesforce.mil",
    )
    for bad in ("http://10.0.0.5:80", "*", "http://127.0.0.1", "http://127.0.0.1:80/path"):
        with pytest.raises(SettingsError) as caught:
            ConnectionsSettings.from_env({**base, "SALESFORCE_LOCAL_ORIGINS": bad})
        assert "SALESFORCE_LOCAL_ORIGINS" in str(caught.value)
    with pytest.raises(SettingsError):
        ConnectionsSettings.from_env({**base, "SALESFORCE_EXTRA_DOMAINS": "mil"})
    with pytest.raises(SettingsError) as refused:  # the login URL overrides obey the same policy
        ConnectionsSettings.from_env({**base, "SF_LOGIN_URL_PRODUCTION": "http://127.0.0.1:9999"})
    assert "SF_LOGIN_URL_PRODUCTION" in str(refused.value)
    local = ConnectionsSettings.from_env(
        {
            **base,
            "SF_LOGIN_URL_PRODUCTION": "http://127.0.0.1:9999",
            "SALESFORCE_LOCAL_ORIGINS": "http://127.0.0.1:9999",
        }
    )
    assert local.login_hosts().resolve("production") == ("production", "http://127.0.0.1:9999")
    assert LoginHosts().policy == SalesforceHosts()


@pytest.mark.parametrize(
    "environment",
    [
        "https://10.0.0.5",
        "https://evil.com",
        "https://salesforce.com.evil.com",
        "https://x.my.salesforce.com:8443",
    ],
)
def test_connect_refuses_a_non_salesforce_login_host(connections: ConnectionsApi, environment: str) -> None:
    refused = connections.call(
        "POST",
        "/connections",
        {"name": "x", "environment": environment, "client_id": "i", "client_secret": "s"},
    )
    assert refused.status == 422, refused.body
    assert refused.json()["error"]["fields"] == ["environment"]


def test_a_refresh_answer_naming_another_host_is_not_used(
    connections: ConnectionsApi, hostile: _Server, internal: _Server
) -> None:
    """The login host (allowed) answers a refresh with an internal instance_url: the connection
    turns needs_reauth and the new token goes nowhere."""
    seeded = seed_connection(connections.aws, connections.emulator, "conn-bad-refresh")
    sm = boto3.client("secretsmanager", region_name=connections.aws.region)
    secret_id = f"{connections.aws.secret_prefix}{seeded.connection_id}"
    stored = json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
    sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps({**stored, "login_url": hostile.origin}))
    hostile.token_response = {
        "access_token": "00Dhostile!token",
        "instance_url": internal.origin,
        "id": f"{internal.origin}/id/{ORG}/{USER}",
    }
    connections.emulator.expire_sessions()

    result = connections.call("GET", f"/connections/{seeded.connection_id}/objects/Account/fields")
    assert result.status == 401, result.body
    assert [path for _, path, _ in hostile.seen] == ["/services/oauth2/token"]
    assert internal.seen == []
    view = connections.get(seeded.connection_id)
    assert view["status"] == "needs_reauth"
    assert "instance_url" in view["status_reason"]
    assert connections.secret(seeded.connection_id)["access_token"] is None


def test_reauthorizing_a_connection_stored_with_a_bad_login_url_is_refused(
    connections: ConnectionsApi,
) -> None:
    from sfconnector.stores.connections import ConnectionRepository

    seeded = seed_connection(connections.aws, connections.emulator, "conn-old-login")
    repo = ConnectionRepository(
        lambda: boto3.client("dynamodb", region_name=connections.aws.region), connections.aws.table_name
    )
    record = repo.get(seeded.connection_id)
    assert record is not None
    repo.put(record.model_copy(update={"login_url": "http://10.0.0.5:8500"}))

    refused = connections.call("POST", f"/connections/{seeded.connection_id}/reauthorize", {})
    assert refused.status == 409, refused.body
    assert refused.json()["error"]["code"] == "untrusted_salesforce_host"
    assert "login URL must use https" in refused.json()["error"]["message"]
