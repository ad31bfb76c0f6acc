"""SigV4 verification of the local API front, as API Gateway does it for IAM-authorised routes.

A signed request (``Authorization: AWS4-HMAC-SHA256 ...``) is verified against the IAM users of
the local stack's moto: the access key must belong to an active key of a moto IAM user, the
signature must be the one that key computes for the request (botocore's own SigV4 canonical
request, so any botocore-based client matches), the date within 15 minutes and the scope's
service ``execute-api``. The verified user then fills ``requestContext.identity``; that is the
caller's tenant. A request without a signature acts as the stack's default local identity, so
curl and ``make demo`` keep working. moto keeps no secret key it handed out, so the stack keeps
the secret keys of the users it created (:class:`KeyRing`) and asks moto's IAM the rest.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.apigw import HttpRequest, LocalIdentity

__all__ = ["DemoTenant", "KeyRing", "SigV4Verifier", "SignatureError", "create_demo_tenants"]

MAX_SKEW_S = 15 * 60
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[A-Z0-9]{16,128})/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


class SignatureError(Exception):
    """API Gateway's refusal of a signed request (403)."""

    def __init__(self, message: str, error_type: str = "InvalidSignatureException") -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


@dataclass(frozen=True)
class DemoTenant:
    """A local tenant: a moto IAM user and its access key (printed by the banner)."""

    name: str
    user_arn: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass
class KeyRing:
    """Secret keys of the moto IAM users the stack created, by access key id."""

    secrets: dict[str, str] = field(default_factory=dict)


def create_demo_tenants(
    iam: Any, keys: KeyRing, names: tuple[str, ...] = ("tenant-a", "tenant-b")
) -> list[DemoTenant]:
    """Two IAM users in moto with an access key each: the local stack's demo tenants."""
    tenants = []
    for name in names:
        try:
            user = iam.create_user(UserName=name)["User"]
        except iam.exceptions.EntityAlreadyExistsException:
            user = iam.get_user(UserName=name)["User"]
        key = iam.create_access_key(UserName=name)["AccessKey"]
        keys.secrets[key["AccessKeyId"]] = key["SecretAccessKey"]
        tenants.append(DemoTenant(name, user["Arn"], key["AccessKeyId"], key["SecretAccessKey"]))
    return tenants


@dataclass
class SigV4Verifier:
    """Verifies SigV4 signatures with the keys of moto's IAM users (``iam`` is a moto IAM client)."""

    iam: Any
    keys: KeyRing
    account_id: str
    clock: Callable[[], float] = time.time
    _owners: dict[str, LocalIdentity] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def identity(self, request: HttpRequest) -> LocalIdentity | None:
        """The verified caller of ``request`` (None: unsigned); raises SignatureError."""
        header = request.header("Authorization")
        if not header:
            return None
        match = _AUTH.match(header.strip())
        if match is None:
            raise SignatureError(
                "Authorization header requires a valid SigV4 signature.", "IncompleteSignatureException"
            )
        if match["service"] != "execute-api":
            raise SignatureError("Credential should be scoped to correct service: 'execute-api'.")
        amz_date = request.header("X-Amz-Date") or ""
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise SignatureError(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                "IncompleteSignatureException",
            ) from None
        if abs(self.clock() - signed_at) > MAX_SKEW_S or not amz_date.startswith(match["date"]):
            raise SignatureError("Signature expired or not yet current.")
        key_id = match["key"]
        secret = self.keys.secrets.get(key_id)
        identity = self._identity_of(key_id) if secret is not None else None
        if secret is None or identity is None:
            raise SignatureError(
                "The security token included in the request is invalid.", "UnrecognizedClientException"
            )
        expected = _signature(request, key_id, secret, match["region"], match["headers"].split(";"), amz_date)
        if not hmac.compare_digest(expected, match["signature"]):
            raise SignatureError(
                "The request signature we calculated does not match the signature you provided."
            )
        return identity

    def _identity_of(self, key_id: str) -> LocalIdentity | None:
        """The moto IAM user of an active access key (None: unknown or inactive)."""
        with self._lock:
            known = self._owners.get(key_id)
        if known is not None:
            return known
        try:
            user_name = self.iam.get_access_key_last_used(AccessKeyId=key_id)["UserName"]
            active = any(
                k["AccessKeyId"] == key_id and k["Status"] == "Active"
                for k in self.iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
            )
            user = self.iam.get_user(UserName=user_name)["User"]
        except Exception:
            return None
        if not active:
            return None
        identity = LocalIdentity(
            account_id=self.account_id, access_key=key_id, user=user["UserId"], user_arn=user["Arn"]
        )
        with self._lock:
            self._owners[key_id] = identity
        return identity


def _signature(
    request: HttpRequest, key_id: str, secret: str, region: str, signed: list[str], amz_date: str
) -> str:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {name: request.header(name) or "" for name in signed}
    host = request.header("Host") or f"127.0.0.1:{request.port}"
    aws_request = AWSRequest(
        method=request.method,
        url=f"{request.scheme}://{host}{request.target}",
        headers=headers,
        data=request.body,
    )
    aws_request.context["timestamp"] = amz_date
    auth = SigV4Auth(
        Credentials(key_id, secret, request.header("X-Amz-Security-Token")), "execute-api", region
    )
    canonical = auth.canonical_request(aws_request)
    return str(auth.signature(auth.string_to_sign(aws_request, canonical), aws_request))
