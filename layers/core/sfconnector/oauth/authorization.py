"""Authorisation of connections: start the OAuth web-server flow (with PKCE) for a new connection,
finish it in the callback. Re-authorising an existing connection starts here too
(:meth:`AuthorizationService.begin`); refreshing tokens is :mod:`sfconnector.oauth.provider`.

The handler (:mod:`sfconnector.api.connections`) only parses HTTP and calls one method here. Secrets
go to Secrets Manager only (client secret from the start, tokens after the callback); DynamoDB holds
metadata, the one-time state and the PKCE verifier (until the callback).
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from sfconnector.errors import ConnectionNotFoundError, InvalidRequestFieldError, UntrustedConnectionHostError
from sfconnector.oauth.flow import Identity, SalesforceOAuth, TokenResponse, authorize_url
from sfconnector.oauth.hosts import (
    DEFAULT_SALESFORCE_DOMAINS,
    InvalidEnvironmentError,
    LoginHosts,
    UntrustedHostError,
)
from sfconnector.oauth.pages import CallbackPage
from sfconnector.oauth.pkce import PkcePair, new_state
from sfconnector.oauth.provider import issued_at_from
from sfconnector.salesforce.errors import OAuthError, SalesforceError, SalesforceTransportError
from sfconnector.stores.connections import (
    ConnectionRecord,
    ConnectionRepository,
    ConnectionStatus,
    Environment,
)
from sfconnector.stores.oauth_state import (
    OAuthStateStore,
    PendingAuthorization,
    StateExpiredError,
    StateNotFoundError,
)
from sfconnector.stores.tokens import ConnectionSecret, ConnectionSecretNotFoundError, SecretsTokenStore

__all__ = [
    "ENVIRONMENT_SCHEMA",
    "MY_DOMAIN_PATTERN",
    "AuthorizationService",
    "CallbackParams",
    "ConnectionBasics",
    "CreateConnectionRequest",
    "ReauthorizeRequest",
    "StartedAuthorization",
    "normalise_url",
]

logger = logging.getLogger(__name__)

_SCOPE_RE = re.compile(r"^[a-z_]+( [a-z_]+)*$")


# ------------------------------------------------------------------------------------------ models


def _normalise_scope(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    normalised = " ".join(value.split())
    if not _SCOPE_RE.match(normalised):
        raise ValueError("scopes are lowercase names separated by spaces, e.g. 'api refresh_token'")
    return normalised


# What the validators take, for the OpenAPI document (documented only: the validators keep their
# messages). The loopback http redirect of local development is left out: it depends on settings.
_SCOPE_SCHEMA: dict[str, Any] = {"pattern": r"^ *(?:[a-z_]+(?: +[a-z_]+)*)? *$"}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?"
# My Domains on Salesforce's own domains (a deployment's SALESFORCE_EXTRA_DOMAINS add more).
_SALESFORCE_DOMAIN = "(?:" + "|".join(d.replace(".", r"\.") for d in DEFAULT_SALESFORCE_DOMAINS) + ")"
MY_DOMAIN_PATTERN = rf"https://(?:{_LABEL}\.){{0,5}}{_SALESFORCE_DOMAIN}(?::443)?/?"
ENVIRONMENT_SCHEMA: dict[str, Any] = {"pattern": rf"^(?:production|sandbox|{MY_DOMAIN_PATTERN})$"}
_REDIRECT_SCHEMA: dict[str, Any] = {
    "pattern": r"^(?:https://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,4})?(?:[/?][^#\s]*)?)?$"
}


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _at_most_max_length(cls, value: Any, info: ValidationInfo) -> Any:
        """A value's maximum length is of the value as sent (pydantic would strip it first), as
        the OpenAPI document says: 600 spaces are not a 500-character scope."""
        field = cls.model_fields.get(info.field_name or "")
        limits = [getattr(m, "max_length", None) for m in (field.metadata if field else [])]
        limit = next((n for n in limits if isinstance(n, int)), None)
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if limit is not None and isinstance(raw, str) and len(raw) > limit:
            raise PydanticCustomError(
                "string_too_long", "String should have at most {max_length} characters", {"max_length": limit}
            )
        return value


class ConnectionBasics(_Input):
    """What every new connection names, whatever its flow."""

    name: str = Field(min_length=1, max_length=200, description="A label for this connection.")
    environment: str = Field(
        "production",
        min_length=1,
        max_length=300,
        description="'production', 'sandbox', or the org's My Domain URL "
        "(https://yourcompany.my.salesforce.com).",
        examples=["production", "sandbox", "https://acme.my.salesforce.com"],
        json_schema_extra=ENVIRONMENT_SCHEMA,
    )
    client_id: str = Field(min_length=1, max_length=255, description="The Connected App's Consumer Key.")


class CreateConnectionRequest(ConnectionBasics):
    """Start connecting a Salesforce org through a person's consent (the OAuth 2.0 web-server flow
    with PKCE): returns the URL to send the user to."""

    flow: Literal["web_server"] = Field(
        "web_server", description="The OAuth 2.0 web-server flow (the default: a person consents)."
    )
    client_secret: SecretStr = Field(
        min_length=1, max_length=255, description="The Connected App's Consumer Secret (never returned)."
    )
    redirect_uri: str | None = Field(
        None,
        max_length=2000,
        description="The callback URL registered on the Connected App (default: this deployment's "
        "/oauth/callback).",
        json_schema_extra=_REDIRECT_SCHEMA,
    )
    scope: str | None = Field(
        None,
        max_length=500,
        description="OAuth scopes to request, space separated (default: the Connected App's own).",
        examples=["api refresh_token offline_access id"],
        json_schema_extra=_SCOPE_SCHEMA,
    )

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str | None) -> str | None:
        return _normalise_scope(value)

    @field_validator("flow", mode="before")
    @classmethod
    def _known_flow(cls, value: Any) -> Any:
        if value != "web_server":
            raise PydanticCustomError(
                "unknown_flow", "must be one of 'web_server', 'jwt_bearer', 'client_credentials'"
            )
        return value


class ReauthorizeRequest(_Input):
    """Authorise an existing connection again (after ``needs_reauth``, or to switch user)."""

    redirect_uri: str | None = Field(None, max_length=2000, json_schema_extra=_REDIRECT_SCHEMA)
    scope: str | None = Field(None, max_length=500, json_schema_extra=_SCOPE_SCHEMA)
    client_secret: SecretStr | None = Field(
        None, min_length=1, max_length=255, description="A new Consumer Secret, if it was rotated."
    )

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str | None) -> str | None:
        return _normalise_scope(value)


class StartedAuthorization(BaseModel):
    connection_id: str
    status: ConnectionStatus
    authorize_url: str
    redirect_uri: str
    environment: Environment
    login_url: str
    state_expires_at: datetime


# ------------------------------------------------------------------------------------------ helpers


def normalise_url(url: str) -> str:
    """Scheme and host lowercased, default port and trailing slash dropped: for comparing URLs."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and not ((scheme == "https" and port == 443) or (scheme == "http" and port == 80)):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}{path}{query}"


