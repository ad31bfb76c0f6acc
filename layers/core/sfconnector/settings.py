"""Settings: pydantic models read from the environment when a handler is built, never at import.

Each field names its environment variable as its alias. :meth:`EnvSettings.from_env` reports every
missing or invalid variable at once, by name, in a :class:`SettingsError`. Other parts define their
own settings the same way::

    class PollerSettings(EnvSettings):
        lookback_seconds: int = Field(300, alias="POLL_LOOKBACK_SECONDS", ge=0)

The variables of :class:`CoreSettings` are the ones template.yaml's Globals give every function.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sfconnector.errors import ConnectorError, Fault

__all__ = ["CoreSettings", "EnvSettings", "SettingsError", "parse_domains", "parse_local_origins"]

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL_ORIGIN_RE = re.compile(r"^https?://(?:127\.0\.0\.1|localhost|\[::1\]):[0-9]{1,5}$")


def parse_domains(value: str | Iterable[str]) -> tuple[str, ...]:
    """A comma separated list of DNS domains (``salesforce.mil, force.mil``), lowercased; a
    leading ``*.`` is allowed and means the same (the domain and every host below it)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    domains: list[str] = []
    for raw in items:
        domain = raw.strip().lower().removeprefix("*.").removeprefix(".")
        if not domain:
            continue
        labels = domain.split(".")
        if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels) or labels[-1].isdigit():
            raise ValueError(f"{raw.strip()!r} is not a DNS domain such as salesforce.mil")
        domains.append(domain)
    return tuple(domains)


def parse_local_origins(value: str | Iterable[str]) -> frozenset[str]:
    """A comma separated list of exact loopback origins (``http://127.0.0.1:8123``): the local
    stack's and the tests' emulators. Anything but a loopback host with a port is refused, so the
    setting can never open the connector to another host."""
    items = value.split(",") if isinstance(value, str) else list(value)
    origins: set[str] = set()
    for raw in items:
        origin = raw.strip().rstrip("/").lower()
        if not origin:
            continue
        if not _LOCAL_ORIGIN_RE.match(origin):
            raise ValueError(
                f"{raw.strip()!r} is not a loopback origin such as http://127.0.0.1:8123 "
                "(scheme, loopback host and port; nothing else)"
            )
        origins.add(origin)
    return frozenset(origins)


class SettingsError(ConnectorError):
    """The environment lacks required variables or holds invalid values (all named in the message,
    which goes to the logs: the caller is told only that the connector is misconfigured)."""

    code = "configuration_error"
    fault = Fault.INTERNAL

    def __init__(self, missing: list[str], invalid: dict[str, str]) -> None:
        self.missing = missing
        self.invalid = invalid
        parts = []
        if missing:
            parts.append("missing environment variable(s): " + ", ".join(missing))
        if invalid:
            parts.append("invalid: " + "; ".join(f"{name}: {why}" for name, why in invalid.items()))
        super().__init__("Configuration error: " + " | ".join(parts))


class EnvSettings(BaseModel):
    """Base of the settings models: field aliases are environment variable names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    @classmethod
    def env_var(cls, field_name: str) -> str:
        info = cls.model_fields[field_name]
        return info.alias or field_name.upper()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Build from ``env`` (default: ``os.environ``). Blank values count as missing."""
        source = os.environ if env is None else env
        data: dict[str, Any] = {}
        missing: list[str] = []
        for name, info in cls.model_fields.items():
            var = cls.env_var(name)
            candidates = [var, *cls._fallbacks().get(var, ())]
            value = next((source[c].strip() for c in candidates if source.get(c, "").strip()), None)
            if value is not None:
                data[var] = value
            elif info.is_required():
                missing.append(var)
        invalid: dict[str, str] = {}
        try:
            settings = cls.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                loc = str(error["loc"][0]) if error["loc"] else "?"
                if error["type"] == "missing":
                    continue
                var = cls.env_var(loc) if loc in cls.model_fields else loc
                invalid.setdefault(var, error["msg"])
            if not missing and not invalid:
                raise
            raise SettingsError(missing, invalid) from None
        if missing:
            raise SettingsError(missing, invalid)
        return settings

    @classmethod
    def _fallbacks(cls) -> dict[str, tuple[str, ...]]:
        """Older/alternative variable names tried when the main one is unset."""
        return {}


