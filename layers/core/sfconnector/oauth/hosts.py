"""Which hosts a connection may talk to: Salesforce's own, and nothing else.

The connector sends the Connected App's client secret and refresh token to the login host, and a
bearer token to the ``instance_url`` and identity (``id``) URL that the login host's token response
names. A tenant may set its My Domain to any https host, and that host's token response could name
``http://169.254.169.254`` or an internal service; the connector would then send bearer-authorised
requests there and reflect the answers. So every such URL must pass :class:`SalesforceHosts`:

* ``https`` on the default port, a DNS host name (no IP literal in any notation, no user info), and
  the host is one of Salesforce's domains or a sub-domain of one (``*.my.salesforce.com``,
  ``*.sandbox.my.salesforce.com``, ``*.force.com``, ...) or of a domain the deployment adds
  (``SALESFORCE_EXTRA_DOMAINS``: government and other clouds such as ``salesforce.mil``);
* or exactly one of the deployment's local origins (``SALESFORCE_LOCAL_ORIGINS``: loopback
  ``http(s)://127.0.0.1:<port>`` origins the local stack and tests list for their emulators).

It is checked when a connection is started (the login host), when the callback or a refresh
receives a token response (``instance_url``, ``id``), and again every time a stored URL is used, so
a URL stored before these checks existed is never called either.

The environment a caller gives is either a keyword (``production``, ``sandbox``) or the org's
My Domain URL (an origin that passes the same checks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from sfconnector.settings import CoreSettings

__all__ = [
    "DEFAULT_SALESFORCE_DOMAINS",
    "PRODUCTION_LOGIN_URL",
    "SANDBOX_LOGIN_URL",
    "EnvironmentKind",
    "InvalidEnvironmentError",
    "LoginHosts",
    "SalesforceHosts",
    "UntrustedHostError",
]

PRODUCTION_LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"

DEFAULT_SALESFORCE_DOMAINS: tuple[str, ...] = (
    "salesforce.com",  # login/test, instances (na1.), My Domains (.my., .sandbox.my., .develop.my., ...)
    "force.com",  # Lightning, Visualforce, content domains
    "salesforce-setup.com",  # Setup domains of enhanced domains
    "cloudforce.com",  # legacy instance and My Domain hosts
    "salesforce-sites.com",  # Salesforce Sites of enhanced domains (.my.salesforce-sites.com)
    "database.com",  # legacy database.com orgs
)
"""Salesforce's commercial domains; a host must be one of them or below one of them."""

EnvironmentKind = Literal["production", "sandbox", "my_domain"]

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# The whole authority, before any parsing: a strict character set leaves no room for the parser
# differentials (``\``, ``@``, ``%``-escapes, brackets) that make two libraries see two hosts.
_AUTHORITY_RE = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")


class InvalidEnvironmentError(ValueError):
    """The environment is neither a keyword nor an acceptable My Domain URL."""


class UntrustedHostError(ValueError):
    """A URL the connector would send credentials to is not a Salesforce host (the message names
    the URL's role and why, never a token)."""


@dataclass(frozen=True)
class SalesforceHosts:
    """The hosts credentials may be sent to (see the module docstring). Pure: no I/O."""

    extra_domains: tuple[str, ...] = ()
    local_origins: frozenset[str] = field(default_factory=frozenset)
    domains: tuple[str, ...] = DEFAULT_SALESFORCE_DOMAINS

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> SalesforceHosts:
        return cls(
            extra_domains=settings.salesforce_extra_domains,
            local_origins=settings.salesforce_local_origins,
        )

    def problem(self, url: str, *, origin_only: bool = True) -> str | None:
        """Why ``url`` is not allowed, or None. ``origin_only``: no path beyond ``/`` either."""
        if not isinstance(url, str) or not url:
            return "is empty"
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            return "is not a URL"
        scheme = parts.scheme.lower()
        if origin_only and (parts.path not in ("", "/") or parts.query or parts.fragment):
            return "must be an origin only (no path, query or fragment)"
        if parts.fragment:
            return "must not have a fragment"
        if f"{scheme}://{parts.netloc.lower()}" in self.local_origins:
            return None
        if "@" in parts.netloc:
            return "must not contain user information"
        if scheme != "https":
            return "must use https"
        if not _AUTHORITY_RE.match(parts.netloc):
            return "must name a Salesforce host name"
        host, _, port = parts.netloc.lower().partition(":")
        if port and port != "443":
            return "must use the default https port"
        labels = host.split(".")
        if len(host) > 253 or not all(_LABEL_RE.match(label) for label in labels):
            return "must have a valid host name"
        if _NUMERIC_LABEL.match(labels[-1]):
            # 10.0.0.5, 2130706433, 0x7f000001, 127.1: every numeric form a resolver takes as an IP.
            return "must use a host name, not an IP address"
        for domain in (*self.domains, *self.extra_domains):
            if host == domain or host.endswith("." + domain):
                return None
        return "must be a Salesforce host (e.g. https://yourcompany.my.salesforce.com)"

    def check(self, url: str, *, what: str, origin_only: bool = True) -> str:
        """``url`` itself when allowed; else UntrustedHostError saying ``what`` is wrong."""
        problem = self.problem(url, origin_only=origin_only)
        if problem is not None:
            raise UntrustedHostError(f"{what} {problem}")
        return url

    def allows(self, url: str, *, origin_only: bool = True) -> bool:
        return self.problem(url, origin_only=origin_only) is None


@dataclass(frozen=True)
class LoginHosts:
    """Login URLs for the two keyword environments, and the My Domain policy.

    The defaults are Salesforce's; the local stack and tests point them at the emulator (whose
    origin they list in the policy's local origins). ``allow_insecure_loopback`` concerns only
    http loopback redirect URIs (the local stack's callback), not Salesforce hosts.
    """

    production: str = PRODUCTION_LOGIN_URL
    sandbox: str = SANDBOX_LOGIN_URL
    allow_insecure_loopback: bool = False
    policy: SalesforceHosts = field(default_factory=SalesforceHosts)

    def resolve(self, environment: str) -> tuple[EnvironmentKind, str]:
        """Map an environment to ``(kind, login_url)``; the URL has no trailing slash."""
        value = environment.strip()
        keyword = value.lower()
        if keyword == "production":
            return "production", self.production.rstrip("/")
        if keyword == "sandbox":
            return "sandbox", self.sandbox.rstrip("/")
        return "my_domain", self.validate_my_domain(value)

    def audience(self, kind: EnvironmentKind, login_url: str) -> str:
        """The JWT bearer assertion's ``aud``: Salesforce expects its production or sandbox login
        host even when the token request goes to a My Domain (a sandbox's My Domain is
        ``<name>--<sandbox>.sandbox.my.salesforce.com``)."""
        if kind == "sandbox" or (kind == "my_domain" and ".sandbox.my." in login_url.lower()):
            return self.sandbox.rstrip("/")
        return self.production.rstrip("/")

    def validate_my_domain(self, url: str) -> str:
        """Return the normalised origin of a My Domain URL or raise InvalidEnvironmentError."""
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise InvalidEnvironmentError("environment must be production, sandbox or a URL") from exc
        if parts.scheme.lower() not in {"https", "http"} or not parts.netloc:
            raise InvalidEnvironmentError(
                "environment must be 'production', 'sandbox' or a My Domain URL such as "
                "https://yourcompany.my.salesforce.com"
            )
        problem = self.policy.problem(url)
        if problem is not None:
            raise InvalidEnvironmentError(f"a My Domain URL {problem}")
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
