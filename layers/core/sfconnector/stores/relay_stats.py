"""How the relay is doing, per connection: what ``GET /connections/{cid}/realtime`` shows under
``relay`` (docs/realtime.md, "Is real time working?"). Two small items in the connection's
partition (``CONNECTION#<cid>``: deleting the connection deletes them), read together in one Query:

* ``sk = RELAYHEALTH#relay``, written by the relay function at most once per SQS batch and
  connection (one GetItem, one conditional PutItem on ``rev``; a concurrent batch's write makes it
  read again, at most :data:`_ATTEMPTS` times, then the batch's figures are dropped, logged: they
  are statistics and never fail a batch): the changes relayed, the trigger events published, the
  changes skipped as duplicates, the last change (its commit time from the change header, when it
  was relayed), per object the same, and the lags (relayed - committed, milliseconds) of the last
  :data:`LAG_WINDOW` changes relayed, newest last (comma-separated in one string).
* ``sk = RELAYHEALTH#reconciliation``, written by the poller once per cycle that reconciled a
  relayed object (one UpdateItem): when, which objects, how many changes the relay had delivered
  (recorded, not sent again) and how many it had missed (sent by the poll, with the id the relay
  would have given them), and the running total of the missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from sfconnector.models import validate_connection_id
from sfconnector.stores.connections import _is_conditional_failure, _unwire, _wire
from sfconnector.stores.dynamo import DynamoStore

__all__ = [
    "HEALTH_PREFIX",
    "LAG_WINDOW",
    "BatchFigures",
    "ObjectFigures",
    "ReconciliationFigures",
    "RelayStats",
    "lags_of",
]

HEALTH_PREFIX = "RELAYHEALTH#"
_RELAY = f"{HEALTH_PREFIX}relay"
_RECONCILIATION = f"{HEALTH_PREFIX}reconciliation"
LAG_WINDOW = 100
"""Lag samples kept: the last 100 changes relayed (ten full SQS batches or more)."""
_ATTEMPTS = 3


@dataclass
class ObjectFigures:
    """One object's share of a batch (or of the stored totals)."""

    changes: int = 0
    last_commit_ms: int = 0
    last_relayed_ms: int = 0


@dataclass
class BatchFigures:
    """What one SQS batch relayed for one connection."""

    relayed_ms: int
    """When the batch's changes were published (the relay's clock)."""
    changes: int = 0
    events: int = 0
    duplicates: int = 0
    lags_ms: list[int] = field(default_factory=list)
    """relayed - committed, per change published, in commit order."""
    objects: dict[str, ObjectFigures] = field(default_factory=dict)

    def add(self, sobject: str, commit_ms: int, events: int) -> None:
        self.changes += 1
        self.events += events
        self.lags_ms.append(max(self.relayed_ms - commit_ms, 0))
        figures = self.objects.setdefault(sobject, ObjectFigures())
        figures.changes += 1
        figures.last_commit_ms = max(figures.last_commit_ms, commit_ms)
        figures.last_relayed_ms = self.relayed_ms


@dataclass(frozen=True)
class ReconciliationFigures:
    at: int
    """Epoch seconds (the poller's clock)."""
    objects: list[str]
    known: int
    """Changes the relay had delivered (recorded as seen, not sent again)."""
    missed: dict[str, int]
    """Per reconciled object: changes the relay had missed, sent by the poll."""


def lags_of(item: Mapping[str, Any] | None) -> list[int]:
    """The stored lags (ms, oldest first)."""
    text = str((item or {}).get("lags_ms") or "")
    return [int(v) for v in text.split(",") if v]


