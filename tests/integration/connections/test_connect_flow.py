"""The OAuth connect flow through the real handler: create, consent, callback, status, fields, delete."""

from __future__ import annotations

import base64
import hashlib

import boto3

from tests.integration.connections.harness import CALLBACK_URL, ConnectionsApi, query_of


def test_connect_stores_tokens_in_secrets_manager_and_reports_connected(connections: ConnectionsApi) -> None:
    emulator = connections.emulator
    started = connections.create(name="Acme production")
    assert started["status"] == "pending"
    assert started["redirect_uri"] == CALLBACK_URL
    assert started["login_url"] == emulator.base_url
    assert started["environment"] == "production"
    assert "client_secret" not in started

    query = query_of(started["authorize_url"])
    assert started["authorize_url"].startswith(f"{emulator.base_url}/services/oauth2/authorize?")
    assert query["client_id"] == connections.client_id
    assert query["redirect_uri"] == CALLBACK_URL
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 32

    # The PKCE verifier waits server-side, next to the one-time state, until the callback.
    state_items = [i for i in connections.table_items() if i["pk"]["S"] == f"OAUTHSTATE#{query['state']}"]
    assert len(state_items) == 1
    verifier = state_items[0]["code_verifier"]["S"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == query["code_challenge"]

    location = connections.consent(started["authorize_url"])
    assert location.startswith(CALLBACK_URL + "?")
    page = connections.callback(location)
    assert page.status == 200
    assert page.outcome == "connected"
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "Salesforce connected" in page.body
    assert emulator.org_id[:15] in page.body

    cid = started["connection_id"]
    view = connections.get(cid)
    assert view["status"] == "connected"
    assert view["org_id"][:15] == emulator.org_id[:15]
    assert view["user_id"] == emulator.admin_user_id
    admin = next(u for u in emulator.users() if u["id"] == emulator.admin_user_id)
    assert view["username"] == admin["username"]
    assert view["instance_url"] == emulator.base_url
    assert view["name"] == "Acme production"
    assert view["status_reason"] is None

    secret = connections.secret(cid)
    assert secret["client_secret"] == connections.client_secret
    assert secret["refresh_token"]
    assert secret["access_token"]
    assert secret["token_version"] == 1
    # The tokens work at the org.
    with emulator.rest_client(secret["access_token"]) as rest:
        assert rest.get("/limits").status_code == 200

    # Nothing secret in DynamoDB: the state item is gone, the metadata holds no token or secret.
    dumped = str(connections.table_items())
    for value in (secret["client_secret"], secret["refresh_token"], secret["access_token"], verifier):
        assert value not in dumped
    assert f"OAUTHSTATE#{query['state']}" not in dumped

    listed = connections.call("GET", "/connections").json()["connections"]
    assert [c["connection_id"] for c in listed] == [cid]
    assert listed[0]["status"] == "connected"


def test_fields_for_mapping_uis_are_described_once_and_cached(connections: ConnectionsApi) -> None:
    cid = connections.connect()
    before = connections.emulator.api_calls()
    result = connections.call("GET", f"/connections/{cid}/objects/Account/fields")
    assert result.status == 200, result.body
    described = result.json()
    assert described["sobject"] == "Account"
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Name"]["required"] is True
    assert fields["Name"]["type"] == "string"
    assert fields["Name"]["label"] == "Account Name"
    assert fields["Id"]["required"] is False
    industry = fields["Industry"]
    assert industry["type"] == "picklist"
    assert {"value": "Energy", "label": "Energy", "active": True, "default": False} in industry[
        "picklist_values"
    ]
    assert fields["OwnerId"]["reference_to"] == ["User"]
    assert connections.emulator.api_calls() == before + 1

    again = connections.call("GET", f"/connections/{cid}/objects/account/fields")
    assert again.status == 200
    assert connections.emulator.api_calls() == before + 1, "the second describe must come from the cache"

    view = connections.get(cid)
    assert view["api_usage"]["used"] == before + 1
    assert view["api_usage"]["max"] > view["api_usage"]["used"]


def test_delete_revokes_at_salesforce_and_removes_everything(connections: ConnectionsApi) -> None:
    cid = connections.connect()
    other = connections.connect(name="Other")
    secret = connections.secret(cid)
    # Items the trigger engine keeps under the connection (subscriptions, cursors) go too.
    ddb = boto3.client("dynamodb", region_name=connections.aws.region)
    for sk in ("SUBSCRIPTION#s1", "CURSOR#Account"):
        ddb.put_item(
            TableName=connections.aws.table_name, Item={"pk": {"S": f"CONNECTION#{cid}"}, "sk": {"S": sk}}
        )

    result = connections.call("DELETE", f"/connections/{cid}")
    assert result.status == 200, result.body
    assert result.json() == {
        "connection_id": cid,
        "deleted": True,
        "revoked": True,
        "revoke_error": None,
        "items_deleted": 3,
    }
    assert connections.refresh_grant(secret["refresh_token"]).json()["error"] == "invalid_grant"
    with connections.emulator.rest_client(secret["access_token"]) as rest:
        assert rest.get("/limits").status_code == 401

    assert connections.call("GET", f"/connections/{cid}").status == 404
    assert not [i for i in connections.table_items() if i["pk"]["S"] == f"CONNECTION#{cid}"]
    sm = boto3.client("secretsmanager", region_name=connections.aws.region)
    names = [s["Name"] for s in sm.list_secrets()["SecretList"]]
    assert f"{connections.aws.secret_prefix}{cid}" not in names
    # The other connection is untouched.
    assert connections.get(other)["status"] == "connected"
    assert connections.call("DELETE", f"/connections/{cid}").status == 404
