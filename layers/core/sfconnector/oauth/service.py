"""Connection administration: list, inspect, re-authorise and delete connections, and describe an
org's objects for mapping UIs. Authorising (connect, callback) is
:mod:`sfconnector.oauth.authorization`.

The handler (:mod:`sfconnector.api.connections`) only parses HTTP and calls one method here.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, Field

from sfconnector.errors import ConnectionNotFoundError, ConnectionPendingError, InvalidRequestFieldError
from sfconnector.models.tenancy import Caller, valid_tenant_id
from sfconnector.oauth.authorization import AuthorizationService, ReauthorizeRequest, StartedAuthorization
from sfconnector.oauth.flow import SalesforceOAuth
from sfconnector.oauth.hosts import UntrustedHostError
from sfconnector.salesforce.client import SalesforceClient
from sfconnector.salesforce.describe import FieldInfo as DescribedField
from sfconnector.salesforce.errors import SalesforceError
from sfconnector.stores.connections import (
    ApiUsageRecorder,
    ConnectionOwners,
    ConnectionRecord,
    ConnectionRepository,
    ConnectionStatus,
    Environment,
)
from sfconnector.stores.tokens import (
    ConnectionFlow,
    ConnectionSecret,
    ConnectionSecretNotFoundError,
    SecretsTokenStore,
    validate_connection_id,
)

__all__ = [
    "ConnectionService",
    "ConnectionView",
    "DeletedConnection",
    "ObjectFields",
]

logger = logging.getLogger(__name__)

_SOBJECT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,119}$")


# ------------------------------------------------------------------------------------------ models


class ApiUsage(BaseModel):
    used: int
    max: int
    remaining: int
    as_of: datetime | None = None


class ConnectionView(BaseModel):
    """What ``GET /connections[/{id}]`` shows (never a token or secret)."""

    connection_id: str
    name: str
    status: ConnectionStatus
    status_reason: str | None = None
    flow: ConnectionFlow = "web_server"
    """``web_server`` (a person authorised it), ``jwt_bearer`` or ``client_credentials``."""
    environment: Environment
    login_url: str
    instance_url: str | None = None
    org_id: str | None = None
    user_id: str | None = None
    username: str | None = None
    client_id: str | None = None
    redirect_uri: str | None = None
    api_usage: ApiUsage | None = None
    tenant_id: str | None = None
    """The owner tenant (None: created before tenancy)."""
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: ConnectionRecord) -> ConnectionView:
        usage = None
        if record.api_usage is not None:
            usage = ApiUsage(
                used=record.api_usage.used,
                max=record.api_usage.max,
                remaining=record.api_usage.remaining,
                as_of=record.api_usage_at,
            )
        return cls(
            connection_id=record.connection_id,
            name=record.name,
            status=record.status,
            status_reason=record.status_reason,
            flow=record.flow,
            environment=record.environment,
            login_url=record.login_url,
            instance_url=record.instance_url,
            org_id=record.org_id,
            user_id=record.user_id,
            username=record.username,
            client_id=record.client_id,
            redirect_uri=record.redirect_uri,
            api_usage=usage,
            tenant_id=record.tenant_id,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class DeletedConnection(BaseModel):
    connection_id: str
    deleted: bool = True
    revoked: bool
    """True when Salesforce revoked the refresh token (False: there was none, or it was already dead)."""
    revoke_error: str | None = None
    items_deleted: int


class PicklistValue(BaseModel):
    value: str
    label: str | None = None
    active: bool = True
    default: bool = False


class FieldInfo(BaseModel):
    name: str
    label: str
    type: str
    required: bool
    """Must be given on create: not nillable, createable, and no default on create."""
    createable: bool
    updateable: bool
    nillable: bool
    external_id: bool
    unique: bool
    id_lookup: bool
    custom: bool
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    reference_to: list[str] = Field(default_factory=list)
    relationship_name: str | None = None
    picklist_values: list[PicklistValue] = Field(default_factory=list)


class ObjectFields(BaseModel):
    connection_id: str
    sobject: str
    label: str
    fields: list[FieldInfo]


# ------------------------------------------------------------------------------------------ helpers


def _field_info(raw: dict[str, Any]) -> FieldInfo:
    """The mapping UI's view of one describe field (parsed by the one describe-field model)."""
    field = DescribedField.from_describe(raw)
    return FieldInfo(
        name=field.name,
        label=field.label,
        type=field.type,
        required=field.required_on_create and field.type != "boolean",
        createable=field.createable,
        updateable=field.updateable,
        nillable=field.nillable,
        external_id=field.external_id,
        unique=field.unique,
        id_lookup=field.id_lookup,
        custom=field.custom,
        length=field.length or None,
        precision=field.precision or None,
        scale=field.scale if field.precision else None,
        reference_to=list(field.reference_to),
        relationship_name=field.relationship_name,
        picklist_values=[
            PicklistValue(value=p.value, label=p.label, active=p.active, default=p.default)
            for p in field.picklist
        ],
    )


# ------------------------------------------------------------------------------------------ service


