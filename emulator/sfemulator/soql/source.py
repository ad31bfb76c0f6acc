"""The port through which the SOQL engine reads an org's metadata and records.

The emulator's storage implements :class:`RecordSource`; the engine never sees how records are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ChildRelationship", "FieldSpec", "RecordSource"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What the engine needs to know of one field (a subset of the field's describe).

    ``type`` is the describe type: id, string, textarea, email, phone, url, picklist, multipicklist,
    reference, boolean, int, double, currency, percent, date, datetime, time, base64, ...
    """

    name: str
    type: str
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    filterable: bool = True
    sortable: bool = True


@dataclass(frozen=True, slots=True)
class ChildRelationship:
    """A parent's child relationship (the describe's ``childRelationships`` entry with a name).

    ``name`` is what a subquery names in FROM (``Contacts``, ``Histories``), ``sobject`` the child
    sObject (``AccountHistory``), ``field`` the child's reference to the parent (``AccountId``).
    """

    name: str
    sobject: str
    field: str


class RecordSource(Protocol):
    """Read access to an org: its sObjects' fields and records (wire-JSON values).

    ``sobject_fields`` and ``records`` should accept the sObject name in any case, as Salesforce
    does. A source may also offer ``sobject_name(self, sobject: str) -> str | None`` (optional, not
    part of the protocol) returning the canonical spelling; without it the engine learns the
    canonical name from ``record_by_id`` of the first row, so ``attributes.type`` is right either way.
    A source that offers ``child_relationships(self, sobject: str) -> Mapping[str, ChildRelationship]``
    (optional too; keyed by relationship name) makes parent-child subqueries possible; without it
    every subquery is an unknown relationship.
    """

    def sobject_fields(self, sobject: str) -> Mapping[str, FieldSpec] | None:
        """The fields of ``sobject`` keyed by name as declared, or None for an unknown sObject.

        The engine matches sObject and field names case-insensitively and reports canonical names.
        """
        ...

    def records(self, sobject: str, *, include_deleted: bool) -> Iterable[Mapping[str, Any]]:
        """All records of ``sobject`` (canonical name); deleted ones only with ``include_deleted``."""
        ...

    def record_by_id(self, record_id: str) -> tuple[str, Mapping[str, Any]] | None:
        """The sObject name and the record with this 18-character id, or None (parents of lookups)."""
        ...
