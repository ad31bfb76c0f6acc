"""Tenant-scoped AWS credentials: the "token vending machine" of AWS's SaaS guidance.

The function's own role may only assume the tenant-access role (template.yaml's
``TenantAccessRole``), always with the session tag ``tenant=<id>``; that role may read and write
a secret only where the secret's ``tenant`` tag equals the session's (``secretsmanager:ResourceTag/
tenant`` = ``${aws:PrincipalTag/tenant}``). A bug that asks for another tenant's connection then
meets AccessDenied from Secrets Manager, not that tenant's tokens.

Credentials are cached per tenant and refreshed by botocore shortly before they expire
(``RefreshableCredentials`` on the client's signer: 15 minutes ahead, at the latest 10), so a
warm function calls STS once per tenant per session lifetime, not per request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sfconnector.models.tenancy import tenant_key

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

__all__ = ["TENANT_TAG", "TenantCredentials"]

TENANT_TAG = "tenant"
"""The tag key on secrets and the session tag key on the tenant-access role's sessions."""


class TenantCredentials:
    """AWS clients acting as one tenant (the tenant-access role assumed with its session tag)."""

    MAX_TENANTS = 256

    def __init__(
        self,
        sts: Callable[[], STSClient],
        role_arn: str,
        *,
        region: str,
        config: Any = None,
        session_seconds: int = 3600,
    ) -> None:
        self._sts = sts
        self.role_arn = role_arn
        self._region = region
        self._config = config
        self.session_seconds = session_seconds
        self._clients: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.assumed = 0
        """AssumeRole calls made (tests and the bench count them)."""

    def __repr__(self) -> str:
        return f"TenantCredentials(role_arn={self.role_arn!r}, tenants={len(self._clients)})"

    def _fetch(self, tenant_id: str) -> dict[str, str]:
        with self._lock:
            self.assumed += 1
        response = self._sts().assume_role(
            RoleArn=self.role_arn,
            # The session name shows in CloudTrail; the tag is what the policy reads.
            RoleSessionName=f"tenant-{tenant_key(tenant_id)}"[:64].replace("%", "."),
            DurationSeconds=self.session_seconds,
            Tags=[{"Key": TENANT_TAG, "Value": tenant_id}],
        )
        creds = response["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    def client(self, tenant_id: str, service: str) -> Any:
        """A client of ``service`` with the tenant's credentials (one per tenant and service)."""
        key = (tenant_id, service)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
        client = self._build(tenant_id, service)
        with self._lock:
            self._clients[key] = client
            while len(self._clients) > self.MAX_TENANTS:
                self._clients.popitem(last=False)
        return client

    def _build(self, tenant_id: str, service: str) -> Any:
        import boto3
        from botocore.credentials import RefreshableCredentials

        metadata = self._fetch(tenant_id)
        # A client of the default session (its parsed service models and handlers: a session of
        # its own per tenant costs ~20 ms more), signing with credentials botocore refreshes.
        factory: Any = boto3.client
        client = factory(
            service,
            region_name=self._region,
            config=self._config,
            aws_access_key_id=metadata["access_key"],
            aws_secret_access_key=metadata["secret_key"],
            aws_session_token=metadata["token"],
        )
        client._request_signer._credentials = RefreshableCredentials.create_from_metadata(
            metadata=metadata, refresh_using=lambda: self._fetch(tenant_id), method="sts-assume-role"
        )
        return client
