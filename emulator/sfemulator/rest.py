"""The REST API under ``/services/data/vNN.0/``: sObjects, describe, query, limits, list views, composite.

Handlers return :class:`Result` values (status, JSON-able body, headers) so the Composite API can run
the same code for its subrequests; ``ApiError`` carries every Salesforce error to one renderer.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from sfemulator.calls import CallContext, Result, first, make_locator, parse_json_body
from sfemulator.clock import format_datetime, parse_datetime
from sfemulator.composite import collections, composite
from sfemulator.content import MAX_MULTIPART_BLOB, parse_multipart
from sfemulator.errors import ApiError, not_found
from sfemulator.ids import is_id_shaped, normalize_id
from sfemulator.schema import SObjectDef
from sfemulator.store import FileBlob
from sfemulator.tooling import ToolingApi
from sfemulator.versions import VERSIONS, is_served

if TYPE_CHECKING:
    from sfemulator.org import Org

__all__ = ["CallContext", "RestApi", "Result", "first", "parse_json_body"]

_METADATA = Path(__file__).resolve().parent / "metadata"
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
# Salesforce reads a ".json" ending of a URL as the response format and drops it from the path
# ("/Widget__c/a01D000000INjVe.json"), and answers 404 to endings that clash with file types it
# blocks (its docs: an email ending ".inc" as an external id value in the URL). Both are documented
# in the REST API guide; ".xml" (an XML answer) is not modelled: the emulator speaks JSON only.
_FORMAT_SUFFIX = ".json"
_BLOCKED_SUFFIXES = (".inc",)
REPLICATION_WINDOW = dt.timedelta(days=30)
MAX_OTHER_MULTIPART_BLOB = 500 * 1024 * 1024
"""Multipart uploads to other objects than ContentVersion (Attachment, Document)."""


def _object_body(value: Any, sobject: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        token = (
            "START_ARRAY"
            if isinstance(value, list)
            else "VALUE_STRING"
            if isinstance(value, str)
            else "VALUE_NUMBER_INT"
        )
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {sobject} from {token} value or request may be missing "
            "a required "
            "field at [line:1, column:1]",
        )
    attrs = value.get("attributes")
    if attrs is not None and isinstance(attrs, dict) and attrs.get("type") not in (None, sobject):
        raise ApiError(
            400,
            "INVALID_TYPE",
            f"The type {attrs.get('type')} in the attributes does not match the sObject {sobject}",
        )
    return value


def _methods_not_allowed(method: str, allowed: str) -> ApiError:
    return ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}")


class RestApi:
    """Dispatches one REST call (or composite subrequest) against an org. Callers hold the org lock."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self._limits: dict[str, Any] = json.loads((_METADATA / "limits.json").read_text("utf-8"))
        self._global: dict[str, Any] = json.loads((_METADATA / "global.json").read_text("utf-8"))
        self.tooling = ToolingApi(org)

    # ----------------------------------------------------------------------------------------
    def versions(self, base_url: str) -> list[dict[str, str]]:
        return VERSIONS

    def dispatch(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes, ctx: CallContext
    ) -> Result:
        if not is_served(ctx.version):
            raise not_found()  # a retired or unknown API version, as on Salesforce
        method = method.upper()
        override = query.get("_HttpMethod")
        if method == "POST" and override:
            method = override[0].upper()
        parts = list(parts)
        while parts and parts[-1] == "":
            parts.pop()
        if not parts:
            return self._resources(ctx)
        if parts[-1].endswith(_BLOCKED_SUFFIXES):
            raise not_found()
        if parts[-1].endswith(_FORMAT_SUFFIX) and len(parts[-1]) > len(_FORMAT_SUFFIX):
            parts[-1] = parts[-1][: -len(_FORMAT_SUFFIX)]
        head = parts[0]
        if head == "sobjects":
            return self._sobjects(method, parts[1:], query, body, ctx)
        if head in ("query", "queryAll"):
            if method != "GET":
                raise _methods_not_allowed(method, "GET,HEAD")
            return self._query(head == "queryAll", parts[1:], query, ctx)
        if head == "jobs":
            return self.org.bulk.dispatch(method, parts[1:], query, body, ctx)
        if head == "tooling":
            return self.tooling.dispatch(method, parts[1:], query, body, ctx)
        if head == "limits" and len(parts) == 1:
            if method != "GET":
                raise _methods_not_allowed(method, "GET,HEAD")
            return self._limits_result()
        if head == "composite":
            if len(parts) == 1:
                if method != "POST":
                    raise _methods_not_allowed(method, "POST")
                if ctx.in_composite:
                    raise ApiError(400, "INVALID_INPUT", "Composite requests cannot be nested")
                return composite(self, body, ctx)
            if parts[1] == "sobjects":
                return collections(self, method, parts[2:], query, body, ctx)
        raise not_found()

    # ----------------------------------------------------------------------------------------
    def _resources(self, ctx: CallContext) -> Result:
        v = f"/services/data/{ctx.version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "search", "recent", "tooling")
        return Result(200, {name: f"{v}/{name}" for name in names})

    def sobject(self, name: str) -> SObjectDef:
        sobj = self.org.schema.get(name)
        if sobj is None:
            raise not_found()
        return sobj

    def _sobjects(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes, ctx: CallContext
    ) -> Result:
        if not parts or parts == [""]:
            if method != "GET":
                raise _methods_not_allowed(method, "GET,HEAD")
            return Result(200, self._global_describe(ctx.version))
        sobj = self.sobject(parts[0])
        rest = [p for p in parts[1:]]
        if rest and rest[-1] == "":
            rest = rest[:-1]
        if not rest:
            if method == "GET":
                return Result(200, self._basic_info(sobj, ctx.version))
            if method == "POST":
                return self.create(sobj, body, ctx)
            raise _methods_not_allowed(method, "GET,HEAD,POST")
        second = rest[0]
        if len(rest) == 1:
            if second == "describe":
                if method != "GET":
                    raise _methods_not_allowed(method, "GET,HEAD")
                return Result(200, sobj.describe(ctx.version, self.org.base_url))
            if second in ("updated", "deleted"):
                if method != "GET":
                    raise _methods_not_allowed(method, "GET,HEAD")
                return self._replication(sobj, second, query)
            if second == "listviews":
                if method != "GET":
                    raise _methods_not_allowed(method, "GET,HEAD")
                return self._list_views(sobj, ctx)
            return self._record(method, sobj, second, query, body, ctx)
        if second == "listviews":
            return self._list_view(method, sobj, rest[1:], query, ctx)
        if second == "describe":
            raise not_found()
        if len(rest) == 2:
            f = sobj.field(second)
            if f is not None and (f.external_id or f.name == "Id"):
                return self._by_external_id(method, sobj, f.name, rest[1], body, ctx)
            if f is None and is_id_shaped(second):
                return self._blob(method, sobj, second, rest[1])
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {second}",
            )
        raise not_found()

    # -- describe -----------------------------------------------------------------------------
    def _global_describe(self, version: str) -> dict[str, Any]:
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [s.global_entry(version) for s in sorted(self.org.schema, key=lambda s: s.name)],
        }

    def _basic_info(self, sobj: SObjectDef, version: str) -> dict[str, Any]:
        entry = sobj.global_entry(version)
        entry["urls"] = sobj.urls(version)
        recent = sorted(
            self.org.data.iter(sobj.name, include_deleted=False),
            key=lambda r: (r.get("LastModifiedDate") or r.get("CreatedDate") or "", r["Id"]),
            reverse=True,
        )[:20]
        name_field = "Name" if "Name" in sobj.fields else None
        items = []
        for r in recent:
            item: dict[str, Any] = {"attributes": self.attributes(sobj.name, r["Id"], version), "Id": r["Id"]}
            if name_field:
                item[name_field] = r.get(name_field)
            items.append(item)
        return {"objectDescribe": entry, "recentItems": items}

    def attributes(self, sobject: str, record_id: str, version: str) -> dict[str, str]:
        return {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{record_id}"}

    def render(
        self, sobj: SObjectDef, rec: dict[str, Any], version: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": self.attributes(sobj.name, rec["Id"], version)}
        names = fields if fields is not None else list(sobj.fields)
        for name in names:
            value = rec.get(name)
            if isinstance(value, str) and sobj.fields[name].type == "base64" and version != self.org.version:
                value = value.replace(f"/services/data/{self.org.version}/", f"/services/data/{version}/", 1)
            out[name] = value
        return out

    def resolve_fields(self, sobj: SObjectDef, spec: str | None) -> list[str] | None:
        if spec is None:
            return None
        names = []
        for raw in spec.split(","):
            name = raw.strip()
            if not name:
                continue
            f = sobj.field(name)
            if f is None:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity '{sobj.name}'. If you are attempting to use a "
                    "custom field, "
                    "be sure to append the '__c' after the custom field name. Please reference your WSDL "
                    "or the describe call for the appropriate names.",
                )
            names.append(f.name)
        return names

    # -- records ------------------------------------------------------------------------------
    def _check_id(self, sobj: SObjectDef, raw_id: str, method: str) -> str:
        if not is_id_shaped(raw_id):
            if method == "GET":
                raise ApiError(
                    404,
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {raw_id}",
                )
            raise ApiError(400, "MALFORMED_ID", f"malformed id {raw_id}")
        rid = normalize_id(raw_id)
        if rid is None:
            raise ApiError(400, "MALFORMED_ID", f"malformed id {raw_id}")
        if sobj.key_prefix and rid[:3] != sobj.key_prefix:
            if method == "GET":
                raise not_found()
            raise ApiError(
                400, "MALFORMED_ID", f"{sobj.label} ID: id value of incorrect type: {raw_id}", ["Id"]
            )
        return rid

    def get_record(
        self, sobj: SObjectDef, rid: str, version: str, fields: list[str] | None
    ) -> dict[str, Any]:
        found = self.org.data.get(rid)
        if found is None or found[0] != sobj.name or found[1].get("IsDeleted"):
            raise not_found()
        return self.render(sobj, found[1], version, fields)

    def create(self, sobj: SObjectDef, body: bytes, ctx: CallContext) -> Result:
        blob: FileBlob | None = None
        if ctx.upload is not None:
            blob_field = next(
                (f.name for f in sobj.fields.values() if f.type == "base64" and f.createable), None
            )
            if blob_field is None or ctx.in_composite:
                raise ApiError(
                    415, "UNSUPPORTED_MEDIA_TYPE", f"multipart requests are not supported for {sobj.name}"
                )
            body, blob = parse_multipart(
                ctx.upload.path, ctx.upload.content_type, ctx.upload.size, blob_field
            )
            limit = MAX_MULTIPART_BLOB if sobj.name == "ContentVersion" else MAX_OTHER_MULTIPART_BLOB
            if blob.length > limit:
                raise ApiError(
                    400, "STORAGE_LIMIT_EXCEEDED", "The file exceeds the maximum upload size", [blob_field]
                )
        value, text = parse_json_body(body)
        values = _object_body(value, sobj.name)
        if any(k.lower() == "id" for k in values):
            raise ApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "Record ID: cannot specify Id in an insert call",
                ["Id"],
            )
        with self.org.transaction():
            rid = self.org.dml.insert(sobj, values, user_id=ctx.user_id, locate=make_locator(text), blob=blob)
        self.org.touch()
        return Result(
            201,
            {"id": rid, "success": True, "errors": []},
            {"Location": f"/services/data/{ctx.version}/sobjects/{sobj.name}/{rid}"},
        )

    def update(self, sobj: SObjectDef, rid: str, body: bytes, ctx: CallContext) -> Result:
        value, text = parse_json_body(body)
        values = _object_body(value, sobj.name)
        for key in values:
            if key.lower() == "id":
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    "Json Deserialization failed on token 'Id' and has left off in the middle of "
                    "parsing a row. "
                    "Will go to end of row to begin parsing the next row",
                )
        with self.org.transaction():
            self.org.dml.update(sobj, rid, values, user_id=ctx.user_id, locate=make_locator(text))
        self.org.touch()
        return Result(204)

    def delete(self, sobj: SObjectDef, rid: str, ctx: CallContext) -> Result:
        with self.org.transaction():
            self.org.dml.delete(sobj, rid, user_id=ctx.user_id)
        self.org.touch()
        return Result(204)

    def _record(
        self,
        method: str,
        sobj: SObjectDef,
        raw_id: str,
        query: dict[str, list[str]],
        body: bytes,
        ctx: CallContext,
    ) -> Result:
        if method not in ("GET", "PATCH", "DELETE", "HEAD"):
            raise _methods_not_allowed(method, "GET,HEAD,PATCH,DELETE")
        rid = self._check_id(sobj, raw_id, "GET" if method == "HEAD" else method)
        if method in ("GET", "HEAD"):
            fields = self.resolve_fields(sobj, first(query, "fields"))
            return Result(200, self.get_record(sobj, rid, ctx.version, fields))
        if method == "PATCH":
            return self.update(sobj, rid, body, ctx)
        return self.delete(sobj, rid, ctx)

    def _by_external_id(
        self, method: str, sobj: SObjectDef, field_name: str, value: str, body: bytes, ctx: CallContext
    ) -> Result:
        if method in ("PATCH", "POST"):
            payload, text = parse_json_body(body)
            values = _object_body(payload, sobj.name)
            with self.org.transaction():
                outcome = self.org.dml.upsert(
                    sobj, field_name, value, values, user_id=ctx.user_id, locate=make_locator(text)
                )
            if isinstance(outcome, list):
                return Result(
                    300, [f"/services/data/{ctx.version}/sobjects/{sobj.name}/{i}" for i in outcome]
                )
            rid, created = outcome
            self.org.touch()
            result_body = {"id": rid, "success": True, "errors": [], "created": created}
            if created:
                return Result(
                    201, result_body, {"Location": f"/services/data/{ctx.version}/sobjects/{sobj.name}/{rid}"}
                )
            return Result(200, result_body)
        if method not in ("GET", "DELETE", "HEAD"):
            raise _methods_not_allowed(method, "GET,HEAD,PATCH,DELETE")
        f = self.org.dml.external_id_field(sobj, field_name)
        if f.name == "Id":
            rid = self._check_id(sobj, value, method)
            matches = [rid]
        else:
            matches = self.org.dml.find_by_value(sobj, f, value)
        if not matches:
            raise not_found()
        if len(matches) > 1:
            return Result(300, [f"/services/data/{ctx.version}/sobjects/{sobj.name}/{i}" for i in matches])
        if method == "DELETE":
            return self.delete(sobj, matches[0], ctx)
        return Result(200, self.get_record(sobj, matches[0], ctx.version, None))

    def _blob(self, method: str, sobj: SObjectDef, raw_id: str, field_name: str) -> Result:
        f = sobj.field(field_name)
        rid = normalize_id(raw_id) if is_id_shaped(raw_id) else None
        if f is None or f.type != "base64" or rid is None:
            raise not_found()
        if method not in ("GET", "HEAD"):
            raise _methods_not_allowed(method, "GET,HEAD")
        found = self.org.data.get(rid)
        if found is None or found[0] != sobj.name or found[1].get("IsDeleted"):
            raise not_found()
        return Result(200, raw=self.org.data.blobs.get(rid, b""), raw_type="application/octetstream")

    # -- getUpdated / getDeleted --------------------------------------------------------------
    def _replication(self, sobj: SObjectDef, kind: str, query: dict[str, list[str]]) -> Result:
        def arg(name: str) -> dt.datetime:
            raw = first(query, name)
            if raw is None:
                raise ApiError(400, "MISSING_ARGUMENT", f"{name} date must be specified")
            parsed = parse_datetime(raw.replace(" ", "+"))
            if parsed is None:
                raise ApiError(400, "INVALID_REPLICATION_DATE", f"invalid {name} date: {raw}")
            return parsed.replace(second=0, microsecond=0)

        start, end = arg("start"), arg("end")
        now = self.org.clock.now()
        if start > end:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        if start < now - REPLICATION_WINDOW:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago")
        lo, hi = format_datetime(start), format_datetime(end)
        # Coverage is complete only up to the last whole minute that has passed.
        latest = format_datetime(min(end, now.replace(second=0, microsecond=0)))
        if kind == "updated":
            ids = sorted(
                r["Id"]
                for r in self.org.data.iter(sobj.name, include_deleted=False)
                if lo <= str(r.get("SystemModstamp") or r.get("CreatedDate") or "") < hi
            )
            return Result(200, {"ids": ids, "latestDateCovered": latest})
        deleted = sorted(
            (
                {"id": rid, "deletedDate": when}
                for rid, when in self.org.data.deleted_at.items()
                if self.org.data.index.get(rid) == sobj.name and lo <= when < hi
            ),
            key=lambda d: (d["deletedDate"], d["id"]),
        )
        earliest = min(
            (w for rid, w in self.org.data.deleted_at.items() if self.org.data.index.get(rid) == sobj.name),
            default=lo,
        )
        return Result(
            200, {"deletedRecords": deleted, "earliestDateAvailable": earliest, "latestDateCovered": latest}
        )

    # -- query --------------------------------------------------------------------------------
    def batch_size(self, ctx: CallContext) -> int:
        size = 2000
        if ctx.query_options:
            m = _BATCH.search(ctx.query_options)
            if m:
                size = int(m.group(1))
        return max(self.org.config.min_query_batch_size, min(size, 2000))

    def _query(
        self, include_deleted: bool, parts: list[str], query: dict[str, list[str]], ctx: CallContext
    ) -> Result:
        now = self.org.clock.now()
        if parts and parts[0]:
            return Result(
                200,
                self.org.queries.more(
                    parts[0], batch_size=self.batch_size(ctx), version=ctx.version, now=now
                ),
            )
        text = first(query, "q")
        return Result(
            200,
            self.org.queries.run(
                text,
                include_deleted=include_deleted,
                batch_size=self.batch_size(ctx),
                version=ctx.version,
                now=now,
            ),
        )

    # -- limits -------------------------------------------------------------------------------
    def _limits_result(self) -> Result:
        limits = dict(self._limits)  # only the top-level entry below is replaced
        cap = self.org.config.daily_api_limit
        limits["DailyApiRequests"] = {"Max": cap, "Remaining": max(cap - self.org.api_calls, 0)}
        # Change events handed to a relay draw on this allocation (rolling 24 h).
        events = self.org.config.event_delivery_limit
        used = self.org.relay.allocation_used()
        limits["DailyDeliveredPlatformEvents"] = {"Max": events, "Remaining": max(events - used, 0)}
        return Result(200, limits)

    # -- list views ---------------------------------------------------------------------------
    def _list_views(self, sobj: SObjectDef, ctx: CallContext) -> Result:
        views = self.org.list_views.for_sobject(sobj.name)
        return Result(
            200,
            {
                "done": True,
                "listviews": [v.summary(ctx.version) for v in views],
                "nextRecordsUrl": None,
                "size": len(views),
                "sobjectType": sobj.name,
            },
        )

    def _list_view(
        self, method: str, sobj: SObjectDef, parts: list[str], query: dict[str, list[str]], ctx: CallContext
    ) -> Result:
        if method != "GET":
            raise _methods_not_allowed(method, "GET,HEAD")
        view = self.org.list_views.get(sobj.name, parts[0])
        if view is None:
            raise not_found()
        if len(parts) == 1:
            return Result(200, view.summary(ctx.version))
        if len(parts) == 2 and parts[1] == "describe":
            return Result(200, view.describe())
        if len(parts) == 2 and parts[1] == "results":
            limit_raw = (query.get("limit") or ["25"])[0]
            offset_raw = (query.get("offset") or ["0"])[0]
            if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= 2000:
                raise ApiError(400, "INVALID_QUERY_FILTER_OPERATOR", "limit must be between 1 and 2000")
            if not offset_raw.isdigit() or int(offset_raw) > 2000:
                raise ApiError(400, "INVALID_QUERY_FILTER_OPERATOR", "offset must be between 0 and 2000")
            limit, offset = int(limit_raw), int(offset_raw)
            result = self.org.queries.run(
                view.query,
                include_deleted=False,
                batch_size=10**9,
                version=ctx.version,
                now=self.org.clock.now(),
            )
            rows = result["records"]
            page = rows[offset : offset + limit]
            return Result(
                200,
                {
                    "columns": view.column_descriptions(),
                    "developerName": view.developer_name,
                    "done": offset + limit >= len(rows),
                    "id": view.id,
                    "label": view.label,
                    "records": [
                        {
                            "columns": [
                                {"fieldNameOrPath": c.path, "value": _cell(r, c.path)} for c in view.columns
                            ]
                        }
                        for r in page
                    ],
                    "size": len(rows),
                },
            )
        raise not_found()


def _cell(record: dict[str, Any], path: str) -> str | None:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def query_string(url_query: str) -> dict[str, list[str]]:
    return parse_qs(url_query, keep_blank_values=True)


_Handler = Callable[..., Result]
