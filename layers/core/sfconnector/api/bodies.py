"""THE boundary where a request's JSON body is parsed, with every limit a body must respect.

Python's ``json`` module takes things the connector cannot: a 5,000-digit integer (``ValueError``
since 3.11), 100,000 nested arrays (``RecursionError``), ``NaN``/``Infinity``, a lone surrogate
``"\\ud800"`` (parses, then fails when encoded for Salesforce), 100,000 field names (pydantic then
builds 100,000 problems). Each is refused here, before any model sees the body, as a problem
naming where it is (``criteria.Amount``), so the caller gets a small 4xx instead of a 500.
The limits are well above anything Salesforce accepts (18-digit numbers, ~1,000 fields an object).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sfconnector.errors import ConnectorError, Fault
from sfconnector.models import MAX_INTEGER_DIGITS

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "MAX_INTEGER_DIGITS",
    "MAX_MEMBERS",
    "MAX_OBJECT_FIELDS",
    "MAX_PROBLEMS",
    "BodyTooLargeError",
    "parse_json_body",
]

MAX_BODY_BYTES = 6 * 1024 * 1024
"""A Lambda function's synchronous request limit: nothing larger reaches a deployed function."""
MAX_DEPTH = 32
MAX_OBJECT_FIELDS = 2_000
"""Fields of one JSON object (an sObject has at most ~1,000)."""
MAX_MEMBERS = 20_000
"""Object fields and array items in the whole body."""
MAX_PROBLEMS = 50
"""Problems listed in one error (the total is given beside them)."""

_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyTooLargeError(ConnectorError):
    code = "payload_too_large"
    fault = Fault.TOO_LARGE

    def __init__(self, size: int) -> None:
        super().__init__(
            f"body: {size} bytes is more than the limit of {MAX_BODY_BYTES} bytes", fields=["body"]
        )


class _Refused:
    """A value ``json`` parsed that the connector refuses; the walk reports it with its path."""

    __slots__ = ("code", "message")

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


def _int(text: str) -> Any:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        return _Refused("too_many_digits", f"an integer has at most {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _float(text: str) -> Any:
    value = float(text)
    if not math.isfinite(value) or len(text) > 2 * MAX_INTEGER_DIGITS:
        return _Refused("number_out_of_range", "a number must be finite, with at most 60 characters")
    return value


def _constant(text: str) -> Any:
    return _Refused("invalid_number", f"{text} is not a JSON number")


def parse_json_body(raw: str | bytes | None) -> tuple[Any, list[dict[str, Any]]]:
    """``(value, problems)``: the parsed body and what is wrong with it, as pydantic-style errors
    (``type``, ``loc`` starting with ``"body"``, ``msg``), at most :data:`MAX_PROBLEMS`. Raises
    :class:`BodyTooLargeError` and :class:`json.JSONDecodeError` (not JSON at all)."""
    if raw is None or raw == "" or raw == b"":
        return None, []
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise BodyTooLargeError(size)
    try:
        value = json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        return None, [_problem((), "too_deep", f"JSON is nested at most {MAX_DEPTH} levels deep")]
    return value, _check(value)


def _problem(path: tuple[Any, ...], code: str, message: str) -> dict[str, Any]:
    return {"type": code, "loc": ("body", *path), "msg": message}


def _check(value: Any) -> list[dict[str, Any]]:
    """Every refused value, lone surrogate, over-deep or over-wide container (iteratively: the
    depth of the body must not become the depth of the stack)."""
    problems: list[dict[str, Any]] = []
    members = 0
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack and len(problems) < MAX_PROBLEMS:
        path, item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                problems.append(
                    _problem(path, "invalid_text", "text must not contain a lone surrogate (\\ud800-\\udfff)")
                )
        elif isinstance(item, _Refused):
            problems.append(_problem(path, item.code, item.message))
        elif isinstance(item, dict | list):
            if len(path) >= MAX_DEPTH:
                problems.append(_problem(path, "too_deep", f"JSON is nested at most {MAX_DEPTH} levels deep"))
                continue
            members += len(item)
            if isinstance(item, dict) and len(item) > MAX_OBJECT_FIELDS:
                problems.append(
                    _problem(path, "too_many_fields", f"an object has at most {MAX_OBJECT_FIELDS} fields")
                )
                continue
            if members > MAX_MEMBERS:
                problems.append(
                    _problem((), "too_many_fields", f"the body has at most {MAX_MEMBERS} fields and items")
                )
                break
            if isinstance(item, dict):
                for key, child in item.items():
                    if _SURROGATE.search(key):
                        problems.append(
                            _problem(path, "invalid_text", "a field name must not contain a lone surrogate")
                        )
                        continue
                    stack.append(((*path, key), child))
            else:
                stack.extend(((*path, index), child) for index, child in enumerate(item))
    return problems
