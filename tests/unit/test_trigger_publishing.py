"""The batch publisher (moto SNS -> SQS, claim checks in moto S3) and the cursor store (moto DynamoDB)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from sfconnector.events import MAX_MESSAGE_BYTES, OutboundMessage, SnsEventPublisher
from sfconnector.stores.cursors import SEEN_ENTRY_BYTES, CursorStore, StreamState, decode_seen, encode_seen

from tests.fixtures.aws import AwsEnv, subscriber_queue


@pytest.fixture
def queue(aws: AwsEnv) -> str:
    return subscriber_queue(aws)


def _drain(aws: AwsEnv, url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=aws.region)
    out = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in got:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def _publisher(aws: AwsEnv) -> SnsEventPublisher:
    return SnsEventPublisher(
        boto3.client("sns", region_name=aws.region),
        aws.topic_arn,
        s3=boto3.client("s3", region_name=aws.region),
        bucket=aws.bucket,
    )


def test_an_envelope_over_256_kib_goes_through_s3_never_truncated(aws: AwsEnv, queue: str) -> None:
    big = {"id": "e1", "type": "cases.updated", "data": {"Description": "x" * (MAX_MESSAGE_BYTES + 10)}}
    small = {"id": "e2", "type": "cases.updated", "data": {"Description": "short"}}
    outcome = _publisher(aws).publish_batch(
        [
            OutboundMessage("e1", big, {"trigger": "cases.updated"}, claim_key="trigger-events/c/e1.json"),
            OutboundMessage("e2", small, {"trigger": "cases.updated"}),
        ]
    )
    assert outcome.accepted == {"e1", "e2"}
    assert outcome.claim_checked == 1
    delivered = {m["id"]: m for m in _drain(aws, queue)}
    assert delivered["e2"] == small
    stub = delivered["e1"]
    assert "data" not in stub
    assert stub["dataref"] == f"s3://{aws.bucket}/trigger-events/c/e1.json"
    stored = boto3.client("s3", region_name=aws.region).get_object(
        Bucket=aws.bucket, Key="trigger-events/c/e1.json"
    )
    assert json.loads(stored["Body"].read()) == big


def test_batches_hold_ten_entries_and_256_kib_at_most(aws: AwsEnv, queue: str) -> None:
    # 25 messages of ~60 KiB: four fit in one request by size, so 7 requests, not 3.
    messages = [OutboundMessage(f"m{i}", {"id": f"m{i}", "data": "y" * 60_000}) for i in range(25)]
    outcome = _publisher(aws).publish_batch(messages)
    assert len(outcome.accepted) == 25
    assert outcome.calls == 7
    tiny = [OutboundMessage(f"t{i}", {"id": f"t{i}"}) for i in range(25)]
    assert _publisher(aws).publish_batch(tiny).calls == 3
    assert len(_drain(aws, queue)) == 50


def test_seen_set_encoding_is_fixed_width_and_round_trips() -> None:
    seen = {"001Hs00000AbCdEc": 1_796_225_689, "003Hs00000ZzZzZu": 0, "a0IHs00000QqQqQd": 78_364_164_095}
    text = encode_seen(seen)
    assert len(text) == SEEN_ENTRY_BYTES * len(seen) == 23 * 3
    assert decode_seen(text) == seen
    with pytest.raises(ValueError, match="16 characters"):
        encode_seen({"short": 1})


def test_stream_state_round_trips_through_dynamodb_and_the_lease_excludes(aws: AwsEnv) -> None:
    store = CursorStore(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)
    state = StreamState(
        sobject="Lead",
        cursor=1000,
        prev_cursor=900,
        seen={"00QHs00000AbCdEc": 950},
        pending={"00QHs00000AbCdEc": ["a" * 32]},
        members=["b" * 32, "a" * 32],
        fields=["Id", "Name"],
        fields_at=5,
    )
    catchup = StreamState(sobject="Lead", catchup_for="c" * 32, cursor=10, prev_cursor=10)
    store.save("conn-1", state)
    store.save("conn-1", catchup)
    loaded = store.load("conn-1")
    assert set(loaded) == {"CURSOR#Lead", f"CURSOR#Lead#CATCHUP#{'c' * 32}"}
    assert loaded["CURSOR#Lead"].model_dump() == {**state.model_dump(), "members": sorted(state.members)}
    assert store.acquire_lease("conn-1", "run-1", now=100, seconds=60)
    assert not store.acquire_lease("conn-1", "run-2", now=159, seconds=60)
    store.release_lease("conn-1", "run-2")  # not its lease: still held
    assert not store.acquire_lease("conn-1", "run-2", now=150, seconds=60)
    assert store.acquire_lease("conn-1", "run-2", now=161, seconds=60)  # run-1 crashed: expired
    store.release_lease("conn-1", "run-2")
    assert store.acquire_lease("conn-1", "run-3", now=162, seconds=60)


def test_an_outbox_entry_of_any_size_splits_across_items_below_dynamodbs_limit(aws: AwsEnv) -> None:
    """A refused envelope is kept whole, however big (random data does not compress): each item
    stays below 400 KB, and an entry missing a part (a write killed part-way) is reported broken."""
    import os

    from sfconnector.stores.outbox import PART_BYTES, OutboxEntry, OutboxStore

    client = boto3.client("dynamodb", region_name=aws.region)
    store = OutboxStore(lambda: client, aws.table_name)
    big = OutboxEntry(
        id="b" * 32, body={"id": "b" * 32, "data": {"Blob": os.urandom(450_000).hex()}},
        attributes={"trigger": "leads.created"}, claim_key="trigger-events/c/b.json", created_at=7,
    )  # fmt: skip
    small = OutboxEntry(id="a" * 32, body={"id": "a" * 32}, created_at=5)
    store.save("conn-1", [big, small])
    items = client.query(
        TableName=aws.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "CONNECTION#conn-1"}},
    )["Items"]
    assert len(items) == 3  # 900 KB of hex compress to ~450 KB: two parts, plus the small one
    assert max(len(i["body"]["B"]) for i in items) <= PART_BYTES
    entries, broken = store.load("conn-1")
    assert broken == []
    assert [e.id for e in entries] == [small.id, big.id]  # oldest first
    assert entries[1].body == big.body
    assert entries[1].attributes == big.attributes
    assert entries[1].claim_key == big.claim_key
    first_part, second_part = entries[1].stored_keys
    store.delete("conn-1", [second_part])
    entries, broken = store.load("conn-1")
    assert [e.id for e in entries] == [small.id]
    assert broken == [first_part]


def test_a_stream_item_fits_dynamodb_whatever_its_field_list_and_members(aws: AwsEnv) -> None:
    """As in the issue: 12 000 seen pairs + 800 fields + many members passed 400 KB (the
    PutItem after a successful publish failed, and every cycle re-sent). The seen-set now gets
    what the other attributes leave of the item's bound, oldest versions dropped first."""
    from sfconnector.stores.cursors import ITEM_MAX_BYTES

    state = StreamState(
        sobject="Account",
        cursor=2_000_000_000,
        prev_cursor=2_000_000_000,
        seen={f"001Hs{n:010d}u": 1_900_000_000 + n for n in range(12_000)},
        members=[f"{n:032x}" for n in range(3_000)],
        fields=[f"A_Rather_Long_Custom_Field_Name_{n:04d}__c" for n in range(800)],
    )
    assert state.item_bytes("conn-1") > 400_000
    dropped = state.fit("conn-1", seen_max=12_000)
    assert dropped > 0
    assert state.item_bytes("conn-1") <= ITEM_MAX_BYTES
    assert state.seen_floor == 1_900_000_000 + dropped - 1  # the oldest went; they count as seen
    store = CursorStore(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)
    store.save("conn-1", state)  # DynamoDB (moto) takes it
    assert store.load("conn-1")["CURSOR#Account"].seen == state.seen
