"""Tenants: who owns a connection, and who is calling.

A tenant id is what the caller's authenticated identity says (by default its IAM principal ARN,
an assumed-role session normalised to its role). It travels as a Secrets Manager tag value, an STS
session tag, an SNS message attribute and (encoded) an S3 key segment, so it is restricted to the
characters all of those accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

__all__ = [
    "TENANT_ID_PATTERN",
    "Caller",
    "assumed_role_to_role",
    "tenant_key",
    "tenant_prefix",
    "valid_tenant_id",
]

TENANT_ID_PATTERN = r"^[A-Za-z0-9_.:/=+\-@ ]{1,256}$"
"""What an STS session tag value and a Secrets Manager tag value both accept (256 characters)."""
_TENANT_ID = re.compile(TENANT_ID_PATTERN)
_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")


def valid_tenant_id(value: str) -> bool:
    return bool(_TENANT_ID.match(value)) and value.strip() == value


def assumed_role_to_role(arn: str) -> str:
    """``arn:aws:sts::123:assumed-role/Role/session`` -> ``arn:aws:iam::123:role/Role``: every
    session of a role is the same tenant (a role's path is not in the session ARN, so it is left out)."""
    match = _ASSUMED_ROLE.match(arn)
    if match is None:
        return arn
    partition, account, role = match.groups()
    return f"arn:{partition}:iam::{account}:role/{role}"


def tenant_key(tenant_id: str) -> str:
    """The tenant as one S3 key segment: percent-encoded, so ``/`` cannot reach into another
    tenant's prefix (``user/a`` is not a prefix of ``user/a/b`` once encoded) and the mapping is
    one-to-one."""
    return quote(tenant_id, safe="")


def tenant_prefix(tenant_id: str | None) -> str:
    """Where a tenant's objects go in the payload bucket: ``tenants/<tenant_key>/`` (nothing for a
    connection from before tenancy)."""
    return f"tenants/{tenant_key(tenant_id)}/" if tenant_id else ""


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request: its tenant, and whether it is the admin principal
    (who sees every tenant's connections)."""

    tenant_id: str
    admin: bool = False

    def may_access(self, owner: str | None) -> bool:
        """May this caller act on a connection owned by ``owner`` (None: owned by nobody yet)?"""
        return self.admin or (owner is not None and owner == self.tenant_id)
