"""The poller's state in the state table: stream cursors with their seen-sets, and the poll lease.

* ``sk = POLL_LEASE``: one item per connection while a poll runs (conditional put with an expiry:
  two runs of one connection never overlap, a crashed run's lease expires).
* ``sk = CURSOR#<sObject>``: the shared stream of an sObject (every subscription on it that has
  caught up); ``sk = CURSOR#<sObject>#CATCHUP#<sid>``: a backfilling subscription's own stream
  until it reaches the shared one. One item per stream, written once per cycle at most.

* ``sk = CURSOR#<sObject>#LISTVIEW#<15-char list view id>``: one entered-list-view group (every
  subscription on that list view): the list view's describe ``query``, when it was read, and the
  current members as fixed-width text, **15 bytes per member** (15-character record ids).

* ``sk = SNAPSHOT#<stream>#<field>#<bucket>``: field matched on a field without history tracking:
  the value hash of the watched field per record the stream processed and the record version it
  was recorded at, 256 buckets by record id, **30 bytes per record** (15-character id + 8 base-36
  characters of the value's hash + 7 base-36 digits of the version; items written before the
  version was kept have 23-byte entries, read as version unknown). Outside the ``CURSOR#``
  prefix: only the buckets of the records a cycle reads are fetched.

The seen-set is kept in the cursor item as fixed-width text, 23 bytes per (record, change):
15-character record id + 1 change code + 7 base-36 digits of the record version (epoch seconds).
See docs/triggers.md for its bound.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from sfconnector.models import validate_connection_id
from sfconnector.stores.connections import _is_conditional_failure, _unwire, _wire
from sfconnector.stores.dynamo import DynamoStore

__all__ = [
    "CURSOR_PREFIX",
    "ITEM_MAX_BYTES",
    "LEASE_SK",
    "MEMBER_BYTES",
    "SEEN_ENTRY_BYTES",
    "SNAPSHOT_ENTRY_BYTES",
    "SNAPSHOT_PREFIX",
    "CursorStore",
    "LeaseLostError",
    "ListViewState",
    "StreamState",
    "decode_seen",
    "encode_seen",
    "snapshot_bucket",
    "snapshot_parts",
    "snapshot_value",
    "stream_sk",
]

CURSOR_PREFIX = "CURSOR#"
LEASE_SK = "POLL_LEASE"
_VERSION_DIGITS = 7  # base 36: up to 78 364 164 095 s, i.e. beyond the year 4400
_KEY_CHARS = 16
SEEN_ENTRY_BYTES = _KEY_CHARS + _VERSION_DIGITS
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


MEMBER_BYTES = 15
ITEM_MAX_BYTES = 380_000
"""The bound of a stream's item (DynamoDB's 400 KB less a margin for attribute names and types):
the seen-set gets what the other attributes leave (:meth:`StreamState.fit`)."""
SNAPSHOT_PREFIX = "SNAPSHOT#"
SNAPSHOT_ENTRY_BYTES = 30
_HASH_ONLY_ENTRY_BYTES = 23
"""A snapshot entry as written before the version was kept (id + hash)."""
SNAPSHOT_BUCKET_MAX = 12_000
"""Records one bucket keeps (360 KB of the 400 KB item); past it the oldest-sorted are dropped
(they count as never seen: first seen again already equal, they do not fire)."""


def snapshot_bucket(record_id: str) -> str:
    """The bucket (two hex digits) of a record: records spread evenly over the 256 buckets."""
    return hashlib.sha256(record_id[:15].encode()).hexdigest()[:2]


def _snapshot_sk(stream: str, field: str, bucket: str) -> str:
    return f"{SNAPSHOT_PREFIX}{stream.removeprefix(CURSOR_PREFIX)}#{field.lower()}#{bucket}"


LIST_VIEW_MARK = "#LISTVIEW#"


def snapshot_value(digest: str, version: int | None) -> str:
    """A snapshot entry's value as the store keeps it in memory: the value hash and the record
    version it was recorded at (0: unknown, an entry written before versions were kept)."""
    return digest[:8] + _b36(version or 0)


def snapshot_parts(value: str) -> tuple[str, int | None]:
    """(value hash, version or None) of a snapshot entry's value."""
    version = int(value[8:] or "0", 36)
    return value[:8], version or None


