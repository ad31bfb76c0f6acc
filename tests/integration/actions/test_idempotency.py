"""``Idempotency-Key`` on create-type actions: a retry returns the first result and creates nothing."""

from __future__ import annotations

import time

import boto3

from tests.fixtures.actions import ActionApi, seed_connection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import OrgReader, Seed


def named(org: OrgReader, sobject: str, name: str) -> list[str]:
    return [r["Id"] for r in org.query(f"SELECT Id FROM {sobject} WHERE Name = '{name}'")]  # noqa: S608


def test_a_retried_create_returns_the_first_result(action_api: ActionApi, org: OrgReader) -> None:
    headers = {"Idempotency-Key": "order-1001"}
    first = action_api.post("accounts", {"Name": "Idem Corp"}, headers=headers)
    assert first.status == 201, first
    assert "Idempotent-Replayed" not in first.headers
    second = action_api.post("accounts", {"Name": "Idem Corp"}, headers=headers)
    assert second.status == 201, second
    assert second.body == first.body
    assert second.headers["Idempotent-Replayed"] == "true"
    assert named(org, "Account", "Idem Corp") == [first.body["id"]]


def test_the_same_key_with_another_body_is_refused(action_api: ActionApi, org: OrgReader) -> None:
    headers = {"Idempotency-Key": "order-1002"}
    assert action_api.post("accounts", {"Name": "First Body"}, headers=headers).status == 201
    other = action_api.post("accounts", {"Name": "Second Body"}, headers=headers)
    assert other.status == 422, other
    assert other.error["code"] == "idempotency_key_reused"
    assert other.error["fields"] == ["Idempotency-Key"]
    assert named(org, "Account", "Second Body") == []


def test_without_a_key_or_with_new_keys_each_request_creates(action_api: ActionApi, org: OrgReader) -> None:
    assert action_api.post("accounts", {"Name": "Twice"}).status == 201
    assert action_api.post("accounts", {"Name": "Twice"}).status == 201
    assert action_api.post("accounts", {"Name": "Twice"}, headers={"Idempotency-Key": "a"}).status == 201
    assert action_api.post("accounts", {"Name": "Twice"}, headers={"Idempotency-Key": "b"}).status == 201
    assert len(named(org, "Account", "Twice")) == 4


def test_a_failed_attempt_is_not_remembered(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader
) -> None:
    sf_emulator.add_fault("error", status=503, path="/composite", count=1)
    headers = {"Idempotency-Key": "order-1003"}
    failed = action_api.post("accounts", {"Name": "After Outage"}, headers=headers)
    assert failed.status == 503, failed
    assert named(org, "Account", "After Outage") == []
    retried = action_api.post("accounts", {"Name": "After Outage"}, headers=headers)
    assert retried.status == 201, retried
    assert named(org, "Account", "After Outage") == [retried.body["id"]]


def test_keys_are_scoped_per_connection_and_action(
    action_api: ActionApi, aws: AwsEnv, sf_emulator: EmulatorHandle, org: OrgReader, seed: Seed
) -> None:
    seed_connection(aws, sf_emulator, "conn-other")
    headers = {"Idempotency-Key": "shared-key"}
    assert action_api.post("accounts", {"Name": "Scoped"}, headers=headers).status == 201
    other = ActionApi("conn-other").post("accounts", {"Name": "Scoped"}, headers=headers)
    assert other.status == 201, other
    assert len(named(org, "Account", "Scoped")) == 2
    comment = action_api.post(f"cases/{seed.case}/comments", {"CommentBody": "Scoped"}, headers=headers)
    assert comment.status == 201, comment
    assert "Idempotent-Replayed" not in comment.headers


def test_records_live_in_the_state_table_with_a_ttl(action_api: ActionApi, aws: AwsEnv) -> None:
    assert action_api.post("accounts", {"Name": "Stored"}, headers={"Idempotency-Key": "k-1"}).status == 201
    items = boto3.client("dynamodb", region_name=aws.region).scan(TableName=aws.table_name)["Items"]
    records = [i for i in items if i["pk"]["S"].startswith("IDEMPOTENCY#")]
    assert len(records) == 1
    record = records[0]
    assert record["pk"]["S"].startswith("IDEMPOTENCY#accounts.create#")
    assert record["sk"]["S"] == "IDEMPOTENCY"
    assert record["status"]["S"] == "COMPLETED"
    expires = int(record["expires_at"]["N"])
    assert 23 * 3600 < expires - time.time() <= 24 * 3600
