"""The one generic implementation of the catalog's stream definitions (:data:`sfconnector.catalog.STREAMS`).

Pure functions (no I/O): which rows of an sObject's change query fire a stream, the record version
that identifies a change, the deterministic event id, the envelope, the query itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sfconnector import catalog
from sfconnector.catalog import REPLICATION_KEY, SYSTEM_FIELDS, Stream
from sfconnector.models.subscriptions import Subscription
from sfconnector.models.trigger_events import TriggerEvent
from sfconnector.salesforce import soql
from sfconnector.salesforce.condition import ConditionError, FieldPolicy, parse_condition
from sfconnector.salesforce.validation import canonical_wire

__all__ = [
    "Change",
    "build_event",
    "change_query",
    "event_id",
    "field_value",
    "history_covers",
    "iso",
    "linked_to",
    "list_view_query",
    "list_view_sample_query",
    "parse_stamp",
    "queryable_fields",
    "receives_from",
    "row_changes",
    "row_version",
    "seen_key",
    "select_fields",
    "stream_of",
    "subscriber_fires",
    "value_hash",
    "window",
]

# Compound and binary fields cannot be selected in a multi-row query of every field.
_UNSELECTABLE_TYPES = frozenset({"address", "location", "base64"})
_CODES = {"created": "c", "updated": "u", "deleted": "d", "matched": "m", "entered": "e"}
_HISTORY_CODE = "h"
_HISTORY_FIELDS = ("Id", "Field", "OldValue", "NewValue", "CreatedDate", "CreatedById")
_SUBQUERIES = frozenset(s.history for s in catalog.STREAMS.values() if s.history)


@dataclass(frozen=True)
class Change:
    """One change a row carries for a stream: its seen-set key and version, and what the event id
    adds (the version; nothing for a creation; the History row's id for a field change)."""

    key: str
    version: int
    ident: str
    field: str | None = None
    """Field matched: the History row's field (``created`` for the record's creation), or None
    for the row itself (the ``equals`` mode)."""
    old_value: Any = None
    new_value: Any = None
    changed_by: str | None = None
    snapshot: Mapping[str, str | None] | None = None
    """The row itself, for ``changed_to`` on fields the History rows do not cover: per watched
    field (lower case), the value hash the connector's snapshot holds for the record (None: the
    record is not in the snapshot)."""
    snapshot_at: Mapping[str, int | None] | None = None
    """Per watched field, the record version the held value was recorded at (None: unknown, an
    entry written before versions were kept)."""


def parse_stamp(value: Any) -> int | None:
    """Salesforce's ``2024-05-20T20:49:32.000+0000`` as epoch seconds (None if absent)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        # fromisoformat reads Salesforce's forms (``.000+0000``, ``Z``) ~50x faster than strptime:
        # a backlog cycle parses a stamp or two per row.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return int(parsed.timestamp()) if parsed.tzinfo is not None and "T" in value else None


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def receives_from(subscription: Subscription) -> int:
    """The first moment whose changes the subscription receives (epoch seconds): its start, or
    when it was last resumed. Paused has one meaning, shared sObject or not: nothing of what
    changed while it was paused is delivered."""
    start = int(subscription.start_at.timestamp())
    resumed = subscription.resumed_at
    return start if resumed is None else max(start, int(resumed.timestamp()))


def stream_of(subscription: Subscription) -> Stream | None:
    """The stream a subscription's trigger reads (None for an unknown key)."""
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


def history_rows(row: Mapping[str, Any], stream: Stream) -> list[Mapping[str, Any]]:
    """The History rows the parent-child subquery returned for ``row`` (none: null)."""
    nested = row.get(stream.history) if stream.history else None
    records = nested.get("records") if isinstance(nested, Mapping) else None
    return [r for r in records or () if isinstance(r, Mapping)]


def row_changes(row: Mapping[str, Any], stream: Stream) -> list[Change]:
    """Every change of ``row`` the stream may fire for (usually one; field matched: the row itself
    for ``equals``, plus one per History row, so several transitions in one window each count)."""
    record_id = str(row.get("Id") or "")
    if not record_id or stream.list_view:
        return []  # entered list view: the poller decides from the list view's membership
    version = row_version(row, stream)
    out: list[Change] = []
    if version is not None:
        ident = "" if stream.event is catalog.ChangeEvent.CREATED else str(version)
        out.append(Change(seen_key(record_id, stream), version, ident))
    if stream.history and not row.get("IsDeleted"):
        for entry in history_rows(row, stream):
            stamp, entry_id = parse_stamp(entry.get("CreatedDate")), str(entry.get("Id") or "")
            if stamp is None or not entry_id:
                continue
            out.append(
                Change(
                    entry_id[:15] + _HISTORY_CODE,
                    stamp,
                    f"h{entry_id[:15]}",
                    field=str(entry.get("Field") or ""),
                    old_value=entry.get("OldValue"),
                    new_value=entry.get("NewValue"),
                    changed_by=str(entry.get("CreatedById") or "") or None,
                )
            )
    return out


def _same(a: Any, b: Any) -> bool:
    """A History or record value against a subscription's ``value`` (numbers by value: History
    returns 30000.0 for the 30000 a subscriber wrote; ids and datetimes in one form)."""
    a, b = canonical_wire(a), canonical_wire(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    if isinstance(a, int | float) or isinstance(b, int | float):
        try:
            return a is not None and b is not None and float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def field_value(row: Mapping[str, Any], field: str) -> Any:
    """A row's value of ``field`` (names are case-insensitive in Salesforce)."""
    lowered = field.lower()
    return next((v for k, v in row.items() if k.lower() == lowered), None)


_value = field_value


def matches(subscription: Subscription, stream: Stream, row: Mapping[str, Any], change: Change) -> bool:
    """Field matched: whether this change fires the subscription's ``field``/``value``/``mode``."""
    params = subscription.params
    field, value, mode = str(params.get("field") or ""), params.get("value"), params.get("mode", "changed_to")
    if change.field is None:  # the row itself: equals fires on any change while the field equals
        if mode == "equals":
            return _same(_value(row, field), value)
        return _snapshot_transition(subscription, stream, row, change, field, value)
    if mode != "changed_to":
        return False
    if change.field.lower() == field.lower():
        return _same(change.new_value, value) and not _same(change.old_value, value)
    if change.field == "created":
        return _same(initial_value(row, stream, field), value)  # created in the window already equal
    return False


def history_covers(row: Mapping[str, Any], stream: Stream, field: str, *, first_seen: bool) -> bool:
    """Whether the row's History rows decide the field's transitions, so the snapshot does not: a
    History row of the field in the window (the field is tracked); or, for a record the snapshot
    does not hold yet, the record's creation in the window (the created change decides whether it
    was born equal). A record the snapshot holds keeps being decided by it when the only History
    rows are of its creation and other fields: an untracked field leaves no row when it changes."""
    names = {str(h.get("Field") or "").lower() for h in history_rows(row, stream)}
    return field.lower() in names or (first_seen and "created" in names)


def value_hash(value: Any) -> str:
    """Eight base-36 characters of a field value (equal for values :func:`_same` deems equal):
    what the snapshot keeps per record."""
    value = canonical_wire(value)
    if value is None:
        text = "\x00"
    elif isinstance(value, bool):
        text = "b:" + str(value).lower()
    elif isinstance(value, int | float):
        text = f"n:{float(value)!r}"
    else:
        text = f"s:{value}"
    number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big")
    out = []
    for _ in range(8):
        number, digit = divmod(number, 36)
        out.append("0123456789abcdefghijklmnopqrstuvwxyz"[digit])
    return "".join(out)


def _snapshot_transition(
    subscription: Subscription, stream: Stream, row: Mapping[str, Any], change: Change, field: str, value: Any
) -> bool:
    """``changed_to`` decided by the snapshot (no History row covers the field): the record now
    equals the value and the snapshot holds another value, or the record is not in the snapshot
    and was created since the subscription started (a record first seen already equal that
    existed before does not fire: its earlier value is unknown)."""
    if change.snapshot is None or field.lower() not in change.snapshot:
        return False
    held = change.snapshot[field.lower()]
    if history_covers(row, stream, field, first_seen=held is None) or not _same(_value(row, field), value):
        return False
    if held is not None:
        return held != value_hash(value)
    created = parse_stamp(row.get("CreatedDate"))
    return created is not None and created >= receives_from(subscription)


def initial_value(row: Mapping[str, Any], stream: Stream, field: str) -> Any:
    """The field's value when the record was created: its first History row's old value, or the
    current value when the field has not changed since."""
    changes = [h for h in history_rows(row, stream) if str(h.get("Field") or "").lower() == field.lower()]
    return changes[0].get("OldValue") if changes else _value(row, field)


def seen_key(record_id: str, stream: Stream) -> str:
    """The seen-set key of a (record, change kind): 15-character id (case-sensitive, unique) + code."""
    return record_id[:15] + _CODES[stream.event.value]


def event_id(subscription_id: str, record_id: str, stream: Stream, change: Change | int) -> str:
    """Deterministic: the same change for the same subscription always has the same id. A record
    is created once, so its created event's id leaves the version out."""
    if isinstance(change, int):
        ident = "" if stream.event is catalog.ChangeEvent.CREATED else str(change)
    else:
        ident = change.ident
    parts = [subscription_id, record_id[:15], stream.event.value]
    if ident:
        parts.append(ident)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def subscriber_fires(
    subscription: Subscription,
    stream: Stream,
    row: Mapping[str, Any],
    change: Change | int,
    own_user_id: str | None,
) -> bool:
    """Whether this subscription gets an event for the row's change."""
    if isinstance(change, int):
        change = Change("", change, str(change))
    if subscription.status != "active" or change.version < receives_from(subscription):
        return False
    if subscription.ignore_own_changes and own_user_id:
        actor = change.changed_by or str(row.get(stream.actor_field) or "")
        if actor[:15] == own_user_id[:15]:
            return False
    if not linked_to(subscription, row):
        return False
    if stream.event is catalog.ChangeEvent.MATCHED:
        return matches(subscription, stream, row, change)
    return change.field is None


def _link_field(subscription: Subscription) -> str | None:
    try:
        return catalog.trigger(subscription.trigger).link_field
    except KeyError:
        return None


def linked_to(subscription: Subscription, row: Mapping[str, Any]) -> bool:
    """``params.linked_object``: whether the row's link field (the trigger's ``link_field``) holds an
    id of that object, by its key prefix (resolved from the describe when subscribing)."""
    prefix = subscription.params.get("linked_prefix")
    field = _link_field(subscription)
    if not prefix or field is None:
        return True
    return str(field_value(row, field) or "")[:3] == str(prefix)


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
    subscription: Subscription,
    stream: Stream,
    row: Mapping[str, Any],
    change: Change | int,
    org_id: str | None,
) -> TriggerEvent:
    if isinstance(change, int):
        change = Change("", change, "" if stream.event is catalog.ChangeEvent.CREATED else str(change))
    record_id = str(row["Id"])
    extra: dict[str, Any] = {}
    if stream.event is catalog.ChangeEvent.MATCHED:
        field = str(subscription.params.get("field") or "")
        if change.field is None:  # equals, or changed_to decided by the snapshot
            extra = {"new_value": _value(row, field), "changed_by": row.get(stream.actor_field)}
            held = (change.snapshot or {}).get(field.lower())
            if subscription.params.get("mode", "changed_to") == "changed_to" and change.snapshot is not None:
                change = _snapshot_ident(change, field.lower())
                if held is not None:
                    extra["old_value_from"] = "snapshot"  # a hash: the old value itself is not kept
        elif change.field == "created":  # created with the value (it may have changed since)
            extra = {"new_value": initial_value(row, stream, field), "changed_by": change.changed_by}
        else:
            extra = {
                "old_value": change.old_value,
                "new_value": change.new_value,
                "changed_by": change.changed_by,
            }
        extra["changed_at"] = iso(change.version)
    # Every stream of the sObject shares the row: a field matched subscription's History subquery
    # rides in it for the created / updated / deleted events too, and belongs to none of them.
    data = {k: v for k, v in row.items() if k not in _SUBQUERIES}
    return TriggerEvent(
        id=event_id(subscription.subscription_id, record_id, stream, change),
        type=subscription.trigger,
        source=f"salesforce/{org_id or 'unknown'}",
        subject=record_id,
        time=iso(change.version),
        connection_id=subscription.connection_id,
        subscription_id=subscription.subscription_id,
        sobject=subscription.sobject,
        event_type=stream.event.value,
        data=event_data(data, subscription.fields),
        **extra,
    )


def _snapshot_ident(change: Change, field: str) -> Change:
    """A transition the snapshot decided is identified by the snapshot entry it replaces (its value
    and the version it was recorded at), not by the row's version: a re-decision after a crash
    between the publish and the snapshot's write gives the same id whatever happened to the
    record since. A record not in the snapshot yet (created equal since the start) transitions
    once. Entries written before versions were kept leave the row's version in the id."""
    held = (change.snapshot or {}).get(field)
    if held is None:
        return dataclasses.replace(change, ident="s")
    at = (change.snapshot_at or {}).get(field)
    return change if at is None else dataclasses.replace(change, ident=f"s{held}{at}")


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
        names = list(every_field or ()) if sub.fields is None else list(sub.fields)
        watched = sub.params.get("field") if sub.kind == catalog.TriggerKind.FIELD_MATCHED.value else None
        if isinstance(watched, str) and watched:
            names.append(watched)  # field matched compares it whatever the event carries
        link = _link_field(sub) if sub.params.get("linked_prefix") else None
        if link is not None:
            names.append(link)  # the linked_object filter reads it whatever the event carries
        for name in names:
            chosen.setdefault(name.lower(), name)
    return list(chosen.values())


def history_subquery(relationship: str, fields: Iterable[str], low: int) -> soql.Subquery:
    """``(SELECT ... FROM Histories WHERE CreatedDate >= low AND Field IN (...) ORDER BY ...)``:
    the watched fields' History rows of each record in the window, in the same query."""
    names = sorted({"created", *fields})
    where = soql.Ge("CreatedDate", datetime.fromtimestamp(low, UTC)) & soql.In("Field", names)
    return soql.Subquery(relationship, list(_HISTORY_FIELDS), where=where, order_by=["CreatedDate", "Id"])


def window(low: int, upper: int, after: tuple[int, str] | None = None) -> soql.Condition:
    """Rows stamped in [low, upper); ``after`` (stamp, Id) starts right after that row instead
    (a keyset, never OFFSET), so a backlog larger than one cycle always makes progress."""
    stamp = soql.Lt(REPLICATION_KEY, datetime.fromtimestamp(upper, UTC))
    if after is None:
        return soql.Ge(REPLICATION_KEY, datetime.fromtimestamp(low, UTC)) & stamp
    at = datetime.fromtimestamp(after[0], UTC)
    position = soql.Gt(REPLICATION_KEY, at) | (soql.Eq(REPLICATION_KEY, at) & soql.Gt("Id", after[1]))
    return position & stamp


def change_query(
    sobject: str,
    fields: list[str],
    low: int,
    upper: int,
    after: tuple[int, str] | None = None,
    subquery: soql.Subquery | None = None,
) -> str:
    """The window's query (:func:`window`), oldest first (ties by Id), with the History
    ``subquery`` in its select list (checked against Salesforce's length limit with it)."""
    items: list[str | soql.Subquery] = [*fields, *([subquery] if subquery is not None else [])]
    return soql.select(sobject, items, where=window(low, upper, after), order_by=[REPLICATION_KEY, "Id"])


_LIST_VIEW_SOQL = re.compile(
    r"^\s*SELECT\s+.+?\s+FROM\s+(?P<sobject>\w+)(?P<scope>\s+USING\s+SCOPE\s+\w+)?"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+.+?)?(?:\s+LIMIT\s+\d+)?\s*$",
    re.IGNORECASE | re.DOTALL,
)