class ConnectionService:
    """Connection administration over the stores, the OAuth endpoints (revocation) and the
    Salesforce client (describes)."""

    def __init__(
        self,
        *,
        authorization: AuthorizationService,
        store: SecretsTokenStore,
        connections: ConnectionRepository,
        http: httpx.Client,
        client_factory: Callable[[str], SalesforceClient],
        usage: ApiUsageRecorder,
        owners: ConnectionOwners,
        on_deleting: Callable[[str], object] | None = None,
    ) -> None:
        self._authorization = authorization
        self._store = store
        self._connections = connections
        self._oauth = SalesforceOAuth(http, hosts=authorization.hosts.policy)
        self._client_for = client_factory
        """The Salesforce client of a connection (its token provider refreshes under the lock)."""
        self._usage = usage
        self._owners = owners
        """The throttled API usage recorder the actions use."""
        self._on_deleting = on_deleting
        """Called before a connection's data is deleted (deletes its poll schedule); raising stops
        the deletion, so a retry finds everything still there."""

    def _require(self, connection_id: str) -> ConnectionRecord:
        """The connection's metadata; an id that could never exist is simply not found."""
        try:
            validate_connection_id(connection_id)
        except ValueError:
            raise ConnectionNotFoundError(connection_id[:64]) from None
        return self._connections.require(connection_id)

    # ---- read ------------------------------------------------------------------------------------

    def list(self, caller: Caller) -> list[ConnectionView]:
        """The caller's connections (every tenant's for the admin principal)."""
        return [ConnectionView.of(r) for r in self._owners.visible(self._connections.list(), caller)]

    def get(self, connection_id: str) -> ConnectionView:
        return ConnectionView.of(self._require(connection_id))

    # ---- tenancy migration -----------------------------------------------------------------------

    def adopt_unowned(self, tenant_id: str) -> tuple[str, ...]:
        """Give every connection from before tenancy the owner ``tenant_id``: its secret's tenant tag
        first (what the tenant-access role checks), then its record. Idempotent; returns the ids."""
        if not valid_tenant_id(tenant_id):
            raise InvalidRequestFieldError("tenant_id", "letters, digits, spaces and _.:/=+-@ (256 at most)")
        unowned = [r for r in self._connections.list() if r.tenant_id is None]
        for record in unowned:
            # A connection whose secret is gone still gets an owner (and answers 404 later).
            with contextlib.suppress(ConnectionSecretNotFoundError):
                self._store.tag_tenant(record.connection_id, tenant_id)
            self._connections.update(record.connection_id, tenant_id=tenant_id)
            logger.info("Connection %s adopted by tenant %s", record.connection_id, tenant_id)
        return tuple(r.connection_id for r in unowned)

    # ---- delete ----------------------------------------------------------------------------------

    def delete(self, connection_id: str) -> DeletedConnection:
        record = self._require(connection_id)
        if self._on_deleting is not None:
            self._on_deleting(connection_id)
        revoked, revoke_error = False, None
        try:
            secret: ConnectionSecret | None = self._store.get(connection_id, force_fetch=True)
        except ConnectionSecretNotFoundError:
            secret = None
        # Revoking the refresh token also kills every access token issued from it; a server-to-server
        # connection has none, so its current session is revoked instead.
        grant = (secret.access_token if secret.server_to_server else secret.refresh_token) if secret else None
        if grant is not None:
            try:
                revoked = self._oauth.revoke(record.login_url, grant.get_secret_value())
            except UntrustedHostError as exc:
                revoke_error = f"not revoked: {exc}"[:300]
            except SalesforceError as exc:
                revoke_error = f"{exc.error_code}: {exc.message}"[:300]
                logger.warning(
                    "Connection %s: refresh token revocation failed (%s)", connection_id, exc.error_code
                )
        self._store.delete(connection_id)
        count = self._connections.delete_all(connection_id)
        logger.info("Connection %s deleted (revoked=%s, %d items)", connection_id, revoked, count)
        return DeletedConnection(
            connection_id=connection_id, revoked=revoked, revoke_error=revoke_error, items_deleted=count
        )

    # ---- re-authorise ----------------------------------------------------------------------------

    def reauthorize(
        self, connection_id: str, request: ReauthorizeRequest, *, default_redirect_uri: str | None
    ) -> StartedAuthorization:
        record = self._require(connection_id)
        redirect_uri = self._authorization.redirect_uri(
            request.redirect_uri, record.redirect_uri or default_redirect_uri
        )
        secret = self._store.get(connection_id, force_fetch=True)
        if request.client_secret is not None or secret.pending_client_secret is not None:
            # Staged, not applied: the working secret stays until this authorisation completes.
            # Each re-authorisation decides anew (none given: an earlier staged one is dropped).
            self._store.put(
                connection_id, secret.model_copy(update={"pending_client_secret": request.client_secret})
            )
        if redirect_uri != record.redirect_uri:
            record = self._connections.update(connection_id, redirect_uri=redirect_uri)
        logger.info("Connection %s: re-authorisation started (status %s)", connection_id, record.status)
        return self._authorization.begin(record, redirect_uri=redirect_uri, scope=request.scope)

    # ---- describe --------------------------------------------------------------------------------

    def fields(self, connection_id: str, sobject: str) -> ObjectFields:
        if not _SOBJECT_RE.match(sobject):
            raise InvalidRequestFieldError(
                "sobject", "must be an sObject API name such as Account or Invoice__c"
            )
        record = self._require(connection_id)
        if record.status == "pending":
            raise ConnectionPendingError(connection_id)
        # Describes are cached per connection: field-level security differs between users.
        client = self._client_for(connection_id)
        calls_before = client.api_calls
        describe = client.describe(sobject)
        if client.api_calls > calls_before:
            self._usage.record(connection_id, client.limit_info)
        fields = [_field_info(f) for f in describe.get("fields") or [] if isinstance(f, dict)]
        return ObjectFields(
            connection_id=connection_id,
            sobject=str(describe.get("name") or sobject),
            label=str(describe.get("label") or sobject),
            fields=fields,
        )
