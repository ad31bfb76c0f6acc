"""Many records at once: query pages (find many) and batch writes (sObject Collections), for any
sObject (the families' and the any-object routes share this code).

Costs (describe cache warm): ONE Salesforce call per query page, ONE per batch of up to 200.

**Query pages resume by keyset, never OFFSET.** The page is ordered by the caller's ``order_by``
keys (empty values last) and then ``Id``; the next page is "the rows after the last one" in that
order, a condition built with the one condition tree (:mod:`sfconnector.salesforce.soql`). The
``next`` token carries that last row's key values and id and a fingerprint of the connection and
the query (its object, its condition, its order, ``include_deleted``). A token is never trusted:
the fingerprint must be this request's (a token of another connection or another query is a 422
naming ``next``), the id must be one of this object's, and every value is re-typed against the
describe and re-emitted as an escaped literal, so a hand-made token cannot change the statement's
shape. A keyset page never expires (a query locator does after 15 minutes) and works for any page
size (a locator's batch size is 200 at least).

**Batches** validate every record against the describe first, as the single-record actions do.
A record that fails there is answered without a call; under ``all_or_none`` nothing is sent at
all and every other record answers ``not_processed`` (the result Salesforce would give, for free).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sfconnector.actions.errors import FieldProblem, FieldValidationError, InvalidInputError
from sfconnector.errors import ConnectorError
from sfconnector.models.collections import BatchError, BatchItem, BatchResult, QueryPage
from sfconnector.salesforce import soql
from sfconnector.salesforce.client import SalesforceClient
from sfconnector.salesforce.describe import FieldInfo
from sfconnector.salesforce.schema import SObjectSchema
from sfconnector.salesforce.validation import (
    check_record_id,
    criteria_condition,
    criterion_value,
    select_fields,
    validate_record,
)

__all__ = ["BatchOperation", "OrderKey", "batch_write", "query_page"]

BatchOperation = Literal["create", "update", "upsert", "delete"]
_NOT_PROCESSED = BatchError(
    code="not_processed",
    message="Not written: another record of this all_or_none batch failed.",
)


_UNPAGEABLE = frozenset({"picklist", "multipicklist", "combobox"})


@dataclass(frozen=True)
class OrderKey:
    field: FieldInfo
    descending: bool


# ------------------------------------------------------------------------------------------ query


def _order_keys(schema: SObjectSchema, order_by: Sequence[str]) -> list[OrderKey]:
    keys: list[OrderKey] = []
    problems: list[FieldProblem] = []
    for item in order_by:
        name, _, direction = item.partition(" ")
        info = schema.field(name)
        if info is None:
            problems.append(
                FieldProblem("order_by", "unknown_field", f"{name} is not a field of {schema.name}")
            )
        elif info.name == "Id" or any(k.field.name == info.name for k in keys):
            problems.append(FieldProblem("order_by", "invalid_order", f"{info.name} is already in the order"))
        elif not info.sortable:
            problems.append(
                FieldProblem("order_by", "not_sortable", f"Salesforce cannot sort by {info.name}")
            )
        elif info.type in _UNPAGEABLE:
            # Salesforce sorts a picklist by the order of its values, but compares its values as
            # text: "the rows after this one" could not be written as a condition.
            problems.append(
                FieldProblem(
                    "order_by", "not_pageable", f"{info.name} is a picklist: pages cannot follow its order"
                )
            )
        else:
            keys.append(OrderKey(info, direction.upper() == "DESC"))
    if problems:
        raise FieldValidationError(problems, prefix="order_by: ")
    return keys


def _fingerprint(
    scope: str, sobject: str, where: soql.Condition | None, keys: Sequence[OrderKey], deleted: bool
) -> str:
    shape = [
        scope,
        sobject,
        where.render() if where else "",
        [[k.field.name, k.descending] for k in keys],
        deleted,
    ]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:24]


def _encode(fingerprint: str, values: list[Any], last_id: str) -> str:
    raw = json.dumps({"f": fingerprint, "k": values, "i": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _not_ours() -> InvalidInputError:
    return InvalidInputError(
        "next is not a page of this query on this connection; send the `next` of the previous answer "
        "with the same body",
        fields=["next"],
    )


def _after(token: str, fingerprint: str, schema: SObjectSchema, keys: Sequence[OrderKey]) -> soql.Condition:
    """The keyset condition "after the row the token names", every part of it re-validated."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _not_ours() from None
    if not isinstance(decoded, dict) or set(decoded) != {"f", "k", "i"} or decoded["f"] != fingerprint:
        raise _not_ours()
    values, last_id = decoded["k"], decoded["i"]
    if not isinstance(values, list) or len(values) != len(keys) or not isinstance(last_id, str):
        raise _not_ours()
    prefix = schema.key_prefix or None
    checked_id = check_record_id(last_id, expected=schema.name, key_prefix=prefix, param="next")
    literals = [
        None if value is None else criterion_value(key.field, value, param="next")
        for key, value in zip(keys, values, strict=True)
    ]
    condition: soql.Condition = soql.Gt("Id", checked_id)
    # Built from the last key inwards: (k1 beyond v1) OR (k1 null) OR (k1 = v1 AND <the rest>).
    for key, value in reversed(list(zip(keys, literals, strict=True))):
        name = key.field.name
        if value is None:  # empty values sort last: only more empty values follow
            condition = soql.And([soql.IsNull(name), condition])
            continue
        beyond = soql.Lt(name, value) if key.descending else soql.Gt(name, value)
        condition = soql.Or([beyond, soql.IsNull(name), soql.And([soql.Eq(name, value), condition])])
    return condition


