"""The JWT bearer assertion (pure): what it claims, that its signature verifies with the key's
certificate, which audience each environment gets, and which keys are refused."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sfconnector.oauth.assertion import (
    ASSERTION_LIFETIME_SECONDS,
    PrivateKeyError,
    jwt_assertion,
    load_private_key,
)
from sfconnector.oauth.hosts import PRODUCTION_LOGIN_URL, SANDBOX_LOGIN_URL, LoginHosts

from tests.fixtures.keys import ec_private_key_pem, key_pair


def _part(text: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return decoded


def test_the_assertion_claims_the_app_user_audience_and_a_short_expiry() -> None:
    keys = key_pair()
    token = jwt_assertion(
        keys.private_key,
        client_id="3MVG9key",
        username="int@acme.com",
        audience=PRODUCTION_LOGIN_URL,
        now=1000.7,
    )
    header, claims, signature = token.split(".")
    assert _part(header) == {"alg": "RS256", "typ": "JWT"}
    assert _part(claims) == {
        "iss": "3MVG9key",
        "sub": "int@acme.com",
        "aud": PRODUCTION_LOGIN_URL,
        "exp": 1150,
    }
    assert ASSERTION_LIFETIME_SECONDS < 180  # Salesforce: exp within 3 minutes
    public = x509.load_pem_x509_certificate(keys.certificate.encode()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    public.verify(raw, f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize(
    ("kind", "login_url", "audience"),
    [
        ("production", PRODUCTION_LOGIN_URL, PRODUCTION_LOGIN_URL),
        ("sandbox", SANDBOX_LOGIN_URL, SANDBOX_LOGIN_URL),
        ("my_domain", "https://acme.my.salesforce.com", PRODUCTION_LOGIN_URL),
        ("my_domain", "https://acme--uat.sandbox.my.salesforce.com", SANDBOX_LOGIN_URL),
    ],
)
def test_the_audience_is_the_production_or_sandbox_login_host(
    kind: str, login_url: str, audience: str
) -> None:
    assert LoginHosts().audience(kind, login_url) == audience  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pem", "why"),
    [
        ("", "PEM private key"),
        (key_pair().certificate, "PEM private key"),
        ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----", "encrypted"),
        ("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----", "readable"),
        (ec_private_key_pem(), "RSA"),
        (key_pair("small", 1024).private_key, "2048"),
    ],
    ids=["empty", "certificate", "encrypted", "garbled", "ec", "1024-bit"],
)
def test_unusable_keys_are_refused_without_echoing_them(pem: str, why: str) -> None:
    with pytest.raises(PrivateKeyError) as refused:
        load_private_key(pem)
    assert why in str(refused.value)
    assert not any(line in str(refused.value) for line in pem.splitlines()[1:-1] if line)
