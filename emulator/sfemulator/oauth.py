"""OAuth 2.0 as Salesforce speaks it: authorize (consent page), token, revoke, identity.

Grants: ``authorization_code`` (with PKCE S256), ``refresh_token`` (rotation configurable per app),
``client_credentials`` (the app's run-as user) and the JWT bearer grant
(``urn:ietf:params:oauth:grant-type:jwt-bearer``: an RS256 assertion checked against the certificate
uploaded to the app, ``aud`` the login host, ``exp`` within 3 minutes, ``sub`` a pre-authorised user).
Token responses carry ``access_token, refresh_token, signature, scope, instance_url, id, token_type,
issued_at`` and no ``expires_in``: as on Salesforce, a client learns of expiry from a 401
``INVALID_SESSION_ID``. Errors use Salesforce's bodies (``invalid_grant``, ...).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import json
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sfemulator.wire import Request, Response

__all__ = ["JWT_BEARER", "AccessToken", "ConnectedApp", "OAuthService", "TokenError", "public_key_problem"]

AUTH_CODE_LIFETIME = dt.timedelta(minutes=15)
DEFAULT_SCOPES = ("api", "refresh_token", "offline_access", "id", "web", "openid", "full")
NO_STORE = [("Cache-Control", "no-cache,no-store"), ("Pragma", "no-cache")]
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_MAX_LIFETIME = dt.timedelta(minutes=3)
"""Salesforce: the assertion's ``exp`` lies within 3 minutes."""
JWT_SKEW = dt.timedelta(seconds=5)
# Scopes a grant without a refresh token cannot carry (Salesforce drops them from the token).
_OFFLINE_SCOPES = ("refresh_token", "offline_access")


@dataclass
class ConnectedApp:
    """A Connected App: consumer key/secret, callback URLs, scopes and token policies."""

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: list[str]
    scopes: list[str] = field(default_factory=lambda: list(DEFAULT_SCOPES))
    rotate_refresh_tokens: bool = False
    client_credentials_user_id: str | None = None
    require_secret: bool = True
    certificate: str | None = None
    """The PEM certificate (or public key) uploaded under *Use digital signatures*: what JWT bearer
    assertions are verified with (None: the app cannot use the JWT bearer flow)."""
    jwt_user_ids: list[str] = field(default_factory=list)
    """Users pre-authorised for the app (*Admin approved users are pre-authorized* and their
    profile or permission set): the JWT bearer flow may run as them without a consent."""

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "client_id": self.client_id,
            "redirect_uris": list(self.redirect_uris),
            "scopes": list(self.scopes),
            "rotate_refresh_tokens": self.rotate_refresh_tokens,
            "client_credentials_user_id": self.client_credentials_user_id,
            "require_secret": self.require_secret,
            "certificate": self.certificate,
            "jwt_user_ids": list(self.jwt_user_ids),
        }


@dataclass
class AccessToken:
    token: str = field(repr=False)
    client_id: str
    user_id: str
    scopes: list[str]
    issued_at: dt.datetime
    expires_at: dt.datetime
    refresh_token: str | None = field(default=None, repr=False)


@dataclass
class RefreshToken:
    token: str = field(repr=False)
    client_id: str
    user_id: str
    scopes: list[str]
    issued_at: dt.datetime


@dataclass
class AuthCode:
    code: str = field(repr=False)
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: list[str]
    challenge: str | None
    expires_at: dt.datetime


