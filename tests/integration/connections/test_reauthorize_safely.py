"""Re-authorisation never breaks a working connection: a new client secret is staged and replaces
the working one only when its authorisation completes; a Connected App whose secret changed in
Salesforce turns the connection needs_reauth (once) and a re-authorisation with the new secret
brings it back. The emulator plays Salesforce, moto AWS."""

from __future__ import annotations

import json

from tests.integration.connections.harness import ConnectionsApi, subscribe_queue


def _fields(connections: ConnectionsApi, cid: str) -> int:
    return connections.call("GET", f"/connections/{cid}/objects/Account/fields").status


def test_a_wrong_secret_on_reauthorize_leaves_the_connection_working(connections: ConnectionsApi) -> None:
    cid = connections.connect()
    before = connections.secret(cid)

    again = connections.call("POST", f"/connections/{cid}/reauthorize", {"client_secret": "a-typo"})
    assert again.status == 200, again.body
    # Staged only: the working secret is untouched while the user is away at Salesforce.
    staged = connections.secret(cid)
    assert staged["client_secret"] == connections.client_secret
    assert staged["pending_client_secret"] == "a-typo"
    connections.emulator.expire_sessions()
    assert _fields(connections, cid) == 200  # the refresh uses the working secret

    page = connections.callback(connections.consent(again.json()["authorize_url"]))
    assert page.outcome == "token_error"
    assert "a-typo" not in page.body
    view = connections.get(cid)
    assert view["status"] == "connected"
    connections.emulator.expire_sessions()
    assert _fields(connections, cid) == 200
    after = connections.secret(cid)
    assert after["client_secret"] == connections.client_secret
    assert after["refresh_token"] == before["refresh_token"]


def test_an_abandoned_rotation_leaves_the_connection_working(connections: ConnectionsApi) -> None:
    cid = connections.connect()
    again = connections.call("POST", f"/connections/{cid}/reauthorize", {"client_secret": "never-finished"})
    assert again.status == 200
    # The user never comes back from Salesforce; sessions expire; actions go on.
    for _ in range(2):
        connections.emulator.expire_sessions()
        assert _fields(connections, cid) == 200
    assert connections.get(cid)["status"] == "connected"
    assert connections.secret(cid)["client_secret"] == connections.client_secret


def test_a_rotated_app_secret_marks_needs_reauth_once_and_reauthorizing_with_it_recovers(
    connections: ConnectionsApi,
) -> None:
    sqs, queue_url = subscribe_queue(connections.aws)
    cid = connections.connect()
    # An admin rotates the Connected App's consumer secret in Salesforce.
    app = connections.emulator.server.org.oauth.apps[connections.client_id]
    app.client_secret = "ROTATED-SECRET"
    connections.emulator.expire_sessions()

    for _ in range(3):
        result = connections.call("GET", f"/connections/{cid}/objects/Account/fields")
        assert result.status == 401, result.body
        assert result.json()["error"]["code"] == "connection_needs_reauth"
    view = connections.get(cid)
    assert view["status"] == "needs_reauth"
    assert "invalid_client" in view["status_reason"]
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 1
    assert json.loads(json.loads(messages[0]["Body"])["Message"])["type"] == "connection.needs_reauth"

    again = connections.call("POST", f"/connections/{cid}/reauthorize", {"client_secret": "ROTATED-SECRET"})
    assert connections.callback(connections.consent(again.json()["authorize_url"])).outcome == "connected"
    assert connections.get(cid)["status"] == "connected"
    stored = connections.secret(cid)
    assert stored["client_secret"] == "ROTATED-SECRET"
    assert stored["pending_client_secret"] is None
    connections.emulator.expire_sessions()
    assert _fields(connections, cid) == 200  # refreshes with the promoted secret
