"""Change Data Capture: the change events of one committed transaction, in Salesforce's shape.

Pure: :func:`transaction_events` takes the transaction's changes (each record's image before the
transaction and after it, from the store's journal) and returns the change events of one channel's
members, merged as Salesforce merges them (identical changes to several records of one type in one
transaction: one event, several ``recordIds``). The relay (``sfemulator.relay``) stamps replay ids
and delivers them.

Body rules (Salesforce's CDC guide; docs/emulator.md): CREATE carries every non-null field, UPDATE
the changed fields plus LastModifiedDate (never old values) and the member's enriched fields,
DELETE and GAP_* the header only, UNDELETE LastModifiedDate/LastModifiedById. SystemModstamp,
IsDeleted, formula fields and the Last*Date view stamps are never in a body. Compound fields are
nested (``"BillingAddress": {"City": ...}``, ``"Name": {"LastName": ...}``) and listed as
``BillingAddress.City`` / ``Name.LastName`` in ``changedFields`` and ``nulledFields``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sfemulator.schema import SObjectDef

__all__ = ["OVERFLOW_RECORD_ID", "Change", "ChangeEvent", "Header", "change_type", "transaction_events"]

OVERFLOW_RECORD_ID = "000000000000000AAA"
_NEVER = frozenset({"Id", "SystemModstamp", "IsDeleted", "LastViewedDate", "LastReferencedDate"})
_UNDELETE_FIELDS = ("LastModifiedDate", "LastModifiedById")

Record = Mapping[str, Any]


@dataclass(frozen=True)
class Change:
    """One record's images around a committed transaction: ``before`` None = created in it,
    ``after`` None = removed for good (a hard delete)."""

    sobject: str
    record_id: str
    before: Record | None
    after: Record | None


@dataclass(frozen=True)
class Header:
    """What every event of one transaction shares."""

    transaction_key: str
    commit_timestamp: int
    commit_user: str
    commit_number: int
    change_origin: str


@dataclass
class ChangeEvent:
    entity: str
    change_type: str
    record_ids: list[str]
    body: dict[str, Any]
    changed: list[str] = field(default_factory=list)
    nulled: list[str] = field(default_factory=list)

    @property
    def event_name(self) -> str:
        base = self.entity.removesuffix("__c")
        return f"{base}__ChangeEvent" if base != self.entity else f"{self.entity}ChangeEvent"

    def payload(self, header: Header, sequence: int) -> dict[str, Any]:
        return {
            "ChangeEventHeader": {
                "entityName": self.entity,
                "recordIds": list(self.record_ids),
                "changeType": self.change_type,
                "changeOrigin": header.change_origin,
                "transactionKey": header.transaction_key,
                "sequenceNumber": sequence,
                "commitTimestamp": header.commit_timestamp,
                "commitUser": header.commit_user,
                "commitNumber": header.commit_number,
                "changedFields": list(self.changed),
                "nulledFields": list(self.nulled),
                "diffFields": [],
            },
            **self.body,
        }

    def as_gap(self) -> ChangeEvent:
        """The same change as a gap event: header only, the subscriber re-reads the record."""
        kind = self.change_type if self.change_type.startswith("GAP_") else f"GAP_{self.change_type}"
        return ChangeEvent(self.entity, kind, list(self.record_ids), {})


def change_type(change: Change) -> str | None:
    """CREATE / UPDATE / DELETE / UNDELETE, or None for no visible change."""
    before, after = change.before, change.after
    before_live = before is not None and not before.get("IsDeleted")
    after_live = after is not None and not after.get("IsDeleted")
    if before is None:
        return "CREATE" if after_live else None
    if before_live and not after_live:
        return "DELETE"
    if not before_live and after_live:
        return "UNDELETE"
    if before_live and after_live and after != before:
        return "UPDATE"
    return None


class _Shape:
    """Which fields of an sObject a change event carries, and how compound fields nest."""

    def __init__(self, sobj: SObjectDef) -> None:
        # A compound is derived from its components (Contact.Name, addresses); Account.Name, which
        # person-account components also point at, is a field of its own in a business-account org.
        named = {f.raw.get("compoundFieldName") for f in sobj.fields.values()} - {None}
        compounds = {
            name
            for name in named
            if name in sobj.fields and not (sobj.fields[name].createable or sobj.fields[name].updateable)
        }
        self.parent: dict[str, tuple[str, str]] = {}
        self.fields: list[str] = []
        for f in sobj.fields.values():
            if f.name in _NEVER or f.calculated or f.name in compounds or f.type in ("address", "location"):
                continue
            compound = str(f.raw.get("compoundFieldName") or "")
            if compound in compounds:
                kind = sobj.fields[compound].type
                prefix = compound.removesuffix("Address") if kind == "address" else ""
                self.parent[f.name] = (compound, f.name.removeprefix(prefix) if prefix else f.name)
            self.fields.append(f.name)

    def label(self, name: str) -> str:
        compound = self.parent.get(name)
        return f"{compound[0]}.{compound[1]}" if compound else name

    def put(self, body: dict[str, Any], name: str, value: Any) -> None:
        compound = self.parent.get(name)
        if compound is None:
            body[name] = value
        else:
            body.setdefault(compound[0], {})[compound[1]] = value


def _body_create(shape: _Shape, after: Record) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in shape.fields:
        if after.get(name) is not None:
            shape.put(body, name, after.get(name))
    return body


def _body_update(
    shape: _Shape, before: Record, after: Record, enriched: Sequence[str]
) -> tuple[dict[str, Any], list[str], list[str]]:
    body: dict[str, Any] = {}
    changed: list[str] = []
    nulled: list[str] = []
    for name in shape.fields:
        if after.get(name) == before.get(name):
            continue
        shape.put(body, name, after.get(name))
        changed.append(shape.label(name))
        if after.get(name) is None:
            nulled.append(shape.label(name))
    if changed and "LastModifiedDate" in after and "LastModifiedDate" not in body:
        # Salesforce stamps it in milliseconds, so every update moves it; the emulator's seconds may not.
        body["LastModifiedDate"] = after["LastModifiedDate"]
        changed.append("LastModifiedDate")
    for name in enriched:
        if name in after and shape.label(name) not in changed:
            shape.put(body, name, after.get(name))
    return body, changed, nulled


def _event(
    sobj: SObjectDef, shape: _Shape, change: Change, kind: str, enriched: Sequence[str]
) -> ChangeEvent:
    after = change.after or {}
    if kind == "CREATE":
        return ChangeEvent(sobj.name, kind, [change.record_id], _body_create(shape, after))
    if kind == "UPDATE":
        assert change.before is not None
        body, changed, nulled = _body_update(shape, change.before, after, enriched)
        return ChangeEvent(sobj.name, kind, [change.record_id], body, changed, nulled)
    if kind == "UNDELETE":
        body = {name: after[name] for name in _UNDELETE_FIELDS if after.get(name) is not None}
        return ChangeEvent(sobj.name, kind, [change.record_id], body)
    return ChangeEvent(sobj.name, kind, [change.record_id], {})


def transaction_events(
    changes: Sequence[Change], sobjects: Mapping[str, SObjectDef], enriched: Mapping[str, Sequence[str]]
) -> list[ChangeEvent]:
    """The change events of one transaction for the entities in ``enriched`` (entity -> its
    member's enriched fields), in commit order, identical changes of one type merged."""
    events: list[ChangeEvent] = []
    merged: dict[str, ChangeEvent] = {}
    shapes: dict[str, _Shape] = {}
    for change in changes:
        if change.sobject not in enriched or change.sobject not in sobjects:
            continue
        kind = change_type(change)
        if kind is None:
            continue
        sobj = sobjects[change.sobject]
        shape = shapes.setdefault(sobj.name, _Shape(sobj))
        event = _event(sobj, shape, change, kind, enriched[change.sobject])
        if kind == "UPDATE" and not event.changed:
            continue  # only fields a change event never carries moved (SystemModstamp)
        key = json.dumps(
            [event.entity, kind, event.body, event.changed, event.nulled], sort_keys=True, default=str
        )
        same = merged.get(key)
        if same is not None:
            same.record_ids.append(change.record_id)
            continue
        merged[key] = event
        events.append(event)
    return events