def _merge(item: Mapping[str, Any] | None, batch: BatchFigures) -> dict[str, Any]:
    """The stored figures with the batch's added (pure)."""
    old = dict(item or {})
    objects: dict[str, Any] = {str(k): dict(v) for k, v in (old.get("objects") or {}).items()}
    for sobject, figures in batch.objects.items():
        was = objects.get(sobject) or {}
        objects[sobject] = {
            "changes": int(was.get("changes", 0)) + figures.changes,
            "commit_ms": max(int(was.get("commit_ms", 0)), figures.last_commit_ms),
            "relayed_ms": figures.last_relayed_ms,
        }
    # The last change relayed: the newest commit of the newest batch (a retried old batch says so).
    newest = max(batch.objects.items(), key=lambda kv: kv[1].last_commit_ms, default=None)
    last = (
        {"sobject": newest[0], "commit_ms": newest[1].last_commit_ms, "relayed_ms": batch.relayed_ms}
        if newest is not None
        else old.get("last")
    )
    lags = lags_of(old) + batch.lags_ms
    return {
        "rev": int(old.get("rev", 0)) + 1,
        "changes": int(old.get("changes", 0)) + batch.changes,
        "events": int(old.get("events", 0)) + batch.events,
        "duplicates": int(old.get("duplicates", 0)) + batch.duplicates,
        "since_ms": int(old.get("since_ms", batch.relayed_ms)),
        "last": last,
        # One string, not a list of numbers: a tenth of the (de)serialising time per batch.
        "lags_ms": ",".join(map(str, lags[-LAG_WINDOW:])),
        "objects": objects,
    }


class RelayStats(DynamoStore):
    """The relay's figures and the last reconciliation's findings of connections."""

    @staticmethod
    def _pk(connection_id: str) -> str:
        return f"CONNECTION#{validate_connection_id(connection_id)}"

    def record_batch(self, connection_id: str, batch: BatchFigures) -> int:
        """Add a batch's figures; returns the writes made (1; 0 when concurrent batches kept
        winning, the figures dropped)."""
        key = {"pk": self._pk(connection_id), "sk": _RELAY}
        consistent = False
        for _ in range(_ATTEMPTS):
            raw = self.client.get_item(TableName=self.table_name, Key=_wire(key), ConsistentRead=consistent)
            old = _unwire(raw["Item"]) if "Item" in raw else None
            new = _merge(old, batch)
            condition: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(pk)"}
                if old is None
                else {
                    "ConditionExpression": "#r = :r",
                    "ExpressionAttributeNames": {"#r": "rev"},
                    "ExpressionAttributeValues": _wire({":r": int(old.get("rev", 0))}),
                }
            )
            try:
                self.client.put_item(TableName=self.table_name, Item=_wire({**key, **new}), **condition)
            except ClientError as exc:
                if not _is_conditional_failure(exc):
                    raise
                consistent = True  # another batch wrote meanwhile: read its figures
                continue
            return 1
        return 0

    def record_reconciliation(self, connection_id: str, findings: ReconciliationFigures) -> None:
        """The last reconciliation's findings (one UpdateItem; the missed total accumulates)."""
        self.client.update_item(
            TableName=self.table_name,
            Key=_wire({"pk": self._pk(connection_id), "sk": _RECONCILIATION}),
            UpdateExpression="SET #at = :at, objects = :o, known = :k, missed = :m "
            "ADD missed_total :t, reconciliations :one",
            ExpressionAttributeNames={"#at": "at"},
            ExpressionAttributeValues=_wire(
                {
                    ":at": int(findings.at),
                    ":o": list(findings.objects),
                    ":k": int(findings.known),
                    ":m": {k: int(v) for k, v in findings.missed.items()},
                    ":t": sum(findings.missed.values()),
                    ":one": 1,
                }
            ),
        )

    def read(self, connection_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the relay's figures, the last reconciliation's), None when absent: one Query."""
        answer = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues=_wire({":pk": self._pk(connection_id), ":p": HEALTH_PREFIX}),
        )
        items = {str(i["sk"]): i for i in (_unwire(raw) for raw in answer.get("Items", []))}
        return items.get(_RELAY), items.get(_RECONCILIATION)
