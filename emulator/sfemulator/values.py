"""Type checking and normalisation of field values sent by clients, per describe type.

Values are kept as they travel on the wire (JSON): strings, numbers, booleans, ``YYYY-MM-DD`` dates,
``2024-05-20T20:49:32.000+0000`` datetimes. Errors carry Salesforce's codes and message shapes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sfemulator.clock import format_datetime, parse_datetime
from sfemulator.errors import ApiError
from sfemulator.ids import normalize_id
from sfemulator.schema import FieldDef

__all__ = ["Locator", "coerce_value", "json_type_token"]

Locator = Callable[[str], str]
"""Returns `` at [line:L, column:C]`` for a key of the request body (or "" when unknown)."""

_EMAIL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z?$")
_TEXT = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "combobox", "encryptedstring"})


def json_type_token(value: Any) -> str:
    """The Jackson token name Salesforce quotes in JSON_PARSER_ERROR messages."""
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_NULL"


def _parser_error(f: FieldDef, value: Any, where: str) -> ApiError:
    shown = "{" if isinstance(value, dict) else "[" if isinstance(value, list) else value
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {f.type} from {json_type_token(value)} value {shown} "
        f"or request may be missing a required field{where}",
    )


def _too_long(f: FieldDef, text: str) -> ApiError:
    shown = text if len(text) <= 100 else text[:100] + "..."
    return ApiError(
        400,
        "STRING_TOO_LONG",
        f"{f.label}: data value too large: {shown} (max length={f.length})",
        [f.name],
    )


def _number(f: FieldDef, value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _parser_error(f, value, where)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _parser_error(f, value, where) from None
    if not number.is_finite():
        raise _parser_error(f, value, where)
    return number


def _out_of_range(f: FieldDef, value: Any) -> ApiError:
    return ApiError(
        400,
        "NUMBER_OUTSIDE_VALID_RANGE",
        f"{f.label}: value outside of valid range on numeric field: {value}",
        [f.name],
    )


def coerce_value(f: FieldDef, value: Any, locate: Locator | None = None) -> Any:
    """Validate ``value`` for field ``f`` and return its stored (wire) form; None clears the field."""
    where = locate(f.name) if locate else ""
    t = f.type
    if value is None:
        return False if t == "boolean" else None
    if t in _TEXT:
        if isinstance(value, (dict, list)):
            raise _parser_error(f, value, where)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            text = str(value)
        else:
            text = str(value)
        if text == "":
            return None
        if f.length and len(text) > f.length:
            raise _too_long(f, text)
        if t == "email" and not _EMAIL.match(text):
            raise ApiError(
                400, "INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {text}", [f.name]
            )
        if t == "picklist" and f.restricted_picklist and text not in f.picklist_values:
            raise ApiError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.label}: bad value for restricted picklist field: {text}",
                [f.name],
            )
        return text
    if t == "multipicklist":
        if not isinstance(value, str):
            raise _parser_error(f, value, where)
        items = [v.strip() for v in value.split(";") if v.strip()]
        if not items:
            return None
        if f.restricted_picklist:
            for item in items:
                if item not in f.picklist_values:
                    raise ApiError(
                        400,
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{f.label}: bad value for restricted picklist field: {item}",
                        [f.name],
                    )
        text = ";".join(dict.fromkeys(items))
        if f.length and len(text) > f.length:
            raise _too_long(f, text)
        return text
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _parser_error(f, value, where)
    if t == "int":
        number = _number(f, value, where)
        if number != number.to_integral_value():
            raise _parser_error(f, value, where)
        as_int = int(number)
        if abs(as_int) >= 10 ** (f.digits or 9):
            raise _out_of_range(f, value)
        return as_int
    if t in ("double", "currency", "percent"):
        number = _number(f, value, where)
        scale = f.scale
        rounded = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP) if scale >= 0 else number
        if f.precision and abs(rounded) >= Decimal(10) ** (f.precision - scale):
            raise _out_of_range(f, value)
        result = float(rounded)
        if math.isinf(result):
            raise _out_of_range(f, value)
        return result
    if t == "date":
        if not isinstance(value, str):
            raise _parser_error(f, value, where)
        text = value.strip()
        if _DATE.match(text):
            try:
                return dt.date.fromisoformat(text).isoformat()
            except ValueError:
                raise _parser_error(f, value, where) from None
        parsed = parse_datetime(text)
        if parsed is None:
            raise _parser_error(f, value, where)
        return parsed.date().isoformat()
    if t == "datetime":
        if not isinstance(value, str):
            raise _parser_error(f, value, where)
        parsed = parse_datetime(value)
        if parsed is None:
            if _DATE.match(value.strip()):
                try:
                    day = dt.date.fromisoformat(value.strip())
                except ValueError:
                    raise _parser_error(f, value, where) from None
                return format_datetime(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))
            raise _parser_error(f, value, where)
        return format_datetime(parsed)
    if t == "time":
        if not isinstance(value, str):
            raise _parser_error(f, value, where)
        m = _TIME.match(value.strip())
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59 or int(m.group(3) or 0) > 59:
            raise _parser_error(f, value, where)
        millis = (m.group(4) or "0").ljust(3, "0")
        return f"{m.group(1)}:{m.group(2)}:{m.group(3) or '00'}.{millis}Z"
    if t == "reference":
        if not isinstance(value, str):
            raise _parser_error(f, value, where)
        if value == "":
            return None
        rid = normalize_id(value)
        if rid is None:
            raise ApiError(400, "MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name])
        return rid
    if t == "base64":
        if not isinstance(value, str):
            raise _parser_error(f, value, where)
        try:
            base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise _parser_error(f, value, where) from None
        return value
    raise _parser_error(f, value, where)