def list_view_sk(sobject: str, list_view_id: str) -> str:
    return f"{CURSOR_PREFIX}{sobject}{LIST_VIEW_MARK}{list_view_id[:15]}"


def stream_sk(sobject: str, catchup_for: str | None = None) -> str:
    return f"{CURSOR_PREFIX}{sobject}" + (f"#CATCHUP#{catchup_for}" if catchup_for else "")


def _b36(value: int) -> str:
    out = []
    for _ in range(_VERSION_DIGITS):
        value, digit = divmod(value, 36)
        out.append(_DIGITS[digit])
    return "".join(reversed(out))


def encode_seen(seen: dict[str, int]) -> str:
    """``{"<15-char id><code>": version}`` as fixed-width text (sorted: deterministic items)."""
    for key in seen:
        if len(key) != _KEY_CHARS:
            raise ValueError(f"seen-set key {key!r} is not {_KEY_CHARS} characters")
    return "".join(f"{key}{_b36(version)}" for key, version in sorted(seen.items()))


def decode_seen(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(text) - SEEN_ENTRY_BYTES + 1, SEEN_ENTRY_BYTES):
        entry = text[start : start + SEEN_ENTRY_BYTES]
        out[entry[:_KEY_CHARS]] = int(entry[_KEY_CHARS:], 36)
    return out


