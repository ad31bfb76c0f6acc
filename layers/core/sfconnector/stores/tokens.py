"""Connection secrets in AWS Secrets Manager (one secret per connection) and a token provider on top.

The secret holds what must never leave Secrets Manager: the Connected App's client secret, the
refresh token and the current access token, with the instance URL they belong to; for a
server-to-server connection (JWT bearer flow) the certificate's private key instead of a refresh
token. Reads go through
Powertools parameters with a short cache (``max_age``), so a warm Lambda does not call Secrets
Manager on every request, and a refreshed token written by another invocation is seen within
``max_age`` seconds (or at once with ``force_fetch``).

The token provider that refreshes through OAuth (with the refresh lock) is
``sfconnector.oauth.provider.ConnectionTokenProvider``, built on this store.

Secret values never appear in repr/str/``model_dump_json`` of :class:`ConnectionSecret`; only
:meth:`ConnectionSecret.to_storage_json` reveals them, for Secrets Manager itself.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sfconnector.errors import ConnectionNotFoundError
from sfconnector.models import validate_connection_id
from sfconnector.salesforce.client import AccessToken
from sfconnector.stores.tenant_credentials import TENANT_TAG

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = [
    "ConnectionFlow",
    "ConnectionSecret",
    "ConnectionSecretNotFoundError",
    "SecretsTokenStore",
    "guard_botocore_payload_logs",
    "validate_connection_id",
]

logger = logging.getLogger(__name__)

ConnectionFlow = Literal["web_server", "jwt_bearer", "client_credentials"]
"""How a connection gets its tokens: a person's consent (``web_server``: refresh token), or a
server-to-server grant run again whenever a token is needed (no browser, no refresh token)."""

SERVER_FLOWS: frozenset[str] = frozenset({"jwt_bearer", "client_credentials"})


class ConnectionSecret(BaseModel):
    """Everything secret about one connection (stored as one JSON secret)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    client_id: str = Field(min_length=1)
    client_secret: SecretStr = SecretStr("")
    """Empty for the JWT bearer flow (the private key proves the app instead)."""
    flow: ConnectionFlow = "web_server"
    private_key: SecretStr | None = None
    """The JWT bearer flow's PEM RSA private key (the Connected App holds its certificate)."""
    username: str | None = None
    """The JWT bearer flow's user (the assertion's ``sub``)."""
    audience: str | None = None
    """The JWT bearer flow's ``aud``: the login host Salesforce expects (decided on create)."""
    pending_client_secret: SecretStr | None = None
    """A new client secret given to a re-authorisation: used for its code exchange only, and it
    replaces ``client_secret`` when that authorisation completes (a typo or an abandoned rotation
    never breaks the working connection)."""
    refresh_token: SecretStr | None = None
    access_token: SecretStr | None = None
    instance_url: str | None = None
    login_url: str = "https://login.salesforce.com"
    issued_at: datetime | None = None
    token_version: int = Field(0, ge=0)
    """Bumped on every token change; lets writers detect a concurrent refresh."""

    @field_validator("instance_url", "login_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @property
    def server_to_server(self) -> bool:
        """Tokens come from a grant the connector runs itself (no refresh token)."""
        return self.flow in SERVER_FLOWS

    def access(self) -> AccessToken | None:
        """The access token and instance URL, if both are known."""
        if self.access_token is None or not self.instance_url:
            return None
        return AccessToken(access_token=self.access_token, instance_url=self.instance_url)

    def with_tokens(
        self,
        *,
        access_token: str,
        instance_url: str,
        refresh_token: str | None = None,
        issued_at: datetime | None = None,
    ) -> ConnectionSecret:
        """A copy with new tokens (the refresh token only changes when a new one is given)."""
        update: dict[str, Any] = {
            "access_token": SecretStr(access_token),
            "instance_url": instance_url.rstrip("/"),
            "issued_at": issued_at,
            "token_version": self.token_version + 1,
        }
        if refresh_token is not None:
            update["refresh_token"] = SecretStr(refresh_token)
        return self.model_validate({**self._revealed(), **update})

    def _revealed(self) -> dict[str, Any]:
        data = self.model_dump()
        for key in ("client_secret", "pending_client_secret", "refresh_token", "access_token", "private_key"):
            value = getattr(self, key)
            data[key] = value.get_secret_value() if value is not None else None
        return data

    def to_storage_json(self) -> str:
        """The JSON to store in Secrets Manager: the ONLY place secret values are revealed."""
        data = self._revealed()
        if data["issued_at"] is not None:
            data["issued_at"] = self.issued_at.isoformat() if self.issued_at else None
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_storage_json(cls, text: str | bytes) -> ConnectionSecret:
        return cls.model_validate_json(text)


class ConnectionSecretNotFoundError(ConnectionNotFoundError):
    """No secret for this connection (never created, or deleted): the connection does not exist."""


class _DropWirePayloads(logging.Filter):
    """botocore logs whole request and response bodies at DEBUG; for Secrets Manager those bodies
    ARE the secrets. Any root logger at DEBUG (e.g. Lambda's ApplicationLogLevel) would ship them to
    CloudWatch, so these two wire-level loggers never emit DEBUG records in this process."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_WIRE_LOGGERS = ("botocore.endpoint", "botocore.parsers")
_wire_guard = _DropWirePayloads()


def guard_botocore_payload_logs() -> None:
    """Install the filter above (idempotent)."""
    for name in _WIRE_LOGGERS:
        wire_logger = logging.getLogger(name)
        if _wire_guard not in wire_logger.filters:
            wire_logger.addFilter(_wire_guard)


def _client_error_code(exc: BaseException | None) -> str:
    while exc is not None:
        if isinstance(exc, ClientError):
            return str(exc.response.get("Error", {}).get("Code", ""))
        exc = exc.__cause__ or exc.__context__
    return ""


class SecretsTokenStore:
    """Secrets Manager adapter: secret ``{prefix}{connection_id}`` holds a :class:`ConnectionSecret`."""

    def __init__(
        self,
        secrets_client_factory: Callable[[], SecretsManagerClient],
        prefix: str,
        *,
        max_age: int = 60,
        kms_key_id: str | None = None,
    ) -> None:
        self._factory = secrets_client_factory
        self.prefix = prefix
        self.max_age = max_age
        self._kms_key_id = kms_key_id
        self._client: SecretsManagerClient | None = None
        self._provider: SecretsProvider | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretsTokenStore(prefix={self.prefix!r}, max_age={self.max_age})"

    def secret_name(self, connection_id: str) -> str:
        return f"{self.prefix}{validate_connection_id(connection_id)}"

    @property
    def client(self) -> SecretsManagerClient:
        with self._lock:
            if self._client is None:
                guard_botocore_payload_logs()
                self._client = self._factory()
            return self._client

    @property
    def provider(self) -> SecretsProvider:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        client = self.client
        with self._lock:
            if self._provider is None:
                self._provider = SecretsProvider(boto3_client=client)
            return self._provider

    def get(self, connection_id: str, *, force_fetch: bool = False) -> ConnectionSecret:
        """The connection's secret (cached up to ``max_age`` seconds unless ``force_fetch``)."""
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        name = self.secret_name(connection_id)
        try:
            value = self.provider.get(name, max_age=self.max_age, force_fetch=force_fetch)
        except GetParameterError as exc:
            code = _client_error_code(exc)
            if code == "ResourceNotFoundException" or "ResourceNotFoundException" in str(exc):
                raise ConnectionSecretNotFoundError(connection_id) from None
            if code == "InvalidRequestException" or "marked for deletion" in str(exc):
                raise ConnectionSecretNotFoundError(connection_id) from None
            raise
        if not isinstance(value, str | bytes):
            raise TypeError(f"secret {name!r} does not hold a JSON string")
        return ConnectionSecret.from_storage_json(value)

    def put(self, connection_id: str, secret: ConnectionSecret, *, tenant_id: str | None = None) -> None:
        """Create the secret (tagged with its owner ``tenant_id``), or store a new version of it."""
        name = self.secret_name(connection_id)
        payload = secret.to_storage_json()
        try:
            self.client.put_secret_value(SecretId=name, SecretString=payload)
        except ClientError as exc:
            code = _client_error_code(exc)
            if code == "ResourceNotFoundException":
                self._create(name, connection_id, payload, tenant_id)
            elif code == "InvalidRequestException":
                # Scheduled for deletion (deleted with a recovery window): bring it back, then write.
                self.client.restore_secret(SecretId=name)
                self.client.put_secret_value(SecretId=name, SecretString=payload)
            else:
                raise
        self._forget_cached()
        logger.info("Stored credentials of connection %s (version %d)", connection_id, secret.token_version)

    def _create(self, name: str, connection_id: str, payload: str, tenant_id: str | None) -> None:
        tags = [{"Key": "sfconnector:connection_id", "Value": connection_id}]
        if tenant_id is not None:
            # What the tenant-access role's policy compares with the session's tenant tag.
            tags.append({"Key": TENANT_TAG, "Value": tenant_id})
        options: dict[str, Any] = {
            "Name": name,
            "SecretString": payload,
            "Description": f"Salesforce connection {connection_id}: OAuth tokens and Connected App secret",
            "Tags": tags,
        }
        if self._kms_key_id:
            options["KmsKeyId"] = self._kms_key_id
        try:
            self.client.create_secret(**options)
        except ClientError as exc:
            if _client_error_code(exc) != "ResourceExistsException":
                raise
            # Created concurrently between our put and create: write our version on top.
            self.client.put_secret_value(SecretId=name, SecretString=payload)

    def tag_tenant(self, connection_id: str, tenant_id: str) -> None:
        """Tag an existing secret with its owner (adopting a connection from before tenancy)."""
        try:
            self.client.tag_resource(
                SecretId=self.secret_name(connection_id), Tags=[{"Key": TENANT_TAG, "Value": tenant_id}]
            )
        except ClientError as exc:
            if _client_error_code(exc) == "ResourceNotFoundException":
                raise ConnectionSecretNotFoundError(connection_id) from None
            raise

    def delete(self, connection_id: str) -> None:
        """Delete the secret at once, without a recovery window. Idempotent: with forced deletion
        Secrets Manager does not report a missing secret, and neither does this method."""
        name = self.secret_name(connection_id)
        try:
            self.client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if _client_error_code(exc) != "ResourceNotFoundException":
                raise
        finally:
            self._forget_cached()

    def _forget_cached(self) -> None:
        if self._provider is not None:
            self._provider.clear_cache()  # type: ignore[no-untyped-call]