class CoreSettings(EnvSettings):
    """What every function needs: the state table, the events topic, the payload bucket, secrets."""

    table_name: str = Field(alias="TABLE_NAME", min_length=3, max_length=255)
    topic_arn: str = Field(alias="TOPIC_ARN")
    payload_bucket: str = Field(alias="PAYLOAD_BUCKET", min_length=3, max_length=63)
    secret_prefix: str = Field(alias="SECRET_PREFIX", min_length=1, max_length=256)
    secrets_kms_key_id: str = Field("", alias="SECRETS_KMS_KEY_ID", max_length=2048)
    """The customer-managed key new connection secrets are encrypted with ("" = AWS-managed)."""
    aws_region: str = Field(alias="AWS_REGION", pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    describe_ttl_seconds: int = Field(900, alias="DESCRIBE_CACHE_TTL_SECONDS", ge=0, le=86_400)
    """How long describes stay cached in a warm container."""
    api_usage_interval_seconds: int = Field(60, alias="API_USAGE_RECORD_INTERVAL_SECONDS", ge=0, le=86_400)
    """How often, at most, a container writes a connection's last seen API usage (0: after every action)."""
    salesforce_extra_domains: tuple[str, ...] = Field((), alias="SALESFORCE_EXTRA_DOMAINS")
    """Domains besides Salesforce's own whose hosts may be login hosts, instance and identity URLs
    (government and other clouds, e.g. ``salesforce.mil,force.mil``): comma separated."""
    salesforce_local_origins: frozenset[str] = Field(frozenset(), alias="SALESFORCE_LOCAL_ORIGINS")
    """Exact loopback origins allowed as Salesforce hosts (the local stack's and tests' emulators)."""

    @field_validator("salesforce_extra_domains", mode="before")
    @classmethod
    def _domains(cls, value: object) -> object:
        return parse_domains(value) if isinstance(value, str) else value

    @field_validator("salesforce_local_origins", mode="before")
    @classmethod
    def _local_origins(cls, value: object) -> object:
        return parse_local_origins(value) if isinstance(value, str) else value
    tenant_source: str = Field(
        "iam",
        alias="TENANT_SOURCE",
        pattern=r"^(iam|claim:[A-Za-z0-9_:.\-]{1,128}|authorizer:[A-Za-z0-9_.\-]{1,128})$",
    )
    """Where a request's tenant comes from (docs/security.md, "Tenants"): ``iam`` (the IAM principal
    of the SigV4 signature), ``claim:<name>`` (a JWT / Cognito authorizer's claim) or
    ``authorizer:<key>`` (a Lambda authorizer's context value, e.g. the principal's tenant tag)."""
    admin_principal: str | None = Field(None, alias="ADMIN_PRINCIPAL", max_length=2048)
    """The tenant id (e.g. an IAM role ARN) that sees every tenant's connections."""
    default_tenant: str | None = Field(None, alias="DEFAULT_TENANT", max_length=256)
    """The tenant of a request without an identity (the local stack's unsigned requests); unset in
    AWS, where such a request is refused (403)."""
    unowned_tenant: str | None = Field(None, alias="UNOWNED_CONNECTIONS_TENANT", max_length=256)
    """The tenant that owns connections created before tenancy (no owner stored); unset: only the
    admin principal sees them until they are adopted."""
    tenant_role_arn: str | None = Field(None, alias="TENANT_ACCESS_ROLE_ARN", max_length=2048)
    """The role assumed (with the session tag ``tenant``) to read a tenant's secrets; unset: the
    function's own role reads them."""

    @field_validator("topic_arn")
    @classmethod
    def _topic_arn(cls, value: str) -> str:
        if not value.startswith("arn:") or value.count(":") < 5:
            raise ValueError("must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
        return value

    @classmethod
    def _fallbacks(cls) -> dict[str, tuple[str, ...]]:
        return {"AWS_REGION": ("AWS_DEFAULT_REGION",)}
