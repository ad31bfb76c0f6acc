"""Field checks against the org's describe, done BEFORE anything is sent to Salesforce.

A request that Salesforce would reject should not cost an API call, and the caller should learn
about every bad field at once, by name: unknown fields (with a "did you mean"), fields that cannot
be written, missing required fields on create, wrong types, over-long strings, numbers out of
range and values outside a restricted picklist.

Values are normalised the way Salesforce itself accepts them: ``"true"``/``"false"`` for a
checkbox, numeric strings for numbers, any case for field names (the describe's spelling is sent).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sfconnector.errors import FieldProblem, FieldValidationError
from sfconnector.salesforce import ids, soql
from sfconnector.salesforce.describe import ID_TYPES, TEXT_TYPES, FieldInfo
from sfconnector.salesforce.schema import SObjectSchema

__all__ = [
    "WriteMode",
    "canonical_value",
    "canonical_wire",
    "check_record_id",
    "criteria_condition",
    "criterion_value",
    "field_value",
    "select_fields",
    "unknown_field",
    "validate_record",
    "wire_datetime",
]

WriteMode = Literal["create", "update", "upsert"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z?$")
_WIRE_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})$"
)
_ID15 = re.compile(r"^[A-Za-z0-9]{15}$")
_TZ_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")
MAX_PICKLIST_IN_MESSAGE = 15


class _Bad(Exception):
    """One field value is wrong (internal: becomes a FieldProblem)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _a(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(field: FieldInfo) -> str:
    return {
        "boolean": "a boolean (true or false)",
        "int": "a whole number",
        "double": "a number",
        "currency": "a number (currency)",
        "percent": "a number (percent)",
        "date": "a date (YYYY-MM-DD)",
        "datetime": "a date and time (ISO 8601, e.g. 2025-01-31T14:00:00Z)",
        "time": "a time (HH:MM:SS.sssZ)",
        "base64": "base64-encoded content",
    }.get(field.type, "text")


def _to_bool(field: FieldInfo, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Bad("wrong_type", f"{field.name} must be {_kind(field)}, not {_shown(value)}")


def _to_decimal(field: FieldInfo, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Bad("wrong_type", f"{field.name} must be {_kind(field)}, not {_shown(value)}")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(repr(value))
    except InvalidOperation:
        raise _Bad("wrong_type", f"{field.name} must be {_kind(field)}, not {_shown(value)}") from None
    if not number.is_finite():
        raise _Bad("wrong_type", f"{field.name} must be a finite number")
    return number


def _integer_digits(number: Decimal) -> int:
    whole = abs(int(number))
    return len(str(whole)) if whole else 0


def _number(field: FieldInfo, value: object) -> int | float:
    number = _to_decimal(field, value)
    if field.type == "int":
        if number != number.to_integral_value():
            raise _Bad("wrong_type", f"{field.name} must be a whole number, not {_shown(value)}")
        if field.digits and _integer_digits(number) > field.digits:
            raise _Bad("out_of_range", f"{field.name} has at most {field.digits} digits")
        return int(number)
    if field.precision:
        allowed = field.precision - field.scale
        if _integer_digits(number) > allowed:
            raise _Bad(
                "out_of_range",
                f"{field.name} allows at most {allowed} digits before the decimal point",
            )
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if number == number.to_integral_value() and abs(number) < 2**53 and "." not in str(value):
        return int(number)
    return float(number)


def _date(field: FieldInfo, value: object) -> date:
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Bad("wrong_type", f"{field.name} must be {_kind(field)}, not {_shown(value)}")


def _datetime(field: FieldInfo, value: object) -> datetime:
    if isinstance(value, str) and "T" in value:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        text = _TZ_NO_COLON.sub(r"\1:\2", text)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    raise _Bad("wrong_type", f"{field.name} must be {_kind(field)}, not {_shown(value)}")


def _time(field: FieldInfo, value: object) -> str:
    if isinstance(value, str):
        match = _TIME.fullmatch(value.strip())
        if match and int(match.group(1)) < 24 and int(match.group(2)) < 60 and int(match.group(3) or 0) < 60:
            return value.strip()
    raise _Bad("wrong_type", f"{field.name} must be {_kind(field)}, not {_shown(value)}")


def _record_id(field: FieldInfo, value: object) -> str:
    if not isinstance(value, str) or not ids.is_valid_id(value):
        raise _Bad("invalid_id", f"{field.name} must be a Salesforce record id, not {_shown(value)}")
    targets = [t for t in field.reference_to if t]
    known = [t for t in targets if t in ids.KEY_PREFIXES.values()]
    if targets and len(known) == len(targets):
        actual = ids.sobject_for_id(value)
        if actual is not None and actual not in targets:
            raise _Bad(
                "invalid_id",
                f"{field.name} must be the id of a {' or '.join(targets)} record; {value} is a {actual} id",
            )
    return value


def _text(field: FieldInfo, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Bad("wrong_type", f"{field.name} must be text, not {_shown(value)}")
    text = value if isinstance(value, str) else str(value)
    if field.length and len(text) > field.length:
        raise _Bad("too_long", f"{field.name} is {len(text)} characters long; the maximum is {field.length}")
    if field.type == "email" and text and not _EMAIL.fullmatch(text):
        raise _Bad("invalid_email", f"{field.name} is not a valid email address: {_shown(text)}")
    if field.restricted_picklist and field.type in ("picklist", "multipicklist"):
        chosen = [v.strip() for v in text.split(";")] if field.type == "multipicklist" else [text]
        allowed = set(field.picklist_values)
        bad = [v for v in chosen if v not in allowed]
        if bad:
            values = list(field.picklist_values)
            listed = ", ".join(values[:MAX_PICKLIST_IN_MESSAGE])
            if len(values) > MAX_PICKLIST_IN_MESSAGE:
                listed += f", ... ({len(values)} values)"
            raise _Bad(
                "not_in_picklist",
                f"{field.name} does not allow {_shown(bad[0])} (restricted picklist; allowed: {listed})",
            )
    return text


def _value(field: FieldInfo, value: object) -> Any:
    """The value as it is sent to Salesforce (raises _Bad)."""
    kind = field.type
    if kind == "boolean":
        return _to_bool(field, value)
    if kind in ("int", "double", "currency", "percent"):
        return _number(field, value)
    if kind == "date":
        _date(field, value)
        return str(value).strip()
    if kind == "datetime":
        _datetime(field, value)
        return str(value).strip()
    if kind == "time":
        return _time(field, value)
    if kind in ID_TYPES:
        return _record_id(field, value)
    if kind == "base64":
        if not isinstance(value, str):
            raise _Bad("wrong_type", f"{field.name} must be {_kind(field)}")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _Bad("wrong_type", f"{field.name} is not valid base64") from None
        return value
    if kind in TEXT_TYPES:
        return _text(field, value)
    return value


def _unknown(schema: SObjectSchema, name: str) -> FieldProblem:
    names = [f.name for f in schema.fields.values()]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.75)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.75)]
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return FieldProblem(name, "unknown_field", f"{name} is not a field of {schema.name}{hint}")


def validate_record(
    schema: SObjectSchema,
    fields: Mapping[str, Any],
    *,
    mode: WriteMode,
    extra_required: Sequence[str] = (),
    preset: Iterable[str] = (),
) -> dict[str, Any]:
    """Check ``fields`` for a write and return the payload to send (describe spellings, normalised
    values). Raises :class:`FieldValidationError` listing every problem.

    ``preset`` names fields the service fills in itself (a comment's ParentId): they count as
    present for the required-field check. ``mode="upsert"`` accepts fields writable on create OR
    update and skips the required check (whether it creates is only known to Salesforce).
    """
    problems: list[FieldProblem] = []
    payload: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for name, value in fields.items():
        info = schema.field(name)
        if info is None:
            problems.append(_unknown(schema, name))
            continue
        if info.name in seen:
            problems.append(
                FieldProblem(
                    name, "duplicate_field", f"{name} is given twice (as {seen[info.name]} and {name})"
                )
            )
            continue
        seen[info.name] = name
        if info.name == "Id":
            problems.append(
                FieldProblem(
                    name, "not_writable", "Id cannot be set in the body; the record id goes in the URL"
                )
            )
            continue
        writable = {
            "create": info.createable,
            "update": info.updateable,
            "upsert": info.createable or info.updateable,
        }[mode]
        if not writable:
            what = {"create": "set when creating", "update": "updated", "upsert": "written"}[mode]
            problems.append(
                FieldProblem(
                    info.name, "not_writable", f"{info.name} is read-only on {schema.name} (cannot be {what})"
                )
            )
            continue
        if value is None:
            if not info.nillable or info.type == "boolean":
                problems.append(
                    FieldProblem(
                        info.name, "required", f"{info.name} cannot be empty (null) on {schema.name}"
                    )
                )
                continue
            payload[info.name] = None
            continue
        try:
            payload[info.name] = _value(info, value)
        except _Bad as bad:
            problems.append(FieldProblem(info.name, bad.code, bad.message))

    if mode == "create":
        present = {n.lower() for n, v in payload.items() if v is not None} | {p.lower() for p in preset}
        bad_names = {p.field.lower() for p in problems}
        required = [f.name for f in schema.required_on_create]
        for extra in extra_required:
            info = schema.field(extra)
            required.append(info.name if info else extra)
        for name in dict.fromkeys(required):
            if name.lower() not in present and name.lower() not in bad_names:
                problems.append(
                    FieldProblem(
                        name,
                        "required",
                        f"{name} is required to create {_a(schema.label)} {schema.label} record",
                    )
                )
    if problems:
        raise FieldValidationError(problems)
    return payload


def _criterion_value(field: FieldInfo, value: object) -> soql.Scalar:
    kind = field.type
    if kind == "boolean":
        return _to_bool(field, value)
    if kind in ("int", "double", "currency", "percent"):
        number = _to_decimal(field, value)
        return int(number) if number == number.to_integral_value() else number
    if kind == "date":
        return _date(field, value)
    if kind == "datetime":
        return _datetime(field, value)
    if kind == "time":
        return _time(field, value)
    if kind in ID_TYPES:
        if not isinstance(value, str) or not ids.is_valid_id(value):
            raise _Bad("invalid_id", f"{field.name} must be a Salesforce record id, not {_shown(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Bad("wrong_type", f"{field.name} must be compared with text, not {_shown(value)}")
    return value if isinstance(value, str) else str(value)


def criteria_condition(schema: SObjectSchema, criteria: Mapping[str, Any]) -> soql.Condition:
    """``criteria`` (field -> value, AND-ed; None matches an empty field) as a SOQL condition.

    Every value becomes an escaped literal of the field's type (dates unquoted, numbers bare), so
    no value can change the query's structure.
    """
    problems: list[FieldProblem] = []
    conditions: list[soql.Condition] = []
    for name, value in criteria.items():
        info = schema.field(name)
        if info is None:
            problems.append(_unknown(schema, name))
            continue
        if not info.filterable:
            problems.append(
                FieldProblem(
                    info.name,
                    "not_filterable",
                    f"{info.name} cannot be used in criteria (Salesforce cannot filter on it)",
                )
            )
            continue
        if value is None:
            conditions.append(soql.IsNull(info.name))
            continue
        try:
            conditions.append(soql.Eq(info.name, _criterion_value(info, value)))
        except _Bad as bad:
            problems.append(FieldProblem(info.name, bad.code, bad.message))
    if problems:
        raise FieldValidationError(problems, prefix="criteria: ")
    return conditions[0] if len(conditions) == 1 else soql.And(conditions)


def select_fields(schema: SObjectSchema, requested: Sequence[str] | None) -> list[str]:
    """The fields to query: the requested ones (checked; ``Parent.Field`` paths allowed through a
    relationship of this object) or every selectable field of the object."""
    if not requested:
        return schema.selectable_fields
    problems: list[FieldProblem] = []
    chosen: list[str] = []
    for name in requested:
        if "." in name:
            head, _, rest = name.partition(".")
            rel = schema.relationship(head)
            if rel is None or not rest:
                problems.append(
                    FieldProblem(name, "unknown_field", f"{head} is not a relationship of {schema.name}")
                )
                continue
            try:
                soql.identifier(name)
            except ValueError as exc:
                problems.append(FieldProblem(name, "unknown_field", str(exc)))
                continue
            chosen.append(f"{rel.relationship_name}.{rest}")
            continue
        info = schema.field(name)
        if info is None:
            problems.append(_unknown(schema, name))
            continue
        chosen.append(info.name)
    if problems:
        raise FieldValidationError(problems, prefix="fields: ")
    if not any(c.lower() == "id" for c in chosen):
        chosen.insert(0, "Id")
    return list(dict.fromkeys(chosen))


def check_record_id(
    value: str, *, expected: str | None, key_prefix: str | None, param: str = "record_id"
) -> str:
    """A record id from the URL: well-formed and of the expected sObject (by key prefix).

    Returns the 18-character form. ``expected`` is the sObject name used in the message;
    ``key_prefix`` the prefix its ids start with (None: not checked).
    """
    try:
        normalized = ids.normalize_id(value)
    except ids.InvalidIdError:
        raise FieldValidationError(
            [
                FieldProblem(
                    param,
                    "invalid_id",
                    f"{_shown(value)} is not a Salesforce record id (15 or 18 characters)",
                )
            ]
        ) from None
    if key_prefix and normalized[:3] != key_prefix:
        actual = ids.sobject_for_id(normalized)
        what = f"{_a(actual)} {actual} id" if actual else f"an id with key prefix {normalized[:3]}"
        target = expected or "record"
        raise FieldValidationError(
            [
                FieldProblem(
                    param,
                    "wrong_object",
                    f"{value} is {what}, not {_a(target)} {target} id ({target} ids start with {key_prefix})",
                )
            ]
        )
    return normalized


def field_value(field: FieldInfo, value: object, *, param: str | None = None) -> Any:
    """``value`` as Salesforce takes it for ``field`` (type, length, range, restricted picklist), for
    a value compared with a field rather than written (a trigger's watched value). Raises
    :class:`FieldValidationError` naming ``param`` (default: the field)."""
    try:
        return _value(field, value)
    except _Bad as bad:
        raise FieldValidationError([FieldProblem(param or field.name, bad.code, bad.message)]) from None


def criterion_value(field: FieldInfo, value: object, *, param: str | None = None) -> soql.Scalar:
    """``value`` as a SOQL literal of ``field``'s type (a query's keyset value), or
    :class:`FieldValidationError` naming ``param`` (default: the field)."""
    try:
        return _criterion_value(field, value)
    except _Bad as bad:
        raise FieldValidationError([FieldProblem(param or field.name, bad.code, bad.message)]) from None


def unknown_field(schema: SObjectSchema, name: str, *, param: str | None = None) -> FieldProblem:
    """The problem "``name`` is not a field of the object (did you mean ...?)", about ``param``."""
    problem = _unknown(schema, name)
    return problem if param is None else FieldProblem(param, problem.code, problem.message)


def wire_datetime(moment: datetime) -> str:
    """``moment`` as Salesforce writes a datetime: UTC, milliseconds, ``+0000``
    (``2026-12-06T10:00:00.000+0000``). A naive moment is UTC, as Salesforce reads one."""
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _canonical(field: FieldInfo, value: object) -> Any:
    kind = field.type
    if kind in ("double", "currency", "percent"):
        _number(field, value)  # the range checks
        return float(_to_decimal(field, value))
    if kind == "date":
        return _date(field, value).isoformat()
    if kind == "datetime":
        return wire_datetime(_datetime(field, value))
    if kind == "time":
        match = _TIME.fullmatch(_time(field, value))
        if match is None:  # pragma: no cover (_time accepted it)
            raise _Bad("wrong_type", f"{field.name} must be {_kind(field)}")
        hours, minutes, seconds, millis = match.groups()
        return f"{hours}:{minutes}:{seconds or '00'}.{(millis or '').ljust(3, '0')}Z"
    if kind in ID_TYPES:
        return ids.normalize_id(_record_id(field, value))
    return _value(field, value)


def canonical_value(field: FieldInfo, value: object, *, param: str | None = None) -> Any:
    """``value`` in the one form Salesforce returns for ``field`` in a record, so that a value
    compared with what Salesforce sends (a trigger's watched value) matches it with ``==``: ids in
    their 18-character form, datetimes in UTC as ``2026-12-06T10:00:00.000+0000``, dates
    ``YYYY-MM-DD``, times ``10:00:00.000Z``, booleans ``True``/``False`` (from ``"true"`` too),
    whole-number fields as ``int`` and the other numbers as ``float`` (``"1"``, ``1`` and ``1.0``
    alike); text as given. None stays None. The value is checked as :func:`field_value` checks it;
    a wrong one raises :class:`FieldValidationError` naming ``param`` (default: the field)."""
    if value is None:
        return None
    try:
        return _canonical(field, value)
    except _Bad as bad:
        raise FieldValidationError([FieldProblem(param or field.name, bad.code, bad.message)]) from None


def canonical_wire(value: object) -> object:
    """A value read from Salesforce (a record's field, a History row's old or new value) in the form
    :func:`canonical_value` gives, without its describe: an ISO datetime string in Salesforce's UTC
    form, a 15-character id-like string as the 18-character id, any number as ``float``. Applied
    to both sides of a comparison (or a hash), it makes equal values compare equal whatever form
    each came in; a text that merely looks like an id is extended on both sides alike."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    if not isinstance(value, str):
        return value
    if _ID15.fullmatch(value):
        return ids.to_18(value)
    if len(value) <= 40 and _WIRE_DATETIME.fullmatch(value):
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else _TZ_NO_COLON.sub(r"\1:\2", value)
        try:
            return wire_datetime(datetime.fromisoformat(text))
        except ValueError:
            return value
    return value