class _AnyField(FieldPolicy):
    """The list view's own fields: Salesforce wrote its filter against its describe, so any valid
    name (or parent path) is taken as written; the value checks that need a field's type are off."""

    def resolve(self, path: str, pos: int | None = None) -> tuple[str, None]:
        try:
            soql.identifier(path)
        except ValueError:
            raise ConditionError(f"{path!r} is not a valid field name", pos) from None
        return path, None


def _list_view_parts(describe_query: str) -> tuple[str, str | None, soql.Condition | None]:
    """(sObject, scope, filter as the one condition tree) of a list view's SOQL: the filter is
    parsed and re-emitted, never pasted."""
    found = _LIST_VIEW_SOQL.match(describe_query)
    if found is None:
        raise ValueError("the list view's describe query is not a SELECT this poller can restrict")
    sobject = soql.sobject_name(found["sobject"])
    scope = soql.identifier(found["scope"].split()[-1]) if found["scope"] else None
    if not found["where"]:
        return sobject, scope, None
    try:
        where = parse_condition(found["where"], _AnyField(sobject=sobject, fields={}))
    except ConditionError as exc:
        raise ValueError(f"the list view's filter cannot be restricted: {exc.problem}") from None
    return sobject, scope, where


def list_view_sample_query(describe_query: str, fields: list[str], limit: int) -> str:
    """The list view's members most recently changed first, with the fields an event carries."""
    sobject, scope, where = _list_view_parts(describe_query)
    order = [f"{REPLICATION_KEY} DESC", "Id DESC"]
    return soql.select(sobject, fields, where=where, order_by=order, limit=int(limit), scope=scope)


def list_view_query(
    describe_query: str,
    low: int | None,
    upper: int,
    after: tuple[int, str] | None = None,
) -> str:
    """The list view's own SOQL (its describe's ``query``) as the poller runs it: its FROM, scope
    and WHERE kept, the select list cut to ``Id, SystemModstamp`` and, unless ``low`` is None (the
    baseline: every current member), restricted to the stream's window in the stream's order, so
    its rows line up with the sObject's query of the same window."""
    sobject, scope, where = _list_view_parts(describe_query)
    fields = ["Id", REPLICATION_KEY]
    if low is None:
        return soql.select(sobject, fields, where=where, order_by=["Id"], scope=scope)
    bounds = window(low, upper, after)
    restricted = bounds if where is None else soql.And([where, bounds])
    order = [REPLICATION_KEY, "Id"]
    return soql.select(sobject, fields, where=restricted, order_by=order, scope=scope)
