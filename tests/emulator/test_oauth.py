"""OAuth 2.0 as Salesforce speaks it: consent, code + PKCE, refresh, client credentials, revoke, identity."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle

CALLBACK = "http://localhost:3000/oauth/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(
    emu: EmulatorHandle,
    *,
    client_id: str | None = None,
    redirect_uri: str = CALLBACK,
    challenge: str | None = None,
    state: str = "st-123",
    decision: str = "allow",
    username: str | None = None,
    scope: str = "api refresh_token",
) -> dict[str, list[str]]:
    """Drive the consent page like a browser; returns the callback's query parameters."""
    params = {
        "response_type": "code",
        "client_id": client_id or emu.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": scope,
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = httpx.get(f"{emu.login_url}/services/oauth2/authorize", params=params)
    assert page.status_code == 200, page.text
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    form = {k: v.replace("&amp;", "&") for k, v in form.items()}
    form["decision"] = decision
    if username:
        form["username"] = username
    answer = httpx.post(f"{emu.login_url}/services/oauth2/authorize", data=form)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(redirect_uri)
    return parse_qs(urlsplit(location).query)


def exchange(emu: EmulatorHandle, code: str, verifier: str | None, **extra: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "redirect_uri": CALLBACK,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    return httpx.post(f"{emu.login_url}/services/oauth2/token", data=data)


def token_request(emu: EmulatorHandle, **data: str) -> httpx.Response:
    return httpx.post(f"{emu.login_url}/services/oauth2/token", data=data)


def refresh_grant(emu: EmulatorHandle, refresh_token: str) -> httpx.Response:
    """The refresh-token grant of the demo app, as a public client (no secret)."""
    return token_request(
        emu, grant_type="refresh_token", refresh_token=refresh_token, client_id=emu.client_id
    )


def rest_status(emu: EmulatorHandle, access_token: str) -> int:
    response = httpx.get(
        f"{emu.base_url}/services/data/{emu.api_version}/limits",
        headers={"Authorization": f"Bearer {access_token}"},
    )
    if response.status_code == 401:
        assert response.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
    return response.status_code


def test_consent_page_names_the_app_scopes_and_offers_allow_and_deny(sf_emulator: EmulatorHandle) -> None:
    page = httpx.get(
        f"{sf_emulator.login_url}/services/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": sf_emulator.client_id,
            "redirect_uri": CALLBACK,
            "scope": "api refresh_token",
        },
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Workflow Connector" in page.text
    assert "<li>api</li>" in page.text
    assert "<li>refresh_token</li>" in page.text
    assert 'id="allow"' in page.text
    assert 'id="deny"' in page.text
    assert 'method="POST"' in page.text


def test_web_server_flow_with_pkce_issues_salesforce_shaped_tokens(sf_emulator: EmulatorHandle) -> None:
    verifier, challenge = pkce_pair()
    callback = authorize(sf_emulator, challenge=challenge, state="opaque state/+=")
    assert callback["state"] == ["opaque state/+="]
    response = exchange(sf_emulator, callback["code"][0], verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "access_token",
        "refresh_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    }
    assert "expires_in" not in body
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == sf_emulator.base_url
    assert body["scope"] == "api refresh_token"
    assert body["issued_at"].isdigit()
    assert body["access_token"].startswith(sf_emulator.org_id[:15] + "!")
    assert body["id"] == f"{sf_emulator.login_url}/id/{sf_emulator.org_id}/{sf_emulator.admin_user_id}"
    expected = base64.b64encode(
        hmac.new(
            sf_emulator.client_secret.encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256
        ).digest()
    ).decode()
    assert body["signature"] == expected
    assert rest_status(sf_emulator, body["access_token"]) == 200
    identity = httpx.get(body["id"], headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert identity["user_id"] == sf_emulator.admin_user_id
    assert identity["organization_id"] == sf_emulator.org_id
    assert identity["username"] == "alex.admin@acme-emulator.example"
    assert identity["urls"]["rest"].startswith(sf_emulator.base_url)
    assert sf_emulator.api_calls() == 1  # only the REST call; OAuth and identity count nothing


def test_consent_as_another_user(sf_emulator: EmulatorHandle) -> None:
    callback = authorize(sf_emulator, username="sam.seller@acme-emulator.example")
    body = exchange(sf_emulator, callback["code"][0], None).json()
    seller = next(u for u in sf_emulator.users() if u["username"].startswith("sam."))
    assert body["id"].endswith("/" + seller["id"])


def test_deny_redirects_with_access_denied(sf_emulator: EmulatorHandle) -> None:
    callback = authorize(sf_emulator, decision="deny", state="s1")
    assert callback["error"] == ["access_denied"]
    assert callback["error_description"] == ["end-user denied authorization"]
    assert callback["state"] == ["s1"]
    assert "code" not in callback


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"redirect_uri": "https://evil.example/callback"}, "redirect_uri_mismatch"),
        ({"client_id": "3MVG9unknown"}, "invalid_client_id"),
    ],
)
def test_authorize_refuses_unknown_clients_and_unregistered_callbacks(
    sf_emulator: EmulatorHandle, params: dict[str, str], error: str
) -> None:
    query = {"response_type": "code", "client_id": sf_emulator.client_id, "redirect_uri": CALLBACK, **params}
    page = httpx.get(f"{sf_emulator.login_url}/services/oauth2/authorize", params=query)
    # Salesforce never redirects to an untrusted callback: it shows the error itself.
    assert page.status_code == 400
    assert "location" not in page.headers
    assert f"error={error}" in page.text


