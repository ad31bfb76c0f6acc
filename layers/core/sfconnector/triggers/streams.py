"""The one generic implementation of the catalog's stream definitions (:data:`sfconnector.catalog.STREAMS`).

Pure functions (no I/O): which rows of an sObject's change query fire a stream, the record version
that identifies a change, the deterministic event id, the envelope, the query itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sfconnector import catalog
from sfconnector.catalog import REPLICATION_KEY, SYSTEM_FIELDS, Stream
from sfconnector.models.subscriptions import Subscription
from sfconnector.models.trigger_events import TriggerEvent
from sfconnector.salesforce import soql

__all__ = [
    "build_event",
    "change_query",
    "event_id",
    "iso",
    "parse_stamp",
    "queryable_fields",
    "row_version",
    "seen_key",
    "select_fields",
    "stream_of",
    "subscriber_fires",
]

# Compound and binary fields cannot be selected in a multi-row query of every field.
_UNSELECTABLE_TYPES = frozenset({"address", "location", "base64"})
_CODES = {"created": "c", "updated": "u", "deleted": "d"}


def parse_stamp(value: Any) -> int | None:
    """Salesforce's ``2024-05-20T20:49:32.000+0000`` as epoch seconds (None if absent)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+0000")
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return int(datetime.strptime(text, pattern).timestamp())
        except ValueError:
            continue
    return None


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stream_of(subscription: Subscription) -> Stream | None:
    """The stream a subscription's trigger reads (None for an unknown key or a part-2 kind)."""
    try:
        return catalog.trigger(subscription.trigger).stream
    except KeyError:
        return None


def row_version(row: Mapping[str, Any], stream: Stream) -> int | None:
    """The record version at which ``row`` fires ``stream`` (None: the row does not fire it)."""
    deleted = bool(row.get("IsDeleted"))
    if (stream.rows == "live" and deleted) or (stream.rows == "deleted" and not deleted):
        return None
    version = parse_stamp(row.get(stream.version_field))
    if version is None:
        return None
    if stream.modified_only:
        # A real modification moves LastModifiedDate past CreatedDate (Salesforce stamps both at
        # insert); a SystemModstamp-only change (a roll-up, a formula's source) moves neither.
        created = parse_stamp(row.get("CreatedDate"))
        if created is None or version <= created:
            return None
    return version


def seen_key(record_id: str, stream: Stream) -> str:
    """The seen-set key of a (record, change kind): 15-character id (case-sensitive, unique) + code."""
    return record_id[:15] + _CODES[stream.event.value]


def event_id(subscription_id: str, record_id: str, stream: Stream, version: int) -> str:
    """Deterministic: the same change for the same subscription always has the same id. A record
    is created once, so its created event's id leaves the version out."""
    parts = [subscription_id, record_id[:15], stream.event.value]
    if stream.event is not catalog.ChangeEvent.CREATED:
        parts.append(str(version))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def subscriber_fires(
    subscription: Subscription, stream: Stream, row: Mapping[str, Any], version: int, own_user_id: str | None
) -> bool:
    """Whether this subscription gets an event for the row's change."""
    if subscription.status != "active" or version < int(subscription.start_at.timestamp()):
        return False
    if subscription.ignore_own_changes and own_user_id:
        actor = str(row.get(stream.actor_field) or "")
        if actor[:15] == own_user_id[:15]:
            return False
    return True


def event_data(row: Mapping[str, Any], fields: list[str] | None) -> dict[str, Any]:
    record = {k: v for k, v in row.items() if k != "attributes"}
    if fields is None:
        return record
    by_lower = {k.lower(): k for k in record}
    out: dict[str, Any] = {"Id": record.get("Id")}
    for name in fields:
        key = by_lower.get(name.lower())
        if key is not None:
            out[key] = record[key]
    return out


def build_event(
    subscription: Subscription, stream: Stream, row: Mapping[str, Any], version: int, org_id: str | None
) -> TriggerEvent:
    record_id = str(row["Id"])
    return TriggerEvent(
        id=event_id(subscription.subscription_id, record_id, stream, version),
        type=subscription.trigger,
        source=f"salesforce/{org_id or 'unknown'}",
        subject=record_id,
        time=iso(version),
        connection_id=subscription.connection_id,
        subscription_id=subscription.subscription_id,
        sobject=subscription.sobject,
        event_type=stream.event.value,
        data=event_data(row, subscription.fields),
    )


def queryable_fields(describe: Mapping[str, Any]) -> list[str]:
    """Every field a multi-row query can select, from a describe."""
    return [
        str(f["name"])
        for f in describe.get("fields", [])
        if isinstance(f, Mapping) and f.get("name") and f.get("type") not in _UNSELECTABLE_TYPES
    ]


def select_fields(subscriptions: Iterable[Subscription], every_field: list[str] | None) -> list[str]:
    """The union of what the subscriptions need, plus the system fields the engine reads."""
    chosen: dict[str, str] = {name.lower(): name for name in SYSTEM_FIELDS}
    for sub in subscriptions:
        names = every_field if sub.fields is None else sub.fields
        for name in names or ():
            chosen.setdefault(name.lower(), name)
    return list(chosen.values())


def change_query(
    sobject: str, fields: list[str], low: int, upper: int, after: tuple[int, str] | None = None
) -> str:
    """The window's query: rows stamped in [low, upper), oldest first (ties by Id). ``after``
    (stamp, Id) resumes a window that stopped part-way exactly after its last processed row (a
    keyset, never OFFSET), so a backlog larger than one cycle always makes progress."""
    stamp = soql.Lt(REPLICATION_KEY, datetime.fromtimestamp(upper, UTC))
    if after is None:
        when: soql.Condition = soql.Ge(REPLICATION_KEY, datetime.fromtimestamp(low, UTC)) & stamp
    else:
        at = datetime.fromtimestamp(after[0], UTC)
        position = soql.Gt(REPLICATION_KEY, at) | (soql.Eq(REPLICATION_KEY, at) & soql.Gt("Id", after[1]))
        when = position & stamp
    return soql.select(sobject, fields, where=when, order_by=[REPLICATION_KEY, "Id"])
