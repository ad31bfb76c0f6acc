"""ConnectionRepository against moto's DynamoDB (the table template.yaml declares)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from pydantic import ValidationError
from sfconnector.salesforce.client import LimitInfo
from sfconnector.stores.connections import (
    ConnectionExistsError,
    ConnectionNotFoundError,
    ConnectionRecord,
    ConnectionRepository,
)

from tests.fixtures.aws import AwsEnv


@pytest.fixture
def repo(aws: AwsEnv) -> ConnectionRepository:
    return ConnectionRepository(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)


def _record(cid: str = "conn-1", **extra: object) -> ConnectionRecord:
    return ConnectionRecord.model_validate(
        {
            "connection_id": cid,
            "name": "Acme production",
            "login_url": "https://login.salesforce.com",
            **extra,
        }
    )


def test_item_layout_matches_the_architecture(repo: ConnectionRepository, aws: AwsEnv) -> None:
    repo.create(_record(client_id="3MVG9", redirect_uri="https://api.example.com/v1/oauth/callback"))
    raw = boto3.client("dynamodb").get_item(
        TableName=aws.table_name, Key={"pk": {"S": "CONNECTION#conn-1"}, "sk": {"S": "META"}}
    )["Item"]
    assert raw["status"] == {"S": "pending"}
    assert raw["environment"] == {"S": "production"}
    assert "instance_url" not in raw  # None fields are left out
    assert not any("secret" in key or "token" in key for key in raw)


def test_create_get_update_delete(repo: ConnectionRepository) -> None:
    created = repo.create(_record())
    assert repo.get("conn-1") == created
    with pytest.raises(ConnectionExistsError):
        repo.create(_record())

    updated = repo.update(
        "conn-1",
        status="connected",
        instance_url="https://acme.my.salesforce.com",
        org_id="00D5e000000ABCDEAA",
        user_id="0055e000001XYZAAA2",
        username="admin@acme.com",
    )
    assert updated.status == "connected"
    assert updated.created_at == created.created_at
    assert updated.updated_at >= created.updated_at
    assert repo.get("conn-1") == updated

    cleared = repo.update("conn-1", username=None)
    assert cleared.username is None
    assert cleared.org_id == "00D5e000000ABCDEAA"

    assert repo.delete("conn-1") is True
    assert repo.get("conn-1") is None
    assert repo.delete("conn-1") is False
    with pytest.raises(ConnectionNotFoundError):
        repo.require("conn-1")


def test_update_validates_and_refuses_unknown_fields(repo: ConnectionRepository) -> None:
    repo.create(_record())
    with pytest.raises(ValidationError):
        repo.update("conn-1", status="exploded")
    with pytest.raises(ValueError, match="connection_id"):
        repo.update("conn-1", connection_id="other")
    with pytest.raises(ValueError, match="password"):
        repo.update("conn-1", password="x")
    with pytest.raises(ConnectionNotFoundError):
        repo.update("missing", status="connected")
    assert repo.get("missing") is None  # update never creates


def test_conditional_status_transition(repo: ConnectionRepository) -> None:
    repo.create(_record())
    repo.update("conn-1", if_status="pending", status="connected")
    with pytest.raises(ConnectionNotFoundError):
        repo.update("conn-1", if_status="pending", status="needs_reauth")
    record = repo.require("conn-1")
    assert record.status == "connected"


def test_api_usage_round_trips(repo: ConnectionRepository) -> None:
    repo.create(_record())
    stored = repo.record_api_usage("conn-1", LimitInfo(used=1234, max=15000))
    assert stored.api_usage == LimitInfo(used=1234, max=15000)
    assert stored.api_usage_at is not None
    assert repo.require("conn-1").api_usage == LimitInfo(used=1234, max=15000)


def test_list_returns_only_connections_oldest_first(repo: ConnectionRepository, aws: AwsEnv) -> None:
    table = boto3.resource("dynamodb").Table(aws.table_name)
    table.put_item(Item={"pk": "OAUTHSTATE#abc", "sk": "STATE", "expires_at": 1})
    table.put_item(Item={"pk": "CONNECTION#conn-1", "sk": "REFRESH_LOCK", "owner": "x"})
    repo.put(_record("b", created_at=datetime(2024, 2, 1, tzinfo=UTC)))
    repo.put(_record("a", created_at=datetime(2024, 3, 1, tzinfo=UTC)))
    repo.put(_record("c", created_at=datetime(2024, 1, 1, tzinfo=UTC)))
    assert [r.connection_id for r in repo.list()] == ["c", "b", "a"]


def test_list_follows_scan_pages(repo: ConnectionRepository) -> None:
    big_name = "n" * 200
    for i in range(60):
        repo.put(_record(f"conn-{i:03d}", name=big_name, redirect_uri="https://x.example.com/" + "p" * 15000))
    assert len(repo.list()) == 60  # > 1 MB of items: DynamoDB pages the scan


@pytest.mark.parametrize("bad", ["", "CONNECTION#x", "a/b", "has space"])
def test_connection_ids_are_validated(repo: ConnectionRepository, bad: str) -> None:
    with pytest.raises(ValueError, match="connection id"):
        repo.get(bad)
    with pytest.raises(ValidationError):
        _record(bad)


def test_repr_and_lazy_table(aws: AwsEnv) -> None:
    built: list[int] = []

    def factory() -> object:
        built.append(1)
        return boto3.client("dynamodb")

    repo = ConnectionRepository(factory, aws.table_name)  # type: ignore[arg-type]
    assert built == []  # nothing is built at construction
    repo.get("x")
    repo.get("y")
    assert built == [1]
    assert aws.table_name in repr(repo)