def test_pkce_verifier_is_checked_and_codes_are_single_use(sf_emulator: EmulatorHandle) -> None:
    verifier, challenge = pkce_pair()
    code = authorize(sf_emulator, challenge=challenge)["code"][0]
    wrong = exchange(sf_emulator, code, "not-the-verifier-" + "x" * 40)
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "invalid code verifier"}
    code = authorize(sf_emulator, challenge=challenge)["code"][0]
    assert exchange(sf_emulator, code, verifier).status_code == 200
    again = exchange(sf_emulator, code, verifier)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "invalid authorization code"}


def test_code_expires_and_redirect_uri_must_match(sf_emulator: EmulatorHandle) -> None:
    code = authorize(sf_emulator)["code"][0]
    mismatch = exchange(sf_emulator, code, None, redirect_uri="http://127.0.0.1:3000/oauth/callback")
    assert mismatch.json() == {
        "error": "redirect_uri_mismatch",
        "error_description": "redirect_uri must match configuration",
    }
    code = authorize(sf_emulator)["code"][0]
    sf_emulator.advance_clock(16 * 60)
    expired = exchange(sf_emulator, code, None)
    assert expired.json() == {"error": "invalid_grant", "error_description": "expired authorization code"}


def test_client_authentication_errors(sf_emulator: EmulatorHandle) -> None:
    code = authorize(sf_emulator)["code"][0]
    bad_secret = exchange(sf_emulator, code, None, client_secret="wrong-secret")
    assert bad_secret.status_code == 400
    assert bad_secret.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    unknown = exchange(sf_emulator, code, None, client_id="3MVG9nobody")
    assert unknown.json() == {"error": "invalid_client_id", "error_description": "client identifier invalid"}
    unsupported = token_request(sf_emulator, grant_type="password", username="x", password="y")
    assert unsupported.json() == {
        "error": "unsupported_grant_type",
        "error_description": "grant type not supported",
    }


def test_client_secret_in_basic_auth_header(sf_emulator: EmulatorHandle) -> None:
    code = authorize(sf_emulator)["code"][0]
    response = httpx.post(
        f"{sf_emulator.login_url}/services/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(sf_emulator.client_id, sf_emulator.client_secret),
    )
    assert response.status_code == 200, response.text


def test_refresh_without_rotation_keeps_the_refresh_token(sf_emulator: EmulatorHandle) -> None:
    first = sf_emulator.mint_token()
    refreshed = token_request(
        sf_emulator,
        grant_type="refresh_token",
        refresh_token=first["refresh_token"],
        client_id=sf_emulator.client_id,
        client_secret=sf_emulator.client_secret,
    ).json()
    assert "refresh_token" not in refreshed
    assert refreshed["access_token"] != first["access_token"]
    assert rest_status(sf_emulator, refreshed["access_token"]) == 200
    again = refresh_grant(sf_emulator, first["refresh_token"])
    assert again.status_code == 200


def test_refresh_with_rotation_retires_the_old_token(sf_emulator: EmulatorHandle) -> None:
    sf_emulator.configure(refresh_token_rotation=True)
    first = sf_emulator.mint_token()
    data = {
        "grant_type": "refresh_token",
        "client_id": sf_emulator.client_id,
        "client_secret": sf_emulator.client_secret,
    }
    rotated = token_request(sf_emulator, refresh_token=first["refresh_token"], **data).json()
    assert rotated["refresh_token"] != first["refresh_token"]
    stale = token_request(sf_emulator, refresh_token=first["refresh_token"], **data)
    assert stale.status_code == 400
    assert stale.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    assert token_request(sf_emulator, refresh_token=rotated["refresh_token"], **data).status_code == 200


def test_revoking_a_refresh_token_kills_its_access_tokens(sf_emulator: EmulatorHandle) -> None:
    grant = sf_emulator.mint_token()
    assert rest_status(sf_emulator, grant["access_token"]) == 200
    revoked = httpx.post(
        f"{sf_emulator.login_url}/services/oauth2/revoke", data={"token": grant["refresh_token"]}
    )
    assert revoked.status_code == 200
    assert rest_status(sf_emulator, grant["access_token"]) == 401
    refresh = refresh_grant(sf_emulator, grant["refresh_token"])
    assert refresh.json()["error"] == "invalid_grant"
    unknown = httpx.post(f"{sf_emulator.login_url}/services/oauth2/revoke", data={"token": "nope"})
    assert unknown.status_code == 400


