"""The poller's outbox: trigger events SNS refused, kept until SNS accepts them.

``sk = OUTBOX#<event id>#<part>`` under the connection's ``pk``. A refused envelope is stored
whole (its message attributes and claim key too), zlib-compressed, and split over as many items
as it needs, each part at most :data:`PART_BYTES` (DynamoDB's 400 KB item limit, less the keys):
an envelope of any size fits by construction. The poller writes the outbox before it commits the
stream state that moved past the events, and re-sends every entry at the start of each cycle with
the same id, so a refused event never depends on its record's row coming back.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sfconnector.models import validate_connection_id
from sfconnector.stores.connections import _unwire, _wire
from sfconnector.stores.dynamo import DynamoStore

__all__ = ["OUTBOX_PREFIX", "PART_BYTES", "OutboxEntry", "OutboxStore"]

OUTBOX_PREFIX = "OUTBOX#"
PART_BYTES = 300_000
"""Compressed bytes per item: with the keys and attributes, well below DynamoDB's 400 KB."""


@dataclass(frozen=True)
class OutboxEntry:
    """One refused message: what the publisher needs to send it again, and when it was refused."""

    id: str
    body: Mapping[str, Any]
    attributes: Mapping[str, str] = field(default_factory=dict)
    claim_key: str | None = None
    created_at: int = 0
    """Epoch seconds of the first refusal (its age raises the stale metric and alarm)."""
    stored_keys: tuple[str, ...] = ()
    """The sort keys of its items, as loaded (what deleting it removes)."""


class OutboxStore(DynamoStore):
    """The outbox entries of connections in the state table (one DynamoDB client, obtained lazily)."""

    @staticmethod
    def _pk(connection_id: str) -> str:
        return f"CONNECTION#{validate_connection_id(connection_id)}"

    def save(self, connection_id: str, entries: Iterable[OutboxEntry]) -> int:
        """Write the entries (BatchWriteItem, 25 items per request); returns the requests sent."""
        puts: list[dict[str, Any]] = []
        for entry in entries:
            packed = zlib.compress(json.dumps(dict(entry.body), separators=(",", ":"), default=str).encode())
            parts = [packed[i : i + PART_BYTES] for i in range(0, len(packed), PART_BYTES)] or [b""]
            for n, chunk in enumerate(parts):
                item: dict[str, Any] = {
                    "pk": self._pk(connection_id),
                    "sk": f"{OUTBOX_PREFIX}{entry.id}#{n:04d}",
                    "event_id": entry.id,
                    "part": n,
                    "parts": len(parts),
                    "created_at": entry.created_at,
                    "body": chunk,
                }
                if n == 0:
                    item["attributes"] = json.dumps(dict(entry.attributes), sort_keys=True)
                    if entry.claim_key:
                        item["claim_key"] = entry.claim_key
                puts.append({"PutRequest": {"Item": _wire(item)}})
        return self.batch_write(puts)

    def load(self, connection_id: str, *, limit: int | None = None) -> tuple[list[OutboxEntry], list[str]]:
        """The complete entries (oldest first; about ``limit`` items at most: the rest waits for
        the next call) and the sort keys of incomplete ones (a write killed part-way: its stream
        state was not committed, so the cycle that re-decides the event writes it again; the
        leftover parts are garbage)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _wire({":pk": self._pk(connection_id), ":prefix": OUTBOX_PREFIX}),
            "ConsistentRead": True,
        }
        if limit is not None:
            kwargs["Limit"] = limit
        grouped: dict[str, list[dict[str, Any]]] = {}
        while True:
            page = self.client.query(**kwargs)
            for raw in page.get("Items", []):
                item = _unwire(raw)
                grouped.setdefault(str(item["event_id"]), []).append(item)
            last = page.get("LastEvaluatedKey")
            if not last:
                break
            if limit is not None and sum(len(g) for g in grouped.values()) >= limit:
                # Stopped early: the last entry's other parts may lie beyond the page.
                page_items = page.get("Items", [])
                if page_items:
                    grouped.pop(str(_unwire(page_items[-1])["event_id"]), None)
                break
            kwargs["ExclusiveStartKey"] = last
        entries: list[OutboxEntry] = []
        broken: list[str] = []
        for event_id, items in grouped.items():
            items.sort(key=lambda i: int(i["part"]))
            if [int(i["part"]) for i in items] != list(range(int(items[0]["parts"]))):
                broken += [str(i["sk"]) for i in items]
                continue
            head = items[0]
            body = json.loads(zlib.decompress(b"".join(bytes(i["body"]) for i in items)))
            entries.append(
                OutboxEntry(
                    id=event_id,
                    body=body,
                    attributes=json.loads(str(head.get("attributes") or "{}")),
                    claim_key=str(head["claim_key"]) if head.get("claim_key") else None,
                    created_at=int(head.get("created_at") or 0),
                    stored_keys=tuple(str(i["sk"]) for i in items),
                )
            )
        entries.sort(key=lambda e: (e.created_at, e.id))
        return entries, broken

    def delete(self, connection_id: str, sort_keys: Iterable[str]) -> int:
        """Remove items by sort key (BatchWriteItem); returns the requests sent."""
        deletes = [
            {"DeleteRequest": {"Key": _wire({"pk": self._pk(connection_id), "sk": sk})}} for sk in sort_keys
        ]
        return self.batch_write(deletes)
