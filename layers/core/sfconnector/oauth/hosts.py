"""Which login host a connection authorises against: production, sandbox or a My Domain URL.

The environment a caller gives is either a keyword (``production``, ``sandbox``) or the org's
My Domain URL. My Domain URLs are validated strictly because the connections function later sends
the Connected App's client secret and the refresh token to that host: only ``https`` origins with
a DNS host name (no user info, path, query or fragment, no IP literal) are accepted. Loopback
``http`` URLs are allowed only when the deployment opts in (local stack and tests).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

PRODUCTION_LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"

EnvironmentKind = Literal["production", "sandbox", "my_domain"]

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class InvalidEnvironmentError(ValueError):
    """The environment is neither a keyword nor an acceptable My Domain URL."""


@dataclass(frozen=True)
class LoginHosts:
    """Login URLs for the two keyword environments, and the My Domain policy.

    The defaults are Salesforce's; the local stack and tests point them at the emulator.
    """

    production: str = PRODUCTION_LOGIN_URL
    sandbox: str = SANDBOX_LOGIN_URL
    allow_insecure_loopback: bool = False

    def resolve(self, environment: str) -> tuple[EnvironmentKind, str]:
        """Map an environment to ``(kind, login_url)``; the URL has no trailing slash."""
        value = environment.strip()
        keyword = value.lower()
        if keyword == "production":
            return "production", self.production.rstrip("/")
        if keyword == "sandbox":
            return "sandbox", self.sandbox.rstrip("/")
        return "my_domain", self.validate_my_domain(value)

    def validate_my_domain(self, url: str) -> str:
        """Return the normalised origin of a My Domain URL or raise InvalidEnvironmentError."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise InvalidEnvironmentError("environment must be production, sandbox or a URL") from exc
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        if scheme not in {"https", "http"} or not host:
            raise InvalidEnvironmentError(
                "environment must be 'production', 'sandbox' or a My Domain URL such as "
                "https://yourcompany.my.salesforce.com"
            )
        if parts.username is not None or parts.password is not None:
            raise InvalidEnvironmentError("a My Domain URL must not contain user information")
        if parts.path not in {"", "/"} or parts.query or parts.fragment:
            raise InvalidEnvironmentError("a My Domain URL is an origin only: no path, query or fragment")
        loopback = host in _LOOPBACK_HOSTS
        if scheme == "http":
            if not (loopback and self.allow_insecure_loopback):
                raise InvalidEnvironmentError("a My Domain URL must use https")
        elif not loopback:
            _check_dns_name(host)
        if loopback and not self.allow_insecure_loopback:
            raise InvalidEnvironmentError("a My Domain URL must name a public Salesforce host")
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc = f"{netloc}:{port}"
        return f"{scheme}://{netloc}"


def _check_dns_name(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise InvalidEnvironmentError("a My Domain URL must use a host name, not an IP address")
    labels = host.rstrip(".").split(".")
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels) or len(host) > 253:
        raise InvalidEnvironmentError("a My Domain URL must have a valid host name")
