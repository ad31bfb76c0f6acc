"""Everything the callback must refuse, each with a clear page and no harm to the connection."""

from __future__ import annotations

import time

import boto3

from tests.integration.connections.harness import CALLBACK_URL, OTHER_REDIRECT, ConnectionsApi, query_of


def test_denied_consent_leaves_the_connection_pending(connections: ConnectionsApi) -> None:
    started = connections.create()
    location = connections.consent(started["authorize_url"], decision="deny")
    assert query_of(location)["error"] == "access_denied"
    page = connections.callback(location)
    assert page.status == 403
    assert page.outcome == "access_denied"
    assert "Access was denied" in page.body
    view = connections.get(started["connection_id"])
    assert view["status"] == "pending"
    assert "access_denied" in view["status_reason"]
    assert connections.secret(started["connection_id"]).get("access_token") is None


def test_replayed_state_is_refused_and_the_connection_is_unharmed(connections: ConnectionsApi) -> None:
    started = connections.create()
    location = connections.consent(started["authorize_url"])
    assert connections.callback(location).outcome == "connected"
    tokens = connections.secret(started["connection_id"])

    replay = connections.callback(location)
    assert replay.status == 400
    assert replay.outcome == "state_invalid"
    assert "already used" in replay.body
    assert connections.get(started["connection_id"])["status"] == "connected"
    assert connections.secret(started["connection_id"]) == tokens

    # A state that never existed reads the same.
    assert connections.callback(f"{CALLBACK_URL}?code=abc&state=forged-state").outcome == "state_invalid"
    missing = connections.callback(f"{CALLBACK_URL}?code=abc")
    assert missing.status == 400
    assert missing.outcome == "missing_state"


def test_expired_state_is_refused_even_before_dynamodb_sweeps_it(connections: ConnectionsApi) -> None:
    started = connections.create()
    state = query_of(started["authorize_url"])["state"]
    # Time passes: the state's TTL lies in the past, but DynamoDB has not deleted the item yet.
    ddb = boto3.client("dynamodb", region_name=connections.aws.region)
    ddb.update_item(
        TableName=connections.aws.table_name,
        Key={"pk": {"S": f"OAUTHSTATE#{state}"}, "sk": {"S": "STATE"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    location = connections.consent(started["authorize_url"])
    page = connections.callback(location)
    assert page.status == 400
    assert page.outcome == "state_expired"
    assert "expired" in page.body
    view = connections.get(started["connection_id"])
    assert view["status"] == "pending"
    assert view["status_reason"] == "authorisation link expired"
    # The code was never exchanged, and the expired state cannot be retried either.
    assert connections.secret(started["connection_id"]).get("refresh_token") is None
    assert connections.callback(location).outcome == "state_invalid"

    # A new attempt works.
    again = connections.call("POST", f"/connections/{started['connection_id']}/reauthorize", {})
    assert again.status == 200, again.body
    assert connections.callback(connections.consent(again.json()["authorize_url"])).outcome == "connected"


def test_callback_reached_at_another_redirect_uri_is_refused(connections: ConnectionsApi) -> None:
    # The connection registered the platform's URL as its redirect URI; a callback arriving here
    # with its state is not what the user authorised.
    started = connections.create(redirect_uri=OTHER_REDIRECT)
    assert started["redirect_uri"] == OTHER_REDIRECT
    location = connections.consent(started["authorize_url"])
    assert location.startswith(OTHER_REDIRECT + "?")
    stolen = CALLBACK_URL + location[len(OTHER_REDIRECT) :]
    page = connections.callback(stolen)
    assert page.status == 400
    assert page.outcome == "redirect_mismatch"
    assert "does not match the redirect URI" in page.body
    assert connections.get(started["connection_id"])["status"] == "pending"
    # The code was not redeemed by us: it is still one use away from valid at Salesforce.
    assert connections.secret(started["connection_id"]).get("refresh_token") is None


def test_unregistered_redirect_uri_stops_at_salesforce(connections: ConnectionsApi) -> None:
    started = connections.create(redirect_uri="https://unregistered.example.com/cb")
    page = connections.browser.get(started["authorize_url"])
    assert page.status_code == 400
    assert "redirect_uri_mismatch" in page.text


def test_token_errors_are_explained(connections: ConnectionsApi) -> None:
    started = connections.create(client_secret="not-the-secret")
    page = connections.callback(connections.consent(started["authorize_url"]))
    assert page.status == 400
    assert page.outcome == "token_error"
    assert "invalid_client" in page.body
    assert "not-the-secret" not in page.body
    view = connections.get(started["connection_id"])
    assert view["status"] == "pending"
    assert view["status_reason"] == "token exchange failed: invalid_client"

    # The right secret on re-authorisation fixes it.
    again = connections.call(
        "POST",
        f"/connections/{started['connection_id']}/reauthorize",
        {"client_secret": connections.client_secret},
    )
    assert again.status == 200
    assert connections.callback(connections.consent(again.json()["authorize_url"])).outcome == "connected"


def test_a_grant_without_refresh_token_is_refused(connections: ConnectionsApi) -> None:
    started = connections.create(scope="api id")
    page = connections.callback(connections.consent(started["authorize_url"]))
    assert page.status == 400
    assert page.outcome == "no_refresh_token"
    assert "refresh_token, offline_access" in page.body
    assert connections.get(started["connection_id"])["status"] == "pending"


def test_error_from_salesforce_is_escaped_in_the_page(connections: ConnectionsApi) -> None:
    started = connections.create()
    state = query_of(started["authorize_url"])["state"]
    page = connections.callback(
        f"{CALLBACK_URL}?state={state}&error=invalid_scope&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    )
    assert page.status == 400
    assert page.outcome == "authorization_error"
    assert "<script>" not in page.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.body


def test_callback_for_a_deleted_connection(connections: ConnectionsApi) -> None:
    started = connections.create()
    assert connections.call("DELETE", f"/connections/{started['connection_id']}").status == 200
    page = connections.callback(connections.consent(started["authorize_url"]))
    assert page.status == 404
    assert page.outcome == "connection_deleted"
    assert connections.call("GET", "/connections").json() == {"connections": []}


def test_reauthorising_into_another_org_is_refused(connections: ConnectionsApi) -> None:
    cid = connections.connect()
    before = connections.secret(cid)
    # The connection belongs to another org than the one the user now signs in to.
    ddb = boto3.client("dynamodb", region_name=connections.aws.region)
    ddb.update_item(
        TableName=connections.aws.table_name,
        Key={"pk": {"S": f"CONNECTION#{cid}"}, "sk": {"S": "META"}},
        UpdateExpression="SET org_id = :other",
        ExpressionAttributeValues={":other": {"S": "00D000000000OTHER"}},
    )
    again = connections.call("POST", f"/connections/{cid}/reauthorize", {}).json()
    location = connections.consent(again["authorize_url"])
    page = connections.callback(location)
    assert page.status == 409
    assert page.outcome == "org_mismatch"
    assert "00D000000000OTHER" in page.body
    # The refused grant was revoked at Salesforce: the only live session left is the stored one.
    assert connections.emulator.expire_sessions() == 1
    # The stored grant is untouched and still works.
    assert connections.secret(cid) == before
    assert connections.refresh_grant(before["refresh_token"]).status_code == 200
