"""What the relay delivered (the relayed-seen set) and which objects it hands to reconciliation.

Items under the connection's stream partition (``CursorStore._pk``: ``CONNECTION#<cid>``), so
deleting a connection deletes them and the reconciliation poll reads them beside its cursors:

* ``sk = RELAYED#<sObject>#<bucket>``, bucket = the change's version // 300 (5-minute buckets of
  record versions, epoch seconds): attribute ``seen``, a map seen-set key (15-character id + change
  code, :func:`sfconnector.triggers.streams.seen_key`) -> version (int), set with
  ``SET seen.#k = :v`` AFTER the change's events were published (publish, then mark: a crash in
  between re-sends with the same ids, never loses); ``expires_at`` (TTL) = bucket end + 4 days
  (past Salesforce's 72 h event retention: no redelivery can be older).
* ``sk = RELAYED#<sObject>#reconcile``: ``since`` (epoch seconds), the object the relay could not
  serve (a GAP_OVERFLOW, a full bucket item) from that moment: the next reconciliation poll covers it.
* ``sk = RELAYED#<sObject>#dirty``: ``at`` (epoch seconds), the last time the relay published a
  change of the object for a connection with an entered-list-view trigger on it: the poller reads
  that list view when a change came after its last window (membership is not in change events).

``sk = KICK``: ``at`` (epoch seconds) and ``seq``, the prompt poll the relay last claimed (a
one-time schedule, ``PollSchedules.kick``) and its number: a change that poll's window covers asks
for no other; the next one keeps ``prompt_minutes`` from it (``triggers.prompting.next_kick``).

The buckets' sort keys compare as strings: equal-length decimal buckets (7 digits until 2065) sort
as numbers and before ``dirty``/``reconcile``, so :meth:`RelayedSeen.window` reads an sObject's
buckets from a window's start and both markers in one Query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sfconnector.models import validate_connection_id
from sfconnector.stores.connections import _is_conditional_failure, _unwire, _wire
from sfconnector.stores.dynamo import DynamoStore

__all__ = [
    "BUCKET_SECONDS",
    "RELAYED_PREFIX",
    "RETENTION_SECONDS",
    "KickClaim",
    "RelayedSeen",
    "bucket_of",
    "relayed_sk",
]

RELAYED_PREFIX = "RELAYED#"
BUCKET_SECONDS = 300
RETENTION_SECONDS = 4 * 86_400
_RECONCILE = "reconcile"
_DIRTY = "dirty"
_KICK = "KICK"
_BATCH_GET = 100
_MARKS_PER_UPDATE = 100


@dataclass(frozen=True)
class KickClaim:
    """A connection's last claimed prompt poll: its time (epoch seconds) and its number (claims
    so far - 1: the ring index of its schedule name, ``triggers.prompting.kick_index``)."""

    at: int
    seq: int


def bucket_of(version: int) -> int:
    return version // BUCKET_SECONDS


def relayed_sk(sobject: str, bucket: int | str) -> str:
    return f"{RELAYED_PREFIX}{sobject}#{bucket}"


def _item_too_large(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "size" in str(error.get("Message", "")).lower()


class RelayedSeen(DynamoStore):
    """The relayed-seen set and the reconcile markers of connections."""

    @staticmethod
    def _pk(connection_id: str) -> str:
        # The same partition as the connection's stream items (CursorStore._pk).
        return f"CONNECTION#{validate_connection_id(connection_id)}"

    def load(
        self, connection_id: str, buckets: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], dict[str, int]]:
        """The seen maps of (sObject, bucket) pairs (absent: empty), BatchGetItem 100 at a time."""
        wanted = sorted(set(buckets))
        out: dict[tuple[str, int], dict[str, int]] = {b: {} for b in wanted}
        pk = self._pk(connection_id)
        by_sk = {relayed_sk(s, b): (s, b) for s, b in wanted}
        keys = [_wire({"pk": pk, "sk": sk}) for sk in by_sk]
        while keys:
            chunk, keys = keys[:_BATCH_GET], keys[_BATCH_GET:]
            ask: dict[str, Any] = {self.table_name: {"Keys": chunk, "ConsistentRead": True}}
            while ask:
                answer = self.client.batch_get_item(RequestItems=ask)
                for raw in answer.get("Responses", {}).get(self.table_name, []):
                    item = _unwire(raw)
                    seen = item.get("seen") or {}
                    out[by_sk[str(item["sk"])]] = {str(k): int(v) for k, v in seen.items()}
                ask = dict(answer.get("UnprocessedKeys") or {})
        return out

    def mark(self, connection_id: str, sobject: str, bucket: int, entries: Mapping[str, int]) -> bool:
        """Record published changes (seen key -> version) in one bucket item: one UpdateItem per
        100 entries (DynamoDB's 4 KB update expression holds ~200; a merged event can carry many
        more records), two for a bucket's first entries. False when the item is full (the caller
        hands the object to reconciliation)."""
        ordered = sorted(entries.items())
        try:
            for start in range(0, len(ordered), _MARKS_PER_UPDATE):
                self._mark(connection_id, sobject, bucket, dict(ordered[start : start + _MARKS_PER_UPDATE]))
        except ClientError as exc:
            if _item_too_large(exc):
                return False
            raise
        return True

    def _mark(self, connection_id: str, sobject: str, bucket: int, entries: Mapping[str, int]) -> None:
        key = _wire({"pk": self._pk(connection_id), "sk": relayed_sk(sobject, bucket)})
        names = {f"#k{i}": k for i, k in enumerate(entries)}
        values: dict[str, Any] = {f":v{i}": int(v) for i, v in enumerate(entries.values())}
        values[":e"] = (bucket + 1) * BUCKET_SECONDS + RETENTION_SECONDS
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": key,
            "UpdateExpression": "SET "
            + ", ".join(f"seen.{n} = :v{i}" for i, n in enumerate(names))
            + ", expires_at = :e",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _wire(values),
        }
        try:
            self.client.update_item(**update, ConditionExpression="attribute_exists(seen)")
            return
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
        # The bucket's first entries: create the map, unless a concurrent relay just did.
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={**key, **_wire({"seen": dict(entries), "expires_at": values[":e"]})},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
        self.client.update_item(**update)

    def mark_reconcile(self, connection_id: str, sobject: str, since: int) -> None:
        """Hand the object to the next reconciliation poll from ``since`` (an earlier marker stays)."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_wire({"pk": self._pk(connection_id), "sk": relayed_sk(sobject, _RECONCILE)}),
                UpdateExpression="SET since = :s",
                ConditionExpression="attribute_not_exists(since) OR since > :s",
                ExpressionAttributeValues=_wire({":s": int(since)}),
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def reconcile_since(self, connection_id: str, sobject: str) -> int | None:
        """The object's reconcile marker (None: none)."""
        item = self.client.get_item(
            TableName=self.table_name,
            Key=_wire({"pk": self._pk(connection_id), "sk": relayed_sk(sobject, _RECONCILE)}),
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else int(_unwire(item)["since"])

    def clear_reconcile(self, connection_id: str, sobject: str, since: int) -> bool:
        """Delete the marker a reconciliation covered, only while it still holds ``since`` (a
        newer, earlier marker written meanwhile stays). False: it had changed."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=_wire({"pk": self._pk(connection_id), "sk": relayed_sk(sobject, _RECONCILE)}),
                ConditionExpression="since = :s",
                ExpressionAttributeValues=_wire({":s": int(since)}),
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            return False
        return True

    def mark_dirty(self, connection_id: str, sobject: str, at: int) -> None:
        """The relay published a change of the object at ``at`` (one UpdateItem, never moves back)."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_wire({"pk": self._pk(connection_id), "sk": relayed_sk(sobject, _DIRTY)}),
                UpdateExpression="SET #a = :a",
                ConditionExpression="attribute_not_exists(#a) OR #a < :a",
                ExpressionAttributeNames={"#a": "at"},
                ExpressionAttributeValues=_wire({":a": int(at)}),
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def kick(self, connection_id: str) -> KickClaim | None:
        """The connection's last prompt poll claim (None: never one), read consistently."""
        item = self.client.get_item(
            TableName=self.table_name,
            Key=_wire({"pk": self._pk(connection_id), "sk": _KICK}),
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        got = _unwire(item)
        return KickClaim(at=int(got["at"]), seq=int(got.get("seq", 0)))

    def claim_kick(self, connection_id: str, was: KickClaim | None, claim: KickClaim) -> bool:
        """Store ``claim`` only while the item still holds ``was`` (one conditional PutItem: of
        two relays deciding from the same claim, one wins and the other decides again). True: the
        caller schedules it."""
        return self._swap(connection_id, was, claim)

    def release_kick(self, connection_id: str, claim: KickClaim, was: KickClaim | None) -> None:
        """Undo a claim whose schedule could not be created (only while it still holds it): the
        retry decides from ``was`` again."""
        self._swap(connection_id, claim, was)

    def _swap(self, connection_id: str, was: KickClaim | None, now: KickClaim | None) -> bool:
        key = {"pk": self._pk(connection_id), "sk": _KICK}
        if was is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "#a = :a AND #s = :s",
                "ExpressionAttributeNames": {"#a": "at", "#s": "seq"},
                "ExpressionAttributeValues": _wire({":a": was.at, ":s": was.seq}),
            }
        try:
            if now is None:
                self.client.delete_item(TableName=self.table_name, Key=_wire(key), **condition)
            else:
                item = _wire({**key, "at": now.at, "seq": now.seq})
                self.client.put_item(TableName=self.table_name, Item=item, **condition)
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            return False
        return True

    def window(
        self, connection_id: str, sobject: str, low: int
    ) -> tuple[dict[str, int], int | None, int | None, int]:
        """One Query (paged past 1 MB): the seen maps of the object's buckets from ``low``'s on,
        merged (the highest version of a key), its reconcile marker's ``since`` and its dirty
        mark's ``at`` (None: absent). Returns (seen, since, dirty_at, requests)."""
        pk = self._pk(connection_id)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": _wire(
                {
                    ":pk": pk,
                    # Before 1979 a bucket has fewer digits (it would sort wrongly): from the first.
                    ":lo": relayed_sk(sobject, max(bucket_of(low), 0) if low >= 300_000_000 else "0"),
                    ":hi": relayed_sk(sobject, "~"),
                }
            ),
            "ConsistentRead": True,
        }
        seen: dict[str, int] = {}
        since: int | None = None
        dirty: int | None = None
        requests = 0
        while True:
            page = self.client.query(**kwargs)
            requests += 1
            for raw in page.get("Items", []):
                item = _unwire(raw)
                tail = str(item["sk"]).rsplit("#", 1)[1]
                if tail == _RECONCILE:
                    since = int(item["since"])
                elif tail == _DIRTY:
                    dirty = int(item["at"])
                elif tail.isdigit():
                    for key, version in (item.get("seen") or {}).items():
                        seen[str(key)] = max(int(version), seen.get(str(key), -1))
            last = page.get("LastEvaluatedKey")
            if not last:
                return seen, since, dirty, requests
            kwargs["ExclusiveStartKey"] = last