def query_page(
    client: SalesforceClient,
    schema: SObjectSchema,
    *,
    scope: str,
    criteria: Mapping[str, Any] | None,
    condition: str | None,
    fields: Sequence[str] | None,
    order_by: Sequence[str],
    limit: int,
    include_deleted: bool,
    next_token: str | None,
) -> QueryPage:
    """One page of the records matching ``criteria`` AND ``condition``, in ONE query.

    ``scope`` (the connection id) goes into the token's fingerprint: a token answers only the
    connection and the query that made it.
    """
    from sfconnector.salesforce.condition import FieldPolicy, parse_condition

    parts: list[soql.Condition] = []
    if criteria:
        parts.append(criteria_condition(schema, criteria))
    if condition:
        parts.append(
            parse_condition(condition, FieldPolicy.of_described(schema.name, schema.fields.values()))
        )
    where = parts[0] if len(parts) == 1 else (soql.And(parts) if parts else None)
    keys = _order_keys(schema, order_by)
    fingerprint = _fingerprint(scope, schema.name, where, keys, include_deleted)
    if next_token is not None:
        after = _after(next_token, fingerprint, schema, keys)
        where = after if where is None else soql.And([where, after])
    selected = select_fields(schema, fields)
    extra = [k.field.name for k in keys if not any(f.lower() == k.field.name.lower() for f in selected)]
    order = [soql.OrderBy(k.field.name, descending=k.descending, nulls="last") for k in keys]
    try:
        statement = soql.select(
            schema.name, [*selected, *extra], where, order_by=[*order, soql.OrderBy("Id")], limit=limit + 1
        )
    except soql.QueryTooLongError:
        message = (
            f"the criteria, condition and fields make a query longer than {soql.MAX_SOQL_LENGTH} characters"
        )
        raise FieldValidationError([FieldProblem("fields", "query_too_long", message)]) from None
    page = client.query_page(statement, include_deleted=include_deleted)
    records = page.records[:limit]
    more = len(page.records) > limit or (not page.done and len(records) == limit)
    token = None
    if more and records:
        last = records[-1]
        token = _encode(fingerprint, [last.get(k.field.name) for k in keys], str(last["Id"]))
    if extra:
        # Read for the token only: answer the fields that were asked for.
        records = [{k: v for k, v in r.items() if k not in extra} for r in records]
    return QueryPage(records=records, count=len(records), next=token)


# ------------------------------------------------------------------------------------------ batch


def _errors_of(exc: ConnectorError) -> list[BatchError]:
    if isinstance(exc, FieldValidationError):
        return [BatchError(code=p.code, message=p.message, fields=[p.field]) for p in exc.problems]
    return [BatchError(code=exc.code, message=str(exc), fields=list(exc.fields))]


