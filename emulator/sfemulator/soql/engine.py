"""Evaluation of a parsed SOQL query against a :class:`RecordSource`.

``execute`` first *plans* the query: every name is resolved against the org's metadata (sObject,
fields, relationship paths), every literal is checked against its field's type and converted once,
and the WHERE clause is compiled into closures. Only then are the records scanned, so a bad query
fails with Salesforce's error before any work, and a good one evaluates each row with plain Python
comparisons.

Semantics follow Salesforce's, including the surprising parts:

* text comparisons (``=``, ``!=``, ``IN``, ``LIKE``, ordering) ignore case; an empty string is null;
* ``!=`` and ``NOT IN`` match null values, while ``<``, ``>``, ``LIKE`` never do;
* ids compare on their 15-character case-sensitive form, so 15- and 18-character ids are equal;
* a date literal such as ``TODAY`` or ``LAST_N_DAYS:7`` is a range: ``=`` means inside it, ``<``
  before its start, ``<=`` before its end, ``>`` after its end, ``>=`` from its start (UTC days);
* ``ORDER BY`` defaults to ``ASC NULLS FIRST``; ``DESC`` defaults to ``NULLS LAST``; rows keep the
  source's order (creation order) where the sort keys tie or when there is no ORDER BY.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sfemulator.soql import dates
from sfemulator.soql.errors import SoqlError, positioned
from sfemulator.soql.lexer import like_regex
from sfemulator.soql.nodes import (
    And,
    ChildQuery,
    Comparison,
    Condition,
    CountAll,
    CountField,
    DateLiteral,
    FieldPath,
    FieldsMacro,
    Includes,
    InList,
    Literal,
    Not,
    Or,
    QueryResult,
    SelectQuery,
    SemiJoin,
)
from sfemulator.soql.source import ChildRelationship, FieldSpec, RecordSource
from sfemulator.versions import DEFAULT_API_VERSION

__all__ = ["execute"]

Row = Mapping[str, Any]
Getter = Callable[[Row], Any]
Predicate = Callable[[Row], bool]

_INVALID_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
    "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_INVALID_FIELD = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure "
    "to append the '__c' after the custom field name. Please reference your WSDL or the describe call "
    "for the appropriate names."
)
_INVALID_CHILD_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in FROM part of query call. If you are attempting to use a "
    "custom relationship, be sure to append the '__r' after the custom relationship name. Please "
    "reference your WSDL or the describe call for the appropriate names."
)
_INVALID_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
    "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
    "your WSDL or the describe call for the appropriate names."
)

# Field types grouped by how their values compare ("domains").
_DOMAINS: dict[str, str] = {
    "id": "id",
    "reference": "id",
    "string": "string",
    "textarea": "string",
    "email": "string",
    "phone": "string",
    "url": "string",
    "picklist": "string",
    "combobox": "string",
    "encryptedstring": "string",
    "multipicklist": "multipicklist",
    "int": "number",
    "long": "number",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
}
# The SOAP type Salesforce names in "must be of type X" messages.
_SOAP_TYPES: dict[str, str] = {
    "id": "id",
    "string": "string",
    "multipicklist": "string",
    "boolean": "boolean",
    "date": "date",
    "datetime": "dateTime",
    "time": "time",
    "int": "int",
    "long": "long",
}
_ID_PATTERN = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_WIRE_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?"
)
_UTC_MIDNIGHT = dt.time(tzinfo=dt.UTC)
MAX_FIELDS_LIMIT = 200


def execute(
    query: SelectQuery,
    source: RecordSource,
    *,
    now: dt.datetime,
    include_deleted: bool = False,
    version: str = DEFAULT_API_VERSION,
) -> QueryResult:
    """Run ``query`` against ``source`` and shape the rows as Salesforce's REST ``query`` returns them.

    ``now`` anchors the relative date literals (a naive value is taken as UTC); ``include_deleted``
    makes it a ``queryAll``; ``version`` is the API version of the request, which every record's
    ``attributes.url`` carries. Raises :class:`SoqlError` (INVALID_TYPE, INVALID_FIELD, MALFORMED_QUERY)
    for names or literals Salesforce would reject.
    """
    moment = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    context = _Context(source, moment.date(), include_deleted, version)
    plan = _plan(query, context, nested=False)
    return plan.run()


# ------------------------------------------------------------------------------------------ metadata


@dataclass(slots=True)
class _SObject:
    name: str
    fields: dict[str, FieldSpec]  # lower-case name -> spec
    relationships: dict[str, FieldSpec]  # lower-case relationship name -> reference field
    canonical: bool = True  # False while ``name`` is only the spelling the query used
    children: dict[str, ChildRelationship] = field(default_factory=dict)  # lower-case name -> relationship


@dataclass(slots=True)
class _Context:
    """What one execution shares: the source, today's date, metadata and parent-record caches."""

    source: RecordSource
    today: dt.date
    include_deleted: bool
    version: str
    sobjects: dict[str, _SObject | None] = field(default_factory=dict)
    parents: dict[str, tuple[str, Row] | None] = field(default_factory=dict)

    def sobject(self, name: str) -> _SObject | None:
        key = name.lower()
        if key in self.sobjects:
            return self.sobjects[key]
        specs = self.source.sobject_fields(name)
        found: _SObject | None = None
        if specs is not None:
            # The port has no listing of sObjects; a source may offer ``sobject_name`` (optional) to
            # give the canonical spelling, else it is learnt from the first record (see _Plan.run).
            canonical = name
            resolve_name = getattr(self.source, "sobject_name", None)
            if callable(resolve_name):
                canonical = str(resolve_name(name) or name)
            fields = {spec.name.lower(): spec for spec in specs.values()}
            relationships = {
                spec.relationship_name.lower(): spec
                for spec in specs.values()
                if spec.relationship_name and spec.reference_to
            }
            list_children = getattr(self.source, "child_relationships", None)
            children: dict[str, ChildRelationship] = {}
            if callable(list_children):
                children = {rel.name.lower(): rel for rel in list_children(canonical).values()}
            found = _SObject(canonical, fields, relationships, callable(resolve_name), children)
        self.sobjects[key] = found
        return found

    def parent(self, record_id: Any) -> tuple[str, Row] | None:
        if not isinstance(record_id, str) or not record_id:
            return None
        if record_id in self.parents:
            return self.parents[record_id]
        found = self.source.record_by_id(record_id)
        if found is not None:
            sobject = self.sobject(found[0])
            found = (sobject.name if sobject is not None else found[0], found[1])
        self.parents[record_id] = found
        return found


