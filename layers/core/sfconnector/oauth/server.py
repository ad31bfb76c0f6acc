"""Server-to-server connections: the OAuth 2.0 JWT bearer flow and the client credentials flow.

No person and no browser: ``POST /connections`` with ``flow: "jwt_bearer"`` (the Connected App's
consumer key, the user, and the private key of the certificate uploaded to the app) or
``flow: "client_credentials"`` (the org's My Domain, the app's key and secret; the app's *Run As*
user is configured in the org) runs the grant at once and answers the connection, ``connected``.
There is no refresh token: when a token expires, the token provider
(:mod:`sfconnector.oauth.provider`) runs the same grant again, under the same refresh lock.

Nothing is stored unless the grant and the identity succeeded: a refused grant answers a 422
naming the field at fault (:class:`~sfconnector.errors.GrantRefusedError`, with Salesforce's
``error`` and ``error_description``), and leaves no secret and no record behind. The private key
and the client secret go to the connection's secret in Secrets Manager only.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import httpx
from pydantic import Discriminator, Field, SecretStr, Tag

from sfconnector.errors import GrantRefusedError, InvalidPrivateKeyError, InvalidRequestFieldError
from sfconnector.oauth.assertion import PrivateKeyError, jwt_assertion, load_private_key
from sfconnector.oauth.authorization import MY_DOMAIN_PATTERN, ConnectionBasics, CreateConnectionRequest
from sfconnector.oauth.flow import Identity, SalesforceOAuth, TokenResponse
from sfconnector.oauth.hosts import InvalidEnvironmentError, LoginHosts, UntrustedHostError
from sfconnector.oauth.provider import issued_at_from
from sfconnector.oauth.service import ConnectionView
from sfconnector.salesforce.errors import OAuthError, SalesforceError, SalesforceErrorItem
from sfconnector.stores.connections import ConnectionRecord, ConnectionRepository
from sfconnector.stores.tokens import ConnectionSecret, SecretsTokenStore

__all__ = [
    "ClientCredentialsConnectionRequest",
    "JwtBearerConnectionRequest",
    "NewConnectionRequest",
    "ServerConnections",
    "run_grant",
]

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ models


class JwtBearerConnectionRequest(ConnectionBasics):
    """Connect a Salesforce user without a browser: the OAuth 2.0 JWT bearer flow."""

    flow: Literal["jwt_bearer"] = Field(description="The OAuth 2.0 JWT bearer flow.")
    username: str = Field(
        min_length=1,
        max_length=80,
        description="The Salesforce username the connection runs as (pre-authorised for the app).",
        examples=["integration@acme.com"],
    )
    private_key: SecretStr = Field(
        min_length=1,
        max_length=20000,
        description="The PEM RSA private key (2048 bits or more, unencrypted) of the certificate "
        "uploaded to the Connected App (Use digital signatures). Stored in Secrets Manager only, "
        "never returned.",
    )


class ClientCredentialsConnectionRequest(ConnectionBasics):
    """Connect an org's integration user without a browser: the OAuth 2.0 client credentials flow
    (the Connected App's *Run As* user, configured in the org)."""

    flow: Literal["client_credentials"] = Field(description="The OAuth 2.0 client credentials flow.")
    environment: str = Field(
        min_length=1,
        max_length=300,
        description="The org's My Domain URL (https://yourcompany.my.salesforce.com): Salesforce "
        "serves this flow only there.",
        examples=["https://acme.my.salesforce.com"],
        json_schema_extra={"pattern": f"^{MY_DOMAIN_PATTERN}$"},
    )
    client_secret: SecretStr = Field(
        min_length=1, max_length=255, description="The Connected App's Consumer Secret (never returned)."
    )


def _flow_of(value: Any) -> str:
    flow = value.get("flow") if isinstance(value, dict) else getattr(value, "flow", None)
    # Anything else (none given: the web-server flow, as before flows existed) is the web-server
    # request's to judge, so an unknown flow is reported on the field ``flow``.
    return flow if flow in ("jwt_bearer", "client_credentials") else "web_server"


NewConnectionRequest = Annotated[
    Annotated[CreateConnectionRequest, Tag("web_server")]
    | Annotated[JwtBearerConnectionRequest, Tag("jwt_bearer")]
    | Annotated[ClientCredentialsConnectionRequest, Tag("client_credentials")],
    Discriminator(_flow_of),
]
"""``POST /connections``'s body: one of the three flows, told apart by ``flow``."""


# ------------------------------------------------------------------------------------------ grants


def run_grant(oauth: SalesforceOAuth, secret: ConnectionSecret, *, now: float | None = None) -> TokenResponse:
    """A token for a server-to-server connection: a new signed assertion, or the key and secret."""
    if secret.flow == "jwt_bearer":
        assert secret.private_key is not None
        assert secret.username
        assert secret.audience
        assertion = jwt_assertion(
            secret.private_key.get_secret_value(),
            client_id=secret.client_id,
            username=secret.username,
            audience=secret.audience,
            now=time.time() if now is None else now,
        )
        return oauth.jwt_bearer(secret.login_url, assertion=assertion)
    return oauth.client_credentials(
        secret.login_url, client_id=secret.client_id, client_secret=secret.client_secret.get_secret_value()
    )


# (Salesforce's error_description, the field at fault, what to change). Descriptions as Salesforce
# words them; see docs/connecting-salesforce.md, "Server-to-server connections".
_REFUSALS: tuple[tuple[str, str, str], ...] = (
    (
        "audience is invalid",
        "environment",
        "the assertion's audience (the login host) is not the one "
        "Salesforce expects: use 'sandbox' (or the sandbox's My Domain) for a sandbox, else 'production' "
        "or the org's My Domain",
    ),
    (
        "invalid assertion",
        "private_key",
        "Salesforce could not verify the assertion: upload this key's "
        "certificate to the Connected App (Use digital signatures) and enable OAuth for it",
    ),
    (
        "user hasn't approved this consumer",
        "username",
        "the user is not pre-authorised for the app: set "
        "Permitted Users to 'Admin approved users are pre-authorized' and add the user's profile or "
        "permission set to the Connected App",
    ),
    ("inactive user", "username", "the user is inactive in Salesforce"),
    (
        "expired authorization code",
        "private_key",
        "Salesforce found the assertion expired: the "
        "connector's clock and Salesforce's disagree by minutes; retry",
    ),
    (
        "no client credentials user enabled",
        "client_id",
        "enable the Client Credentials Flow on the "
        "Connected App and set its Run As user (Manage > Edit Policies)",
    ),
    (
        "request not supported on this domain",
        "environment",
        "Salesforce serves this flow only at the org's My Domain (https://yourcompany.my.salesforce.com)",
    ),
)


def _refusal(flow: str, exc: OAuthError) -> GrantRefusedError:
    """The 4xx naming what to fix, from Salesforce's refusal of a grant."""
    code, description = exc.error_code, exc.message[:300]
    said = f"Salesforce refused the {flow} grant ({code}: {description})"
    lowered = description.lower()
    for text, field, hint in _REFUSALS:
        if text in lowered:
            return GrantRefusedError(field, f"{said}; {hint}.", error=code, description=description)
    by_code = {
        "invalid_client_id": ("client_id", "check the Connected App's Consumer Key"),
        "invalid_client": (
            ("client_secret", "check the Connected App's Consumer Secret")
            if flow == "client_credentials"
            else ("client_id", "check the Connected App's Consumer Key")
        ),
        "invalid_app_access": ("username", "the user is not admin approved for the Connected App"),
        "unsupported_grant_type": ("flow", f"enable the {flow} flow on the Connected App"),
    }
    field, hint = by_code.get(
        code,
        (
            "username" if flow == "jwt_bearer" else "client_id",
            "check the Connected App's OAuth policies for this flow",
        ),
    )
    return GrantRefusedError(field, f"{said}; {hint}.", error=code, description=description)


# ------------------------------------------------------------------------------------------ service


class ServerConnections:
    """Creates server-to-server connections over the stores and Salesforce's token endpoint."""

    def __init__(
        self,
        *,
        hosts: LoginHosts,
        store: SecretsTokenStore,
        connections: ConnectionRepository,
        http: httpx.Client,
        id_factory: Callable[[], str] = lambda: uuid.uuid4().hex,
        clock: Callable[[], float] = time.time,
        on_connected: Callable[[str], None] | None = None,
    ) -> None:
        self._hosts = hosts
        self._store = store
        self._connections = connections
        self._oauth = SalesforceOAuth(http, hosts=hosts.policy)
        self._new_id = id_factory
        self._clock = clock
        self._on_connected = on_connected
        """Called after a reconnection (resumes the connection's polling); must not raise."""

    def create(
        self, request: JwtBearerConnectionRequest | ClientCredentialsConnectionRequest, *, tenant_id: str
    ) -> ConnectionView:
        """A connected connection owned by ``tenant_id``, or an error and nothing stored."""
        try:
            kind, login_url = self._hosts.resolve(request.environment)
        except InvalidEnvironmentError as exc:
            raise InvalidRequestFieldError("environment", str(exc)) from None
        if isinstance(request, ClientCredentialsConnectionRequest):
            if kind != "my_domain":
                raise InvalidRequestFieldError(
                    "environment",
                    "the client credentials flow needs the org's My Domain URL "
                    "(https://yourcompany.my.salesforce.com): Salesforce serves it only there",
                )
            secret = ConnectionSecret(
                flow="client_credentials",
                client_id=request.client_id,
                client_secret=request.client_secret,
                login_url=login_url,
            )
        else:
            try:  # checked before anything is sent: a key Salesforce could never verify
                load_private_key(request.private_key.get_secret_value())
            except PrivateKeyError as exc:
                raise InvalidPrivateKeyError(str(exc)) from None
            secret = ConnectionSecret(
                flow="jwt_bearer",
                client_id=request.client_id,
                private_key=request.private_key,
                username=request.username,
                audience=self._hosts.audience(kind, login_url),
                login_url=login_url,
            )
        tokens, identity = self._authorise(secret)
        connection_id = self._new_id()
        # The secret first: a record never points at a connection without credentials.
        self._store_tokens(connection_id, secret, tokens, tenant_id=tenant_id)
        try:
            record = self._connections.create(
                ConnectionRecord(
                    connection_id=connection_id,
                    name=request.name,
                    status="connected",
                    flow=secret.flow,
                    environment=kind,
                    login_url=login_url,
                    instance_url=tokens.instance_url.rstrip("/"),
                    org_id=identity.organization_id,
                    user_id=identity.user_id,
                    username=identity.username or secret.username,
                    client_id=request.client_id,
                    tenant_id=tenant_id,
                )
            )
        except BaseException:
            self._store.delete(connection_id)  # no half connection: its secret goes too
            raise
        logger.info(
            "Connection %s connected by the %s flow (org %s, user %s)",
            connection_id,
            secret.flow,
            identity.organization_id,
            identity.user_id,
        )
        return ConnectionView.of(record)

    def reconnect(self, connection_id: str, *, client_secret: SecretStr | None = None) -> ConnectionView:
        """Run a connection's grant again (``POST /connections/{id}/reauthorize``): after the
        Connected App or the user was fixed in Salesforce, a ``needs_reauth`` connection is
        ``connected`` again; a client credentials connection may bring a rotated ``client_secret``
        (stored only if Salesforce accepts it). A refusal changes nothing and names the field."""
        secret = self._store.get(connection_id, force_fetch=True)
        if client_secret is not None and secret.flow == "client_credentials":
            secret = secret.model_copy(update={"client_secret": client_secret})
        tokens, identity = self._authorise(secret)
        self._store_tokens(connection_id, secret, tokens)
        record = self._connections.update(
            connection_id,
            status="connected",
            status_reason=None,
            org_id=identity.organization_id,
            user_id=identity.user_id,
            username=identity.username or secret.username,
            instance_url=tokens.instance_url.rstrip("/"),
        )
        logger.info("Connection %s reconnected by the %s flow", connection_id, secret.flow)
        if self._on_connected is not None:
            self._on_connected(connection_id)
        return ConnectionView.of(record)

    def _store_tokens(
        self,
        connection_id: str,
        secret: ConnectionSecret,
        tokens: TokenResponse,
        *,
        tenant_id: str | None = None,
    ) -> None:
        renewed = secret.with_tokens(
            access_token=tokens.access_token.get_secret_value(),
            instance_url=tokens.instance_url,
            issued_at=issued_at_from(tokens),
        )
        self._store.put(connection_id, renewed, tenant_id=tenant_id)

    def _authorise(self, secret: ConnectionSecret) -> tuple[TokenResponse, Identity]:
        try:
            tokens = run_grant(self._oauth, secret, now=self._clock())
        except OAuthError as exc:
            logger.warning("Server-to-server grant (%s) refused: %s", secret.flow, exc.error_code)
            raise _refusal(secret.flow, exc) from None
        except UntrustedHostError as exc:
            # The login host answered with an instance or identity URL off Salesforce's domains.
            raise InvalidRequestFieldError("environment", f"the connection was refused: {exc}") from None
        identity: Identity | None = None
        if tokens.id:
            try:
                identity = self._oauth.identity(tokens.id, tokens.access_token.get_secret_value())
            except (SalesforceError, UntrustedHostError) as exc:
                logger.warning("Identity URL unavailable (%s); using the ids from it", type(exc).__name__)
                identity = Identity.from_id_url(tokens.id)
        if identity is None:
            item = SalesforceErrorItem("identity_failed", "the token answer named no user (no identity URL)")
            raise OAuthError(502, [item])
        return tokens, identity
