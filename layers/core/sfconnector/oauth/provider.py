"""The token provider of a stored connection: tokens from Secrets Manager, refresh with a lock.

``current()`` reads the connection's secret (Powertools cache, ``max_age``). ``refresh(stale)`` is
what the Salesforce client calls once on ``INVALID_SESSION_ID``:

1. re-read the secret bypassing the cache; if another invocation already stored a different access
   token, use it (no OAuth call);
2. otherwise take the connection's refresh lock (DynamoDB conditional write with a TTL). Losers
   poll the secret (``force_fetch``) until the winner's token appears, and reuse it; if the winner
   vanished (lock expired, nothing stored) a loser takes the lock itself;
3. the winner runs the refresh grant at the connection's login URL and stores the result, including
   a rotated refresh token, as the next ``token_version`` - but only if the stored version is still
   the one it refreshed from (else a newer authorisation landed meanwhile and wins);
   A server-to-server connection (JWT bearer, client credentials) has no refresh token: its winner
   runs the connection's grant again (a new assertion, or the key and secret) under the same lock,
   so concurrent invocations still make one request;
4. ``invalid_grant`` (revoked or expired refresh token) and ``invalid_client`` (the Connected
   App's secret or key no longer valid) mark the connection ``needs_reauth`` (dropping the dead
   tokens, so every container then fails fast without calling Salesforce), publish
   ``connection.needs_reauth`` once (only the invocation that flips the status) and raise
   :class:`ConnectionNeedsReauthError`.

Every token it hands out has an ``instance_url`` on a Salesforce host
(:class:`~sfconnector.oauth.hosts.SalesforceHosts`), and the refresh grant goes only to a
Salesforce login host: a URL stored before hosts were checked marks the connection
``needs_reauth`` instead of being called.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

import httpx

from sfconnector.errors import ConnectionNeedsReauthError, ConnectionNotFoundError, ConnectionPendingError
from sfconnector.oauth.hosts import SalesforceHosts, UntrustedHostError
from sfconnector.salesforce.client import AccessToken
from sfconnector.salesforce.errors import (
    AuthorizationRevokedError,
    OAuthError,
    SalesforceErrorItem,
    SalesforceUnavailableError,
)
from sfconnector.stores.connections import ConnectionRepository
from sfconnector.stores.tokens import ConnectionSecret, SecretsTokenStore, validate_connection_id

if TYPE_CHECKING:
    # The refresh grant and the events are needed only when a token expires: imported then, not
    # on a cold start's first request.
    from sfconnector.events import EventPublisher
    from sfconnector.oauth.flow import SalesforceOAuth, TokenResponse
    from sfconnector.stores.refresh_lock import RefreshLock

__all__ = ["NEEDS_REAUTH_EVENT", "ConnectionTokenProvider", "issued_at_from"]

logger = logging.getLogger(__name__)

NEEDS_REAUTH_EVENT = "connection.needs_reauth"

# The refresh grant's errors that no retry can fix: the user must authorise again.
_REAUTH_ERRORS = frozenset(
    {"invalid_grant", "invalid_client", "invalid_client_id", "unauthorized_client", "invalid_app_access"}
)


def issued_at_from(response: TokenResponse) -> datetime | None:
    """``issued_at`` is a string of epoch milliseconds."""
    try:
        return datetime.fromtimestamp(int(response.issued_at or "") / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class ConnectionTokenProvider:
    """``TokenProvider`` (see ``sfconnector.salesforce.client``) for one stored connection."""

    def __init__(
        self,
        connection_id: str,
        *,
        store: SecretsTokenStore,
        connections: ConnectionRepository,
        http: httpx.Client,
        lock: RefreshLock | None = None,
        hosts: SalesforceHosts | None = None,
        publisher: EventPublisher | None = None,
        on_needs_reauth: Callable[[str], None] | None = None,
        wait_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection_id = validate_connection_id(connection_id)
        self._store = store
        self._connections = connections
        self._http = http
        self._lock = lock
        self._hosts = hosts or SalesforceHosts()
        self._publisher = publisher
        self._on_needs_reauth = on_needs_reauth
        """Called with the connection id when it is (or is found) ``needs_reauth``: pauses its
        polling (the runtime wires it where poll schedules are managed). Must not raise."""
        self._wait_seconds = wait_seconds
        self._sleep = sleep
        self._monotonic = monotonic
        self.refresh_calls = 0
        """Refresh grants this provider sent to Salesforce (0 when it reused another's token)."""

    def __repr__(self) -> str:
        return f"ConnectionTokenProvider(connection_id={self.connection_id!r})"

    @cached_property
    def _oauth(self) -> SalesforceOAuth:
        from sfconnector.oauth.flow import SalesforceOAuth

        return SalesforceOAuth(self._http, hosts=self._hosts)

    # ---- TokenProvider ---------------------------------------------------------------------------

    def current(self) -> AccessToken:
        secret = self._store.get(self.connection_id)
        token = secret.access()
        if token is not None:
            return self._trusted(token)
        # No access token: never authorised, or dropped after invalid_grant. Check what is stored
        # now (not the cached copy) before deciding.
        return self._trusted(self._renew(secret=None, stale=None))

    def refresh(self, stale: AccessToken) -> AccessToken:
        return self._trusted(self._renew(secret=None, stale=stale))

    def _trusted(self, token: AccessToken) -> AccessToken:
        """The token, if its instance URL is a Salesforce host; else the connection is unusable."""
        problem = self._hosts.problem(token.instance_url)
        if problem is None:
            return token
        reason = f"untrusted_host: the stored instance_url {problem}"
        logger.warning("Connection %s: %s; marking needs_reauth", self.connection_id, reason)
        self._drop_tokens(self._store.get(self.connection_id, force_fetch=True))
        self._flag_needs_reauth(reason)
        raise ConnectionNeedsReauthError(self.connection_id, reason)

    # ---- internals -------------------------------------------------------------------------------

    def _renew(self, *, secret: ConnectionSecret | None, stale: AccessToken | None) -> AccessToken:
        secret = secret or self._store.get(self.connection_id, force_fetch=True)
        fresh = self._fresher(secret, stale)
        if fresh is not None:
            return fresh
        self._require_renewable(secret)
        if self._lock is None:
            return self._refresh_locked(stale)

        deadline = self._monotonic() + self._wait_seconds
        delay = 0.05
        while True:
            owner = self._lock.acquire(self.connection_id)
            if owner is not None:
                try:
                    return self._refresh_locked(stale)
                finally:
                    self._release(owner)
            # Another invocation is refreshing: wait for its token instead of refreshing again.
            if self._monotonic() >= deadline:
                raise SalesforceUnavailableError(
                    503,
                    [
                        SalesforceErrorItem(
                            "TOKEN_REFRESH_BUSY",
                            "another invocation is refreshing this connection's token; retry shortly",
                        )
                    ],
                )
            self._sleep(delay)
            delay = min(delay * 2, 0.5)
            secret = self._store.get(self.connection_id, force_fetch=True)
            fresh = self._fresher(secret, stale)
            if fresh is not None:
                return fresh
            self._require_renewable(secret)

    def _release(self, owner: str) -> None:
        assert self._lock is not None
        try:
            self._lock.release(self.connection_id, owner)
        except Exception:  # the lock expires by itself; the refresh outcome matters more
            logger.warning(
                "Connection %s: could not release the refresh lock", self.connection_id, exc_info=True
            )

    @staticmethod
    def _fresher(secret: ConnectionSecret, stale: AccessToken | None) -> AccessToken | None:
        """The stored token if it differs from the stale one (someone refreshed already)."""
        token = secret.access()
        if token is None:
            return None
        if stale is None or token.access_token.get_secret_value() != stale.access_token.get_secret_value():
            return token
        return None

    def _require_renewable(self, secret: ConnectionSecret) -> None:
        """Return if a new token can be had (a refresh token; a server-to-server connection's
        credentials while its tokens were not dropped), else raise why not."""
        if secret.refresh_token is not None:
            return
        if secret.server_to_server and secret.access_token is not None:
            return
        record = self._connections.get(self.connection_id)
        if record is not None and record.status == "pending":
            raise ConnectionPendingError(self.connection_id)
        if record is not None and record.status == "connected":
            # Tokens dropped but the flag never landed (a crash in between): finish the job.
            self._flag_needs_reauth("no refresh token stored")
        elif record is not None and record.status == "needs_reauth" and self._on_needs_reauth is not None:
            # Flagged elsewhere (e.g. by an action function): its poll schedule may still be enabled.
            self._on_needs_reauth(self.connection_id)
        raise ConnectionNeedsReauthError(
            self.connection_id, record.status_reason if record is not None else "no refresh token stored"
        )

    def _refresh_locked(self, stale: AccessToken | None) -> AccessToken:
        # Re-read under the lock: the previous holder may have stored a token just before releasing.
        secret = self._store.get(self.connection_id, force_fetch=True)
        fresh = self._fresher(secret, stale)
        if fresh is not None:
            return fresh
        self._require_renewable(secret)
        try:
            self.refresh_calls += 1
            response = self._grant(secret)
        except AuthorizationRevokedError as exc:
            self._mark_needs_reauth(secret, exc)
            raise ConnectionNeedsReauthError(self.connection_id, exc.message) from None
        except OAuthError as exc:
            if exc.error_code not in _REAUTH_ERRORS:
                raise
            self._mark_needs_reauth(secret, exc)
            raise ConnectionNeedsReauthError(self.connection_id, exc.message) from None
        except UntrustedHostError as exc:
            # A login URL stored before hosts were checked, or a refresh answer naming another host.
            reason = f"untrusted_host: {exc}"[:300]
            logger.warning("Connection %s: %s; marking needs_reauth", self.connection_id, reason)
            self._drop_tokens(secret)
            self._flag_needs_reauth(reason)
            raise ConnectionNeedsReauthError(self.connection_id, reason) from None

        rotated = response.refresh_token.get_secret_value() if response.refresh_token else None
        renewed = secret.with_tokens(
            access_token=response.access_token.get_secret_value(),
            instance_url=response.instance_url,
            refresh_token=rotated,
            issued_at=issued_at_from(response),
        )
        latest = self._store.get(self.connection_id, force_fetch=True)
        if latest.token_version != secret.token_version:
            # A newer authorisation (or a writer whose lock expired) stored tokens meanwhile: keep
            # the newer state rather than overwrite it with ours.
            newer = latest.access()
            if newer is not None:
                logger.warning(
                    "Connection %s: tokens changed during refresh (version %d -> %d); using the stored ones",
                    self.connection_id,
                    secret.token_version,
                    latest.token_version,
                )
                return newer
        self._store.put(self.connection_id, renewed)
        logger.info(
            "Connection %s: access token refreshed (version %d%s)",
            self.connection_id,
            renewed.token_version,
            ", refresh token rotated" if rotated else "",
        )
        token = renewed.access()
        assert token is not None
        return token

    def _grant(self, secret: ConnectionSecret) -> TokenResponse:
        """The refresh grant, or a server-to-server connection's own grant run again."""
        if secret.server_to_server:
            from sfconnector.oauth.server import run_grant

            return run_grant(self._oauth, secret)
        assert secret.refresh_token is not None
        return self._oauth.refresh(
            secret.login_url,
            refresh_token=secret.refresh_token.get_secret_value(),
            client_id=secret.client_id,
            client_secret=secret.client_secret.get_secret_value(),
        )

    def _mark_needs_reauth(self, secret: ConnectionSecret, exc: OAuthError) -> None:
        reason = f"{exc.error_code}: {exc.message}"[:300]
        logger.warning(
            "Connection %s: token grant rejected (%s); marking needs_reauth",
            self.connection_id,
            exc.error_code,
        )
        self._drop_tokens(secret)
        self._flag_needs_reauth(reason)

    def _drop_tokens(self, secret: ConnectionSecret) -> None:
        """The tokens are dead (or point elsewhere): dropping them makes every container fail fast
        from now on. A staged client secret stays (a re-authorisation may be under way)."""
        cleared = secret.model_copy(
            update={
                "refresh_token": None,
                "access_token": None,
                "issued_at": None,
                "token_version": secret.token_version + 1,
            }
        )
        self._store.put(self.connection_id, cleared)

    def _flag_needs_reauth(self, reason: str) -> None:
        """connected -> needs_reauth, and the event; only the invocation that flips it publishes."""
        try:
            record = self._connections.update(
                self.connection_id, if_status="connected", status="needs_reauth", status_reason=reason
            )
        except ConnectionNotFoundError:
            logger.info("Connection %s: already flagged (or deleted)", self.connection_id)
            return
        if self._on_needs_reauth is not None:
            self._on_needs_reauth(self.connection_id)
        if self._publisher is None:
            return
        from sfconnector.events import Event, utc_now_iso

        event = Event(
            type=NEEDS_REAUTH_EVENT,
            source=f"salesforce/{record.org_id}" if record.org_id else "salesforce",
            subject=self.connection_id,
            time=utc_now_iso(),
            connection_id=self.connection_id,
            tenant_id=record.tenant_id,
            data={
                "connection_id": self.connection_id,
                "name": record.name,
                "status": "needs_reauth",
                "reason": reason,
                "org_id": record.org_id,
                "user_id": record.user_id,
                "username": record.username,
                "instance_url": record.instance_url,
                "environment": record.environment,
            },
        )
        try:
            self._publisher.publish(event)
        except Exception:  # the caller must still learn about needs_reauth; the event is best effort
            logger.exception("Connection %s: could not publish %s", self.connection_id, NEEDS_REAUTH_EVENT)
