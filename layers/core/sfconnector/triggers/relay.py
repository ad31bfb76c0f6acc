"""Change Data Capture events relayed to EventBridge, decided like the poller's rows (pure, no I/O).

A change event (Salesforce Event Relay -> EventBridge partner bus -> SQS) is parsed at the boundary
(:func:`parse_change_event`: pydantic models, unknown fields tolerated, a malformed event rejected
with a reason), fanned out per record id (merged events carry several), and turned into the row
the poller would have read for that record version (:func:`synthesise_row`). Every decision is
then the engine's own (:mod:`sfconnector.triggers.streams`: row_changes, subscriber_fires,
build_event), so an event's id equals the one the poller computes for the same record version and
the reconciliation poll recognises what the relay already delivered.

Version rules (docs/realtime.md, "Semantics"): CREATE -> created (the id leaves the version out);
UPDATE and UNDELETE -> updated at the body's LastModifiedDate (UNDELETE: else the commit second);
DELETE -> deleted at the commit second (``commitTimestamp // 1000``). The actor for
``ignore_own_changes`` is the header's ``commitUser``. Field matched fires in ``equals`` mode
only, from the fields the event carries; ``changed_to`` (History) and entered list view stay on
polling.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sfconnector.catalog import ChangeEvent, Stream
from sfconnector.events import OutboundMessage
from sfconnector.models.subscriptions import Subscription
from sfconnector.models.tenancy import tenant_prefix
from sfconnector.models.trigger_events import TriggerEvent
from sfconnector.salesforce.ids import is_valid_id
from sfconnector.triggers import streams

__all__ = [
    "GAP_TYPES",
    "OVERFLOW",
    "ChangeEventHeader",
    "RecordChange",
    "Rejected",
    "RelayedEvent",
    "decide_event",
    "decide_row",
    "kinds_for",
    "needs_poll",
    "outbound",
    "parse_change_event",
    "prompted",
    "relayable",
    "synthesise_row",
]

ChangeType = Literal[
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
]
GAP_TYPES = frozenset({"GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"})
OVERFLOW = "GAP_OVERFLOW"

_KINDS: dict[str, frozenset[ChangeEvent]] = {
    "CREATE": frozenset({ChangeEvent.CREATED, ChangeEvent.MATCHED}),
    "UPDATE": frozenset({ChangeEvent.UPDATED, ChangeEvent.MATCHED}),
    # An undelete is an update to the poller: the row is live again with LastModifiedDate moved.
    "UNDELETE": frozenset({ChangeEvent.UPDATED, ChangeEvent.MATCHED}),
    "DELETE": frozenset({ChangeEvent.DELETED}),
}


class ChangeEventHeader(BaseModel):
    """``payload.ChangeEventHeader`` (Salesforce's names; fields this code does not read are kept
    out of the way, not refused: Salesforce adds header fields between API versions)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    entityName: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    recordIds: list[str] = Field(min_length=1)
    changeType: ChangeType
    changeOrigin: str = ""
    transactionKey: str = ""
    sequenceNumber: int = 0
    commitTimestamp: int = Field(gt=0)
    commitUser: str = ""
    commitNumber: int = 0
    changedFields: list[str] = Field(default_factory=list)
    nulledFields: list[str] = Field(default_factory=list)
    diffFields: list[str] = Field(default_factory=list)

    @field_validator("recordIds")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        for record_id in value:
            if not isinstance(record_id, str) or not is_valid_id(record_id):
                raise ValueError(f"{str(record_id)[:40]!r} is not a Salesforce record id")
        return value


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    ChangeEventHeader: ChangeEventHeader


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    payload: _Payload
    schema_id: str | None = Field(default=None, alias="schema")
    event: dict[str, Any] = Field(default_factory=dict)