def _salesforce_errors(item: Mapping[str, Any]) -> list[BatchError]:
    out = []
    for error in item.get("errors") or []:
        if isinstance(error, Mapping):
            fields = [str(f) for f in error.get("fields") or []]
            code = str(error.get("statusCode") or error.get("errorCode") or "UNKNOWN")
            out.append(BatchError(code=code, message=str(error.get("message") or ""), fields=fields))
    return out or [BatchError(code="UNKNOWN", message="Salesforce reported a failure without a reason")]


def _external_id_field(schema: SObjectSchema, name: str) -> FieldInfo:
    info = schema.field(name)
    if info is None or not info.external_id:
        what = "is not a field of" if info is None else "is not an External ID field of"
        raise InvalidInputError(
            f"external_id_field: {name} {what} {schema.name}", fields=["external_id_field"]
        )
    return info


def _prepare(
    schema: SObjectSchema, operation: BatchOperation, record: Mapping[str, Any], ext: FieldInfo | None
) -> dict[str, Any]:
    """One record of the batch as Salesforce takes it (raises the problems naming its fields)."""
    if operation == "create":
        return validate_record(schema, record, mode="create")
    if operation == "update":
        id_key = next((k for k in record if k.lower() == "id"), None)
        if id_key is None or not isinstance(record[id_key], str):
            raise FieldValidationError([FieldProblem("Id", "required", "an update names its record by Id")])
        checked = check_record_id(
            record[id_key], expected=schema.name, key_prefix=schema.key_prefix, param="Id"
        )
        rest = {k: v for k, v in record.items() if k != id_key}
        return {"Id": checked, **validate_record(schema, rest, mode="update")}
    assert ext is not None
    key = next((k for k in record if k.lower() == ext.name.lower()), None)
    if key is None or record[key] in (None, ""):
        raise FieldValidationError([FieldProblem(ext.name, "required", f"the record needs its {ext.name}")])
    rest = {k: v for k, v in record.items() if k != key}
    payload = validate_record(schema, rest, mode="upsert")
    payload[ext.name] = str(validate_record(schema, {ext.name: record[key]}, mode="upsert")[ext.name])
    return payload


def batch_write(
    client: SalesforceClient,
    schema: SObjectSchema,
    operation: BatchOperation,
    records: Sequence[Mapping[str, Any]],
    *,
    all_or_none: bool,
    external_id_field: str | None = None,
) -> BatchResult:
    """Up to 200 writes in ONE call; per-record results in input order (delete: records are
    ``{"Id": ...}``)."""
    ext = (
        _external_id_field(schema, external_id_field) if operation == "upsert" and external_id_field else None
    )
    items: list[BatchItem | None] = []
    payloads: list[tuple[int, dict[str, Any]]] = []
    for index, record in enumerate(records):
        try:
            if operation == "delete":
                payload = {
                    "Id": check_record_id(
                        str(record["Id"]),
                        expected=schema.name,
                        key_prefix=schema.key_prefix,
                        param=f"ids[{index}]",
                    )
                }
            else:
                payload = _prepare(schema, operation, record, ext)
        except ConnectorError as exc:
            items.append(BatchItem(index=index, success=False, errors=_errors_of(exc)))
            continue
        items.append(None)
        payloads.append((index, payload))
    failed_locally = len(payloads) < len(records)
    if all_or_none and failed_locally:
        for index, _payload in payloads:
            items[index] = BatchItem(index=index, success=False, errors=[_NOT_PROCESSED])
        payloads = []
    if payloads:
        answers = client.collection_write(
            operation,
            schema.name,
            [p for _, p in payloads],
            all_or_none=all_or_none,
            external_id_field=ext.name if ext else None,
        )
        for (index, payload), answer in zip(payloads, answers, strict=True):
            ok = bool(answer.get("success"))
            record_id = answer.get("id") or (payload.get("Id") if operation != "create" else None)
            created: bool | None = None
            if operation == "create":
                created = ok
            elif operation == "upsert":
                created = bool(answer.get("created")) if ok else None
            items[index] = BatchItem(
                index=index,
                success=ok,
                id=str(record_id) if record_id else None,
                created=created,
                errors=[] if ok else _salesforce_errors(answer),
            )
    return BatchResult.of([item for item in items if item is not None])
