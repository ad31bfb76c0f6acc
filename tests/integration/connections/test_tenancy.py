"""Tenants through the connections function: the owner comes from the caller's IAM identity (an
assumed role's sessions are one tenant), each tenant lists and reaches only its own connections,
the admin principal lists all, a request without identity is refused, secrets carry their tenant."""

from __future__ import annotations

import boto3
import pytest

from tests.fixtures.aws import AwsEnv
from tests.integration.connections.harness import ConnectionsApi

ALICE = "arn:aws:iam::111111111111:user/alice-platform"
BOB_ROLE = "arn:aws:iam::222222222222:role/bob-workflows"
BOB_SESSION_1 = "arn:aws:sts::222222222222:assumed-role/bob-workflows/worker-1"
BOB_SESSION_2 = "arn:aws:sts::222222222222:assumed-role/bob-workflows/worker-2"
ADMIN = "arn:aws:iam::999999999999:role/platform-admin"


def _create(connections: ConnectionsApi, caller: str, name: str) -> str:
    body = {"name": name, "client_id": connections.client_id, "client_secret": connections.client_secret}
    result = connections.call("POST", "/connections", body, user_arn=caller)
    assert result.status == 201, result.body
    return str(result.json()["connection_id"])


def _listed(connections: ConnectionsApi, caller: str) -> set[str]:
    result = connections.call("GET", "/connections", user_arn=caller)
    assert result.status == 200, result.body
    return {c["connection_id"] for c in result.json()["connections"]}


def test_each_tenant_lists_and_reaches_only_its_own_connections(
    connections: ConnectionsApi, aws: AwsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_PRINCIPAL", ADMIN)
    alice = _create(connections, ALICE, "Alice's org")
    bob = _create(connections, BOB_SESSION_1, "Bob's org")

    assert _listed(connections, ALICE) == {alice}
    # Another session of the same role is the same tenant.
    assert _listed(connections, BOB_SESSION_2) == {bob}
    assert _listed(connections, ADMIN) == {alice, bob}

    own = connections.call("GET", f"/connections/{bob}", user_arn=BOB_SESSION_2)
    assert own.status == 200
    assert own.json()["tenant_id"] == BOB_ROLE
    foreign = connections.call("GET", f"/connections/{bob}", user_arn=ALICE)
    missing = connections.call("GET", "/connections/0123456789abcdef0123456789abcdef", user_arn=ALICE)
    assert foreign.status == missing.status == 404
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "connection_not_found"
    assert connections.call("DELETE", f"/connections/{bob}", user_arn=ALICE).status == 404
    assert _listed(connections, BOB_SESSION_1) == {bob}  # still there

    # Each secret carries its owner, for the tenant-access role's policy.
    secrets = boto3.client("secretsmanager", region_name=aws.region)
    tags = {
        t["Key"]: t["Value"] for t in secrets.describe_secret(SecretId=f"{aws.secret_prefix}{bob}")["Tags"]
    }
    assert tags["tenant"] == BOB_ROLE


def test_a_request_without_identity_is_refused_unless_a_default_tenant_is_set(
    connections: ConnectionsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEFAULT_TENANT")
    refused = connections.call("GET", "/connections", iam=False)
    assert refused.status == 403
    assert refused.json()["error"]["code"] == "caller_unknown"


def test_connections_from_before_tenancy_belong_to_the_configured_tenant(
    connections: ConnectionsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fixtures.actions import seed_connection

    seed_connection(connections.aws, connections.emulator, "legacy-conn", tenant_id=None)
    assert _listed(connections, ALICE) == set()
    assert connections.call("GET", "/connections/legacy-conn", user_arn=ALICE).status == 404
    monkeypatch.setenv("UNOWNED_CONNECTIONS_TENANT", ALICE)
    from sfconnector.runtime import reset_runtime

    reset_runtime()
    assert _listed(connections, ALICE) == {"legacy-conn"}
    assert connections.call("GET", "/connections/legacy-conn", user_arn=ALICE).status == 200


def test_adopting_connections_from_before_tenancy_tags_their_secrets_and_records(
    connections: ConnectionsApi, aws: AwsEnv
) -> None:
    from sfconnector.api.adopt_unowned import main

    from tests.fixtures.actions import seed_connection

    seed_connection(connections.aws, connections.emulator, "legacy-conn", tenant_id=None)
    owned = _create(connections, BOB_SESSION_1, "Bob's org")

    assert main(["--tenant", ALICE]) == 0
    assert main(["--tenant", ALICE]) == 0  # idempotent: nothing left to adopt

    assert _listed(connections, ALICE) == {"legacy-conn"}
    assert _listed(connections, BOB_ROLE) == {owned}  # an owned connection keeps its owner
    secrets = boto3.client("secretsmanager", region_name=aws.region)
    described = secrets.describe_secret(SecretId=f"{aws.secret_prefix}legacy-conn")
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["tenant"] == ALICE
