"""SubscriptionRepository and the subscription models against moto's DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from pydantic import ValidationError
from sfconnector.models.subscriptions import Subscription, SubscriptionCreate, SubscriptionPatch
from sfconnector.stores.subscriptions import SubscriptionNotFoundError, SubscriptionRepository
from sfconnector.triggers.subscriptions import StartOutOfWindowError, check_start

from tests.fixtures.aws import AwsEnv

CID = "conn-1"


@pytest.fixture
def repo(aws: AwsEnv) -> SubscriptionRepository:
    return SubscriptionRepository(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)


def _sub(sid: str = "a" * 32, cid: str = CID, **extra: object) -> Subscription:
    return Subscription.model_validate(
        {
            "subscription_id": sid,
            "connection_id": cid,
            "trigger": "opportunities.field_matched",
            "kind": "field_matched",
            "family": "opportunities",
            "sobject": "Opportunity",
            "params": {"field": "Amount", "value": 120.5, "mode": "equals"},
            "start_at": "2026-11-30T10:00:00.123456Z",
            **extra,
        }
    )


def test_item_layout_and_round_trip(repo: SubscriptionRepository, aws: AwsEnv) -> None:
    stored = repo.put(_sub(fields=["Id", "Amount"]))
    raw = boto3.client("dynamodb").get_item(
        TableName=aws.table_name,
        Key={"pk": {"S": f"CONNECTION#{CID}"}, "sk": {"S": "SUBSCRIPTION#" + "a" * 32}},
    )["Item"]
    assert raw["status"] == {"S": "active"}
    assert raw["start_at"] == {"S": "2026-11-30T10:00:00Z"}  # UTC, second precision
    assert "last_error" not in raw
    got = repo.get(CID, "a" * 32)
    assert got == stored
    assert got.params["value"] == 120.5  # floats survive DynamoDB
    assert got.fields == ["Id", "Amount"]


def test_get_unknown_or_malformed_raises(repo: SubscriptionRepository) -> None:
    with pytest.raises(SubscriptionNotFoundError):
        repo.get(CID, "b" * 32)
    with pytest.raises(SubscriptionNotFoundError):
        repo.get(CID, "not-an-id")


def test_list_is_one_connection_only_all_pages(repo: SubscriptionRepository, aws: AwsEnv) -> None:
    # Big params make the items large enough that the Query needs several pages (1 MB each).
    blob = "x" * 300_000
    for i in range(8):
        repo.put(
            _sub(
                f"{i:032x}",
                created_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=i),
                params={"field": "Name", "value": blob},
            )
        )
    repo.put(_sub("f" * 32, cid="conn-2"))
    client = boto3.client("dynamodb", region_name=aws.region)
    first = client.query(
        TableName=aws.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"CONNECTION#{CID}"}},
    )
    assert "LastEvaluatedKey" in first  # the listing below must really follow pages
    subs = repo.list(CID)
    assert [s.subscription_id for s in subs] == [f"{i:032x}" for i in range(8)]
    assert [s.subscription_id for s in repo.list("conn-2")] == ["f" * 32]
    assert repo.list("conn-3") == []


def test_list_ignores_the_connections_other_items(repo: SubscriptionRepository, aws: AwsEnv) -> None:
    repo.put(_sub())
    client = boto3.client("dynamodb", region_name=aws.region)
    for sk in ("META", "CURSOR#Account", "POLL_LEASE", "TOKEN_REFRESH_LOCK"):
        client.put_item(TableName=aws.table_name, Item={"pk": {"S": f"CONNECTION#{CID}"}, "sk": {"S": sk}})
    assert [s.subscription_id for s in repo.list(CID)] == ["a" * 32]


def test_update_sets_removes_and_stamps(repo: SubscriptionRepository) -> None:
    created = repo.put(_sub(fields=["Id"], updated_at="2026-11-30T10:00:00Z"))
    updated = repo.update(
        CID,
        created.subscription_id,
        status="paused",
        fields=None,
        params={"field": "StageName", "value": "Closed Won"},
    )
    assert updated.status == "paused"
    assert updated.fields is None
    assert updated.params == {"field": "StageName", "value": "Closed Won"}
    assert updated.updated_at > created.updated_at
    assert updated.created_at == created.created_at
    assert repo.get(CID, created.subscription_id) == updated


def test_update_refuses_unknown_fields_and_missing_items(repo: SubscriptionRepository) -> None:
    repo.put(_sub())
    with pytest.raises(ValueError, match="trigger"):
        repo.update(CID, "a" * 32, trigger="leads.created")
    with pytest.raises(ValidationError):
        repo.update(CID, "a" * 32, status="sleeping")
    with pytest.raises(SubscriptionNotFoundError):
        repo.update(CID, "c" * 32, status="paused")
    with pytest.raises(SubscriptionNotFoundError):
        repo.get(CID, "c" * 32)  # the failed update created nothing


def test_record_error_and_clear(repo: SubscriptionRepository) -> None:
    repo.put(_sub())
    assert repo.record_error(CID, "a" * 32, "INVALID_FIELD: No such column 'Gone__c'" + "!" * 1000)
    got = repo.get(CID, "a" * 32)
    assert got.last_error is not None
    assert got.last_error.startswith("INVALID_FIELD")
    assert len(got.last_error) == 500
    assert got.last_error_at is not None
    assert repo.record_error(CID, "a" * 32, None)
    cleared = repo.get(CID, "a" * 32)
    assert cleared.last_error is None
    assert cleared.last_error_at is None
    assert repo.record_error(CID, "d" * 32, "late") is False  # deleted meanwhile: nothing written
    with pytest.raises(SubscriptionNotFoundError):
        repo.get(CID, "d" * 32)


def test_delete(repo: SubscriptionRepository) -> None:
    repo.put(_sub())
    assert repo.delete(CID, "a" * 32) is True
    assert repo.delete(CID, "a" * 32) is False
    assert repo.list(CID) == []


def test_client_or_factory(aws: AwsEnv) -> None:
    client = boto3.client("dynamodb", region_name=aws.region)
    SubscriptionRepository(client, aws.table_name).put(_sub())
    calls: list[int] = []

    def factory() -> object:
        calls.append(1)
        return client

    lazy = SubscriptionRepository(factory, aws.table_name)  # type: ignore[arg-type]
    assert calls == []  # nothing built before the first call
    assert len(lazy.list(CID)) == 1
    lazy.list(CID)
    assert calls == [1]


# ---------------------------------------------------------------------------------------- models


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def test_create_defaults() -> None:
    body = SubscriptionCreate.model_validate({"trigger": "leads.created"})
    assert body.start == "now"
    assert body.params == {}
    assert body.fields is None
    assert not body.ignore_own_changes
    now = datetime(2026, 12, 1, 12, 0, 0, 999, tzinfo=UTC)
    assert body.start_at(now) == now.replace(microsecond=0)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2026-11-30T10:00:00", "timezone"),
        ("yesterday", "datetime"),
    ],
)
def test_create_refuses_bad_start(start: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        SubscriptionCreate.model_validate({"trigger": "leads.created", "start": start})
    errors = info.value.errors()
    assert all(e["loc"][0] == "start" for e in errors)
    assert any(message in e["msg"] for e in errors)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (_iso(timedelta(days=31)), "future"),
        (_iso(timedelta(hours=1)), "future"),
        (_iso(-timedelta(days=30, minutes=1)), "30 days"),
    ],
)
def test_create_refuses_a_start_outside_the_window(start: str, message: str) -> None:
    # The window is a rule of the clock (not in the document): the service checks it.
    body = SubscriptionCreate.model_validate({"trigger": "leads.created", "start": start})
    with pytest.raises(StartOutOfWindowError) as info:
        check_start(body, datetime.now(UTC))
    assert info.value.fields == ["start"]
    assert info.value.code == "start_out_of_window"
    assert message in info.value.message


def test_create_backfill_within_window() -> None:
    start = datetime.now(UTC) - timedelta(days=29, hours=23)
    body = SubscriptionCreate.model_validate({"trigger": "leads.created", "start": start.isoformat()})
    assert body.start == start.replace(microsecond=0)
    # A start slightly ahead (clock skew) is taken as now, not refused.
    ahead = SubscriptionCreate.model_validate(
        {"trigger": "leads.created", "start": _iso(timedelta(minutes=2))}
    )
    now = datetime.now(UTC)
    check_start(ahead, now)
    assert ahead.start_at(now) == now.replace(microsecond=0)


def test_create_refuses_unknown_keys_and_bad_fields() -> None:
    with pytest.raises(ValidationError) as info:
        SubscriptionCreate.model_validate(
            {"trigger": "leads.created", "fields": ["Name", "bad field"], "x": 1}
        )
    assert {e["loc"][0] for e in info.value.errors()} == {"fields", "x"}
    deduped = SubscriptionCreate.model_validate(
        {"trigger": "leads.created", "fields": ["Name", "name", "Id"]}
    )
    assert deduped.fields == ["Name", "Id"]


def test_patch_needs_something_and_knows_null() -> None:
    with pytest.raises(ValidationError):
        SubscriptionPatch.model_validate({})
    with pytest.raises(ValidationError, match="status cannot be null"):
        SubscriptionPatch.model_validate({"status": None})
    patch = SubscriptionPatch.model_validate({"fields": None})
    assert patch.model_fields_set == {"fields"}
    assert patch.fields is None