def test_admin_revocation_of_a_refresh_token(sf_emulator: EmulatorHandle) -> None:
    grant = sf_emulator.mint_token()
    sf_emulator.revoke_refresh_token(grant["refresh_token"])
    refresh = refresh_grant(sf_emulator, grant["refresh_token"])
    assert refresh.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def test_access_token_lifetime_then_refresh(sf_emulator: EmulatorHandle) -> None:
    sf_emulator.configure(access_token_lifetime_seconds=60)
    grant = sf_emulator.mint_token()
    assert rest_status(sf_emulator, grant["access_token"]) == 200
    sf_emulator.advance_clock(61)
    assert rest_status(sf_emulator, grant["access_token"]) == 401
    fresh = refresh_grant(sf_emulator, grant["refresh_token"]).json()
    assert rest_status(sf_emulator, fresh["access_token"]) == 200


def test_forced_expiry_of_all_sessions(sf_emulator: EmulatorHandle) -> None:
    tokens = [sf_emulator.access_token(), sf_emulator.access_token("sam.seller@acme-emulator.example")]
    assert sf_emulator.expire_sessions() >= 2
    assert [rest_status(sf_emulator, t) for t in tokens] == [401, 401]
    assert sf_emulator.api_calls() == 0  # rejected sessions are not counted


def test_client_credentials_runs_as_the_integration_user(sf_emulator: EmulatorHandle) -> None:
    response = token_request(
        sf_emulator,
        grant_type="client_credentials",
        client_id=sf_emulator.client_id,
        client_secret=sf_emulator.client_secret,
    )
    body = response.json()
    assert "refresh_token" not in body
    assert body["id"].endswith("/" + sf_emulator.integration_user_id)
    assert rest_status(sf_emulator, body["access_token"]) == 200
    app = sf_emulator.register_app("No run-as user", [CALLBACK])
    refused = token_request(
        sf_emulator,
        grant_type="client_credentials",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "no client credentials user enabled",
    }


def test_registered_app_has_its_own_callbacks(sf_emulator: EmulatorHandle) -> None:
    app = sf_emulator.register_app(
        "Partner tool", ["https://partner.example/cb"], scopes=["api", "refresh_token"]
    )
    assert app["client_secret"]
    listed = sf_emulator.admin("GET", "apps")["apps"]
    assert all("client_secret" not in a for a in listed)
    callback = authorize(sf_emulator, client_id=app["client_id"], redirect_uri="https://partner.example/cb")
    token = token_request(
        sf_emulator,
        grant_type="authorization_code",
        code=callback["code"][0],
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        redirect_uri="https://partner.example/cb",
    )
    assert token.status_code == 200
    refused = httpx.get(
        f"{sf_emulator.login_url}/services/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": sf_emulator.client_id,
            "redirect_uri": "https://partner.example/cb",
        },
    )
    assert "error=redirect_uri_mismatch" in refused.text


def test_scope_outside_the_app_is_refused(sf_emulator: EmulatorHandle) -> None:
    app = sf_emulator.register_app("Narrow", [CALLBACK], scopes=["api"])
    page = httpx.get(
        f"{sf_emulator.login_url}/services/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": app["client_id"],
            "redirect_uri": CALLBACK,
            "scope": "full",
        },
    )
    assert page.status_code == 302
    assert parse_qs(urlsplit(page.headers["location"]).query)["error"] == ["invalid_scope"]


def test_tokens_are_per_org(sf_emulator: EmulatorHandle, sf_emulator_factory: Callable[..., Any]) -> None:
    other: EmulatorHandle = sf_emulator_factory(org_id="00DHs00000Org2Z")
    assert other.org_id != sf_emulator.org_id
    token = sf_emulator.access_token()
    assert rest_status(other, token) == 401
    assert rest_status(other, other.access_token()) == 200
    identity = other.mint_token()["id"]
    assert f"/id/{other.org_id}/" in identity
    # Record ids never collide between orgs.
    with sf_emulator.rest_client() as a, other.rest_client() as b:
        first = a.post("/sobjects/Account", json={"Name": "In A"}).json()["id"]
        second = b.post("/sobjects/Account", json={"Name": "In B"}).json()["id"]
    assert first != second


def test_deactivated_user_loses_sessions_and_refresh(sf_emulator: EmulatorHandle) -> None:
    seller = next(u for u in sf_emulator.users() if u["username"].startswith("sam."))
    grant = sf_emulator.mint_token("sam.seller@acme-emulator.example")
    assert rest_status(sf_emulator, grant["access_token"]) == 200
    sf_emulator.dml("update", "User", {"IsActive": False}, id=seller["id"])
    assert rest_status(sf_emulator, grant["access_token"]) == 401
    refresh = refresh_grant(sf_emulator, grant["refresh_token"])
    assert refresh.json() == {"error": "invalid_grant", "error_description": "inactive user"}
