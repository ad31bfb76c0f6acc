"""Token lifecycle: transparent refresh, rotation, revoked refresh tokens, concurrent refreshes."""

from __future__ import annotations

import json
import threading

import pytest
from sfconnector.errors import ConnectionNeedsReauthError

from tests.integration.connections.conftest import register_app
from tests.integration.connections.harness import (
    ConnectionsApi,
    Container,
    connection_client,
    subscribe_queue,
)


def test_session_expiry_mid_use_is_refreshed_transparently(connections: ConnectionsApi) -> None:
    cid = connections.connect()
    first = connections.secret(cid)
    assert connections.call("GET", f"/connections/{cid}/objects/Account/fields").status == 200

    assert connections.emulator.expire_sessions() >= 1
    # The next use meets INVALID_SESSION_ID, refreshes once and retries: the caller sees a 200.
    result = connections.call("GET", f"/connections/{cid}/objects/Contact/fields")
    assert result.status == 200, result.body
    second = connections.secret(cid)
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] == first["refresh_token"]
    assert second["token_version"] == first["token_version"] + 1
    assert connections.get(cid)["status"] == "connected"

    # An action function's container (its own secret cache) uses the stored token as is.
    container = connection_client(connections.aws, cid)
    assert container.client.limits()["DailyApiRequests"]["Max"] > 0
    assert container.provider.refresh_calls == 0
    assert connections.secret(cid)["token_version"] == second["token_version"]


def test_rotated_refresh_token_is_persisted(connections: ConnectionsApi) -> None:
    client_id, client_secret = register_app(connections.emulator, rotate_refresh_tokens=True)
    cid = connections.connect(client_id=client_id, client_secret=client_secret)
    original = connections.secret(cid)["refresh_token"]

    connections.emulator.expire_sessions()
    connection_client(connections.aws, cid).client.limits()
    rotated = connections.secret(cid)
    assert rotated["refresh_token"] != original
    assert rotated["token_version"] == 2
    # Salesforce has invalidated the old refresh token: only the stored one works now.
    assert connections.refresh_grant(original).json()["error"] in (
        "invalid_grant",
        "invalid_client_id",
        "invalid_client",
    )

    connections.emulator.expire_sessions()
    connection_client(connections.aws, cid).client.limits()
    again = connections.secret(cid)
    assert again["refresh_token"] not in (original, rotated["refresh_token"])
    assert again["token_version"] == 3
    assert connections.get(cid)["status"] == "connected"


def test_revoked_refresh_token_marks_needs_reauth_and_publishes_an_event(connections: ConnectionsApi) -> None:
    sqs, queue_url = subscribe_queue(connections.aws)
    cid = connections.connect(name="Acme revoked")
    other = connections.connect(name="Unaffected")
    secret = connections.secret(cid)
    # An admin revokes the app's access for this user in Salesforce (Setup > Connected Apps OAuth Usage).
    connections.emulator.revoke_refresh_token(secret["refresh_token"])

    result = connections.call("GET", f"/connections/{cid}/objects/Account/fields")
    assert result.status == 401, result.body
    error = result.json()["error"]
    assert error["code"] == "connection_needs_reauth"
    assert cid in error["message"]
    assert error["fields"] == ["connection_id"]

    view = connections.get(cid)
    assert view["status"] == "needs_reauth"
    assert "invalid_grant" in view["status_reason"]
    assert connections.get(other)["status"] == "connected"
    stored = connections.secret(cid)
    assert stored["refresh_token"] is None
    assert stored["access_token"] is None
    assert stored["client_secret"] == connections.client_secret

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert envelope["MessageAttributes"]["event_type"]["Value"] == "connection.needs_reauth"
    assert envelope["MessageAttributes"]["connection_id"]["Value"] == cid
    event = json.loads(envelope["Message"])
    assert event["type"] == "connection.needs_reauth"
    assert event["connection_id"] == cid
    assert event["source"] == f"salesforce/{view['org_id']}"
    assert event["data"]["name"] == "Acme revoked"
    assert event["data"]["username"] == view["username"]
    assert "invalid_grant" in event["data"]["reason"]
    assert secret["refresh_token"] not in messages[0]["Body"]

    # Every later use fails fast: no Salesforce call, no second event.
    calls = connections.emulator.api_calls()
    with pytest.raises(ConnectionNeedsReauthError):
        connection_client(connections.aws, cid).client.limits()
    assert connections.call("GET", f"/connections/{cid}/objects/Lead/fields").status == 401
    assert connections.emulator.api_calls() == calls
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)

    # Re-authorising brings it back.
    again = connections.call("POST", f"/connections/{cid}/reauthorize", {})
    assert again.status == 200, again.body
    assert "prompt=login+consent" in again.json()["authorize_url"]
    assert connections.callback(connections.consent(again.json()["authorize_url"])).outcome == "connected"
    view = connections.get(cid)
    assert view["status"] == "connected"
    assert view["status_reason"] is None
    assert connection_client(connections.aws, cid).client.limits()["DailyApiRequests"]["Max"] > 0


def test_concurrent_refreshes_make_one_call_at_salesforce(connections: ConnectionsApi) -> None:
    cid = connections.connect()
    stale = connections.secret(cid)["access_token"]
    connections.emulator.expire_sessions()
    # A slow token endpoint keeps every invocation inside the refresh window at the same time.
    connections.emulator.add_fault("latency", path="^/services/oauth2/token$", latency_ms=400)

    containers = [connection_client(connections.aws, cid) for _ in range(6)]
    barrier = threading.Barrier(len(containers))
    tokens: list[str] = []
    errors: list[BaseException] = []

    def invoke(container: Container) -> None:
        try:
            barrier.wait()
            container.client.limits()
            tokens.append(container.provider.current().access_token.get_secret_value())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=invoke, args=(c,)) for c in containers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(tokens) == len(containers)
    assert len(set(tokens)) == 1
    assert tokens[0] != stale
    assert sum(c.provider.refresh_calls for c in containers) == 1
    # At the emulator: exactly one access token was issued since the sessions were expired.
    assert connections.emulator.expire_sessions() == 1
    assert connections.secret(cid)["token_version"] == 2
    lock_items = [i for i in connections.table_items() if i["sk"]["S"] == "REFRESH_LOCK"]
    assert lock_items == []
