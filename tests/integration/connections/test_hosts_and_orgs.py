"""Login hosts (production, sandbox, My Domain) and several orgs used side by side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sfconnector.runtime import reset_runtime

from tests.fixtures.emulator import EmulatorHandle
from tests.integration.connections.conftest import register_app
from tests.integration.connections.harness import ConnectionsApi, connection_client

SANDBOX_ORG = "00D7x000000Sbx1"
OTHER_ORG = "00D9z000000Prd2"


@pytest.fixture
def sandbox(
    connections: ConnectionsApi,
    sf_emulator_factory: Callable[..., EmulatorHandle],
    monkeypatch: pytest.MonkeyPatch,
) -> EmulatorHandle:
    """A second emulator playing test.salesforce.com (a sandbox org)."""
    org = sf_emulator_factory(org_id=SANDBOX_ORG, org_name="Acme UAT")
    monkeypatch.setenv("SF_LOGIN_URL_SANDBOX", org.base_url)
    reset_runtime()
    return org


def _connect_to(connections: ConnectionsApi, org: EmulatorHandle, **body: Any) -> str:
    client_id, client_secret = register_app(org)
    started = connections.create(client_id=client_id, client_secret=client_secret, **body)
    assert started["authorize_url"].startswith(f"{org.base_url}/services/oauth2/authorize?")
    page = connections.callback(connections.consent(started["authorize_url"]))
    assert page.outcome == "connected", page.body
    return str(started["connection_id"])


def test_sandbox_connections_log_in_at_the_sandbox_host(
    connections: ConnectionsApi, sandbox: EmulatorHandle
) -> None:
    cid = _connect_to(connections, sandbox, environment="sandbox")
    view = connections.get(cid)
    assert view["environment"] == "sandbox"
    assert view["login_url"] == sandbox.base_url
    assert view["org_id"][:15] == SANDBOX_ORG
    assert view["instance_url"] == sandbox.base_url

    # Refreshes go to the sandbox's login host too.
    sandbox.expire_sessions()
    assert connections.call("GET", f"/connections/{cid}/objects/Account/fields").status == 200
    assert connections.secret(cid)["token_version"] == 2
    assert connections.secret(cid)["login_url"] == sandbox.base_url


def test_my_domain_connections_use_the_org_s_own_host(
    connections: ConnectionsApi,
    sf_emulator_factory: Callable[..., EmulatorHandle],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    my_domain = sf_emulator_factory(org_id=OTHER_ORG, org_name="Acme My Domain")
    cid = _connect_to(connections, my_domain, environment=my_domain.base_url + "/")
    view = connections.get(cid)
    assert view["environment"] == "my_domain"
    assert view["login_url"] == my_domain.base_url
    assert view["org_id"][:15] == OTHER_ORG

    # A loopback origin the deployment does not list exactly is not a Salesforce host.
    production = connections.emulator
    monkeypatch.setenv("SALESFORCE_LOCAL_ORIGINS", f"{production.base_url},{production.https_url}")
    reset_runtime()
    for environment in (
        my_domain.base_url,
        "https://10.1.2.3",
        "https://acme.my.salesforce.com/path",
        "staging",
    ):
        refused = connections.call(
            "POST",
            "/connections",
            {"name": "x", "environment": environment, "client_id": "id", "client_secret": "secret"},
        )
        assert refused.status == 422, refused.body
        assert refused.json()["error"]["fields"] == ["environment"]
    accepted = connections.create(environment="https://acme--uat.sandbox.my.salesforce.com")
    assert accepted["login_url"] == "https://acme--uat.sandbox.my.salesforce.com"
    assert accepted["authorize_url"].startswith(
        "https://acme--uat.sandbox.my.salesforce.com/services/oauth2/authorize?"
    )


def test_two_orgs_side_by_side(connections: ConnectionsApi, sandbox: EmulatorHandle) -> None:
    production = connections.emulator
    prod_id = connections.connect(name="Production")
    sandbox_id = _connect_to(connections, sandbox, name="Sandbox", environment="sandbox")
    listed = {c["name"]: c for c in connections.call("GET", "/connections").json()["connections"]}
    assert listed["Production"]["org_id"][:15] == production.org_id[:15]
    assert listed["Sandbox"]["org_id"][:15] == SANDBOX_ORG

    prod = connection_client(connections.aws, prod_id).client
    sbx = connection_client(connections.aws, sandbox_id).client
    prod_account = prod.create("Account", {"Name": "Made in production"})
    sbx_account = sbx.create("Account", {"Name": "Made in the sandbox"})
    assert prod.get_record("Account", prod_account)["Name"] == "Made in production"
    assert sbx.get_record("Account", sbx_account)["Name"] == "Made in the sandbox"
    # Each record exists only in its own org.
    with production.rest_client() as rest:
        assert rest.get(f"/sobjects/Account/{sbx_account}").status_code == 404
    with sandbox.rest_client() as rest:
        assert rest.get(f"/sobjects/Account/{prod_account}").status_code == 404

    # One org's sessions expire; only its connection refreshes, the other is untouched.
    sandbox_version = connections.secret(sandbox_id)["token_version"]
    production.expire_sessions()
    assert prod.get_record("Account", prod_account)["Name"] == "Made in production"
    assert sbx.get_record("Account", sbx_account)["Name"] == "Made in the sandbox"
    assert connections.secret(prod_id)["token_version"] == 2
    assert connections.secret(sandbox_id)["token_version"] == sandbox_version

    # Each connection's describe is served for its own org.
    prod_fields = connections.call("GET", f"/connections/{prod_id}/objects/Account/fields")
    sbx_fields = connections.call("GET", f"/connections/{sandbox_id}/objects/Account/fields")
    assert prod_fields.status == sbx_fields.status == 200
    assert connections.get(prod_id)["instance_url"] == production.base_url
    assert connections.get(sandbox_id)["instance_url"] == sandbox.base_url
