"""Server-to-server connections (JWT bearer and client credentials flows) through the connections
handler, against the emulator over HTTP and moto: connected at once, tokens renewed by running the
grant again under the refresh lock, refusals answered as 422s naming the field, nothing stored."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from sfconnector.runtime import reset_runtime
from sfconnector.stores.tenant_credentials import TENANT_TAG

from tests.fixtures.aws import TEST_TENANT
from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.keys import ec_private_key_pem, key_pair
from tests.integration.connections.conftest import register_app
from tests.integration.connections.harness import ConnectionsApi, Result, connection_client

JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _username(emulator: EmulatorHandle, user_id: str) -> str:
    return next(str(u["username"]) for u in emulator.users() if u["id"] == user_id)


def _grants(emulator: EmulatorHandle) -> dict[str, int]:
    return dict(emulator.admin("GET", "oauth/grants")["grants"])


def _jwt_app(emulator: EmulatorHandle, *, certificate: str | None = None, approved: bool = True) -> str:
    """A Connected App with the certificate uploaded and the integration user pre-authorised."""
    options: dict[str, Any] = {"certificate": certificate or key_pair().certificate}
    if approved:
        options["jwt_usernames"] = [_username(emulator, emulator.integration_user_id)]
    return register_app(emulator, **options)[0]


def _jwt_body(connections: ConnectionsApi, client_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "flow": "jwt_bearer",
        "name": "Integration (JWT)",
        "environment": "production",
        "client_id": client_id,
        "username": _username(connections.emulator, connections.emulator.integration_user_id),
        "private_key": key_pair().private_key,
        **overrides,
    }


def _cc_body(connections: ConnectionsApi, **overrides: Any) -> dict[str, Any]:
    """An app with the client credentials flow on (its Run As user: the integration user)."""
    emulator = connections.emulator
    run_as = _username(emulator, emulator.integration_user_id)
    client_id, client_secret = register_app(emulator, client_credentials_username=run_as)
    return {
        "flow": "client_credentials",
        "name": "Integration (client credentials)",
        "environment": emulator.base_url,  # the emulator plays the org's My Domain
        "client_id": client_id,
        "client_secret": client_secret,
        **overrides,
    }


def _post(connections: ConnectionsApi, body: dict[str, Any]) -> Result:
    return connections.call("POST", "/connections", body)


def _nothing_stored(connections: ConnectionsApi) -> None:
    secrets = boto3.client("secretsmanager", region_name=connections.aws.region).list_secrets()
    assert secrets["SecretList"] == []
    assert connections.table_items() == []


# ------------------------------------------------------------------------------------------ connect


def test_jwt_bearer_connects_at_once_and_keeps_the_key_secret(connections: ConnectionsApi) -> None:
    emulator = connections.emulator
    client_id = _jwt_app(emulator)
    calls_before = emulator.api_calls()

    result = _post(connections, _jwt_body(connections, client_id))

    assert result.status == 201, result.body
    view = result.json()
    assert view["status"] == "connected"
    assert view["flow"] == "jwt_bearer"
    assert view["user_id"] == emulator.integration_user_id
    assert view["org_id"] == emulator.org_id
    assert "private_key" not in result.body
    assert "PRIVATE KEY" not in result.body
    assert "authorize_url" not in view
    # One grant, and the identity read; no REST API call spent.
    assert _grants(emulator) == {JWT: 1}
    assert emulator.api_calls() == calls_before
    # Owned by the caller's tenant, its secret tagged for the tenant-access role.
    assert view["tenant_id"] == TEST_TENANT
    sm = boto3.client("secretsmanager", region_name=connections.aws.region)
    tags = sm.describe_secret(SecretId=f"{connections.aws.secret_prefix}{view['connection_id']}")["Tags"]
    assert {"Key": TENANT_TAG, "Value": TEST_TENANT} in tags
    stored = connections.secret(view["connection_id"])
    assert stored["flow"] == "jwt_bearer"
    assert stored["private_key"] == key_pair().private_key.strip()
    assert stored["refresh_token"] is None
    assert stored["audience"] == emulator.base_url
    listed = connections.call("GET", f"/connections/{view['connection_id']}")
    assert "PRIVATE KEY" not in listed.body
    assert listed.json()["flow"] == "jwt_bearer"
    # Usable at once through the real handler.
    fields = connections.call("GET", f"/connections/{view['connection_id']}/objects/Account/fields")
    assert fields.status == 200, fields.body


def test_client_credentials_connects_as_the_run_as_user(connections: ConnectionsApi) -> None:
    body = _cc_body(connections)
    result = _post(connections, body)
    assert result.status == 201, result.body
    view = result.json()
    assert (view["status"], view["flow"], view["environment"]) == (
        "connected",
        "client_credentials",
        "my_domain",
    )
    assert view["user_id"] == connections.emulator.integration_user_id
    assert body["client_secret"] not in result.body
    assert _grants(connections.emulator) == {"client_credentials": 1}
    assert connections.secret(view["connection_id"])["client_secret"] == body["client_secret"]


def test_client_credentials_needs_the_orgs_my_domain(connections: ConnectionsApi) -> None:
    result = _post(connections, _cc_body(connections, environment="production"))
    assert result.status == 422, result.body
    assert result.json()["error"]["fields"] == ["environment"]
    assert "My Domain" in result.json()["error"]["message"]
    assert _grants(connections.emulator) == {}
    _nothing_stored(connections)


# ------------------------------------------------------------------------------------------ renew


def test_concurrent_invocations_renew_a_jwt_connection_with_one_grant(connections: ConnectionsApi) -> None:
    emulator = connections.emulator
    cid = _post(connections, _jwt_body(connections, _jwt_app(emulator))).json()["connection_id"]
    containers = [connection_client(connections.aws, cid) for _ in range(4)]
    for container in containers:  # every container has the session cached
        container.client.limits()
    emulator.expire_sessions()
    barrier = threading.Barrier(len(containers))
    failures: list[BaseException] = []

    def work(container: Any) -> None:
        barrier.wait()
        try:
            container.client.limits()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    # Creation's grant plus exactly one renewal: a new assertion, signed and sent once.
    assert _grants(emulator) == {JWT: 2}
    assert sum(c.provider.refresh_calls for c in containers) == 1
    assert connections.secret(cid)["refresh_token"] is None


def test_a_client_credentials_connection_renews_by_a_new_grant(connections: ConnectionsApi) -> None:
    cid = _post(connections, _cc_body(connections)).json()["connection_id"]
    before = connections.secret(cid)["access_token"]
    connections.emulator.expire_sessions()
    fields = connections.call("GET", f"/connections/{cid}/objects/Contact/fields")
    assert fields.status == 200, fields.body
    assert _grants(connections.emulator) == {"client_credentials": 2}
    assert connections.secret(cid)["access_token"] != before


def test_a_user_no_longer_authorised_turns_needs_reauth_and_reconnects(connections: ConnectionsApi) -> None:
    emulator = connections.emulator
    client_id = _jwt_app(emulator)
    cid = _post(connections, _jwt_body(connections, client_id)).json()["connection_id"]
    # The admin removes the user's profile from the app: the next grant is refused.
    emulator.admin("PATCH", f"apps/{client_id}", {"jwt_usernames": []})
    emulator.expire_sessions()
    answer = connections.call("GET", f"/connections/{cid}/objects/Lead/fields")
    assert answer.status == 401, answer.body
    view = connections.get(cid)
    assert view["status"] == "needs_reauth"
    assert "user hasn't approved this consumer" in view["status_reason"]
    # Fails fast from now on: no further grant.
    assert connections.call("GET", f"/connections/{cid}/objects/Lead/fields").status == 401
    assert _grants(emulator) == {JWT: 2}
    # Re-authorising a server-to-server connection runs its grant again.
    refused = connections.call("POST", f"/connections/{cid}/reauthorize", {})
    assert refused.status == 422
    assert refused.json()["error"]["fields"] == ["username"]
    emulator.admin("PATCH", f"apps/{client_id}", {"jwt_usernames": [view["username"]]})
    again = connections.call("POST", f"/connections/{cid}/reauthorize", {})
    assert again.status == 200, again.body
    assert again.json()["status"] == "connected"
    assert connections.call("GET", f"/connections/{cid}/objects/Lead/fields").status == 200


def test_a_failed_metadata_write_leaves_no_secret_behind(
    connections: ConnectionsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DynamoDB refusing the write (throttled, a broken table) cannot be made with moto: simulated.
    from botocore.exceptions import ClientError
    from sfconnector.stores.connections import ConnectionRepository

    def refuse(self: Any, record: Any) -> Any:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")

    monkeypatch.setattr(ConnectionRepository, "create", refuse)
    result = _post(connections, _cc_body(connections))
    assert result.status >= 500, result.body
    _nothing_stored(connections)


def test_delete_revokes_the_session(connections: ConnectionsApi) -> None:
    cid = _post(connections, _cc_body(connections)).json()["connection_id"]
    token = connections.secret(cid)["access_token"]
    deleted = connections.call("DELETE", f"/connections/{cid}")
    assert deleted.status == 200
    assert deleted.json()["revoked"] is True
    with connections.emulator.rest_client(token) as client:
        assert client.get("/limits").status_code == 401
    _nothing_stored(connections)


# ------------------------------------------------------------------------------------------ refusals


def _refused(connections: ConnectionsApi, body: dict[str, Any], field: str) -> dict[str, Any]:
    result = _post(connections, body)
    assert result.status == 422, result.body
    error: dict[str, Any] = result.json()["error"]
    assert error["fields"] == [field], error
    key_material = body.get("private_key", "").splitlines()[1:2]
    assert not any(line in result.body for line in key_material), "the key is never echoed"
    _nothing_stored(connections)
    return error


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("not a key at all", "PEM private key"),
        (key_pair().certificate, "PEM private key"),
        (ec_private_key_pem(), "RSA"),
        (key_pair("small", 1024).private_key, "2048"),
    ],
    ids=["text", "certificate", "ec-key", "1024-bit"],
)
def test_an_unusable_private_key_is_refused_before_any_call(
    connections: ConnectionsApi, key: str, why: str
) -> None:
    error = _refused(
        connections, _jwt_body(connections, _jwt_app(connections.emulator), private_key=key), "private_key"
    )
    assert why in error["message"]
    assert _grants(connections.emulator) == {}


def test_a_key_whose_certificate_is_not_on_the_app_is_refused(connections: ConnectionsApi) -> None:
    client_id = _jwt_app(connections.emulator, certificate=key_pair("other").certificate)
    error = _refused(connections, _jwt_body(connections, client_id), "private_key")
    assert error["code"] == "salesforce_grant_refused"
    assert error["details"] == {
        "salesforce_error": "invalid_grant",
        "salesforce_error_description": "invalid assertion",
    }
    assert "Use digital signatures" in error["message"]


def test_an_app_without_digital_signatures_is_refused(connections: ConnectionsApi) -> None:
    # The demo app has no certificate: the JWT bearer flow is not enabled on it.
    error = _refused(connections, _jwt_body(connections, connections.client_id), "private_key")
    assert "invalid assertion" in error["message"]


def test_a_user_not_pre_authorised_is_refused(connections: ConnectionsApi) -> None:
    error = _refused(
        connections, _jwt_body(connections, _jwt_app(connections.emulator, approved=False)), "username"
    )
    assert error["details"]["salesforce_error_description"] == "user hasn't approved this consumer"
    assert "pre-authorized" in error["message"]


def test_an_unknown_consumer_key_is_refused(connections: ConnectionsApi) -> None:
    error = _refused(connections, _jwt_body(connections, "3MVG9unknownConsumerKey"), "client_id")
    assert error["details"]["salesforce_error"] == "invalid_client_id"


def test_a_wrong_audience_is_refused(connections: ConnectionsApi, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = connections.emulator
    client_id = _jwt_app(emulator)
    # Production's login host is another origin than the My Domain the request goes to, so the
    # assertion's audience is not the host that checks it.
    monkeypatch.setenv("SF_LOGIN_URL_PRODUCTION", emulator.https_url)
    reset_runtime()
    error = _refused(
        connections, _jwt_body(connections, client_id, environment=emulator.base_url), "environment"
    )
    assert error["details"]["salesforce_error_description"] == "audience is invalid"


def test_client_credentials_refusals_name_the_field(connections: ConnectionsApi) -> None:
    wrong = _refused(connections, _cc_body(connections, client_secret="not-the-secret-1234"), "client_secret")
    assert wrong["details"]["salesforce_error"] == "invalid_client"
    assert "not-the-secret-1234" not in str(wrong)
    # The fixture's app has no Run As user: the flow is off.
    off = _refused(
        connections,
        _cc_body(connections, client_id=connections.client_id, client_secret=connections.client_secret),
        "client_id",
    )
    assert off["details"]["salesforce_error_description"] == "no client credentials user enabled"
    assert "Run As" in off["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"flow": "password"}, "flow"),
        ({"flow": "jwt_bearer", "client_secret": "x"}, "client_secret"),
        ({"flow": "client_credentials", "private_key": "x"}, "private_key"),
    ],
    ids=["unknown-flow", "jwt-with-secret", "cc-with-key"],
)
def test_malformed_bodies_name_the_field(
    connections: ConnectionsApi, body: dict[str, Any], field: str
) -> None:
    base = {"name": "x", "environment": "production", "client_id": "k"}
    result = _post(connections, {**base, **body})
    assert result.status == 422, result.body
    assert field in result.json()["error"]["fields"]
