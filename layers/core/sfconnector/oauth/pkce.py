"""PKCE (RFC 7636) with the S256 method, as Salesforce's web-server flow accepts it."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from pydantic import BaseModel, ConfigDict, SecretStr

# RFC 7636 section 4.1: 43-128 characters from the unreserved set.
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def s256_challenge(verifier: str) -> str:
    """``base64url(SHA-256(verifier))`` without padding."""
    if not _VERIFIER_RE.match(verifier):
        raise ValueError("a PKCE code verifier is 43-128 unreserved characters")
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


class PkcePair(BaseModel):
    """A fresh verifier (kept server-side only) and its S256 challenge (sent to the browser)."""

    model_config = ConfigDict(frozen=True)

    verifier: SecretStr
    challenge: str
    method: str = "S256"

    @classmethod
    def generate(cls) -> PkcePair:
        # 64 random bytes -> 86 base64url characters: inside 43..128 with ample entropy.
        verifier = _b64url(secrets.token_bytes(64))
        return cls(verifier=SecretStr(verifier), challenge=s256_challenge(verifier))


def new_state() -> str:
    """An unguessable one-time ``state`` value (256 bits)."""
    return secrets.token_urlsafe(32)