class TokenError(Exception):
    """An OAuth error answered as ``{"error", "error_description"}`` with HTTP 400 (or 401)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response:
        return Response.json(
            self.status, {"error": self.error, "error_description": self.description}, NO_STORE
        )


def _pkce(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class OAuthService:
    """The org's OAuth state: apps, authorization codes, refresh and access tokens."""

    def __init__(self, org: Any) -> None:
        self.org = org
        self.apps: dict[str, ConnectedApp] = {}
        self.codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.grants: Counter[str] = Counter()
        """Token requests by grant type (answered either way): tests count them."""

    # -- state ---------------------------------------------------------------------------------
    def clear(self) -> None:
        self.apps.clear()
        self.codes.clear()
        self.refresh_tokens.clear()
        self.access_tokens.clear()
        self.grants.clear()

    def register(self, app: ConnectedApp) -> ConnectedApp:
        self.apps[app.client_id] = app
        return app

    def new_access_token(self) -> str:
        return f"{self.org.org_id[:15]}!{secrets.token_urlsafe(72)}"

    # -- REST authentication ------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> AccessToken | None:
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            return None
        record = self.access_tokens.get(token.strip())
        if record is None:
            return None
        if self.org.clock.now() >= record.expires_at:
            return None
        return record

    def expire_all(self) -> int:
        count = len(self.access_tokens)
        self.access_tokens.clear()
        return count

    def revoke_refresh(self, token: str) -> bool:
        record = self.refresh_tokens.pop(token, None)
        if record is None:
            return False
        for key in [k for k, v in self.access_tokens.items() if v.refresh_token == token]:
            del self.access_tokens[key]
        return True

    def revoke_user(self, user_id: str) -> int:
        doomed = [k for k, v in self.refresh_tokens.items() if v.user_id == user_id]
        for token in doomed:
            self.revoke_refresh(token)
        for key in [k for k, v in self.access_tokens.items() if v.user_id == user_id]:
            del self.access_tokens[key]
        return len(doomed)

    # -- token issuing -------------------------------------------------------------------------
    def issue(
        self, app: ConnectedApp, user_id: str, scopes: list[str], *, refresh: str | None, with_refresh: bool
    ) -> dict[str, Any]:
        now = self.org.clock.now()
        new_refresh: str | None = None
        if with_refresh:
            new_refresh = "5Aep861" + secrets.token_urlsafe(64)
            self.refresh_tokens[new_refresh] = RefreshToken(new_refresh, app.client_id, user_id, scopes, now)
            refresh = new_refresh
        token = self.new_access_token()
        lifetime = dt.timedelta(seconds=self.org.config.access_token_lifetime_seconds)
        self.access_tokens[token] = AccessToken(
            token, app.client_id, user_id, scopes, now, now + lifetime, refresh
        )
        issued_at = str(int(now.timestamp() * 1000))
        id_url = f"{self.org.base_url}/id/{self.org.org_id}/{user_id}"
        signature = base64.b64encode(
            hmac.new(app.client_secret.encode(), (id_url + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        body: dict[str, Any] = {"access_token": token}
        if new_refresh is not None:
            body["refresh_token"] = new_refresh
        body.update(
            signature=signature,
            scope=" ".join(scopes),
            instance_url=self.org.base_url,
            id=id_url,
            token_type="Bearer",  # noqa: S106 - the OAuth token type, not a secret
            issued_at=issued_at,
        )
        self.org.touch()
        return body

    def mint(
        self, user_id: str, client_id: str | None = None, scopes: list[str] | None = None
    ) -> dict[str, Any]:
        """A token response for ``user_id`` without the browser dance (admin API, tests)."""
        app = self.apps.get(client_id or self.org.config.client_id)
        if app is None:
            raise TokenError("invalid_client_id", "client identifier invalid")
        granted = scopes or list(app.scopes)
        wants_refresh = "refresh_token" in granted or "offline_access" in granted
        return self.issue(app, user_id, granted, refresh=None, with_refresh=wants_refresh)

    # -- /services/oauth2/authorize ------------------------------------------------------------
    def authorize(self, req: Request) -> Response:
        params = {k: v[0] for k, v in req.query.items() if v}
        if req.method == "POST":
            form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items() if v}
            params.update(form)
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            return self._error_page("invalid_client_id", "client identifier invalid")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in app.redirect_uris:
            return self._error_page("redirect_uri_mismatch", "redirect_uri must match configuration")
        state = params.get("state")
        extra = {"state": state} if state is not None else {}
        if params.get("response_type") != "code":
            return Response.redirect(
                redirect_uri,
                {
                    "error": "unsupported_response_type",
                    "error_description": "response type not supported",
                    **extra,
                },
            )
        method = params.get("code_challenge_method", "S256")
        if params.get("code_challenge") and method != "S256":
            return Response.redirect(
                redirect_uri,
                {"error": "invalid_request", "error_description": "invalid code challenge method", **extra},
            )
        requested = (params.get("scope") or "").replace("+", " ").split()
        scopes = requested or list(app.scopes)
        bad = [s for s in scopes if s not in app.scopes]
        if bad:
            return Response.redirect(
                redirect_uri,
                {
                    "error": "invalid_scope",
                    "error_description": "the requested scope is not allowed",
                    **extra,
                },
            )
        if req.method == "GET":
            return self._consent_page(app, params, scopes)
        decision = params.get("decision", "")
        if decision != "allow":
            return Response.redirect(
                redirect_uri,
                {"error": "access_denied", "error_description": "end-user denied authorization", **extra},
            )
        user_id = (
            self.org.user_id_for(params.get("username")) if params.get("username") else self.org.admin_user_id
        )
        if user_id is None:
            return self._error_page("invalid_request", "unknown user")
        code = "aPrx" + base64.b64encode(secrets.token_bytes(40)).decode()
        self.codes[code] = AuthCode(
            code=code,
            client_id=app.client_id,
            redirect_uri=redirect_uri,
            user_id=user_id,
            scopes=scopes,
            challenge=params.get("code_challenge") or None,
            expires_at=self.org.clock.now() + AUTH_CODE_LIFETIME,
        )
        return Response.redirect(redirect_uri, {"code": code, **extra})

    def _error_page(self, error: str, description: str) -> Response:
        # Salesforce cannot trust the redirect_uri here, so it shows the error instead of redirecting.
        text = f"error={error}&error_description={description.replace(' ', '%20')}"
        return Response.html(
            400,
            "<!DOCTYPE html><html><head><title>Error</title></head><body>"
            f'<div id="error">{html.escape(text)}</div></body></html>',
        )

    def _consent_page(self, app: ConnectedApp, params: dict[str, str], scopes: list[str]) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
            if k
            in (
                "client_id",
                "redirect_uri",
                "state",
                "response_type",
                "code_challenge",
                "code_challenge_method",
                "prompt",
            )
        )
        hidden += f'<input type="hidden" name="scope" value="{html.escape(" ".join(scopes))}">'
        users = "".join(
            f'<option value="{html.escape(u["Username"])}"'
            f"{' selected' if u['Id'] == self.org.admin_user_id else ''}>"
            f"{html.escape(u['Name'] or u['Username'])} ({html.escape(u['Username'])})</option>"
            for u in self.org.active_users()
        )
        scope_items = "".join(f"<li>{html.escape(s)}</li>" for s in scopes)
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Allow Access?</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}
button{{margin-right:1rem;padding:.5rem 1.5rem}}</style>
</head><body>
<h1>Allow Access?</h1>
<p id="app-name"><strong>{html.escape(app.name)}</strong> is asking to:</p>
<ul id="scopes">{scope_items}</ul>
<form method="POST" action="/services/oauth2/authorize">
{hidden}
<p><label for="username">Logged in as</label>
<select id="username" name="username">{users}</select></p>
<button id="allow" type="submit" name="decision" value="allow">Allow</button>
<button id="deny" type="submit" name="decision" value="deny">Deny</button>
</form>
<p><small>Salesforce emulator &middot; org {html.escape(self.org.org_id)}</small></p>
</body></html>"""
        return Response.html(200, page, NO_STORE)

    # -- /services/oauth2/token ----------------------------------------------------------------
    def token(self, req: Request) -> Response:
        try:
            return Response.json(200, self._token(req), NO_STORE)
        except TokenError as exc:
            return exc.response()

    def _client(self, form: dict[str, str], req: Request, *, secret_required: bool) -> ConnectedApp:
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        auth = req.header("authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise TokenError("invalid_client", "invalid client credentials") from None
            client_id, _, client_secret = decoded.partition(":")
        app = self.apps.get(client_id or "")
        if app is None:
            raise TokenError("invalid_client_id", "client identifier invalid")
        if client_secret is None:
            if secret_required:
                raise TokenError("invalid_client", "invalid client credentials")
        elif not hmac.compare_digest(client_secret.encode(), app.client_secret.encode()):
            raise TokenError("invalid_client", "invalid client credentials")
        return app

    def _token(self, req: Request) -> dict[str, Any]:
        form = {k: v[0] for k, v in req.query.items() if v}
        form.update({k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items() if v})
        grant = form.get("grant_type")
        self.grants[grant or ""] += 1
        if grant == JWT_BEARER:
            return self._jwt_bearer(form.get("assertion") or "")
        if grant == "authorization_code":
            code = self.codes.get(form.get("code", ""))
            app = self._client(
                form,
                req,
                secret_required=code is None or code.challenge is None or self._require_secret(form),
            )
            if code is None or code.client_id != app.client_id:
                raise TokenError("invalid_grant", "invalid authorization code")
            del self.codes[code.code]
            if self.org.clock.now() >= code.expires_at:
                raise TokenError("invalid_grant", "expired authorization code")
            if form.get("redirect_uri") != code.redirect_uri:
                raise TokenError("redirect_uri_mismatch", "redirect_uri must match configuration")
            if code.challenge is not None:
                verifier = form.get("code_verifier")
                if not verifier:
                    raise TokenError("invalid_request", "code_verifier required")
                if not hmac.compare_digest(_pkce(verifier), code.challenge):
                    raise TokenError("invalid_grant", "invalid code verifier")
            wants_refresh = "refresh_token" in code.scopes or "offline_access" in code.scopes
            return self.issue(app, code.user_id, code.scopes, refresh=None, with_refresh=wants_refresh)
        if grant == "refresh_token":
            app = self._client(form, req, secret_required=False)
            record = self.refresh_tokens.get(form.get("refresh_token", ""))
            if record is None or record.client_id != app.client_id:
                raise TokenError("invalid_grant", "expired access/refresh token")
            if not self.org.user_active(record.user_id):
                raise TokenError("invalid_grant", "inactive user")
            if app.rotate_refresh_tokens:
                self.revoke_refresh(record.token)
                return self.issue(app, record.user_id, record.scopes, refresh=None, with_refresh=True)
            return self.issue(app, record.user_id, record.scopes, refresh=record.token, with_refresh=False)
        if grant == "client_credentials":
            app = self._client(form, req, secret_required=True)
            if app.client_credentials_user_id is None:
                raise TokenError("invalid_grant", "no client credentials user enabled")
            scopes = [s for s in app.scopes if s not in _OFFLINE_SCOPES]
            return self.issue(app, app.client_credentials_user_id, scopes, refresh=None, with_refresh=False)
        raise TokenError("unsupported_grant_type", "grant type not supported")

    def _jwt_bearer(self, assertion: str) -> dict[str, Any]:
        """The JWT bearer grant, checked in Salesforce's order: client, signature, expiry, audience,
        user. Every refusal is Salesforce's ``invalid_grant`` body except an unknown consumer key."""
        header, claims, signed, signature = _split_jwt(assertion)
        app = self.apps.get(str(claims.get("iss") or ""))
        if app is None:
            raise TokenError("invalid_client_id", "client identifier invalid")
        if header.get("alg") != "RS256" or app.certificate is None:
            raise TokenError("invalid_grant", "invalid assertion")
        if not _verify_rs256(app.certificate, signed, signature):
            raise TokenError("invalid_grant", "invalid assertion")
        now = self.org.clock.now()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise TokenError("invalid_grant", "invalid assertion")
        expires = dt.datetime.fromtimestamp(exp, tz=dt.UTC)
        if expires <= now:
            raise TokenError("invalid_grant", "expired authorization code")
        if expires > now + JWT_MAX_LIFETIME + JWT_SKEW:
            raise TokenError("invalid_grant", "invalid assertion")
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if self.org.base_url.rstrip("/") not in [str(a).rstrip("/") for a in audiences]:
            raise TokenError("invalid_grant", "audience is invalid")
        user_id = self.org.user_id_for(str(claims.get("sub") or "")) if claims.get("sub") else None
        if user_id is None or not self._approved(app, user_id):
            raise TokenError("invalid_grant", "user hasn't approved this consumer")
        if not self.org.user_active(user_id):
            raise TokenError("invalid_grant", "inactive user")
        scopes = [s for s in app.scopes if s not in _OFFLINE_SCOPES]
        return self.issue(app, user_id, scopes, refresh=None, with_refresh=False)

    def _approved(self, app: ConnectedApp, user_id: str) -> bool:
        """Pre-authorised by an admin, or approved by the user in a flow that issued a refresh token
        (Salesforce looks for such an approval when no admin pre-authorisation applies)."""
        if user_id in app.jwt_user_ids:
            return True
        approvals = self.refresh_tokens.values()
        return any(r.client_id == app.client_id and r.user_id == user_id for r in approvals)

    def _require_secret(self, form: dict[str, str]) -> bool:
        app = self.apps.get(form.get("client_id", ""))
        return app.require_secret if app is not None else True

    # -- /services/oauth2/revoke ---------------------------------------------------------------
    def revoke(self, req: Request) -> Response:
        form = {k: v[0] for k, v in req.query.items() if v}
        form.update({k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items() if v})
        token = form.get("token", "")
        if self.revoke_refresh(token):
            self.org.touch()
            return Response.empty(200)
        if self.access_tokens.pop(token, None) is not None:
            self.org.touch()
            return Response.empty(200)
        return TokenError("unsupported_token_type", "this token type is not supported").response()

    # -- identity ------------------------------------------------------------------------------
    def identity(self, req: Request, org_id: str, user_id: str) -> Response:
        token = req.header("authorization") or ""
        if not token and req.param("oauth_token"):
            token = "Bearer " + (req.param("oauth_token") or "")
        session = self.authenticate(token)
        if session is None:
            return Response.text(403, "Bad_OAuth_Token")
        if org_id[:15] != self.org.org_id[:15]:
            return Response.text(403, "Wrong_Org")
        user = self.org.user(user_id)
        if user is None:
            return Response.text(404, "Bad_Id")
        return Response.json(200, self.org.identity_document(user))

    def userinfo(self, req: Request) -> Response:
        session = self.authenticate(req.header("authorization"))
        if session is None:
            return Response.text(403, "Bad_OAuth_Token")
        user = self.org.user(session.user_id)
        if user is None:
            return Response.text(404, "Bad_Id")
        doc = self.org.identity_document(user)
        return Response.json(
            200,
            {
                "sub": doc["id"],
                "user_id": doc["user_id"],
                "organization_id": doc["organization_id"],
                "preferred_username": doc["username"],
                "nickname": doc["nick_name"],
                "name": doc["display_name"],
                "email": doc["email"],
                "email_verified": True,
                "given_name": doc["first_name"],
                "family_name": doc["last_name"],
                "zoneinfo": doc["timezone"],
                "urls": doc["urls"],
                "active": doc["active"],
                "user_type": doc["user_type"],
                "language": doc["language"],
                "locale": doc["locale"],
                "utcOffset": doc["utcOffset"],
                "updated_at": doc["last_modified_date"],
            },
        )


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _split_jwt(assertion: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signed part, signature) of a compact JWS; ``invalid assertion`` if malformed."""
    parts = assertion.strip().split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not three parts")
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise TokenError("invalid_grant", "invalid assertion") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("invalid_grant", "invalid assertion")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def public_key_problem(pem: str) -> str | None:
    """Why ``pem`` (a certificate or public key) cannot verify RS256 assertions, or None."""
    try:
        _rsa_public_key(pem)
    except ValueError as exc:
        return str(exc)
    return None


def _rsa_public_key(pem: str) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = pem.encode("utf-8")
    try:
        key = (
            x509.load_pem_x509_certificate(data).public_key()
            if b"CERTIFICATE" in data
            else load_pem_public_key(data)
        )
    except ValueError:
        raise ValueError("certificate must be a PEM certificate or public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("certificate must hold an RSA key")
    return key


def _verify_rs256(pem: str, signed: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        _rsa_public_key(pem).verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
