"""List views: declared in ``metadata/listviews.json``, each turned into the SOQL its describe serves."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sfemulator.ids import IdGenerator
from sfemulator.schema import FieldDef, Schema, SObjectDef

__all__ = ["ListView", "ListViewCatalog", "ListViewSpec", "build_list_view", "load_list_views"]

LISTVIEW_PREFIX = "00B"
_DATE_LITERAL = re.compile(r"^[A-Z_]+(?::\d+)?$")
_OPERATORS = {
    "equals": "=", "notEqual": "!=", "lessThan": "<", "greaterThan": ">", "lessOrEqual": "<=",
    "greaterOrEqual": ">=",
}  # fmt: skip
_HIDDEN = ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp")


class FilterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    operator: str
    values: list[Any]


class ListViewSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    developerName: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    label: str
    columns: list[str]
    orderBy: str
    descending: bool = False
    filters: list[FilterSpec] = Field(default_factory=list)


@dataclass
class Column:
    path: str
    label: str
    type: str
    hidden: bool
    sortable: bool


@dataclass
class ListView:
    id: str
    sobject: str
    developer_name: str
    label: str
    query: str
    columns: list[Column]
    order_by: str
    descending: bool
    where: dict[str, Any] | None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self, version: str) -> dict[str, Any]:
        base = f"/services/data/{version}/sobjects/{self.sobject}/listviews/{self.id}"
        return {
            "describeUrl": f"{base}/describe",
            "developerName": self.developer_name,
            "id": self.id,
            "label": self.label,
            "resultsUrl": f"{base}/results",
            "soqlCompatible": True,
            "url": base,
        }

    def column_descriptions(self) -> list[dict[str, Any]]:
        out = []
        for col in self.columns:
            sort_index = 0 if col.path == self.order_by else None
            numeric = col.type in ("int", "double", "currency", "percent", "phone")
            out.append(
                {
                    "ascendingLabel": None
                    if col.hidden
                    else ("Low to High" if col.type == "picklist" else "9-0" if numeric else "Z-A"),
                    "descendingLabel": None
                    if col.hidden
                    else ("High to Low" if col.type == "picklist" else "0-9" if numeric else "A-Z"),
                    "fieldNameOrPath": col.path,
                    "hidden": col.hidden,
                    "label": col.label,
                    "searchable": not col.hidden and col.type in ("string", "email", "phone", "textarea"),
                    "selectListItem": col.path,
                    "sortDirection": ("descending" if self.descending else "ascending")
                    if sort_index == 0
                    else None,
                    "sortIndex": sort_index,
                    "sortable": col.sortable and not col.hidden,
                    "type": col.type,
                }
            )
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "columns": self.column_descriptions(),
            "id": self.id,
            "orderBy": [
                {
                    "fieldNameOrPath": self.order_by,
                    "nullsPosition": "last" if self.descending else "first",
                    "sortDirection": "descending" if self.descending else "ascending",
                },
                {"fieldNameOrPath": "Id", "nullsPosition": "first", "sortDirection": "ascending"},
            ],
            "query": self.query,
            "relatedEntityId": None,
            "scope": "everything",
            "scopeEntityId": None,
            "sobjectType": self.sobject,
            "whereCondition": self.where,
        }


def _resolve(schema: Schema, sobj: SObjectDef, path: str) -> FieldDef:
    current = sobj
    parts = path.split(".")
    for rel in parts[:-1]:
        ref = current.relationships.get(rel.lower())
        if ref is None or not ref.reference_to:
            raise ValueError(f"list view column {path}: no relationship {rel} on {current.name}")
        target = schema.get(ref.reference_to[0])
        if target is None:
            raise ValueError(f"list view column {path}: unknown object {ref.reference_to[0]}")
        current = target
    f = current.field(parts[-1])
    if f is None:
        raise ValueError(f"list view column {path}: no field {parts[-1]} on {current.name}")
    return f


def _literal(f: FieldDef, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if f.type in ("date", "datetime") and _DATE_LITERAL.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _condition(f: FieldDef, spec: FilterSpec) -> tuple[str, dict[str, Any]]:
    literals = [_literal(f, v) for v in spec.values]
    where = {"field": f.name, "operator": spec.operator, "values": literals}
    if spec.operator in ("contains", "startsWith"):
        likes = []
        for v in spec.values:
            body = str(v).replace("\\", "\\\\").replace("'", "\\'").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{body}%" if spec.operator == "contains" else f"{body}%"
            likes.append(f"{f.name} LIKE '{pattern}'")
        text = likes[0] if len(likes) == 1 else "(" + " OR ".join(likes) + ")"
        return text, where
    op = _OPERATORS.get(spec.operator)
    if op is None:
        raise ValueError(f"unsupported list view operator {spec.operator}")
    if len(literals) == 1:
        return f"{f.name} {op} {literals[0]}", where
    if op == "=":
        return f"{f.name} IN ({', '.join(literals)})", where
    if op == "!=":
        return f"{f.name} NOT IN ({', '.join(literals)})", where
    return "(" + " OR ".join(f"{f.name} {op} {lit}" for lit in literals) + ")", where


def _build(schema: Schema, sobj: SObjectDef, spec: ListViewSpec, view_id: str) -> ListView:
    columns = []
    for path in spec.columns:
        f = _resolve(schema, sobj, path)
        label = f.label if "." not in path else f"{path.split('.')[0].removesuffix('__r')} {f.label}"
        columns.append(Column(path, label, f.type, False, f.sortable))
    hidden = list(_HIDDEN)
    if "OwnerId" in sobj.fields:
        hidden += ["Owner.Id", "OwnerId"]
    for path in hidden:
        if path in spec.columns:
            continue
        f = _resolve(schema, sobj, path)
        columns.append(Column(path, f.label, f.type, True, False))
    conditions = [_condition(_resolve(schema, sobj, c.field), c) for c in spec.filters]
    # Built from validated metadata (field paths resolved against the describe), never from requests.
    soql = f"SELECT {', '.join(c.path for c in columns)} FROM {sobj.name}"  # noqa: S608
    where: dict[str, Any] | None = None
    if conditions:
        soql += " WHERE " + " AND ".join(text for text, _ in conditions)
        where = (
            conditions[0][1]
            if len(conditions) == 1
            else {
                "conditions": [w for _, w in conditions],
                "conjunction": "and",
            }
        )
    _resolve(schema, sobj, spec.orderBy)
    direction = "DESC NULLS LAST" if spec.descending else "ASC NULLS FIRST"
    soql += f" ORDER BY {spec.orderBy} {direction}, Id ASC NULLS FIRST"
    return ListView(
        id=view_id,
        sobject=sobj.name,
        developer_name=spec.developerName,
        label=spec.label,
        query=soql,
        columns=columns,
        order_by=spec.orderBy,
        descending=spec.descending,
        where=where,
    )


def build_list_view(schema: Schema, sobj: SObjectDef, spec: ListViewSpec, view_id: str) -> ListView:
    """A list view from its spec (columns and filters resolved against the describe; ValueError if not)."""
    return _build(schema, sobj, spec, view_id)


class ListViewCatalog:
    """All list views by sObject and by id (views are immutable; changing one replaces it)."""

    def __init__(self, views: list[ListView]) -> None:
        self.by_id = {v.id: v for v in views}
        self.by_sobject: dict[str, list[ListView]] = {}
        for v in views:
            self.by_sobject.setdefault(v.sobject, []).append(v)

    def copy(self) -> ListViewCatalog:
        return ListViewCatalog([v for views in self.by_sobject.values() for v in views])

    def named(self, sobject: str, developer_name: str) -> ListView | None:
        return next((v for v in self.for_sobject(sobject) if v.developer_name == developer_name), None)

    def put(self, view: ListView) -> None:
        """Add a list view, or replace the one with its id (keeping its place in the listing)."""
        views = self.by_sobject.setdefault(view.sobject, [])
        index = next((i for i, v in enumerate(views) if v.id == view.id), None)
        if index is None:
            views.append(view)
        else:
            views[index] = view
        self.by_id[view.id] = view

    def remove(self, view_id: str) -> bool:
        view = self.by_id.pop(view_id, None)
        if view is None:
            return False
        self.by_sobject[view.sobject] = [v for v in self.by_sobject[view.sobject] if v.id != view_id]
        return True

    def for_sobject(self, name: str) -> list[ListView]:
        return self.by_sobject.get(name, [])

    def get(self, sobject: str, view_id_or_name: str) -> ListView | None:
        for v in self.for_sobject(sobject):
            if view_id_or_name in (v.id, v.id[:15], v.developer_name):
                return v
        return None


def load_list_views(schema: Schema, ids: IdGenerator, path: Path | None = None) -> ListViewCatalog:
    source = path or Path(__file__).resolve().parent / "metadata" / "listviews.json"
    raw: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    views = []
    for sobject, specs in raw.items():
        if sobject.startswith("_"):
            continue
        sobj = schema.get(sobject)
        if sobj is None:
            raise ValueError(f"list views declared for unknown sObject {sobject}")
        for spec_raw in specs:
            spec = ListViewSpec.model_validate(spec_raw)
            views.append(_build(schema, sobj, spec, ids.new(LISTVIEW_PREFIX)))
    return ListViewCatalog(views)
