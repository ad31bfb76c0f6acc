"""Queries: the RecordSource the SOQL engine reads, and query cursors for ``nextRecordsUrl`` paging."""

from __future__ import annotations

import datetime as dt
import secrets
import string
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sfemulator.errors import ApiError
from sfemulator.schema import Schema
from sfemulator.soql import ChildRelationship, FieldSpec, SoqlError, execute, parse
from sfemulator.soql.nodes import And, ChildQuery, Comparison, InList, SelectQuery
from sfemulator.store import OrgData
from sfemulator.versions import rebase_urls

__all__ = ["OrgRecordSource", "QueryService"]

CURSOR_IDLE = dt.timedelta(minutes=15)
# A subquery's children come about 200 per answer; the rest behind the child result's own
# nextRecordsUrl (a "01g" locator), fetched like any query page.
CHILD_BATCH = 200
MAX_CURSORS = 2000
_LOCATOR_CHARS = string.ascii_letters + string.digits


class OrgRecordSource:
    """The emulator's implementation of the SOQL engine's ``RecordSource`` port."""

    def __init__(self, schema: Schema, data: OrgData) -> None:
        self._schema = schema
        self._data = data
        self._specs: dict[str, dict[str, FieldSpec]] = {}
        self._children: dict[str, dict[str, ChildRelationship]] = {}

    def sobject_fields(self, sobject: str) -> Mapping[str, FieldSpec] | None:
        sobj = self._schema.get(sobject)
        if sobj is None:
            return None
        specs = self._specs.get(sobj.name)
        if specs is None:
            specs = {
                f.name: FieldSpec(
                    name=f.name,
                    type=f.type,
                    reference_to=f.reference_to,
                    relationship_name=f.relationship_name,
                    filterable=f.filterable,
                    sortable=f.sortable,
                )
                for f in sobj.fields.values()
            }
            self._specs[sobj.name] = specs
        return specs

    def sobject_name(self, sobject: str) -> str | None:
        sobj = self._schema.get(sobject)
        return sobj.name if sobj is not None else None

    def child_relationships(self, sobject: str) -> Mapping[str, ChildRelationship]:
        """The describe's named child relationships of ``sobject`` (``Contacts``, ``Histories``, ...)."""
        sobj = self._schema.get(sobject)
        if sobj is None:
            return {}
        found = self._children.get(sobj.name)
        if found is None:
            found = {
                rel["relationshipName"]: ChildRelationship(
                    rel["relationshipName"], rel["childSObject"], rel["field"]
                )
                for rel in sobj.child_relationships
                if rel.get("relationshipName")
            }
            self._children[sobj.name] = found
        return found

    def records(self, sobject: str, *, include_deleted: bool) -> Iterable[Mapping[str, Any]]:
        sobj = self._schema.get(sobject)
        if sobj is None:
            return ()
        return self._data.iter(sobj.name, include_deleted=include_deleted)

    def record_by_id(self, record_id: str) -> tuple[str, Mapping[str, Any]] | None:
        return self._data.get(record_id)


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    total_size: int
    last_used: dt.datetime
    version: str  # the API version the records' URLs were rendered with
    batch: int | None = None  # a child cursor's fixed page size (else the request's batch size)


class QueryService:
    """Runs SOQL against the org and pages results through server-side cursors."""

    def __init__(self, source: OrgRecordSource, stored_version: str) -> None:
        self.source = source
        # Stored values that are URLs (an Attachment's Body) carry the org's version; answers carry
        # the request's.
        self.stored_version = stored_version
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()

    def clear(self) -> None:
        self._cursors.clear()

    def run(
        self, text: str | None, *, include_deleted: bool, batch_size: int, version: str, now: dt.datetime
    ) -> dict[str, Any]:
        if text is None or not text.strip():
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        if len(text) > 100_000:
            raise ApiError(400, "MALFORMED_QUERY", "Query string is too long (maximum 100000 characters)")
        try:
            query = parse(text)
            restricted(query)
            result = execute(query, self.source, now=now, include_deleted=include_deleted, version=version)
        except SoqlError as exc:
            raise ApiError(400, exc.error_code, exc.message) from None
        records = rebase_urls(result.records, self.stored_version, version)
        if any(isinstance(item, ChildQuery) for item in query.items):
            self._page_children(records, now, version)
        if len(records) <= batch_size:
            return {"totalSize": result.total_size, "done": True, "records": records}
        locator = self._open("0r8", _Cursor(records, result.total_size, now, version))
        return self._page(locator, 0, batch_size, version)

    def _open(self, prefix: str, cursor: _Cursor) -> str:
        locator = prefix + "".join(secrets.choice(_LOCATOR_CHARS) for _ in range(15))
        self._cursors[locator] = cursor
        while len(self._cursors) > MAX_CURSORS:
            self._cursors.popitem(last=False)
        return locator

    def _page_children(self, records: list[dict[str, Any]], now: dt.datetime, version: str) -> None:
        """Cut every subquery result longer than a child batch into its first page and a cursor."""
        for record in records:
            for key, value in record.items():
                if not (isinstance(value, dict) and {"totalSize", "done", "records"} <= value.keys()):
                    continue
                children = value["records"]
                self._page_children(children, now, version)
                if len(children) > CHILD_BATCH:
                    cursor = _Cursor(children, value["totalSize"], now, version, CHILD_BATCH)
                    record[key] = self._page(self._open("01g", cursor), 0, CHILD_BATCH, version)

    def more(
        self, locator_and_offset: str, *, batch_size: int, version: str, now: dt.datetime
    ) -> dict[str, Any]:
        locator, _, offset_text = locator_and_offset.rpartition("-")
        cursor = self._cursors.get(locator)
        if cursor is None or not offset_text.isdigit() or now - cursor.last_used > CURSOR_IDLE:
            self._cursors.pop(locator, None)
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(offset_text)
        if offset > len(cursor.records):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.last_used = now
        self._cursors.move_to_end(locator)
        return self._page(locator, offset, cursor.batch or batch_size, version)

    def _page(self, locator: str, offset: int, batch_size: int, version: str) -> dict[str, Any]:
        cursor = self._cursors[locator]
        end = offset + batch_size
        page = cursor.records[offset:end]
        body: dict[str, Any] = {"totalSize": cursor.total_size, "done": end >= len(cursor.records)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{end}"
        body["records"] = rebase_urls(page, cursor.version, version)
        return body


_LINK_KEYS = frozenset({"linkedentityid", "contentdocumentid", "id"})


def restricted(query: SelectQuery) -> None:
    """Salesforce's implementation restriction on ContentDocumentLink: a query must filter on one
    id (``=``) or several (``IN``) of ContentDocumentId or LinkedEntityId, at the top level (an
    ``AND`` of it and more is fine; an ``OR`` around it is not)."""
    if query.sobject.lower() != "contentdocumentlink":
        return
    conditions = query.where.items if isinstance(query.where, And) else (query.where,)
    for cond in conditions:
        if isinstance(cond, Comparison) and cond.op != "=":
            continue
        by_id = isinstance(cond, (Comparison, InList)) and not getattr(cond, "negated", False)
        if by_id and cond.field.text.lower() in _LINK_KEYS:  # type: ignore[union-attr]
            return
    raise ApiError(
        400,
        "MALFORMED_QUERY",
        "Implementation restriction: ContentDocumentLink requires a filter by a single Id on "
        "ContentDocumentId or LinkedEntityId using the equals operator or multiple Id's using the IN "
        "operator.",
    )