def _validate_redirect_uri(value: str, *, allow_loopback_http: bool) -> str:
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if parts.fragment or not host or parts.username or parts.password:
        raise InvalidRequestFieldError(
            "redirect_uri", "must be an absolute URL without fragment or user info"
        )
    if parts.scheme == "https":
        return value
    loopback = host in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme == "http" and loopback and allow_loopback_http:
        return value
    raise InvalidRequestFieldError("redirect_uri", "must be an https URL")


@dataclass(frozen=True)
class CallbackParams:
    state: str | None
    code: str | None
    error: str | None
    error_description: str | None


# ------------------------------------------------------------------------------------------ service


class AuthorizationService:
    """Connect and callback over the stores and Salesforce's OAuth endpoints."""

    def __init__(
        self,
        *,
        hosts: LoginHosts,
        store: SecretsTokenStore,
        connections: ConnectionRepository,
        states: OAuthStateStore,
        http: httpx.Client,
        id_factory: Callable[[], str] = lambda: uuid.uuid4().hex,
        on_connected: Callable[[str], None] | None = None,
    ) -> None:
        self._hosts = hosts
        self._store = store
        self._connections = connections
        self._states = states
        self._oauth = SalesforceOAuth(http, hosts=hosts.policy)
        self._new_id = id_factory
        self._on_connected = on_connected
        """Called after an authorisation completed (resumes the polling of a re-authorised
        connection); must not raise: the user's connection is made either way."""

    @property
    def hosts(self) -> LoginHosts:
        return self._hosts

    # ---- start -----------------------------------------------------------------------------------

    def create(
        self, request: CreateConnectionRequest, *, tenant_id: str, default_redirect_uri: str | None
    ) -> StartedAuthorization:
        """A new pending connection owned by ``tenant_id`` (the authenticated caller's tenant)."""
        try:
            kind, login_url = self._hosts.resolve(request.environment)
        except InvalidEnvironmentError as exc:
            raise InvalidRequestFieldError("environment", str(exc)) from None
        redirect_uri = self.redirect_uri(request.redirect_uri, default_redirect_uri)
        connection_id = self._new_id()
        # The client secret is stored before anything else: the metadata never holds it.
        self._store.put(
            connection_id,
            ConnectionSecret(
                client_id=request.client_id, client_secret=request.client_secret, login_url=login_url
            ),
            tenant_id=tenant_id,
        )
        record = self._connections.create(
            ConnectionRecord(
                connection_id=connection_id,
                name=request.name,
                status="pending",
                environment=kind,
                login_url=login_url,
                redirect_uri=redirect_uri,
                client_id=request.client_id,
                tenant_id=tenant_id,
            )
        )
        logger.info("Connection %s created (%s, %s); awaiting authorisation", connection_id, kind, login_url)
        return self.begin(record, redirect_uri=redirect_uri, scope=request.scope)

    def redirect_uri(self, given: str | None, default: str | None) -> str:
        value = given or default
        if not value:
            raise InvalidRequestFieldError(
                "redirect_uri", "required: this deployment's callback URL is not known"
            )
        return _validate_redirect_uri(
            value, allow_loopback_http=self._hosts.allow_insecure_loopback or not given
        )

    def begin(
        self, record: ConnectionRecord, *, redirect_uri: str, scope: str | None
    ) -> StartedAuthorization:
        try:
            # A login URL stored before hosts were checked is refused here too: the user's
            # browser would carry the consent (and the code) to it.
            self._hosts.policy.check(record.login_url, what="the connection's login URL")
        except UntrustedHostError as exc:
            raise UntrustedConnectionHostError(record.connection_id, str(exc)) from None
        pkce = PkcePair.generate()
        state = new_state()
        pending = self._states.put(
            state=state,
            connection_id=record.connection_id,
            code_verifier=pkce.verifier,
            redirect_uri=redirect_uri,
        )
        client_id = record.client_id or self._store.get(record.connection_id).client_id
        url = authorize_url(
            record.login_url,
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=pkce.challenge,
            scope=scope,
            # Re-authorising must show the login again, so the user can pick the right account.
            prompt="login consent" if record.status != "pending" else None,
        )
        return StartedAuthorization(
            connection_id=record.connection_id,
            status=record.status,
            authorize_url=url,
            redirect_uri=redirect_uri,
            environment=record.environment,
            login_url=record.login_url,
            state_expires_at=datetime.fromtimestamp(pending.expires_at, tz=UTC),
        )

    # ---- callback --------------------------------------------------------------------------------

    def complete(self, params: CallbackParams, *, callback_url: str | None) -> CallbackPage:
        if not params.state:
            return _fail(
                400,
                "missing_state",
                "This page was opened without an authorisation state.",
                "Start the connection again from your workflow platform.",
            )
        try:
            pending = self._states.consume(params.state)
        except StateNotFoundError:
            logger.warning("OAuth callback with an unknown or already used state")
            return _fail(
                400,
                "state_invalid",
                "This authorisation link was already used or is unknown.",
                "Each authorisation link works once. Start the connection again to get a new one.",
            )
        except StateExpiredError as exc:
            logger.warning("OAuth callback for connection %s with an expired state", exc.connection_id)
            self._note(exc.connection_id, "authorisation link expired")
            return _fail(
                400,
                "state_expired",
                "This authorisation link has expired.",
                "Start the connection again and finish the Salesforce login within a few minutes.",
                connection_id=exc.connection_id,
            )
        cid = pending.connection_id
        record = self._connections.get(cid)
        if record is None:
            logger.warning("OAuth callback for connection %s, which no longer exists", cid)
            return _fail(
                404,
                "connection_deleted",
                "This connection no longer exists.",
                "It was deleted while the authorisation was in progress.",
            )
        if callback_url is not None and normalise_url(callback_url) != normalise_url(pending.redirect_uri):
            logger.warning("Connection %s: callback reached at a URL other than its redirect URI", cid)
            self._note(cid, "callback reached at a URL other than the connection's redirect URI")
            return _fail(
                400,
                "redirect_mismatch",
                "This callback address does not match the redirect URI registered for the connection.",
                "Use the redirect URI shown when the connection was created, and register exactly "
                "that URL as the Connected App's callback URL.",
                connection_id=cid,
            )
        if params.error:
            return self._consent_error(record, params)
        if not params.code:
            self._note(cid, "callback without an authorization code")
            return _fail(
                400,
                "missing_code",
                "Salesforce did not send an authorization code.",
                "Start the connection again.",
                connection_id=cid,
            )
        return self._finish(record, pending, params.code)

    def _consent_error(self, record: ConnectionRecord, params: CallbackParams) -> CallbackPage:
        error = (params.error or "")[:100]
        description = (params.error_description or "")[:300]
        self._note(record.connection_id, f"{error}: {description}" if description else error)
        logger.warning("Connection %s: authorisation refused by Salesforce (%s)", record.connection_id, error)
        if error == "access_denied":
            return _fail(
                403,
                "access_denied",
                "Access was denied, so the connection was not made.",
                "If this was a mistake, start the connection again and choose Allow.",
                connection_id=record.connection_id,
            )
        detail = f"Salesforce reported {error}" + (f": {description}" if description else "") + "."
        return _fail(
            400,
            "authorization_error",
            detail,
            "Check the Connected App (callback URL, OAuth scopes, permitted users) and try again.",
            connection_id=record.connection_id,
        )

    def _finish(self, record: ConnectionRecord, pending: PendingAuthorization, code: str) -> CallbackPage:
        cid = record.connection_id
        try:
            secret = self._store.get(cid, force_fetch=True)
        except ConnectionSecretNotFoundError:
            return _fail(
                404,
                "connection_deleted",
                "This connection no longer exists.",
                "It was deleted while the authorisation was in progress.",
            )
        try:
            tokens = self._oauth.exchange_code(
                record.login_url,
                code=code,
                client_id=secret.client_id,
                client_secret=(secret.pending_client_secret or secret.client_secret).get_secret_value(),
                redirect_uri=pending.redirect_uri,
                code_verifier=pending.code_verifier.get_secret_value(),
            )
        except UntrustedHostError as exc:
            # Nothing is stored and nothing more is sent: the answer named a host that is not
            # Salesforce's (or the stored login URL is not one).
            logger.warning("Connection %s: refused a host that is not Salesforce's (%s)", cid, exc)
            self._note(cid, f"refused: {exc}")
            return _fail(
                502,
                "untrusted_host",
                f"The connection was refused: {exc}.",
                "Connect with your org's Salesforce login host (production, sandbox or its "
                "https://<name>.my.salesforce.com My Domain).",
                connection_id=cid,
            )
        except SalesforceTransportError:
            logger.warning("Connection %s: login host unreachable during the code exchange", cid)
            return _fail(
                502,
                "token_error",
                "Salesforce could not be reached to finish the connection.",
                "Try again in a moment.",
                connection_id=cid,
            )
        except OAuthError as exc:
            logger.warning("Connection %s: code exchange refused (%s)", cid, exc.error_code)
            self._note(cid, f"token exchange failed: {exc.error_code}")
            return _fail(
                400,
                "token_error",
                f"Salesforce refused the token request ({exc.error_code}: {exc.message}).",
                "Check the Connected App's consumer key, secret and callback URL, "
                "then start the connection again.",
                connection_id=cid,
            )
        if tokens.refresh_token is None:
            self._revoke_quietly(record.login_url, tokens.access_token.get_secret_value())
            self._note(cid, "Salesforce issued no refresh token")
            return _fail(
                400,
                "no_refresh_token",
                "Salesforce issued no refresh token, so the connection "
                "would stop working when the session expires.",
                "Add the scope 'Perform requests at any time (refresh_token, offline_access)' "
                "to the Connected App and connect again.",
                connection_id=cid,
            )
        identity = self._identity(tokens)
        if identity is None:
            self._revoke_quietly(record.login_url, tokens.refresh_token.get_secret_value())
            self._note(cid, "identity of the authorised user could not be read")
            return _fail(
                502,
                "identity_error",
                "The authorised user's identity could not be read.",
                "Try again; if it persists, add the 'id' scope to the Connected App.",
                connection_id=cid,
            )
        if record.org_id and identity.organization_id != record.org_id:
            self._revoke_quietly(record.login_url, tokens.refresh_token.get_secret_value())
            logger.warning("Connection %s: re-authorised against another org; rejected", cid)
            self._note(cid, "re-authorised against a different org")
            return _fail(
                409,
                "org_mismatch",
                "You signed in to a different Salesforce org than this connection's.",
                f"Sign in to org {record.org_id}, or create a new connection for the other org.",
                connection_id=cid,
            )
        previous_refresh = secret.refresh_token
        if secret.pending_client_secret is not None:
            # The staged secret just worked: it becomes the connection's secret.
            secret = secret.model_copy(
                update={"client_secret": secret.pending_client_secret, "pending_client_secret": None}
            )
        self._store.put(
            cid,
            secret.with_tokens(
                access_token=tokens.access_token.get_secret_value(),
                instance_url=tokens.instance_url,
                refresh_token=tokens.refresh_token.get_secret_value(),
                issued_at=issued_at_from(tokens),
            ),
        )
        if previous_refresh is not None and previous_refresh != tokens.refresh_token:
            # Re-authorised: the old grant is replaced, so it should not stay valid at Salesforce.
            self._revoke_quietly(record.login_url, previous_refresh.get_secret_value())
        try:
            updated = self._connections.update(
                cid,
                status="connected",
                status_reason=None,
                org_id=identity.organization_id,
                user_id=identity.user_id,
                username=identity.username,
                instance_url=tokens.instance_url.rstrip("/"),
            )
        except ConnectionNotFoundError:
            # Deleted while the user was consenting: leave no secret or live grant behind.
            self._store.delete(cid)
            self._revoke_quietly(record.login_url, tokens.refresh_token.get_secret_value())
            return _fail(
                404,
                "connection_deleted",
                "This connection no longer exists.",
                "It was deleted while the authorisation was in progress.",
            )
        logger.info(
            "Connection %s connected (org %s, user %s)", cid, identity.organization_id, identity.user_id
        )
        if self._on_connected is not None:
            self._on_connected(cid)
        details = [("Connection", updated.name), ("Org ID", identity.organization_id)]
        if identity.username:
            details.append(("User", identity.username))
        details.append(("Instance", tokens.instance_url))
        return CallbackPage(
            ok=True,
            status_code=200,
            title="Salesforce connected",
            message="The connection is ready. You can close this window.",
            reason="connected",
            details=details,
            connection_id=cid,
        )

    def _identity(self, tokens: TokenResponse) -> Identity | None:
        if tokens.id:
            try:
                return self._oauth.identity(tokens.id, tokens.access_token.get_secret_value())
            except (SalesforceError, UntrustedHostError) as exc:
                logger.warning("Identity URL unavailable (%s); using the ids from it", type(exc).__name__)
            return Identity.from_id_url(tokens.id)
        return None

    def _revoke_quietly(self, login_url: str, token: str) -> None:
        try:
            self._oauth.revoke(login_url, token)
        except SalesforceError as exc:
            logger.warning("Token revocation failed (%s)", exc.error_code)
        except UntrustedHostError:
            logger.warning("Token revocation skipped: the login URL is not a Salesforce host")

    def _note(self, connection_id: str, reason: str) -> None:
        """Remember why the last authorisation attempt failed (shown by GET /connections/{id})."""
        with contextlib.suppress(ConnectionNotFoundError):
            self._connections.update(connection_id, status_reason=reason[:300])


def _fail(
    status: int, reason: str, message: str, hint: str, *, connection_id: str | None = None
) -> CallbackPage:
    return CallbackPage(
        ok=False,
        status_code=status,
        title="Salesforce connection failed",
        message=message,
        reason=reason,
        hint=hint,
        connection_id=connection_id,
    )
