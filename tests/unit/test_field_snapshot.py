"""The field snapshot's value hash agrees with how field matched compares values, and its
buckets keep 30 bytes per record and read the 23-byte entries written before the version was kept
(moto's DynamoDB)."""

from __future__ import annotations

import boto3
import pytest
from sfconnector.stores.cursors import (
    SNAPSHOT_ENTRY_BYTES,
    CursorStore,
    snapshot_bucket,
    snapshot_parts,
    snapshot_value,
)
from sfconnector.triggers import streams

from tests.fixtures.aws import AwsEnv


@pytest.mark.parametrize(
    ("stored", "watched"),
    [(30000, 30000.0), (True, True), (False, False), ("Web", "Web"), (None, None), (0.5, 0.5)],
)
def test_values_field_matched_deems_equal_hash_alike(stored: object, watched: object) -> None:
    assert streams.value_hash(stored) == streams.value_hash(watched)
    assert len(streams.value_hash(stored)) == 8


@pytest.mark.parametrize(("a", "b"), [("Web", "web"), (1, 2), (True, False), ("", None), ("1", 1)])
def test_different_values_hash_apart(a: object, b: object) -> None:
    assert streams.value_hash(a) != streams.value_hash(b)


def test_buckets_round_trip_with_30_bytes_per_record(aws: AwsEnv) -> None:
    store = CursorStore(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)
    ids = [f"001Hs00000Ab{i:03d}" for i in range(300)]
    by_bucket: dict[str, dict[str, str]] = {}
    for rid in ids:
        by_bucket.setdefault(snapshot_bucket(rid), {})[rid] = snapshot_value(
            streams.value_hash(rid), 1_800_000_000
        )
    assert len(by_bucket) > 100  # the ids spread over the 256 buckets
    writes = store.save_snapshot("conn-test", "CURSOR#Account", "Rating", by_bucket)
    assert writes == -(-len(by_bucket) // 25)
    loaded, reads = store.load_snapshot("conn-test", "CURSOR#Account", "rating", set(by_bucket) | {"zz"})
    assert reads == 2  # 100 keys per BatchGetItem
    assert {b: e for b, e in loaded.items() if e} == by_bucket
    assert loaded["zz"] == {}
    assert SNAPSHOT_ENTRY_BYTES == 30
    assert store.delete_snapshot("conn-test", "CURSOR#Account", "Rating") >= len(by_bucket)
    assert store.load_snapshot("conn-test", "CURSOR#Account", "Rating", set(by_bucket))[0] == {
        b: {} for b in by_bucket
    }


def test_entries_written_before_the_version_was_kept_read_as_version_unknown(aws: AwsEnv) -> None:
    client = boto3.client("dynamodb", region_name=aws.region)
    store = CursorStore(lambda: client, aws.table_name)
    rid, digest = "001Hs00000Ab001", streams.value_hash("Web")
    bucket = snapshot_bucket(rid)
    client.put_item(  # the item as the connector wrote it before: id + hash, no width attribute
        TableName=aws.table_name,
        Item={
            "pk": {"S": "CONNECTION#conn-test"},
            "sk": {"S": f"SNAPSHOT#Account#rating#{bucket}"},
            "bucket": {"S": bucket},
            "entries": {"S": f"{rid}{digest}"},
        },
    )
    loaded, _reads = store.load_snapshot("conn-test", "CURSOR#Account", "Rating", {bucket})
    assert snapshot_parts(loaded[bucket][rid]) == (digest, None)
    store.save_snapshot("conn-test", "CURSOR#Account", "Rating", loaded)
    again, _reads = store.load_snapshot("conn-test", "CURSOR#Account", "Rating", {bucket})
    assert again == loaded