class StreamState(BaseModel):
    """One stream's position. Times are epoch seconds (Salesforce stamps have second precision)."""

    model_config = ConfigDict(extra="ignore")

    sobject: str
    catchup_for: str | None = None
    """The subscription a catch-up stream serves (None: the sObject's shared stream)."""
    cursor: int
    """Every row stamped before ``cursor`` has been processed (rows inside the lookback are re-read
    and filtered through ``seen``)."""
    resume_at: int | None = None
    cursor_id: str | None = None
    """(``resume_at``, ``cursor_id``): the SystemModstamp and Id of the last row processed when a
    window stopped part-way; the next cycle's query resumes right after it (a keyset)."""
    prev_cursor: int
    """The cursor before the last advance: a record created before ``cursor`` but modified inside
    the safety margin of the last poll was never seen; its creation is at or after this."""
    drain_low: int | None = None
    """While a backlog drains over several cycles (keyset resumes), and for one complete cycle
    after: the oldest change the first stopped cycle could still owe. A record modified again past
    the drain position is read only when the drain gets there, with its History rows (and its
    creation) from as far back as this."""
    seen: dict[str, int] = Field(default_factory=dict)
    seen_floor: int = 0
    """Versions at or below this count as seen (the set overflowed its bound and dropped them)."""
    pending: dict[str, list[str]] = Field(default_factory=dict)
    """Seen keys whose event SNS did not accept for these subscriptions (re-sent next cycle)."""
    members: list[str] = Field(default_factory=list)
    """Shared stream: the subscriptions it serves (a new one with an earlier start catches up first)."""
    fields: list[str] | None = None
    """Every field of the sObject the query can select (from its describe), for subscriptions
    that want every field."""
    fields_at: int | None = None
    snapshots: list[str] = Field(default_factory=list)
    """The fields (lower case) whose snapshot the stream keeps (``SNAPSHOT#`` items)."""
    missing: dict[str, int] = Field(default_factory=dict)
    """Fields (lower case) the sObject's query was refused for (``INVALID_FIELD``: deleted by an
    admin) and when: left out of the query, and the subscriptions naming them held out, until
    the poller tries them again."""
    updated_at: int = 0

    @property
    def sk(self) -> str:
        return stream_sk(self.sobject, self.catchup_for)

    def item_bytes(self, connection_id: str) -> int:
        """The item's size as DynamoDB counts it (attribute names plus values; numbers as text)."""
        return sum(
            len(name) + len(str(value).encode()) for name, value in self.to_item(connection_id).items()
        )

    def fit(self, connection_id: str, seen_max: int, *, read_before: int | None = None) -> int:
        """Trim the seen-set to ``seen_max`` entries and to what the item's other attributes
        leave of :data:`ITEM_MAX_BYTES`, oldest versions first (they count as seen through
        ``seen_floor``): the item always fits, whatever the field list or members. Returns the
        entries dropped.

        ``read_before``: every row stamped before it has been read, not necessarily the rows at
        or after it (a backlog drained over cycles resumes in the middle of a second). The floor
        stays below it: a change not read yet never counts as seen (it would be lost); an entry
        dropped at or above it may be sent again with the same id when its row is re-read."""
        rest = self.model_copy(update={"seen": {}}).item_bytes(connection_id)
        room = ITEM_MAX_BYTES - rest - 16  # seen_floor may grow by up to 16 digits
        keep = max(0, min(seen_max, room // SEEN_ENTRY_BYTES))
        if len(self.seen) <= keep:
            return 0
        ordered = sorted(self.seen.items(), key=lambda kv: kv[1])
        dropped = ordered[: len(ordered) - keep]
        floor = max(v for _, v in dropped)
        if read_before is not None:
            floor = min(floor, read_before - 1)
        self.seen_floor = max(self.seen_floor, floor)
        self.seen = dict(ordered[len(dropped) :])
        return len(dropped)

    def to_item(self, connection_id: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": f"CONNECTION#{validate_connection_id(connection_id)}",
            "sk": self.sk,
            "sobject": self.sobject,
            "cursor": self.cursor,
            "prev_cursor": self.prev_cursor,
            "seen": encode_seen(self.seen),
            "seen_floor": self.seen_floor,
            "updated_at": self.updated_at,
        }
        if self.catchup_for:
            item["catchup_for"] = self.catchup_for
        if self.cursor_id and self.resume_at is not None:
            item["cursor_id"] = self.cursor_id
            item["resume_at"] = self.resume_at
        if self.drain_low is not None:
            item["drain_low"] = self.drain_low
        if self.pending:
            item["pending"] = json.dumps(self.pending, separators=(",", ":"), sort_keys=True)
        if self.members:
            item["members"] = ",".join(sorted(self.members))
        if self.fields is not None:
            item["fields"] = ",".join(self.fields)
            item["fields_at"] = self.fields_at or 0
        if self.snapshots:
            item["snapshots"] = ",".join(sorted(self.snapshots))
        if self.missing:
            item["missing"] = ",".join(f"{name}:{at}" for name, at in sorted(self.missing.items()))
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StreamState:
        data = {k: v for k, v in item.items() if k not in ("pk", "sk")}
        data["seen"] = decode_seen(str(data.get("seen") or ""))
        data["pending"] = json.loads(data["pending"]) if data.get("pending") else {}
        data["members"] = [m for m in str(data.get("members") or "").split(",") if m]
        data["snapshots"] = [m for m in str(data.get("snapshots") or "").split(",") if m]
        data["missing"] = {
            name: int(at)
            for name, _, at in (m.partition(":") for m in str(data.get("missing") or "").split(",") if m)
        }
        if "fields" in data:
            data["fields"] = [f for f in str(data["fields"]).split(",") if f]
        for name in (
            "cursor",
            "prev_cursor",
            "resume_at",
            "drain_low",
            "seen_floor",
            "fields_at",
            "updated_at",
        ):
            if data.get(name) is not None:
                data[name] = int(data[name])
        return cls.model_validate(data)


class ListViewState(BaseModel):
    """An entered-list-view group: who is in the list view now (as far as the poller saw)."""

    model_config = ConfigDict(extra="ignore")

    sobject: str
    list_view_id: str
    query: str | None = None
    """The list view's describe ``query`` (None: not read yet)."""
    query_at: int = 0
    baselined: bool = False
    """``members`` holds the list view's full membership (False: the next cycle reads it whole,
    firing only for records created after the subscriptions started)."""
    members: set[str] = Field(default_factory=set)
    """15-character ids of the records in the list view."""
    newcomers: set[str] = Field(default_factory=set)
    """Records the membership's first read found in the list view but changed after its window:
    not members yet. When its row is read, a newcomer is decided as the first read decides
    (it fires only when created since the subscriptions started) and joins the members."""
    updated_at: int = 0

    @property
    def sk(self) -> str:
        return list_view_sk(self.sobject, self.list_view_id)

    def to_item(self, connection_id: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": f"CONNECTION#{validate_connection_id(connection_id)}",
            "sk": self.sk,
            "sobject": self.sobject,
            "list_view_id": self.list_view_id,
            "query_at": self.query_at,
            "baselined": self.baselined,
            "members": "".join(sorted(self.members)),
            "updated_at": self.updated_at,
        }
        if self.newcomers:
            item["newcomers"] = "".join(sorted(self.newcomers))
        if self.query is not None:
            item["query"] = self.query
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ListViewState:
        def ids(name: str) -> set[str]:
            text = str(item.get(name) or "")
            return {text[i : i + MEMBER_BYTES] for i in range(0, len(text) - MEMBER_BYTES + 1, MEMBER_BYTES)}

        return cls(
            sobject=str(item["sobject"]),
            list_view_id=str(item["list_view_id"]),
            query=item.get("query"),
            query_at=int(item.get("query_at") or 0),
            baselined=bool(item.get("baselined")),
            members=ids("members"),
            newcomers=ids("newcomers"),
            updated_at=int(item.get("updated_at") or 0),
        )


class LeaseLostError(RuntimeError):
    """The poll's lease expired and another run took it (or the connection was deleted)."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(f"the poll lease of {connection_id} is no longer this run's")


class CursorStore(DynamoStore):
    """Stream states and the poll lease of connections (one DynamoDB client, obtained lazily)."""

    @staticmethod
    def _pk(connection_id: str) -> str:
        return f"CONNECTION#{validate_connection_id(connection_id)}"

    # ---- lease -----------------------------------------------------------------------------------

    def acquire_lease(self, connection_id: str, owner: str, *, now: float, seconds: float) -> bool:
        """Take the connection's poll lease unless another run holds an unexpired one."""
        item = {
            "pk": self._pk(connection_id),
            "sk": LEASE_SK,
            "owner": owner,
            # The table's TTL attribute: DynamoDB also deletes a long-expired lease by itself.
            "expires_at": int(now + seconds),
            "acquired_at": datetime.fromtimestamp(now, UTC).isoformat(),
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_wire(item),
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues=_wire({":now": int(now)}),
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def holds_lease(self, connection_id: str, owner: str) -> bool:
        """Whether ``owner`` still holds the connection's lease (one consistent GetItem)."""
        item = self.client.get_item(
            TableName=self.table_name,
            Key=_wire({"pk": self._pk(connection_id), "sk": LEASE_SK}),
            ConsistentRead=True,
        ).get("Item")
        return item is not None and _unwire(item).get("owner") == owner

    def release_lease(self, connection_id: str, owner: str) -> None:
        """Give the lease back (only ours: an expired one may already be another run's)."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=_wire({"pk": self._pk(connection_id), "sk": LEASE_SK}),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=_wire({":owner": owner}),
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    # ---- streams ---------------------------------------------------------------------------------

    def load(self, connection_id: str) -> dict[str, StreamState]:
        """Every stream of the connection by ``sk`` (one Query)."""
        return self.load_all(connection_id)[0]

    def load_all(self, connection_id: str) -> tuple[dict[str, StreamState], dict[str, ListViewState]]:
        """Every stream and list view group of the connection by ``sk`` (one Query)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _wire({":pk": self._pk(connection_id), ":prefix": CURSOR_PREFIX}),
            "ConsistentRead": True,
        }
        out: dict[str, StreamState] = {}
        views: dict[str, ListViewState] = {}
        while True:
            page = self.client.query(**kwargs)
            for raw in page.get("Items", []):
                item = _unwire(raw)
                if LIST_VIEW_MARK in str(item.get("sk")):
                    view = ListViewState.from_item(item)
                    views[view.sk] = view
                    continue
                state = StreamState.from_item(item)
                out[state.sk] = state
            last = page.get("LastEvaluatedKey")
            if not last:
                return out, views
            kwargs["ExclusiveStartKey"] = last

    def save(
        self, connection_id: str, state: StreamState | ListViewState, *, lease_owner: str | None = None
    ) -> int:
        """Write one stream (one PutItem); returns the item's size in bytes (for the metrics).
        ``lease_owner``: only while that run still holds the connection's lease (one
        TransactWriteItems with a check of the lease item), so a poll that lost its lease cannot
        overwrite the next one's state, and a deleted connection's items are not recreated;
        :class:`LeaseLostError` otherwise."""
        item = state.to_item(connection_id)
        if lease_owner is None:
            self.client.put_item(TableName=self.table_name, Item=_wire(item))
            return len(json.dumps(item, default=str))
        check = {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": _wire({"pk": self._pk(connection_id), "sk": LEASE_SK}),
                "ConditionExpression": "#owner = :owner",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": _wire({":owner": lease_owner}),
            }
        }
        try:
            self.client.transact_write_items(
                TransactItems=[check, {"Put": {"TableName": self.table_name, "Item": _wire(item)}}]  # type: ignore[list-item]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise LeaseLostError(connection_id) from None
            raise
        return len(json.dumps(item, default=str))

    def delete(self, connection_id: str, sk: str) -> None:
        self.client.delete_item(
            TableName=self.table_name, Key=_wire({"pk": self._pk(connection_id), "sk": sk})
        )

    # ---- field snapshots -------------------------------------------------------------------------

    def load_snapshot(
        self, connection_id: str, stream: str, field: str, buckets: set[str]
    ) -> tuple[dict[str, dict[str, str]], int]:
        """The named buckets of a stream's snapshot of ``field`` (``{bucket: {15-char id: value}}``,
        values as :func:`snapshot_value` makes them, missing buckets empty) and the number of
        BatchGetItem requests it took."""
        out: dict[str, dict[str, str]] = {b: {} for b in buckets}
        keys = [
            _wire({"pk": self._pk(connection_id), "sk": _snapshot_sk(stream, field, b)})
            for b in sorted(buckets)
        ]
        requests = 0
        while keys:
            chunk, keys = keys[:100], keys[100:]
            ask: dict[str, Any] = {self.table_name: {"Keys": chunk, "ConsistentRead": True}}
            while ask:
                answer = self.client.batch_get_item(RequestItems=ask)
                requests += 1
                for raw in answer.get("Responses", {}).get(self.table_name, []):
                    item = _unwire(raw)
                    text = str(item.get("entries") or "")
                    width = int(item.get("width") or _HASH_ONLY_ENTRY_BYTES)  # older items: no version
                    out[str(item["bucket"])] = {
                        text[i : i + 15]: snapshot_value(*snapshot_parts(text[i + 15 : i + width]))
                        for i in range(0, len(text) - width + 1, width)
                    }
                ask = answer.get("UnprocessedKeys") or {}
        return out, requests

    def save_snapshot(
        self, connection_id: str, stream: str, field: str, buckets: dict[str, dict[str, str]]
    ) -> int:
        """Write the named buckets whole (BatchWriteItem, 25 per request); returns the requests."""
        puts = []
        for bucket, entries in sorted(buckets.items()):
            kept = sorted(entries.items())[-SNAPSHOT_BUCKET_MAX:]
            item = {
                "pk": self._pk(connection_id),
                "sk": _snapshot_sk(stream, field, bucket),
                "bucket": bucket,
                "width": SNAPSHOT_ENTRY_BYTES,
                "entries": "".join(f"{rid}{snapshot_value(*snapshot_parts(value))}" for rid, value in kept),
            }
            puts.append({"PutRequest": {"Item": _wire(item)}})
        return self.batch_write(puts)

    def delete_snapshot(self, connection_id: str, stream: str, field: str) -> int:
        """Forget a stream's snapshot of ``field`` (no subscription watches it any more)."""
        prefix = _snapshot_sk(stream, field, "")
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _wire({":pk": self._pk(connection_id), ":prefix": prefix}),
            "ProjectionExpression": "sk",
        }
        requests = 0
        while True:
            page = self.client.query(**kwargs)
            requests += 1
            for raw in page.get("Items", []):
                self.client.delete_item(
                    TableName=self.table_name,
                    Key={"pk": _wire({"pk": self._pk(connection_id)})["pk"], "sk": raw["sk"]},
                )
                requests += 1
            last = page.get("LastEvaluatedKey")
            if not last:
                return requests
            kwargs["ExclusiveStartKey"] = last