class _Envelope(BaseModel):
    """EventBridge's event: ``source`` is the partner event source (the org and channel)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = ""
    source: str = Field(min_length=1, max_length=256)
    detail_type: str = Field(default="", alias="detail-type")
    time: str = ""
    detail: _Detail


@dataclass(frozen=True)
class RelayedEvent:
    """One parsed change event: the partner event source, the header and the body fields."""

    event_id: str
    source: str
    header: ChangeEventHeader
    body: Mapping[str, Any]
    replay_id: int | None = None

    @property
    def sobject(self) -> str:
        return self.header.entityName

    @property
    def commit_second(self) -> int:
        return self.header.commitTimestamp // 1000


@dataclass(frozen=True)
class Rejected:
    """An event that cannot be relayed, and why (logged; never fails the batch)."""

    reason: str
    source: str | None = None


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "event"
    return f"{where}: {first.get('msg', 'invalid')}"[:300]


def parse_change_event(raw: str | bytes | Mapping[str, Any]) -> RelayedEvent | Rejected:
    """An SQS message body (EventBridge's JSON) or its decoded form -> the event, or why not."""
    data: Any = raw
    if isinstance(raw, str | bytes):
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return Rejected("the message body is not JSON")
    if not isinstance(data, Mapping):
        return Rejected("the event is not a JSON object")
    source = data.get("source") if isinstance(data.get("source"), str) else None
    try:
        envelope = _Envelope.model_validate(data)
    except ValidationError as exc:
        return Rejected(_reason(exc), source)
    payload = envelope.detail.payload
    body = {k: v for k, v in (payload.model_extra or {}).items() if k != "ChangeEventHeader"}
    replay = envelope.detail.event.get("replayId")
    return RelayedEvent(
        event_id=envelope.id,
        source=envelope.source,
        header=payload.ChangeEventHeader,
        body=_flatten(body),
        replay_id=replay if isinstance(replay, int) and not isinstance(replay, bool) else None,
    )


def _flatten(body: Mapping[str, Any]) -> dict[str, Any]:
    """CDC nests compound fields (``Name: {FirstName, LastName}``, ``BillingAddress: {City, ...}``)
    where a query row has their components (``FirstName``, ``BillingCity``): the row's shape."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        if isinstance(value, Mapping) and name == "Name":
            out.update({k: v for k, v in value.items() if isinstance(k, str)})
        elif isinstance(value, Mapping) and name.endswith("Address"):
            prefix = name.removesuffix("Address")
            out.update({prefix + k: v for k, v in value.items() if isinstance(k, str)})
        else:
            out[name] = value
    return out


def kinds_for(change_type: str) -> frozenset[ChangeEvent]:
    """The engine's change kinds a change type can fire (gap events: those of the change they stand for)."""
    return _KINDS.get(change_type.removeprefix("GAP_"), frozenset())


def relayable(subscription: Subscription) -> bool:
    """Whether change events serve this subscription's trigger (entered list view and field
    matched ``changed_to`` stay on polling: they need the list view's membership or History)."""
    stream = streams.stream_of(subscription)
    if stream is None or stream.list_view:
        return False
    if stream.event is ChangeEvent.MATCHED:
        return bool(subscription.params.get("mode", "changed_to") == "equals")
    return True


def prompted(subscription: Subscription) -> bool:
    """Whether a change of its object may need a poll the relay asks for (a prompt poll) rather
    than the relay alone: entered list view (membership is the list view's query) and field
    matched (``changed_to`` needs History or the snapshot; ``equals`` an update that does not
    carry the watched field). A relayed object's reconciliation reads it when the relay's dirty
    mark is newer than its last window."""
    stream = streams.stream_of(subscription)
    return stream is not None and (stream.list_view or stream.event is ChangeEvent.MATCHED)


def _changed_names(header: ChangeEventHeader) -> set[str]:
    """``changedFields`` and ``nulledFields`` in a query row's names, lower case (CDC lists compound
    components as ``Name.LastName`` / ``BillingAddress.City``, a row has ``LastName`` /
    ``BillingCity``; :func:`_flatten` makes the body the same)."""
    out: set[str] = set()
    for name in (*header.changedFields, *header.nulledFields):
        compound, _, part = name.partition(".")
        if not part:
            out.add(name.lower())
        elif compound == "Name":
            out.add(part.lower())
        else:
            out.add((compound.removesuffix("Address") + part).lower())
    return out


def needs_poll(event: RelayedEvent, subscriptions: Sequence[Subscription]) -> bool:
    """Whether the event's change may fire an active subscription of its object that the relay
    cannot fire itself, so the poller must read the object promptly (the relay sets the dirty
    mark and asks for a prompt poll). A change that cannot matter asks for nothing:

    * entered list view: any change of the object (membership may have moved);
    * field matched ``changed_to``: a creation or an update whose changed (or nulled) fields
      include the watched field, an undelete, a gap event, or an update that lists no changed
      fields at all (the relay cannot judge it);
    * field matched ``equals``: an undelete, or an update that modified the record
      (``LastModifiedDate`` in the body), without carrying the watched field (enriching it on the
      channel member makes every update carry it: the relay then decides alone).
    """
    return any(
        _needs_poll(sub, event)
        for sub in subscriptions
        if sub.status == "active" and sub.sobject.lower() == event.sobject.lower()
    )


def _needs_poll(sub: Subscription, event: RelayedEvent) -> bool:
    stream = streams.stream_of(sub)
    change = event.header.changeType
    if stream is None or stream.list_view:
        return stream is not None
    if stream.event is not ChangeEvent.MATCHED or change in ("DELETE", "GAP_DELETE", OVERFLOW):
        return False
    field = str(sub.params.get("field") or "").lower()
    carried = any(k.lower() == field for k in event.body)
    if sub.params.get("mode", "changed_to") == "equals":
        modified = change == "UNDELETE" or (change == "UPDATE" and "LastModifiedDate" in event.body)
        return modified and not carried
    if change == "CREATE":
        return carried
    if change in GAP_TYPES or change == "UNDELETE":
        return True
    changed = _changed_names(event.header)
    return not changed or field in changed


def synthesise_row(event: RelayedEvent, record_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the row the engine decides on, the row the event's ``data`` is built from) for one record
    of an ordinary (non-gap) event. They differ only where the event does not say what the
    poller's row would: an update's CreatedDate (only "earlier than the change" matters)."""
    header, body = event.header, event.body
    commit = streams.iso(event.commit_second)
    actor = header.commitUser or None
    data: dict[str, Any] = {"Id": record_id}
    change = header.changeType
    if change == "DELETE":
        data.update(IsDeleted=True, SystemModstamp=commit)
        if actor:
            data["LastModifiedById"] = actor
        return dict(data), data
    data.update(body)
    data["Id"] = record_id  # a merged event's body is every record's: the id is this one's
    data["IsDeleted"] = False
    if change == "CREATE":
        data.setdefault("CreatedDate", commit)
        data.setdefault("LastModifiedDate", data["CreatedDate"])
        if actor:
            data.setdefault("CreatedById", actor)
    elif change == "UNDELETE":
        data.setdefault("LastModifiedDate", commit)
    # An UPDATE without LastModifiedDate changed only system-maintained values (a roll-up, a
    # formula's source: SystemModstamp alone moved); the poller's updated does not fire for it.
    if actor:
        data.setdefault("LastModifiedById", actor)
    engine = dict(data)
    if actor:  # ignore_own_changes: who committed, whatever the body says
        engine["LastModifiedById"] = actor
        if change == "CREATE":
            engine["CreatedById"] = actor
    if change != "CREATE":
        version = streams.parse_stamp(engine.get("LastModifiedDate"))
        created = streams.parse_stamp(engine.get("CreatedDate"))
        if version is not None and (created is None or created >= version):
            # A real modification: the poller's row has LastModifiedDate past CreatedDate.
            engine["CreatedDate"] = streams.iso(version - 1)
    return engine, data


@dataclass(frozen=True)
class RecordChange:
    """One change of one record (a seen-set key and its version) and the events it fires."""

    sobject: str
    record_id: str
    key: str
    version: int
    events: tuple[tuple[Subscription, TriggerEvent], ...]


def _field_present(sub: Subscription, row: Mapping[str, Any]) -> bool:
    """``equals`` compares the watched field's current value: only when the event carries it. A
    creation carries every non-null field; an update its changed fields and the member's enriched
    fields (always sent, changed or not: with the watched field enriched, equals is exact)."""
    field = str(sub.params.get("field") or "").lower()
    return any(k.lower() == field for k in row)


def decide_row(
    sobject: str,
    engine_row: Mapping[str, Any],
    data_row: Mapping[str, Any],
    kinds: frozenset[ChangeEvent],
    subscriptions: Sequence[Subscription],
    *,
    own_user_id: str | None,
    org_id: str | None,
) -> list[RecordChange]:
    """The changes of one record version and the (subscription, event) pairs they fire, by the
    engine's functions; ``kinds`` limits them to what the change type can mean."""
    by_key: dict[tuple[str, int], tuple[Stream, streams.Change, list[tuple[Subscription, TriggerEvent]]]] = {}
    record_id = str(engine_row.get("Id") or "")
    for sub in subscriptions:
        if sub.sobject != sobject or not relayable(sub):
            continue
        stream = streams.stream_of(sub)
        if stream is None or stream.event not in kinds:
            continue
        if stream.event is ChangeEvent.MATCHED and not _field_present(sub, data_row):
            continue
        for change in streams.row_changes(engine_row, stream):
            if change.field is not None:
                continue  # History rows: the relay has none
            if not streams.subscriber_fires(sub, stream, engine_row, change, own_user_id):
                continue
            slot = by_key.setdefault((change.key, change.version), (stream, change, []))
            slot[2].append((sub, streams.build_event(sub, stream, data_row, change, org_id)))
    return [
        RecordChange(sobject, record_id, key, version, tuple(pairs))
        for (key, version), (_, _, pairs) in by_key.items()
        if pairs
    ]


def decide_event(
    event: RelayedEvent,
    subscriptions: Sequence[Subscription],
    *,
    own_user_id: str | None,
    org_id: str | None,
) -> list[RecordChange]:
    """An ordinary change event (CREATE / UPDATE / DELETE / UNDELETE), fanned out per record id."""
    kinds = kinds_for(event.header.changeType)
    if not kinds or event.header.changeType in GAP_TYPES:
        return []
    out: list[RecordChange] = []
    for record_id in dict.fromkeys(event.header.recordIds):  # a merged event may repeat none; keep order
        engine, data = synthesise_row(event, record_id)
        out.extend(
            decide_row(
                event.sobject,
                engine,
                data,
                kinds,
                subscriptions,
                own_user_id=own_user_id,
                org_id=org_id,
            )
        )
    return out


def outbound(
    connection_id: str, tenant_id: str | None, subscription: Subscription, event: TriggerEvent
) -> OutboundMessage:
    """The SNS message of an event: the poller's body, attributes and claim-check key, so a
    subscriber's filter policy and deduplication cannot tell the two sources apart."""
    return OutboundMessage(
        id=event.id,
        body=event.model_copy(update={"tenant_id": tenant_id}).to_json_dict(),
        attributes={
            "trigger": subscription.trigger,
            "connection_id": connection_id,
            "tenant_id": tenant_id or "",
            "subscription_id": subscription.subscription_id,
            "sobject": subscription.sobject,
            "event_type": event.event_type,
        },
        claim_key=f"{tenant_prefix(tenant_id)}trigger-events/{connection_id}/{event.id}.json",
    )