@dataclass(frozen=True, slots=True)
class _Hop:
    """One step up a relationship path: the child's reference field and where it leads."""

    field: FieldSpec
    relationship: str  # canonical relationship name, the key in the output record
    target: _SObject | None  # None for a polymorphic relationship (Owner of a Case, What of a Task)


@dataclass(frozen=True, slots=True)
class _Resolved:
    hops: tuple[_Hop, ...]
    spec: FieldSpec
    parent_type: bool  # ``What.Type``: the sObject type of a polymorphic parent
    path: FieldPath

    @property
    def canonical(self) -> str:
        return ".".join([*(hop.relationship for hop in self.hops), self.spec.name])

    @property
    def domain(self) -> str:
        return _DOMAINS.get(self.spec.type.lower(), "other")


def _resolve(path: FieldPath, root: _SObject, query: SelectQuery, context: _Context) -> _Resolved:
    parts = list(path.parts)
    # SOQL accepts the object's name or its alias as a prefix: Account.Name FROM Account a.
    prefixes = (root.name.lower(), query.sobject.lower(), (query.alias or "").lower())
    if len(parts) > 1 and parts[0].lower() not in root.relationships and parts[0].lower() in prefixes:
        parts = parts[1:]
    current: _SObject | None = root
    hops: list[_Hop] = []
    for index, part in enumerate(parts[:-1]):
        reference = current.relationships.get(part.lower()) if current is not None else None
        if reference is None or current is None:
            raise SoqlError(
                "INVALID_FIELD",
                positioned(query.text, path.pos, _INVALID_RELATIONSHIP.format(name=part)),
            )
        if len(reference.reference_to) == 1:
            target = context.sobject(reference.reference_to[0])
            if target is None:  # a lookup to an object this org does not model
                raise SoqlError(
                    "INVALID_FIELD",
                    positioned(query.text, path.pos, _INVALID_RELATIONSHIP.format(name=part)),
                )
        else:
            target = None
            if index < len(parts) - 2:
                # A polymorphic parent only offers its name fields; no further hops.
                raise SoqlError(
                    "INVALID_FIELD",
                    positioned(query.text, path.pos, _INVALID_RELATIONSHIP.format(name=parts[index + 1])),
                )
        hops.append(_Hop(reference, reference.relationship_name or part, target))
        current = target
    last = parts[-1]
    if hops and hops[-1].target is None:
        return _resolve_polymorphic(path, hops, last, query, context)
    assert current is not None
    spec = current.fields.get(last.lower())
    if spec is None:
        raise SoqlError(
            "INVALID_FIELD",
            positioned(query.text, path.pos, _INVALID_FIELD.format(name=last, entity=current.name)),
        )
    return _Resolved(tuple(hops), spec, False, path)


