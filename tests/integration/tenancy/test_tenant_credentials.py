"""The action functions read a connection's secret with its tenant's credentials (the
tenant-access role assumed with the session tag ``tenant``), assumed once per tenant for a warm
container. moto does not evaluate the role's tag condition, so the test checks which credentials
signed the GetSecretValue calls (the assumed session's, never the function's own)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from sfconnector.runtime import get_runtime
from sfconnector.stores.tenant_credentials import TenantCredentials

from tests.fixtures.actions import ActionApi, SeededConnection
from tests.fixtures.aws import TEST_TENANT, AwsEnv


@pytest.fixture
def tenant_role(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
    role = boto3.client("iam", region_name=aws.region).create_role(
        RoleName="sfconnector-test-TenantAccessRole", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    monkeypatch.setenv("TENANT_ACCESS_ROLE_ARN", role)
    return str(role)


def test_secrets_are_read_with_the_tenants_assumed_credentials(
    tenant_role: str, seeded_connection: SeededConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_by: list[str] = []
    build = TenantCredentials._build

    def observed(self: TenantCredentials, tenant_id: str, service: str) -> Any:
        client = build(self, tenant_id, service)

        def record(request: Any, **_: Any) -> None:
            auth = request.headers.get("Authorization", b"")
            auth = auth.decode() if isinstance(auth, bytes) else auth
            signed_by.append(auth.split("Credential=", 1)[1].split("/", 1)[0])

        client.meta.events.register("before-send.secrets-manager.GetSecretValue", record)
        return client

    monkeypatch.setattr(TenantCredentials, "_build", observed)
    api = ActionApi(seeded_connection.connection_id)
    first = api.post("leads", {"LastName": "Tenant", "Company": "Scoped"})
    second = api.post("leads", {"LastName": "Tenant", "Company": "Again"})
    assert first.status == second.status == 201, (first, second)

    credentials = get_runtime().tenant_credentials
    assert credentials is not None
    assert credentials.role_arn == tenant_role
    assert credentials.assumed == 1  # once per tenant for a warm container
    assert signed_by  # the secret was read ...
    assert all(key != "testing" for key in signed_by)  # ... never with the function's own keys
    assert TEST_TENANT in repr(credentials._clients)


def test_credentials_are_renewed_before_they_expire(tenant_role: str, aws: AwsEnv) -> None:
    secrets = boto3.client("secretsmanager", region_name=aws.region)
    secrets.create_secret(Name="s", SecretString="{}", Tags=[{"Key": "tenant", "Value": "t"}])
    sts = boto3.client("sts", region_name=aws.region)
    # 15-minute sessions are always inside botocore's refresh window: each request renews them.
    credentials = TenantCredentials(lambda: sts, tenant_role, region=aws.region, session_seconds=900)
    client = credentials.client("t", "secretsmanager")
    client.get_secret_value(SecretId="s")
    client.get_secret_value(SecretId="s")
    assert credentials.client("t", "secretsmanager") is client
    assert credentials.assumed >= 2  # the first AssumeRole, then at least one renewal
