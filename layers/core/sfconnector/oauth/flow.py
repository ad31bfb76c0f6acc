"""Salesforce's OAuth 2.0 endpoints: authorize URL, the code, refresh, JWT bearer and client
credentials grants, revoke, identity.

One small adapter over an injected ``httpx.Client``. Every URL it sends a credential to, and every
host a token response names (``instance_url``, ``id``), must pass the deployment's
:class:`~sfconnector.oauth.hosts.SalesforceHosts` first, else :class:`UntrustedHostError` is raised
and nothing is sent. Nothing here logs, and no exception message
carries a token, secret or authorization code: error texts are Salesforce's ``error`` code and a
bounded ``error_description`` only.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from sfconnector.oauth.hosts import SalesforceHosts
from sfconnector.salesforce.errors import (
    OAuthError,
    SalesforceErrorItem,
    SalesforceTransportError,
    error_from_body,
)

AUTHORIZE_PATH = "/services/oauth2/authorize"
TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a URL path, not a password
REVOKE_PATH = "/services/oauth2/revoke"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class TokenResponse(BaseModel):
    """The token endpoint's JSON. There is no ``expires_in``: Salesforce's session lifetime is an org
    setting, so expiry is learned from a 401 on the REST API."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    instance_url: str = Field(min_length=1)
    id: str = ""
    issued_at: str | None = None
    scope: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - the scheme name


class Identity(BaseModel):
    """The fields of the identity URL a connection records."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    organization_id: str
    user_id: str
    username: str | None = None
    display_name: str | None = None
    email: str | None = None

    @classmethod
    def from_id_url(cls, id_url: str) -> Identity | None:
        """Org and user ids from ``<login host>/id/<orgId>/<userId>`` (a fallback without a call)."""
        parts = httpx.URL(id_url).path.rstrip("/").split("/")
        if len(parts) >= 3 and parts[-3] == "id" and parts[-2] and parts[-1]:
            return cls(organization_id=parts[-2], user_id=parts[-1])
        return None


def authorize_url(
    login_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    code_challenge: str,
    scope: str | None = None,
    prompt: str | None = None,
) -> str:
    """The URL to send the user's browser to (web-server flow with PKCE S256)."""
    params: dict[str, str] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if scope:
        params["scope"] = scope
    if prompt:
        params["prompt"] = prompt
    return f"{login_url.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(params)}"


class SalesforceOAuth:
    """The token, revoke and identity endpoints of one login host family, over ``http``."""

    def __init__(
        self, http: httpx.Client, *, hosts: SalesforceHosts | None = None, timeout: float = 15.0
    ) -> None:
        self._http = http
        self.hosts = hosts or SalesforceHosts()
        self._timeout = timeout

    def exchange_code(
        self,
        login_url: str,
        *,
        code: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenResponse:
        return self._token(
            login_url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
        )

    def refresh(
        self, login_url: str, *, refresh_token: str, client_id: str, client_secret: str | None
    ) -> TokenResponse:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
        if client_secret:
            form["client_secret"] = client_secret
        return self._token(login_url, form)

    def jwt_bearer(self, login_url: str, *, assertion: str) -> TokenResponse:
        return self._token(login_url, {"grant_type": JWT_BEARER_GRANT, "assertion": assertion})

    def client_credentials(self, login_url: str, *, client_id: str, client_secret: str) -> TokenResponse:
        return self._token(
            login_url,
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        )

    def revoke(self, login_url: str, token: str) -> bool:
        """Revoke a token; True when Salesforce revoked it, False when it was already invalid."""
        response = self._post(f"{self._login(login_url)}{REVOKE_PATH}", {"token": token})
        if response.status_code == 200:
            return True
        error = _parse_error(response)
        if error.error_code in {"invalid_token", "unsupported_token_type"}:
            return False
        raise error

    def identity(self, id_url: str, access_token: str) -> Identity:
        self.hosts.check(id_url, what="the identity URL", origin_only=False)
        try:
            response = self._http.get(
                id_url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise SalesforceTransportError(
                f"identity URL unreachable ({type(exc).__name__})",
                timeout=isinstance(exc, httpx.TimeoutException),
            ) from None
        if response.status_code != 200:
            raise OAuthError(
                response.status_code,
                [
                    SalesforceErrorItem(
                        "identity_failed", f"identity URL answered HTTP {response.status_code}"
                    )
                ],
            )
        try:
            return Identity.model_validate_json(response.content)
        except ValidationError:
            raise _malformed("identity URL", response.status_code) from None

    def _token(self, login_url: str, form: dict[str, str]) -> TokenResponse:
        response = self._post(f"{self._login(login_url)}{TOKEN_PATH}", form)
        if response.status_code != 200:
            raise _parse_error(response)
        try:
            tokens = TokenResponse.model_validate_json(response.content)
        except ValidationError:
            raise _malformed("token endpoint", response.status_code) from None
        # The login host decides where the bearer token goes next: only to Salesforce.
        self.hosts.check(tokens.instance_url, what="the token response's instance_url")
        if tokens.id:
            self.hosts.check(tokens.id, what="the token response's identity URL (id)", origin_only=False)
        return tokens

    def _login(self, login_url: str) -> str:
        origin = login_url.rstrip("/")
        self.hosts.check(origin, what="the login URL")
        return origin

    def _post(self, url: str, form: dict[str, str]) -> httpx.Response:
        try:
            return self._http.post(
                url, data=form, headers={"Accept": "application/json"}, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            # Only the exception type: httpx messages can echo the request.
            raise SalesforceTransportError(
                f"login host unreachable ({type(exc).__name__})",
                timeout=isinstance(exc, httpx.TimeoutException),
            ) from None


def _parse_error(response: httpx.Response) -> OAuthError:
    """Salesforce's ``{"error", "error_description"}`` as the shared typed errors
    (``invalid_grant`` becomes AuthorizationRevokedError)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]:
        error = error_from_body(response.status_code, body)
        if isinstance(error, OAuthError):
            return error
    return _malformed("login host", response.status_code)


def _malformed(what: str, status: int) -> OAuthError:
    return OAuthError(
        status,
        [SalesforceErrorItem("unexpected_response", f"{what} answered HTTP {status} without OAuth JSON")],
    )