def _resolve_polymorphic(
    path: FieldPath, hops: list[_Hop], last: str, query: SelectQuery, context: _Context
) -> _Resolved:
    if last.lower() == "type":
        return _Resolved(tuple(hops), FieldSpec("Type", "string"), True, path)
    for target_name in hops[-1].field.reference_to:
        target = context.sobject(target_name)
        spec = target.fields.get(last.lower()) if target is not None else None
        if spec is not None:
            return _Resolved(tuple(hops), spec, False, path)
    raise SoqlError(
        "INVALID_FIELD",
        positioned(query.text, path.pos, _INVALID_FIELD.format(name=last, entity="Name")),
    )


def _getter(resolved: _Resolved, context: _Context) -> Getter:
    name = resolved.spec.name
    hops = resolved.hops
    if not hops:
        return lambda row: row.get(name)
    parent_type = resolved.parent_type

    def walk(row: Row) -> Any:
        current = row
        kind = ""
        for hop in hops:
            found = context.parent(current.get(hop.field.name))
            if found is None:
                return None
            kind, current = found
        return kind if parent_type else current.get(name)

    return walk


# ------------------------------------------------------------------------------------ value domains


def _norm_id(value: Any) -> Any:
    return value[:15] if isinstance(value, str) and value else None


def _norm_string(value: Any) -> Any:
    if value is None or value == "":
        return None
    return (value if isinstance(value, str) else str(value)).casefold()


def _norm_multipicklist(value: Any) -> Any:
    if not value:
        return None
    return frozenset(part.strip().casefold() for part in str(value).split(";") if part.strip()) or None


def _norm_number(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _norm_boolean(value: Any) -> Any:
    return None if value is None else bool(value)


def _norm_date(value: Any) -> Any:
    return value[:10] if isinstance(value, str) and value else None


@functools.lru_cache(maxsize=65536)
def _parse_wire_datetime(value: str) -> dt.datetime | None:
    match = _WIRE_DATETIME.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = dt.timedelta()
    if zone and zone not in ("Z",):
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if zone[0] == "-":
            offset = -offset
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    moment = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros)
    return (moment - offset).replace(tzinfo=dt.UTC)


def _norm_datetime(value: Any) -> Any:
    return _parse_wire_datetime(value) if isinstance(value, str) and value else None


def _norm_other(value: Any) -> Any:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


_NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "id": _norm_id,
    "string": _norm_string,
    "multipicklist": _norm_multipicklist,
    "number": _norm_number,
    "boolean": _norm_boolean,
    "date": _norm_date,
    "datetime": _norm_datetime,
    "time": _norm_other,
    "other": _norm_other,
}


def _soap_type(resolved: _Resolved) -> str:
    kind = resolved.spec.type.lower()
    if kind in _SOAP_TYPES:
        return _SOAP_TYPES[kind]
    domain = resolved.domain
    return {"id": "id", "string": "string", "number": "double"}.get(domain, kind)


def _type_error(resolved: _Resolved) -> SoqlError:
    soap = _soap_type(resolved)
    quoted = (
        "should be enclosed in quotes" if soap in ("string", "id") else "should not be enclosed in quotes"
    )
    return SoqlError(
        "INVALID_FIELD",
        f"value of filter criterion for field '{resolved.spec.name}' must be of type {soap} and {quoted}",
    )


@dataclass(frozen=True, slots=True)
class _Range:
    start: Any
    end: Any


def _coerce(literal: Literal, resolved: _Resolved, context: _Context, text: str, *, allow_range: bool) -> Any:
    """The literal in the comparable form of the field's domain (None for null; _Range for date literals)."""
    if literal.kind == "null":
        return None
    domain = resolved.domain
    value = literal.value
    if domain == "id":
        if literal.kind != "string" or not isinstance(value, str):
            raise _type_error(resolved)
        if value == "":
            return None
        if not _ID_PATTERN.fullmatch(value):
            raise SoqlError("MALFORMED_QUERY", f"invalid ID field: {value}")
        return value[:15]
    if domain in ("string", "time", "other"):
        if literal.kind != "string" or not isinstance(value, str):
            raise _type_error(resolved)
        return _NORMALIZERS[domain](value)
    if domain == "multipicklist":
        if literal.kind != "string":
            raise _type_error(resolved)
        return _norm_multipicklist(value)
    if domain == "number":
        if literal.kind not in ("integer", "decimal") or not isinstance(value, Decimal):
            raise _type_error(resolved)
        return float(value)
    if domain == "boolean":
        if literal.kind != "boolean":
            raise _type_error(resolved)
        return value
    if literal.kind == "date_literal" and isinstance(value, DateLiteral) and domain in ("date", "datetime"):
        if not allow_range:
            raise SoqlError(
                "MALFORMED_QUERY",
                positioned(text, literal.pos, f"unexpected token: '{literal.text}'"),
            )
        start, end = dates.date_range(value.name, value.n, context.today)
        if domain == "date":
            return _Range(start.isoformat(), end.isoformat())
        return _Range(dt.datetime.combine(start, _UTC_MIDNIGHT), dt.datetime.combine(end, _UTC_MIDNIGHT))
    if domain == "date":
        if literal.kind != "date" or not isinstance(value, dt.date):
            raise _type_error(resolved)
        return value.isoformat()
    if domain == "datetime":
        if literal.kind != "datetime" or not isinstance(value, dt.datetime):
            raise _type_error(resolved)
        return value
    raise _type_error(resolved)


# ---------------------------------------------------------------------------------------- predicates


def _invalid_operator(resolved: _Resolved) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", f"invalid operator on {_soap_type(resolved)} field")


def _range_predicate(op: str, get: Getter, norm: Callable[[Any], Any], bounds: _Range) -> Predicate:
    start, end = bounds.start, bounds.end

    def inside(row: Row) -> bool:
        value = norm(get(row))
        return value is not None and start <= value < end

    if op == "=":
        return inside
    if op == "!=":
        return lambda row: not inside(row)

    def compare(row: Row) -> bool:
        value = norm(get(row))
        if value is None:
            return False
        if op == "<":
            return bool(value < start)
        if op == "<=":
            return bool(value < end)
        if op == ">":
            return bool(value >= end)
        return bool(value >= start)

    return compare


