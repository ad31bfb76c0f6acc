"""The one model of an sObject describe's fields: what every part of the connector reads from them.

Write validation (:mod:`sfconnector.salesforce.validation`), the find-all condition guard
(:mod:`sfconnector.salesforce.condition`) and the field listing for mapping UIs
(:mod:`sfconnector.oauth.service`) all parse a describe's ``fields`` entries through
:meth:`FieldInfo.from_describe`, so a describe attribute means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["COMPOUND_TYPES", "ID_TYPES", "TEXT_TYPES", "FieldInfo", "PicklistEntry"]

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
"""Field types whose values are text (strings in JSON, quoted in SOQL, LIKE applies)."""
ID_TYPES = frozenset({"id", "reference"})
"""Record ids: strings too, but checked as ids."""
COMPOUND_TYPES = frozenset({"address", "location"})
"""Read-only aggregates of other fields; queried through their components."""


@dataclass(frozen=True)
class PicklistEntry:
    """One picklist value of a field (active or not)."""

    value: str
    label: str | None = None
    active: bool = True
    default: bool = False


@dataclass(frozen=True)
class FieldInfo:
    """One field of an sObject describe.

    Only ``name`` is required, so a known object's fields can be declared without a describe
    (``FieldInfo("IsPrimary", "boolean")``); :meth:`from_describe` reads the real ones.
    """

    name: str
    type: str = "anyType"
    label: str = ""
    length: int = 0
    nillable: bool = False
    createable: bool = False
    updateable: bool = False
    defaulted_on_create: bool = False
    filterable: bool = True
    sortable: bool = False
    external_id: bool = False
    id_lookup: bool = False
    unique: bool = False
    calculated: bool = False
    custom: bool = False
    restricted_picklist: bool = False
    picklist: tuple[PicklistEntry, ...] = ()
    """Every picklist entry, in the org's order (inactive ones too)."""
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    precision: int = 0
    scale: int = 0
    digits: int = 0

    @classmethod
    def from_describe(cls, raw: Mapping[str, Any]) -> FieldInfo:
        """From one entry of a describe's ``fields``."""

        def flag(key: str) -> bool:
            return bool(raw.get(key) or False)

        def number(key: str) -> int:
            value = raw.get(key)
            return int(value) if isinstance(value, int | float) else 0

        entries = tuple(
            PicklistEntry(
                value=str(p["value"]),
                label=p.get("label"),
                active=bool(p.get("active", True)),
                default=bool(p.get("defaultValue", False)),
            )
            for p in raw.get("picklistValues") or []
            if isinstance(p, Mapping) and p.get("value") is not None
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
            custom=flag("custom"),
            restricted_picklist=flag("restrictedPicklist"),
            picklist=entries,
            reference_to=tuple(str(r) for r in (raw.get("referenceTo") or [])),
            relationship_name=raw.get("relationshipName") or None,
            precision=number("precision"),
            scale=number("scale"),
            digits=number("digits"),
        )

    @property
    def picklist_values(self) -> tuple[str, ...]:
        """The active picklist values, in the org's order."""
        return tuple(entry.value for entry in self.picklist if entry.active)

    @property
    def required_on_create(self) -> bool:
        """Salesforce's rule: createable, not nillable and not defaulted on create."""
        return self.createable and not self.nillable and not self.defaulted_on_create

    @property
    def selectable(self) -> bool:
        """Returned by "every field" queries (compound and binary fields are left out)."""
        return self.type not in COMPOUND_TYPES and self.type != "base64"

    @property
    def textual(self) -> bool:
        """Compared with quoted text in SOQL (text and id fields); LIKE applies."""
        return self.type in TEXT_TYPES or self.type in ID_TYPES
