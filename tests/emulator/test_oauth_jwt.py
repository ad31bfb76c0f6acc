"""The emulator's JWT bearer grant as Salesforce checks it (consumer key, the certificate uploaded to
the app, expiry within 3 minutes, audience, a pre-authorised active user) and its admin settings."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.keys import key_pair

JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _assertion(claims: dict[str, Any], *, key_pem: str | None = None, alg: str = "RS256") -> str:
    key = serialization.load_pem_private_key((key_pem or key_pair().private_key).encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signed = f"{_b64(json.dumps({'alg': alg}).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signed}.{_b64(key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256()))}"


def _username(emulator: EmulatorHandle, user_id: str) -> str:
    return next(str(u["username"]) for u in emulator.users() if u["id"] == user_id)


@pytest.fixture
def jwt_app(sf_emulator: EmulatorHandle) -> dict[str, Any]:
    integration = _username(sf_emulator, sf_emulator.integration_user_id)
    return sf_emulator.register_app(
        "Integration",
        ["https://example.com/cb"],
        certificate=key_pair().certificate,
        jwt_usernames=[integration],
    )


def _claims(emulator: EmulatorHandle, app: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "iss": app["client_id"],
        "sub": _username(emulator, emulator.integration_user_id),
        "aud": emulator.base_url,
        "exp": int(time.time()) + 120,
        **overrides,
    }


def _grant(emulator: EmulatorHandle, assertion: str) -> httpx.Response:
    return emulator.http.post("/services/oauth2/token", data={"grant_type": JWT, "assertion": assertion})


def test_a_valid_assertion_gets_a_token_without_a_refresh_token(
    sf_emulator: EmulatorHandle, jwt_app: dict[str, Any]
) -> None:
    answer = _grant(sf_emulator, _assertion(_claims(sf_emulator, jwt_app)))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "refresh_token" not in body
    assert body["id"].endswith(f"/{sf_emulator.integration_user_id}")
    assert "refresh_token" not in body["scope"].split()
    with sf_emulator.rest_client(body["access_token"]) as client:
        assert client.get("/limits").status_code == 200
    assert sf_emulator.admin("GET", "oauth/grants")["grants"] == {JWT: 1}


@pytest.mark.parametrize(
    ("change", "error", "description"),
    [
        ({"iss": "3MVG9unknown"}, "invalid_client_id", "client identifier invalid"),
        ({"aud": "https://login.salesforce.com"}, "invalid_grant", "audience is invalid"),
        ({"exp": -60}, "invalid_grant", "expired authorization code"),
        ({"exp": 600}, "invalid_grant", "invalid assertion"),  # beyond 3 minutes
        ({"sub": "nobody@example.com"}, "invalid_grant", "user hasn't approved this consumer"),
        ({"sub": "SALES"}, "invalid_grant", "user hasn't approved this consumer"),  # not pre-authorised
    ],
    ids=["unknown-app", "audience", "expired", "too-long", "unknown-user", "not-approved"],
)
def test_salesforces_refusals(
    sf_emulator: EmulatorHandle, jwt_app: dict[str, Any], change: dict[str, Any], error: str, description: str
) -> None:
    claims = _claims(sf_emulator, jwt_app)
    if "exp" in change:
        change = {"exp": int(time.time()) + change["exp"]}
    if change.get("sub") == "SALES":
        change = {"sub": sf_emulator.sales_username}
    answer = _grant(sf_emulator, _assertion({**claims, **change}))
    assert answer.status_code == 400
    assert answer.json() == {"error": error, "error_description": description}


def test_a_signature_of_another_key_or_algorithm_is_refused(
    sf_emulator: EmulatorHandle, jwt_app: dict[str, Any]
) -> None:
    claims = _claims(sf_emulator, jwt_app)
    for assertion in (
        _assertion(claims, key_pem=key_pair("other").private_key),
        _assertion(claims, alg="none"),
        "not.a.jwt",
        "",
    ):
        answer = _grant(sf_emulator, assertion)
        assert answer.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_a_user_who_approved_the_app_needs_no_pre_authorisation(sf_emulator: EmulatorHandle) -> None:
    app = sf_emulator.register_app(
        "Self-authorised", ["https://example.com/cb"], certificate=key_pair().certificate
    )
    claims = _claims(sf_emulator, app, sub=sf_emulator.sales_username)
    assert _grant(sf_emulator, _assertion(claims)).status_code == 400
    sf_emulator.mint_token(
        sf_emulator.sales_username, client_id=app["client_id"]
    )  # an approval with a refresh token
    assert _grant(sf_emulator, _assertion(claims)).status_code == 200


def test_admin_patch_sets_the_certificate_and_the_flows(sf_emulator: EmulatorHandle) -> None:
    client_id = sf_emulator.client_id
    bad = sf_emulator.http.patch(f"/__emulator__/apps/{client_id}", json={"certificate": "nope"})
    assert bad.status_code == 400
    patched = sf_emulator.admin(
        "PATCH",
        f"apps/{client_id}",
        {"certificate": key_pair().certificate, "jwt_usernames": [sf_emulator.sales_username]},
    )
    assert patched["jwt_user_ids"] == [sf_emulator.sales_user_id]
    claims = {"iss": client_id, "sub": sf_emulator.sales_username, "aud": sf_emulator.base_url}
    assert _grant(sf_emulator, _assertion({**claims, "exp": int(time.time()) + 60})).status_code == 200
    sf_emulator.admin("PATCH", f"apps/{client_id}", {"disable_client_credentials": True})
    answer = sf_emulator.http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": sf_emulator.client_secret,
        },
    )
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "no client credentials user enabled",
    }