def _scalar_predicate(op: str, get: Getter, norm: Callable[[Any], Any], target: Any) -> Predicate:
    if target is None:
        if op == "=":
            return lambda row: norm(get(row)) is None
        if op == "!=":
            return lambda row: norm(get(row)) is not None
        return lambda row: False
    if op == "=":
        return lambda row: norm(get(row)) == target
    if op == "!=":
        return lambda row: norm(get(row)) != target

    def compare(row: Row) -> bool:
        value = norm(get(row))
        if value is None:
            return False
        if op == "<":
            return bool(value < target)
        if op == "<=":
            return bool(value <= target)
        if op == ">":
            return bool(value > target)
        return bool(value >= target)

    return compare


class _Compiler:
    """Turns a WHERE tree into a predicate, checking every name and literal on the way."""

    def __init__(self, query: SelectQuery, root: _SObject, context: _Context) -> None:
        self.query = query
        self.root = root
        self.context = context

    def filter_field(self, path: FieldPath) -> _Resolved:
        resolved = _resolve(path, self.root, self.query, self.context)
        if not resolved.spec.filterable:
            raise SoqlError(
                "INVALID_FIELD",
                positioned(
                    self.query.text,
                    path.pos,
                    f"field '{resolved.spec.name}' can not be filtered in a query call",
                ),
            )
        return resolved

    def compile(self, node: Condition) -> Predicate:
        if isinstance(node, And):
            parts = [self.compile(item) for item in node.items]
            return lambda row: all(part(row) for part in parts)
        if isinstance(node, Or):
            parts = [self.compile(item) for item in node.items]
            return lambda row: any(part(row) for part in parts)
        if isinstance(node, Not):
            inner = self.compile(node.item)
            return lambda row: not inner(row)
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, SemiJoin):
            return self.semi_join(node)
        return self.includes(node)

    def comparison(self, node: Comparison) -> Predicate:
        resolved = self.filter_field(node.field)
        get = _getter(resolved, self.context)
        domain = resolved.domain
        norm = _NORMALIZERS[domain]
        if node.op == "LIKE":
            if domain not in ("string", "other", "time"):
                raise _invalid_operator(resolved)
            if node.value.kind == "null":
                return lambda row: False
            if node.value.kind != "string" or not isinstance(node.value.value, str):
                raise _type_error(resolved)
            matcher = like_regex(node.value.value).fullmatch

            def like(row: Row) -> bool:
                value = get(row)
                return value is not None and value != "" and matcher(str(value)) is not None

            return like
        if domain == "boolean" and node.op not in ("=", "!="):
            raise _invalid_operator(resolved)
        if domain == "multipicklist" and node.op not in ("=", "!="):
            raise _invalid_operator(resolved)
        target = _coerce(node.value, resolved, self.context, self.query.text, allow_range=True)
        if isinstance(target, _Range):
            return _range_predicate(node.op, get, norm, target)
        return _scalar_predicate(node.op, get, norm, target)

    def in_list(self, node: InList) -> Predicate:
        resolved = self.filter_field(node.field)
        get = _getter(resolved, self.context)
        norm = _NORMALIZERS[resolved.domain]
        values = {
            _coerce(item, resolved, self.context, self.query.text, allow_range=False) for item in node.values
        }
        if node.negated:
            return lambda row: norm(get(row)) not in values
        return lambda row: norm(get(row)) in values

    def semi_join(self, node: SemiJoin) -> Predicate:
        resolved = self.filter_field(node.field)
        get = _getter(resolved, self.context)
        norm = _NORMALIZERS[resolved.domain]
        sub = _plan(node.query, self.context, nested=True)
        selected = sub.items[0]
        assert isinstance(selected, _FieldItem)
        sub_get = selected.getter
        values = {norm(sub_get(row)) for row in sub.rows()}
        values.discard(None)
        if node.negated:
            return lambda row: norm(get(row)) not in values
        return lambda row: norm(get(row)) in values

    def includes(self, node: Includes) -> Predicate:
        resolved = self.filter_field(node.field)
        if resolved.domain != "multipicklist":
            raise SoqlError(
                "MALFORMED_QUERY",
                positioned(
                    self.query.text,
                    node.pos,
                    "INCLUDES/EXCLUDES operator only valid on multipicklist field",
                ),
            )
        get = _getter(resolved, self.context)
        wanted = []
        for item in node.values:
            if item.kind != "string":
                raise _type_error(resolved)
            wanted.append(_norm_multipicklist(item.value) or frozenset())

        def includes(row: Row) -> bool:
            value = _norm_multipicklist(get(row))
            return value is not None and any(group <= value for group in wanted)

        if node.excludes:
            return lambda row: not includes(row)
        return includes


