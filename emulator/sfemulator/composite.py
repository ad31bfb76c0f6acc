"""Composite API (``/composite``) and sObject Collections (``/composite/sobjects``).

A composite request runs up to 25 subrequests in order through the same REST dispatcher, resolving
``@{referenceId.path}`` references against earlier responses; with ``allOrNone`` one failure rolls
everything back and the other subrequests answer ``PROCESSING_HALTED``. The whole request counts as
one API call (the caller counted it already).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sfemulator.calls import CallContext, Dispatcher, Result, first, parse_json_body
from sfemulator.errors import ApiError
from sfemulator.ids import normalize_id

__all__ = ["collections", "composite"]

MAX_SUBREQUESTS = 25
MAX_QUERY_SUBREQUESTS = 5
MAX_COLLECTION_RECORDS = 200
# ``@{ref.field}``, ``@{ref.records[0].Id}``, and ``@{ref[0].id}`` for a body that is a JSON array
# (an sObject Collections result).
_REF = re.compile(r"@\{([A-Za-z_][A-Za-z0-9_]*)((?:\.|\[)[^}]+)\}")
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_URL = re.compile(r"^/services/data/(v\d{2,3}\.0)(/.*)?$")
# Salesforce's limit messages use a typographic apostrophe ("can\u2019t").
_APOSTROPHE = "\u2019"
ROLLED_BACK = "The transaction was rolled back since another operation in the same transaction failed."


class _Unresolved(Exception):
    def __init__(self, ref: str, path: str) -> None:
        super().__init__(ref)
        self.ref = ref
        self.path = path


def _lookup(value: Any, path: str) -> Any:
    for name, index in _PATH_TOKEN.findall(path):
        if name:
            if not isinstance(value, dict):
                raise KeyError(path)
            match = next((k for k in value if k.lower() == name.lower()), None)
            if match is None:
                raise KeyError(path)
            value = value[match]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(path)
            value = value[int(index)]
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    def resolve(ref: str, path: str) -> Any:
        if ref not in results or results[ref] is None:
            raise _Unresolved(ref, path)
        try:
            return _lookup(results[ref], path)
        except KeyError:
            raise _Unresolved(ref, path) from None

    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return resolve(whole.group(1), whole.group(2))
        return _REF.sub(lambda m: str(resolve(m.group(1), m.group(2))), value)
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    return value


def _halted(message: str = ROLLED_BACK) -> list[dict[str, str]]:
    return [{"errorCode": "PROCESSING_HALTED", "message": message}]


def _limit_exceeded(message: str) -> Result:
    """A composite request over a limit: nothing runs; Salesforce answers one result without a reference."""
    return Result(
        400,
        {
            "compositeResponse": [
                {
                    "body": [{"errorCode": "LIMIT_EXCEEDED", "message": message}],
                    "httpHeaders": {},
                    "httpStatusCode": 400,
                    "referenceId": None,
                }
            ]
        },
    )


def _is_query_like(path: str) -> bool:
    return bool(re.match(r"^/(query|queryAll)(/|\?|$)", path) or path.startswith("/composite/sobjects"))


def composite(api: Dispatcher, raw: bytes, ctx: CallContext) -> Result:
    payload, _ = parse_json_body(raw)
    if not isinstance(payload, dict) or not isinstance(payload.get("compositeRequest"), list):
        raise ApiError(
            400, "JSON_PARSER_ERROR", "Unrecognized composite request: compositeRequest is required"
        )
    subs = payload["compositeRequest"]
    all_or_none = bool(payload.get("allOrNone", False))
    if not subs:
        raise ApiError(
            400, "INVALID_BATCH_REQUEST", "A composite request must contain at least one subrequest"
        )
    if len(subs) > MAX_SUBREQUESTS:
        return _limit_exceeded(
            f"The request can{_APOSTROPHE}t contain more than {MAX_SUBREQUESTS} operations."
        )
    seen: set[str] = set()
    parsed: list[tuple[str, str, str, Any, dict[str, str]]] = []
    query_like = 0
    for i, sub in enumerate(subs):
        if not isinstance(sub, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", f"compositeRequest[{i}] must be an object")
        method = str(sub.get("method", "")).upper()
        url = sub.get("url")
        ref = sub.get("referenceId")
        if method not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            raise ApiError(
                400, "INVALID_INPUT", f"Invalid HTTP method '{sub.get('method')}' in compositeRequest[{i}]"
            )
        if not isinstance(url, str) or not url:
            raise ApiError(400, "INVALID_INPUT", f"url is required in compositeRequest[{i}]")
        if not isinstance(ref, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ref):
            raise ApiError(400, "INVALID_INPUT", f"Invalid referenceId in compositeRequest[{i}]: {ref!r}")
        if ref in seen:
            raise ApiError(400, "INVALID_INPUT", f"Duplicate referenceId provided in the request: {ref}")
        seen.add(ref)
        m = _URL.match(urlsplit(url).path)
        if not m:
            raise ApiError(400, "INVALID_INPUT", f"The url must start with /services/data/vXX.X/: {url}")
        if _is_query_like((m.group(2) or "") + ("?" + urlsplit(url).query if urlsplit(url).query else "")):
            query_like += 1
        headers = {str(k).lower(): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}
        parsed.append((method, url, ref, sub.get("body"), headers))
    if query_like > MAX_QUERY_SUBREQUESTS:
        return _limit_exceeded(
            f"The request can{_APOSTROPHE}t contain more than {MAX_QUERY_SUBREQUESTS} query or sObject "
            "Collections operations."
        )

    org = api.org
    results: dict[str, Any] = {}
    responses: list[dict[str, Any] | None] = [None] * len(parsed)
    failed_at: int | None = None
    if all_or_none:
        org.data.begin()
    try:
        for i, (method, url, ref, body, headers) in enumerate(parsed):
            try:
                url = _substitute(url, results)
                body = _substitute(body, results) if body is not None else None
            except _Unresolved as exc:
                results[ref] = None
                responses[i] = {
                    "body": _halted(
                        f"Invalid reference specified. No value for {exc.ref}{exc.path} found in {exc.ref}. "
                        f"Provided referenceId ('{exc.ref}') is an invalid reference."
                    ),
                    "httpHeaders": {},
                    "httpStatusCode": 400,
                    "referenceId": ref,
                }
                if all_or_none:
                    failed_at = i
                    break
                continue
            split = urlsplit(url)
            m = _URL.match(split.path)
            assert m is not None
            parts = [unquote(p) for p in (m.group(2) or "/").strip("/").split("/")] if m.group(2) else []
            query = parse_qs(split.query, keep_blank_values=True)
            sub_ctx = CallContext(
                user_id=ctx.user_id,
                version=m.group(1),
                in_composite=True,
                query_options=headers.get("sforce-query-options", ctx.query_options),
            )
            raw_body = json.dumps(body).encode("utf-8") if body is not None else b""
            try:
                result = api.dispatch(method, parts, query, raw_body, sub_ctx)
                if result.raw is not None:
                    raise ApiError(
                        400, "INVALID_INPUT", "Binary content is not supported in a composite subrequest"
                    )
            except ApiError as exc:
                result = Result(exc.status, exc.body())
            ok = result.status < 400
            results[ref] = result.body if ok else None
            responses[i] = {
                "body": result.body,
                "httpHeaders": dict(result.headers),
                "httpStatusCode": result.status,
                "referenceId": ref,
            }
            if not ok and all_or_none:
                failed_at = i
                break
    except BaseException:
        # An unexpected error must not leave the all-or-none journal open.
        if all_or_none:
            org.data.rollback()
        raise

    if all_or_none:
        if failed_at is None:
            org.data.commit()
        else:
            org.data.rollback()
            for i, (_m, _u, ref, _b, _h) in enumerate(parsed):
                if i != failed_at:
                    responses[i] = {
                        "body": _halted(),
                        "httpHeaders": {},
                        "httpStatusCode": 400,
                        "referenceId": ref,
                    }
    org.touch()
    return Result(200, {"compositeResponse": responses})


# ---------------------------------------------------------------------------------------------
# sObject Collections
# ---------------------------------------------------------------------------------------------
def _rolled_back() -> dict[str, Any]:
    return {
        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "message": "Record rolled back because not all records were valid and the request was using "
        "AllOrNone header",
        "fields": [],
    }


def collections(
    api: Dispatcher, method: str, parts: list[str], query: dict[str, list[str]], raw: bytes, ctx: CallContext
) -> Result:
    parts = [p for p in parts if p]
    if len(parts) == 1:
        sobj = api.sobject(parts[0])
        if method == "GET":
            ids = (query.get("ids") or [""])[0]
            fields = first(query, "fields")
            return Result(200, _retrieve(api, sobj, [i for i in ids.split(",") if i], fields, ctx))
        if method == "POST":
            payload, _ = parse_json_body(raw)
            if not isinstance(payload, dict):
                raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object with ids and fields")
            ids_list = payload.get("ids") or []
            field_list = payload.get("fields")
            return Result(
                200, _retrieve(api, sobj, list(ids_list), ",".join(field_list) if field_list else None, ctx)
            )
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,POST")
    if len(parts) == 2:
        if method != "PATCH":
            raise ApiError(
                405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are PATCH"
            )
        sobj = api.sobject(parts[0])
        field = api.org.dml.external_id_field(sobj, parts[1])
        records, all_or_none = _records_payload(raw)
        return Result(
            200, _run(api, "upsert", records, all_or_none, ctx, sobj_name=sobj.name, ext_field=field.name)
        )
    if parts:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    if method == "DELETE":
        id_list = [i for i in (first(query, "ids") or "").split(",") if i]
        all_or_none = (query.get("allOrNone") or ["false"])[0].lower() == "true"
        if len(id_list) > MAX_COLLECTION_RECORDS:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        return Result(200, _run(api, "delete", [{"Id": i} for i in id_list], all_or_none, ctx))
    if method in ("POST", "PATCH"):
        records, all_or_none = _records_payload(raw)
        return Result(200, _run(api, "create" if method == "POST" else "update", records, all_or_none, ctx))
    raise ApiError(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are POST,PATCH,DELETE"
    )


def _records_payload(raw: bytes) -> tuple[list[Any], bool]:
    payload, _ = parse_json_body(raw)
    if not isinstance(payload, dict) or not isinstance(payload.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object with a records array")
    records = payload["records"]
    if len(records) > MAX_COLLECTION_RECORDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    return records, bool(payload.get("allOrNone", False))


def _retrieve(api: Dispatcher, sobj: Any, ids: list[str], fields: str | None, ctx: CallContext) -> list[Any]:
    if not fields:
        raise ApiError(400, "MISSING_ARGUMENT", "fields must be specified")
    if len(ids) > 2000:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 2000 ids")
    names = api.resolve_fields(sobj, fields)
    out: list[Any] = []
    for raw_id in ids:
        rid = normalize_id(raw_id)
        if rid is None:
            raise ApiError(400, "MALFORMED_ID", f"malformed id {raw_id}")
        found = api.org.data.get(rid)
        if found is None or found[0] != sobj.name or found[1].get("IsDeleted"):
            out.append(None)
        else:
            out.append(api.render(sobj, found[1], ctx.version, names))
    return out


def _run(
    api: Dispatcher,
    op: str,
    records: list[Any],
    all_or_none: bool,
    ctx: CallContext,
    *,
    sobj_name: str | None = None,
    ext_field: str | None = None,
) -> list[dict[str, Any]]:
    org = api.org
    dml = org.dml
    results: list[dict[str, Any]] = []
    failed = False
    if all_or_none:
        org.data.begin()
    try:
        for rec in records:
            rid: str | None = None
            try:
                if not isinstance(rec, dict):
                    raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
                values = dict(rec)
                attrs = values.get("attributes") if isinstance(values.get("attributes"), dict) else {}
                type_name = sobj_name or (attrs or {}).get("type")
                if op == "delete":
                    rid = normalize_id(str(values["Id"]))
                    if rid is None:
                        raise ApiError(400, "MALFORMED_ID", f"malformed id {values['Id']}")
                    found = org.data.get(rid)
                    if found is None:
                        raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
                    sobj = api.sobject(found[0])
                else:
                    if not type_name:
                        raise ApiError(
                            400, "INVALID_TYPE", "sObject type must be specified in attributes.type"
                        )
                    found_sobj = org.schema.get(str(type_name))
                    if found_sobj is None:
                        raise ApiError(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
                    sobj = found_sobj
                org.data.begin()
                try:
                    if op == "create":
                        if any(k.lower() == "id" for k in values):
                            raise ApiError(
                                400,
                                "INVALID_FIELD_FOR_INSERT_UPDATE",
                                "Record ID: cannot specify Id in an insert call",
                                ["Id"],
                            )
                        rid = dml.insert(sobj, values, user_id=ctx.user_id)
                        item: dict[str, Any] = {"id": rid, "success": True, "errors": []}
                    elif op == "update":
                        id_key = next((k for k in values if k.lower() == "id"), None)
                        if id_key is None:
                            raise ApiError(
                                400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                            )
                        raw_id = values.pop(id_key)
                        rid = normalize_id(str(raw_id)) if raw_id is not None else None
                        if rid is None:
                            raise ApiError(400, "MALFORMED_ID", f"malformed id {raw_id}", ["Id"])
                        found = org.data.get(rid)
                        if found is None or found[0] != sobj.name:
                            raise ApiError(
                                400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []
                            )
                        dml.update(sobj, rid, values, user_id=ctx.user_id)
                        item = {"id": rid, "success": True, "errors": []}
                    elif op == "upsert":
                        assert ext_field is not None
                        key = next((k for k in values if k.lower() == ext_field.lower()), None)
                        if key is None or values.get(key) in (None, ""):
                            raise ApiError(400, "MISSING_ARGUMENT", f"{ext_field} not specified", [ext_field])
                        value = str(values.pop(key))
                        outcome = dml.upsert(sobj, ext_field, value, values, user_id=ctx.user_id)
                        if isinstance(outcome, list):
                            twins = ", ".join(outcome)
                            message = f"{ext_field}: more than one record found for external id field: "
                            message += f"[{twins}]"
                            raise ApiError(300, "DUPLICATE_EXTERNAL_ID", message, [ext_field])
                        rid, created = outcome
                        item = {"id": rid, "success": True, "errors": [], "created": created}
                    else:
                        assert rid is not None
                        dml.delete(sobj, rid, user_id=ctx.user_id)
                        item = {"id": rid, "success": True, "errors": []}
                except BaseException:
                    org.data.rollback()
                    raise
                org.data.commit()
            except ApiError as exc:
                failed = True
                item = {"success": False, "errors": [exc.collection_error()]}
                if rid is not None and op != "create":
                    item = {"id": rid, **item}
                if op == "upsert":
                    item["created"] = False
            results.append(item)
    except BaseException:
        if all_or_none:
            org.data.rollback()
        raise

    if all_or_none:
        if failed:
            org.data.rollback()
            for item in results:
                if item["success"]:
                    item["success"] = False
                    item["errors"] = [_rolled_back()]
                    if op == "create":
                        item.pop("id", None)
        else:
            org.data.commit()
    org.touch()
    return results
