"""Settings of the connections function (environment variables, validated when the handler is built)."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from sfconnector.oauth.hosts import PRODUCTION_LOGIN_URL, SANDBOX_LOGIN_URL, LoginHosts, SalesforceHosts
from sfconnector.settings import CoreSettings

__all__ = ["ConnectionsSettings"]


class ConnectionsSettings(CoreSettings):
    """Core settings plus the OAuth ones.

    The login URL overrides exist for the local stack and tests (they point at the emulator);
    a deployment leaves them unset, and they must pass the Salesforce hosts policy too (the
    emulator's origin is one of ``SALESFORCE_LOCAL_ORIGINS``). ``ALLOW_INSECURE_LOOPBACK_LOGIN``
    lets ``http://127.0.0.1`` redirect URIs through (the local stack's callback) and is never on
    by default.
    """

    login_url_production: str = Field(PRODUCTION_LOGIN_URL, alias="SF_LOGIN_URL_PRODUCTION")
    login_url_sandbox: str = Field(SANDBOX_LOGIN_URL, alias="SF_LOGIN_URL_SANDBOX")
    allow_insecure_loopback_login: bool = Field(False, alias="ALLOW_INSECURE_LOOPBACK_LOGIN")
    state_ttl_seconds: int = Field(600, alias="OAUTH_STATE_TTL_SECONDS", ge=60, le=3600)
    """How long an authorize_url stays usable (the user has to log in and consent within it)."""
    callback_url: str | None = Field(None, alias="OAUTH_CALLBACK_URL")
    """The public callback URL when it cannot be derived from the request (e.g. behind a CDN)."""

    @field_validator("login_url_production", "login_url_sandbox", "callback_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("login_url_production", "login_url_sandbox")
    @classmethod
    def _salesforce_login_url(cls, value: str, info: ValidationInfo) -> str:
        # The core settings (the hosts policy's) are validated first: they are declared first.
        policy = SalesforceHosts(
            extra_domains=info.data.get("salesforce_extra_domains", ()),
            local_origins=info.data.get("salesforce_local_origins", frozenset()),
        )
        problem = policy.problem(value)
        if problem is not None:
            raise ValueError(f"the login URL {problem}")
        return value

    def login_hosts(self) -> LoginHosts:
        return LoginHosts(
            production=self.login_url_production,
            sandbox=self.login_url_sandbox,
            allow_insecure_loopback=self.allow_insecure_loopback_login,
            policy=SalesforceHosts.from_settings(self),
        )