# ---------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class _FieldItem:
    resolved: _Resolved
    getter: Getter


@dataclass(frozen=True, slots=True)
class _CountItem:
    key: str
    getter: Getter


@dataclass(slots=True)
class _Shape:
    """The nested output of one object in a row: its fields, its parents' and its children's, in SELECT
    order."""

    fields: dict[str, tuple[str, bool]] = field(default_factory=dict)  # key -> (field name, is parent type)
    parents: dict[str, tuple[_Hop, _Shape]] = field(default_factory=dict)
    children: dict[str, _ChildPlan] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _ChildPlan:
    """A parent-child subquery: its plan over the child sObject, its rows grouped by parent once."""

    relationship: ChildRelationship
    plan: _Plan
    groups: dict[str, list[Row]] | None = None

    def rows_for(self, parent_id: Any) -> list[Row]:
        if self.groups is None:
            groups: dict[str, list[Row]] = {}
            key_field = self.relationship.field
            for row in self.plan.rows(window=False):  # filtered and ordered once for all parents
                key = row.get(key_field)
                if isinstance(key, str):
                    groups.setdefault(key, []).append(row)
            self.groups = groups
        return self.plan.window(self.groups.get(parent_id, [])) if isinstance(parent_id, str) else []

    def result(self, parent_id: Any) -> dict[str, Any] | None:
        """Salesforce's nested shape: null without children, else a one-page query result."""
        rows = self.rows_for(parent_id)
        if not rows:
            return None
        plan = self.plan
        name = plan.root.name
        records = [plan.render(row, name, name, plan.shape) for row in rows]
        return {"totalSize": len(records), "done": True, "records": records}


