"""The OAuth building blocks on their own: login host policy, PKCE, result pages, callback URL."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from sfconnector.api.connections import callback_url_for
from sfconnector.oauth.flow import Identity, authorize_url
from sfconnector.oauth.hosts import InvalidEnvironmentError, LoginHosts, SalesforceHosts
from sfconnector.oauth.pages import SECURITY_HEADERS, CallbackPage
from sfconnector.oauth.pkce import PkcePair, new_state, s256_challenge
from sfconnector.runtime import reset_runtime

from tests.integration.connections.apigw import api_event


@pytest.mark.parametrize(
    ("environment", "kind", "url"),
    [
        ("production", "production", "https://login.salesforce.com"),
        ("  Production ", "production", "https://login.salesforce.com"),
        ("sandbox", "sandbox", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", "my_domain", "https://acme.my.salesforce.com"),
        (
            "https://ACME--uat.sandbox.my.salesforce.com/",
            "my_domain",
            "https://acme--uat.sandbox.my.salesforce.com",
        ),
        ("https://acme.my.salesforce.com:443", "my_domain", "https://acme.my.salesforce.com:443"),
    ],
)
def test_login_hosts_resolve_keywords_and_my_domains(environment: str, kind: str, url: str) -> None:
    assert LoginHosts().resolve(environment) == (kind, url)


@pytest.mark.parametrize(
    "environment",
    [
        "staging",
        "http://acme.my.salesforce.com",  # plain http
        "https://user:pw@acme.my.salesforce.com",  # credentials
        "https://acme.my.salesforce.com/services/oauth2",  # a path
        "https://acme.my.salesforce.com?x=1",
        "https://10.0.0.5",  # IP literal: never a My Domain
        "https://169.254.169.254",
        "https://localhost",
        "http://127.0.0.1:8080",  # loopback only with the opt-in
        "https://-bad-.example.com",
        "ftp://acme.my.salesforce.com",
        "https://intranet",  # single label
    ],
)
def test_login_hosts_reject_unsafe_my_domains(environment: str) -> None:
    with pytest.raises(InvalidEnvironmentError):
        LoginHosts().resolve(environment)


def test_loopback_my_domain_only_when_listed_exactly() -> None:
    local = SalesforceHosts(local_origins=frozenset({"http://127.0.0.1:5555"}))
    hosts = LoginHosts(production="http://127.0.0.1:1111", allow_insecure_loopback=True, policy=local)
    assert hosts.resolve("http://127.0.0.1:5555") == ("my_domain", "http://127.0.0.1:5555")
    assert hosts.resolve("production") == ("production", "http://127.0.0.1:1111")
    for other in ("http://127.0.0.1:5556", "http://192.168.1.10:5555", "https://127.0.0.1:5555"):
        with pytest.raises(InvalidEnvironmentError):
            hosts.resolve(other)


def test_pkce_pair_is_s256_of_a_fresh_verifier() -> None:
    first, second = PkcePair.generate(), PkcePair.generate()
    verifier = first.verifier.get_secret_value()
    assert 43 <= len(verifier) <= 128
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert first.challenge == digest
    assert first.verifier != second.verifier
    assert verifier not in repr(first)
    # RFC 7636 appendix B test vector.
    assert s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    with pytest.raises(ValueError, match="43-128"):
        s256_challenge("short")
    assert new_state() != new_state()


def test_authorize_url_carries_pkce_state_and_redirect() -> None:
    url = authorize_url(
        "https://test.salesforce.com",
        client_id="3MVG9abc",
        redirect_uri="https://x.execute-api.us-east-1.amazonaws.com/v1/oauth/callback",
        state="st",
        code_challenge="ch",
        scope="api refresh_token",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "test.salesforce.com",
        "/services/oauth2/authorize",
    )
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": "3MVG9abc",
        "redirect_uri": "https://x.execute-api.us-east-1.amazonaws.com/v1/oauth/callback",
        "state": "st",
        "code_challenge": "ch",
        "code_challenge_method": "S256",
        "scope": "api refresh_token",
    }


def test_identity_ids_from_the_id_url() -> None:
    identity = Identity.from_id_url("https://login.salesforce.com/id/00D000000000001EAA/005000000000001AAA")
    assert identity is not None
    assert (identity.organization_id, identity.user_id) == ("00D000000000001EAA", "005000000000001AAA")
    assert Identity.from_id_url("https://login.salesforce.com/services/oauth2/token") is None


def test_result_page_escapes_everything() -> None:
    page = CallbackPage(
        ok=False,
        status_code=400,
        title="Salesforce connection failed",
        message='Salesforce reported <script>alert("x")</script>.',
        reason="authorization_error",
        details=[("<b>Org</b>", "a&b")],
        hint="'quoted' \"hint\"",
    )
    html = page.render()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;Org&lt;/b&gt;" in html
    assert "a&amp;b" in html
    assert SECURITY_HEADERS["Content-Security-Policy"].startswith("default-src 'none'")
    assert SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"
    assert SECURITY_HEADERS["Cache-Control"] == "no-store"


@pytest.fixture
def callback_env(aws: object) -> object:
    reset_runtime()
    yield aws
    reset_runtime()


def test_callback_url_follows_the_request_host_and_stage(callback_env: object) -> None:
    deployed = APIGatewayProxyEvent(api_event("POST", "/connections", body={}))
    assert (
        callback_url_for(deployed)
        == "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1/oauth/callback"
    )

    # A custom domain with a base path mapping: requestContext.path holds the base path.
    custom = api_event("POST", "/connections", body={}, domain="api.example.com")
    custom["requestContext"]["path"] = "/salesforce/connections"
    assert (
        callback_url_for(APIGatewayProxyEvent(custom)) == "https://api.example.com/salesforce/oauth/callback"
    )

    local = api_event("GET", "/connections", domain="127.0.0.1:3000", scheme="http")
    assert callback_url_for(APIGatewayProxyEvent(local)) == "http://127.0.0.1:3000/v1/oauth/callback"


def test_configured_callback_url_wins(callback_env: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH_CALLBACK_URL", "https://connect.example.com/oauth/callback/")
    reset_runtime()
    event = APIGatewayProxyEvent(api_event("POST", "/connections", body={}))
    assert callback_url_for(event) == "https://connect.example.com/oauth/callback"
