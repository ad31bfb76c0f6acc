"""A typed view of an sObject describe: what the action services need to know about fields.

Parsing a describe (hundreds of fields) is not free, so the parsed view is memoised per describe
*object*: the client's describe cache returns the same dict for as long as it is cached, so a warm
container parses each sObject's describe once per cache TTL.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FieldInfo", "SObjectSchema", "schema_of"]

# Field types whose values are strings in JSON.
TEXT_TYPES = frozenset(
    {
        "string",
        "textarea",
        "picklist",
        "multipicklist",
        "combobox",
        "email",
        "phone",
        "url",
        "encryptedstring",
    }
)
ID_TYPES = frozenset({"id", "reference"})
# Read-only aggregates of other fields; queried through their components.
COMPOUND_TYPES = frozenset({"address", "location"})


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str
    label: str
    length: int
    nillable: bool
    createable: bool
    updateable: bool
    defaulted_on_create: bool
    filterable: bool
    sortable: bool
    external_id: bool
    id_lookup: bool
    unique: bool
    calculated: bool
    restricted_picklist: bool
    picklist_values: tuple[str, ...]
    """Active values, in the org's order."""
    reference_to: tuple[str, ...]
    relationship_name: str | None
    precision: int
    scale: int
    digits: int

    @classmethod
    def from_describe(cls, raw: Mapping[str, Any]) -> FieldInfo:
        def flag(key: str) -> bool:
            return bool(raw.get(key) or False)

        def number(key: str) -> int:
            value = raw.get(key)
            return int(value) if isinstance(value, int | float) else 0

        values = tuple(
            str(v["value"])
            for v in (raw.get("picklistValues") or [])
            if isinstance(v, Mapping) and v.get("active", True) and v.get("value") is not None
        )
        return cls(
            name=str(raw["name"]),
            type=str(raw.get("type") or "anyType"),
            label=str(raw.get("label") or raw["name"]),
            length=number("length"),
            nillable=flag("nillable"),
            createable=flag("createable"),
            updateable=flag("updateable"),
            defaulted_on_create=flag("defaultedOnCreate"),
            filterable=flag("filterable"),
            sortable=flag("sortable"),
            external_id=flag("externalId"),
            id_lookup=flag("idLookup"),
            unique=flag("unique"),
            calculated=flag("calculated"),
            restricted_picklist=flag("restrictedPicklist"),
            picklist_values=values,
            reference_to=tuple(str(r) for r in (raw.get("referenceTo") or [])),
            relationship_name=raw.get("relationshipName") or None,
            precision=number("precision"),
            scale=number("scale"),
            digits=number("digits"),
        )

    @property
    def required_on_create(self) -> bool:
        """Salesforce's rule: createable, not nillable and not defaulted on create."""
        return self.createable and not self.nillable and not self.defaulted_on_create

    @property
    def selectable(self) -> bool:
        """Returned by "every field" queries (compound and binary fields are left out)."""
        return self.type not in COMPOUND_TYPES and self.type != "base64"


class SObjectSchema:
    """Fields of one sObject, looked up case-insensitively (Salesforce names are)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.name = str(raw.get("name") or "")
        self.label = str(raw.get("label") or self.name)
        self.key_prefix: str | None = raw.get("keyPrefix") or None
        self.custom = bool(raw.get("custom"))
        self.createable = bool(raw.get("createable", True))
        self.updateable = bool(raw.get("updateable", True))
        self.deletable = bool(raw.get("deletable", True))
        self.queryable = bool(raw.get("queryable", True))
        fields = [FieldInfo.from_describe(f) for f in raw.get("fields") or [] if isinstance(f, Mapping)]
        self.fields: dict[str, FieldInfo] = {f.name.lower(): f for f in fields}
        self._relationships = {f.relationship_name.lower(): f for f in fields if f.relationship_name}

    def __repr__(self) -> str:
        return f"SObjectSchema({self.name!r}, {len(self.fields)} fields)"

    def field(self, name: str) -> FieldInfo | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldInfo | None:
        """The reference field whose relationship name is ``name`` (``Account`` on Contact)."""
        return self._relationships.get(name.lower())

    def has_field(self, name: str) -> bool:
        return name.lower() in self.fields

    @property
    def required_on_create(self) -> list[FieldInfo]:
        return [f for f in self.fields.values() if f.required_on_create]

    @property
    def selectable_fields(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.selectable]

    @property
    def external_id_fields(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.external_id]


_MEMO: OrderedDict[int, tuple[Mapping[str, Any], SObjectSchema]] = OrderedDict()
_MEMO_LOCK = threading.Lock()
_MEMO_SIZE = 256


def schema_of(describe: Mapping[str, Any]) -> SObjectSchema:
    """The parsed schema of a describe (memoised per describe object; see the module doc)."""
    key = id(describe)
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
        # Holding the describe in the memo keeps its id from being reused by another object.
        if hit is not None and hit[0] is describe:
            _MEMO.move_to_end(key)
            return hit[1]
    schema = SObjectSchema(describe)
    with _MEMO_LOCK:
        _MEMO[key] = (describe, schema)
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return schema