@dataclass(slots=True)
class _Plan:
    query: SelectQuery
    context: _Context
    root: _SObject
    items: list[_FieldItem]
    counts: list[_CountItem]
    count_all: bool
    predicate: Predicate | None
    sort_keys: list[tuple[Getter, Callable[[Any], Any], bool, bool]]
    shape: _Shape

    def rows(self, *, window: bool = True) -> list[Row]:
        """The matching rows in order; ``window`` applies OFFSET and LIMIT."""
        source_rows: Iterable[Row] = self.context.source.records(
            self.root.name, include_deleted=self.context.include_deleted
        )
        predicate = self.predicate
        rows = list(source_rows) if predicate is None else [row for row in source_rows if predicate(row)]
        sort_keys = () if self.count_all else self.sort_keys  # order cannot change a count
        for get, norm, descending, nulls_last in reversed(sort_keys):
            # Stable sorts from the last key to the first give the multi-key order. With reverse=True,
            # the null rank is flipped so that NULLS FIRST/LAST hold in the final order.
            null_rank = 1 if nulls_last != descending else 0
            rows.sort(key=_sort_key(get, norm, null_rank), reverse=descending)
        return self.window(rows) if window else rows

    def window(self, rows: list[Any]) -> list[Any]:
        offset = self.query.offset or 0
        if offset:
            rows = rows[offset:]
        if self.query.limit is not None:
            rows = rows[: self.query.limit]
        return rows

    def run(self) -> QueryResult:
        if self.count_all:
            return QueryResult(records=[], total_size=len(self.rows()))
        if self.counts:
            # An aggregate query has one result row; LIMIT and OFFSET apply to it, not to the input.
            matched = self.rows(window=False)
            record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for item in self.counts:
                record[item.key] = sum(1 for row in matched if item.getter(row) not in (None, ""))
            records = self.window([record])
            return QueryResult(records=records, total_size=len(records))
        rows = self.rows()
        root = self.root
        if rows and not root.canonical:
            first_id = rows[0].get("Id")
            found = self.context.source.record_by_id(first_id) if isinstance(first_id, str) else None
            if found is not None:
                root.name, root.canonical = found[0], True
        records = [self.render(row, root.name, root.name, self.shape) for row in rows]
        return QueryResult(records=records, total_size=len(records))

    def render(self, row: Row, kind: str, url_kind: str, shape: _Shape) -> dict[str, Any]:
        record_id = row.get("Id")
        attributes = {"type": kind}
        if record_id:
            attributes["url"] = f"/services/data/{self.context.version}/sobjects/{url_kind}/{record_id}"
        out: dict[str, Any] = {"attributes": attributes}
        for key in shape.order:
            if key in shape.children:
                out[key] = shape.children[key].result(record_id)
                continue
            if key in shape.fields:
                name, is_parent_type = shape.fields[key]
                out[key] = url_kind if is_parent_type else row.get(name)
                continue
            hop, sub_shape = shape.parents[key]
            found = self.context.parent(row.get(hop.field.name))
            if found is None:
                out[key] = None
                continue
            parent_kind, parent_row = found
            shown_kind = hop.target.name if hop.target is not None else "Name"
            out[key] = self.render(parent_row, shown_kind, parent_kind, sub_shape)
        return out


def _sort_key(get: Getter, norm: Callable[[Any], Any], null_rank: int) -> Callable[[Row], tuple[int, Any]]:
    value_rank = 1 - null_rank

    def key(row: Row) -> tuple[int, Any]:
        value = norm(get(row))
        if value is None:
            return (null_rank, 0)
        return (value_rank, value)

    return key


def _sort_norm(resolved: _Resolved) -> Callable[[Any], Any]:
    domain = resolved.domain
    if domain == "id":
        return lambda value: value if isinstance(value, str) and value else None
    if domain == "multipicklist":
        return _norm_string
    return _NORMALIZERS[domain]


