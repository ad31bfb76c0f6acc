"""The JWT bearer flow's assertion: an RS256-signed JWT (RFC 7523) naming the Connected App (``iss``),
the user (``sub``), the login host (``aud``) and a short expiry (``exp``).

Signed with ``cryptography`` (no JWT library: the assertion is three base64url parts and one
PKCS#1 v1.5 signature). Pure: the caller passes the time. The private key is parsed once per call
and never appears in an exception message.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "ASSERTION_LIFETIME_SECONDS",
    "MIN_KEY_BITS",
    "PrivateKeyError",
    "jwt_assertion",
    "load_private_key",
]

ASSERTION_LIFETIME_SECONDS = 150
"""Salesforce accepts an ``exp`` at most 3 minutes ahead; 2.5 leaves room for clock skew."""
MIN_KEY_BITS = 2048


class PrivateKeyError(ValueError):
    """The given private key is not usable (the message says why, never the key)."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_private_key(pem: str) -> RSAPrivateKey:
    """The unencrypted PEM RSA private key (PKCS#1 or PKCS#8) of ``pem``, else PrivateKeyError."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if "PRIVATE KEY" not in pem:
        raise PrivateKeyError("must be a PEM private key (a BEGIN [RSA] PRIVATE KEY block)")
    if "ENCRYPTED" in pem:
        raise PrivateKeyError("must not be encrypted (export it without a passphrase)")
    try:
        key = load_pem_private_key(pem.strip().encode("utf-8"), password=None)
    except (ValueError, TypeError):
        raise PrivateKeyError("is not a readable PEM private key") from None
    except Exception:  # cryptography's UnsupportedAlgorithm and kin: never echo the input
        raise PrivateKeyError("is not a supported PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PrivateKeyError("must be an RSA key (Salesforce verifies RS256 signatures)")
    if key.key_size < MIN_KEY_BITS:
        raise PrivateKeyError(f"must be an RSA key of at least {MIN_KEY_BITS} bits")
    return key


def jwt_assertion(private_key_pem: str, *, client_id: str, username: str, audience: str, now: float) -> str:
    """The signed assertion (``now``: epoch seconds)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = load_private_key(private_key_pem)
    header = {"alg": "RS256", "typ": "JWT"}
    expires = int(now) + ASSERTION_LIFETIME_SECONDS
    claims = {"iss": client_id, "sub": username, "aud": audience, "exp": expires}
    signed = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8")) for part in (header, claims)
    )
    signature = key.sign(signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}.{_b64url(signature)}"