def _plan(query: SelectQuery, context: _Context, *, nested: bool, root: _SObject | None = None) -> _Plan:
    """Resolve and compile ``query``; ``root`` is given for a subquery, whose FROM is a relationship."""
    if root is None:
        root = context.sobject(query.sobject)
    if root is None:
        raise SoqlError(
            "INVALID_TYPE",
            positioned(query.text, query.sobject_pos, _INVALID_TYPE.format(name=query.sobject)),
        )
    items: list[_FieldItem] = []
    counts: list[_CountItem] = []
    count_all = False
    seen: set[str] = set()
    shape = _Shape()
    unnamed = 0
    for item in query.items:
        if isinstance(item, CountAll):
            count_all = True
            continue
        if isinstance(item, ChildQuery):
            child = _child_plan(item, root, context)
            rel_name = child.relationship.name
            if rel_name.lower() in seen:
                raise SoqlError("INVALID_FIELD", f"duplicate field selected: {rel_name}")
            seen.add(rel_name.lower())
            shape.children[rel_name] = child
            shape.order.append(rel_name)
            continue
        if isinstance(item, CountField):
            resolved = _resolve(item.field, root, query, context)
            key = item.alias
            if key is None:
                key = f"expr{unnamed}"
                unnamed += 1
            counts.append(_CountItem(key, _getter(resolved, context)))
            continue
        for resolved in _select_fields(item, root, query, context):
            canonical = resolved.canonical
            if canonical.lower() in seen:
                raise SoqlError("INVALID_FIELD", f"duplicate field selected: {canonical}")
            seen.add(canonical.lower())
            items.append(_FieldItem(resolved, _getter(resolved, context)))
            _add_to_shape(shape, resolved)
    if counts and items:
        first = items[0].resolved.path
        raise SoqlError(
            "MALFORMED_QUERY",
            positioned(query.text, first.pos, f"Field must be grouped or aggregated: {first.text}"),
        )
    predicate = None
    compiler = _Compiler(query, root, context)
    if query.where is not None:
        if nested and _has_semi_join(query.where):
            raise SoqlError(
                "MALFORMED_QUERY",
                positioned(
                    query.text, query.sobject_pos, "Nesting of semi join sub-selects is not supported"
                ),
            )
        predicate = compiler.compile(query.where)
    sort_keys: list[tuple[Getter, Callable[[Any], Any], bool, bool]] = []
    for order in query.order_by:
        resolved = _resolve(order.field, root, query, context)
        if not resolved.spec.sortable:
            raise SoqlError(
                "MALFORMED_QUERY",
                positioned(
                    query.text,
                    order.field.pos,
                    f"field '{resolved.spec.name}' can not be sorted in a query call",
                ),
            )
        if counts:
            raise SoqlError(
                "MALFORMED_QUERY",
                positioned(
                    query.text,
                    order.field.pos,
                    f"Ordered field must be grouped or aggregated: {order.field.text}",
                ),
            )
        sort_keys.append(
            (_getter(resolved, context), _sort_norm(resolved), order.descending, order.nulls_last)
        )
    return _Plan(query, context, root, items, counts, count_all, predicate, sort_keys, shape)


def _child_plan(item: ChildQuery, parent: _SObject, context: _Context) -> _ChildPlan:
    sub = item.query
    relationship = parent.children.get(sub.sobject.lower())
    child = context.sobject(relationship.sobject) if relationship is not None else None
    if relationship is None or child is None:
        raise SoqlError(
            "INVALID_TYPE",
            positioned(sub.text, sub.sobject_pos, _INVALID_CHILD_RELATIONSHIP.format(name=sub.sobject)),
        )
    return _ChildPlan(relationship, _plan(sub, context, nested=True, root=child))


def _select_fields(
    item: FieldPath | FieldsMacro, root: _SObject, query: SelectQuery, context: _Context
) -> list[_Resolved]:
    if isinstance(item, FieldPath):
        return [_resolve(item, root, query, context)]
    if item.kind != "STANDARD" and (query.limit is None or query.limit > MAX_FIELDS_LIMIT):
        # Unbounded FIELDS() is only allowed for standard fields.
        raise SoqlError(
            "MALFORMED_QUERY",
            positioned(
                query.text,
                item.pos,
                f"The SOQL FIELDS function must have a LIMIT of at most {MAX_FIELDS_LIMIT}",
            ),
        )
    selected = []
    for spec in root.fields.values():
        custom = spec.name.lower().endswith("__c")
        if item.kind == "ALL" or custom == (item.kind == "CUSTOM"):
            path = FieldPath((spec.name,), item.pos)
            selected.append(_Resolved((), spec, False, path))
    return selected


def _has_semi_join(node: Condition) -> bool:
    if isinstance(node, SemiJoin):
        return True
    if isinstance(node, And | Or):
        return any(_has_semi_join(item) for item in node.items)
    if isinstance(node, Not):
        return _has_semi_join(node.item)
    return False


def _add_to_shape(shape: _Shape, resolved: _Resolved) -> None:
    current = shape
    for hop in resolved.hops:
        key = hop.relationship
        if key not in current.parents:
            current.parents[key] = (hop, _Shape())
            current.order.append(key)
        current = current.parents[key][1]
    name = resolved.spec.name
    current.fields[name] = (name, resolved.parent_type)
    current.order.append(name)
