"""The SOQL builder: ONE condition tree and ONE SELECT builder for every query the connector sends.

Every statement (find, find all, the upsert lookup, attachments, the trigger engine's polls) is
rendered by :func:`select` / :func:`select_count` from a tree of :class:`Condition` nodes; the
user's own find-all condition is parsed into the same nodes by
:mod:`sfconnector.salesforce.condition`.

Every value that reaches a query goes through :func:`literal` (or a :class:`LikePattern`), and
every sObject / field name through :func:`identifier`, so no user value can change a query's
structure: a string literal can never be terminated early, and a name can never carry anything
but a name.

Example::

    select("Contact", ["Id", "Account.Name"],
           where=Eq("Email", "o'hara@example.com") & Gt("CreatedDate", since), limit=1)
    # SELECT Id, Account.Name FROM Contact
    #   WHERE (Email = 'o\\'hara@example.com' AND CreatedDate > 2024-01-01T00:00:00Z) LIMIT 1

    select("Account", ["Id", Subquery("Histories", ["Field", "NewValue"], order_by="CreatedDate")],
           where=Ge("SystemModstamp", since), order_by=["SystemModstamp", "Id"], limit=2000)
    # SELECT Id, (SELECT Field, NewValue FROM Histories ORDER BY CreatedDate ASC) FROM Account
    #   WHERE SystemModstamp >= 2024-01-01T00:00:00Z ORDER BY SystemModstamp ASC, Id ASC LIMIT 2000
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal, TypeAlias

__all__ = [
    "And",
    "Condition",
    "DateLiteral",
    "Eq",
    "Excludes",
    "Ge",
    "Gt",
    "In",
    "Includes",
    "InvalidIdentifierError",
    "IsNull",
    "Le",
    "Like",
    "LikePattern",
    "Lt",
    "Ne",
    "Not",
    "NotIn",
    "NotNull",
    "Or",
    "OrderBy",
    "QueryTooLongError",
    "Scalar",
    "Subquery",
    "Timestamp",
    "Value",
    "comparison",
    "escape_string",
    "field_list",
    "identifier",
    "like_literal",
    "literal",
    "select",
    "select_count",
    "sobject_name",
]

MAX_SOQL_LENGTH = 100_000
MAX_OFFSET = 2_000
MAX_PARENT_DEPTH = 5

# One name: a letter, then letters/digits with single underscores between them. Namespaces and
# suffixes join names with a double underscore: ns__Field__c, Location__latitude__s, Foo__r.
_NAME = r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*"
_SEGMENT = re.compile(rf"{_NAME}(?:__{_NAME}){{0,3}}")


class InvalidIdentifierError(ValueError):
    """A name is not a valid sObject or field name."""

    def __init__(self, name: object, kind: str = "field or sObject name") -> None:
        shown = name if isinstance(name, str) and len(name) <= 80 else f"{str(name)[:80]}..."
        self.name = name
        super().__init__(f"{shown!r} is not a valid {kind}")


def identifier(name: str, *, allow_path: bool = True) -> str:
    """Validate a field name (or, with ``allow_path``, a dotted relationship path) and return it.

    Accepts ``Name``, ``Custom__c``, ``ns__Custom__c``, ``Parent__r.Name``, ``Account.Owner.Name``.
    Raises :class:`InvalidIdentifierError` naming the value for anything else.
    """
    if not isinstance(name, str) or not name or len(name) > 255:
        raise InvalidIdentifierError(name)
    segments = name.split(".")
    if len(segments) > 1 and not allow_path:
        raise InvalidIdentifierError(name, "sObject or field name (no dotted path allowed)")
    if len(segments) > MAX_PARENT_DEPTH + 1:
        raise InvalidIdentifierError(name, f"field path (at most {MAX_PARENT_DEPTH} parent levels)")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise InvalidIdentifierError(name)
    return name


def sobject_name(name: str) -> str:
    """Validate an sObject API name (no dotted path)."""
    try:
        return identifier(name, allow_path=False)
    except InvalidIdentifierError:
        raise InvalidIdentifierError(name, "sObject name") from None


# ---------------------------------------------------------------------------------------- literals

_SIMPLE_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _escape_char(char: str) -> str:
    mapped = _SIMPLE_ESCAPES.get(char)
    if mapped is not None:
        return mapped
    code = ord(char)
    # C0/C1 controls, DEL and the Unicode line/paragraph separators travel as \uXXXX.
    if code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029):
        return f"\\u{code:04x}"
    return char


_NEEDS_ESCAPE = re.compile(r"[\\'\"\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_string(value: str) -> str:
    """The body of a SOQL string literal (without the quotes)."""
    return _NEEDS_ESCAPE.sub(lambda m: _escape_char(m.group(0)), value)


def _format_decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} cannot be a SOQL number")
    text = format(value, "f")
    return "0" if text in ("-0", "-0.0") else text


@dataclass(frozen=True)
class DateLiteral:
    """A SOQL date literal such as ``TODAY``, ``LAST_N_DAYS:30`` or ``THIS_FISCAL_QUARTER``."""

    name: str
    n: int | None = None

    _PATTERN = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")

    def __post_init__(self) -> None:
        if not self._PATTERN.fullmatch(self.name):
            raise ValueError(f"{self.name!r} is not a SOQL date literal")
        if self.n is not None and (isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0):
            raise ValueError(f"{self.n!r} is not a valid N for {self.name}")
        # LAST_N_DAYS:30 and N_DAYS_AGO:3 take an N; TODAY and THIS_FISCAL_QUARTER do not.
        takes_n = "_N_" in self.name or self.name.startswith("N_")
        if takes_n != (self.n is not None):
            raise ValueError(f"{self.name} {'needs' if takes_n else 'takes no'} N")

    def render(self) -> str:
        return self.name if self.n is None else f"{self.name}:{self.n}"


def _utc(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC (Lambda's clock); aware ones are converted to UTC.
    return moment if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Timestamp:
    """A datetime literal kept to the millisecond: ``2024-01-01T08:00:00.250Z``.

    A plain ``datetime`` renders to the second (Salesforce stores datetimes to the second); a
    condition a user typed with milliseconds keeps them, so ``>= 08:00:00.250`` does not quietly
    become ``>= 08:00:00``.
    """

    moment: datetime

    def render(self) -> str:
        moment = _utc(self.moment)
        millis = f".{moment.microsecond // 1000:03d}" if moment.microsecond else ""
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + millis + "Z"


Scalar: TypeAlias = str | int | float | Decimal | bool | date | datetime | Timestamp | DateLiteral | None
Value: TypeAlias = Scalar | Sequence[Scalar] | frozenset[Scalar] | set[Scalar]


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{escape_string(value)}'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be a SOQL number")
        return _format_decimal(Decimal(repr(value)))
    if isinstance(value, Decimal):
        return _format_decimal(value)
    if isinstance(value, datetime):
        return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, DateLiteral | Timestamp):
        return value.render()
    raise TypeError(f"a {type(value).__name__} cannot be a SOQL literal")


def literal(value: object) -> str:
    """``value`` as a SOQL literal.

    str (quoted, escaped), int/float/Decimal, bool, None (``null``), date (``YYYY-MM-DD``),
    datetime (UTC, ``YYYY-MM-DDTHH:MM:SSZ``), :class:`Timestamp` (UTC, with milliseconds),
    :class:`DateLiteral`, and list/tuple/set (an IN list
    ``(a, b)`` of scalars; an empty list raises ValueError because ``IN ()`` is not SOQL).
    """
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
        if not items:
            raise ValueError("an IN list needs at least one value")
        for item in items:
            if isinstance(item, list | tuple | set | frozenset | dict):
                raise TypeError("an IN list holds scalars, not collections")
        return "(" + ", ".join(_scalar(item) for item in items) + ")"
    return _scalar(value)


LikeMatch = Literal["exact", "prefix", "suffix", "contains"]

# One character of a LIKE pattern: a literal character, or the wildcard % ("any") or _ ("one").
PatternPart: TypeAlias = tuple[Literal["lit", "any", "one"], str]


@dataclass(frozen=True)
class LikePattern:
    """A LIKE pattern as characters and wildcards; rendered quoted, with literal ``%``/``_`` escaped."""

    parts: tuple[PatternPart, ...]

    @classmethod
    def of_text(cls, value: str, match: LikeMatch = "exact") -> LikePattern:
        """``value`` matched literally, with wildcards added per ``match``."""
        if not isinstance(value, str):
            raise TypeError("a LIKE pattern is built from a string")
        if match not in ("exact", "prefix", "suffix", "contains"):
            raise ValueError(f"{match!r} is not a LIKE match (exact, prefix, suffix or contains)")
        lead: list[PatternPart] = [("any", "%")] if match in ("suffix", "contains") else []
        trail: list[PatternPart] = [("any", "%")] if match in ("prefix", "contains") else []
        return cls((*lead, *(("lit", ch) for ch in value), *trail))

    def render(self) -> str:
        body = []
        for kind, char in self.parts:
            if kind == "any":
                body.append("%")
            elif kind == "one":
                body.append("_")
            elif char in "%_":
                body.append("\\" + char)
            else:
                body.append(escape_string(char))
        return "'" + "".join(body) + "'"


def like_literal(value: str, match: LikeMatch = "exact") -> str:
    """A quoted LIKE pattern: ``value`` escaped (``%`` and ``_`` too), wildcards added per ``match``."""
    return LikePattern.of_text(value, match).render()


# -------------------------------------------------------------------------------------- conditions


class Condition(ABC):
    """A WHERE-clause condition. Compose with :class:`And`, :class:`Or`, :class:`Not`, ``&``, ``|``, ``~``."""

    @abstractmethod
    def render(self) -> str: ...

    def __str__(self) -> str:
        return self.render()

    def __and__(self, other: Condition) -> And:
        return And([self, other])

    def __or__(self, other: Condition) -> Or:
        return Or([self, other])

    def __invert__(self) -> Not:
        return Not(self)


class _Comparison(Condition):
    operator = "="

    def __init__(self, field: str, value: Scalar) -> None:
        self.field = identifier(field)
        if isinstance(value, list | tuple | set | frozenset):
            raise TypeError(f"{type(self).__name__} compares with one value; use In for a list")
        self.value = value
        self._literal = literal(value)

    def render(self) -> str:
        return f"{self.field} {self.operator} {self._literal}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.field!r}, {self.value!r})"


class Eq(_Comparison):
    """``field = value`` (``value`` None gives ``field = null``)."""

    operator = "="


class Ne(_Comparison):
    """``field != value``."""

    operator = "!="


class Gt(_Comparison):
    """``field > value``."""

    operator = ">"


class Ge(_Comparison):
    """``field >= value``."""

    operator = ">="


class Lt(_Comparison):
    """``field < value``."""

    operator = "<"


class Le(_Comparison):
    """``field <= value``."""

    operator = "<="


class IsNull(Condition):
    """``field = null``."""

    def __init__(self, field: str) -> None:
        self.field = identifier(field)

    def render(self) -> str:
        return f"{self.field} = null"


class NotNull(Condition):
    """``field != null``."""

    def __init__(self, field: str) -> None:
        self.field = identifier(field)

    def render(self) -> str:
        return f"{self.field} != null"


class In(Condition):
    """``field IN (v1, v2, ...)``; needs at least one value."""

    operator = "IN"

    def __init__(self, field: str, values: Iterable[Scalar]) -> None:
        self.field = identifier(field)
        if isinstance(values, str | bytes):
            raise TypeError(f"{type(self).__name__} takes a collection of values, not a string")
        self.values = list(values)
        self._literal = literal(self.values)

    def render(self) -> str:
        return f"{self.field} {self.operator} {self._literal}"


class NotIn(In):
    """``field NOT IN (v1, v2, ...)``."""

    operator = "NOT IN"


class Includes(In):
    """``multipicklist INCLUDES ('a;b', 'c')``: has a and b, or has c."""

    operator = "INCLUDES"


class Excludes(In):
    """``multipicklist EXCLUDES ('a;b', 'c')``."""

    operator = "EXCLUDES"


class Like(Condition):
    """``field LIKE pattern``: a string ``value`` is matched literally (``%``/``_`` escaped) with the
    wildcards ``match`` adds; a :class:`LikePattern` keeps its own wildcards."""

    def __init__(self, field: str, value: str | LikePattern, match: LikeMatch = "exact") -> None:
        self.field = identifier(field)
        self.pattern = value if isinstance(value, LikePattern) else LikePattern.of_text(value, match)
        self._literal = self.pattern.render()

    def render(self) -> str:
        return f"{self.field} LIKE {self._literal}"


_COMPARISONS: dict[str, type[_Comparison]] = {
    "=": Eq,
    "!=": Ne,
    "<>": Ne,
    ">": Gt,
    ">=": Ge,
    "<": Lt,
    "<=": Le,
}


def comparison(field: str, operator: str, value: Scalar) -> Condition:
    """``field <operator> value`` for one of ``= != <> < <= > >=`` (``<>`` is written ``!=``)."""
    node = _COMPARISONS.get(operator)
    if node is None:
        raise ValueError(f"{operator!r} is not a SOQL comparison operator")
    return node(field, value)


class _Junction(Condition):
    keyword = "AND"

    def __init__(self, conditions: Iterable[Condition]) -> None:
        self.conditions = list(conditions)
        if not self.conditions:
            raise ValueError(f"{type(self).__name__} needs at least one condition")
        for condition in self.conditions:
            if not isinstance(condition, Condition):
                raise TypeError(f"{type(self).__name__} takes conditions, not {type(condition).__name__}")

    def render(self) -> str:
        if len(self.conditions) == 1:
            return self.conditions[0].render()
        return "(" + f" {self.keyword} ".join(c.render() for c in self.conditions) + ")"


class And(_Junction):
    """All of the conditions."""

    keyword = "AND"


class Or(_Junction):
    """Any of the conditions."""

    keyword = "OR"


class Not(Condition):
    """The negation of a condition."""

    def __init__(self, condition: Condition) -> None:
        if not isinstance(condition, Condition):
            raise TypeError("Not takes a condition")
        self.condition = condition

    def render(self) -> str:
        return f"(NOT {self.condition.render()})"


# --------------------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class OrderBy:
    """One ORDER BY item."""

    field: str
    descending: bool = False
    nulls: Literal["first", "last"] | None = None

    def __post_init__(self) -> None:
        identifier(self.field)
        if self.nulls not in (None, "first", "last"):
            raise ValueError("nulls must be 'first' or 'last'")

    _TEXT = re.compile(r"\s*(\S+)(?:\s+(ASC|DESC))?(?:\s+NULLS\s+(FIRST|LAST))?\s*", re.IGNORECASE)

    @classmethod
    def parse(cls, text: str) -> OrderBy:
        """``"Name"``, ``"CreatedDate DESC"``, ``"Name ASC NULLS LAST"``."""
        match = cls._TEXT.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not an ORDER BY item")
        direction, nulls = match.group(2), match.group(3)
        return cls(
            match.group(1),
            descending=bool(direction and direction.upper() == "DESC"),
            nulls=None if nulls is None else ("first" if nulls.upper() == "FIRST" else "last"),
        )

    def render(self) -> str:
        text = f"{self.field} {'DESC' if self.descending else 'ASC'}"
        if self.nulls:
            text += f" NULLS {self.nulls.upper()}"
        return text


OrderSpec: TypeAlias = Sequence[str | OrderBy] | str | OrderBy | None


def _tail(
    where: Condition | None,
    order_by: OrderSpec,
    limit: int | None,
    offset: int | None,
) -> str:
    parts = []
    if where is not None:
        if not isinstance(where, Condition):
            raise TypeError("where must be a Condition (build it with Eq, In, And, ...)")
        parts.append(f" WHERE {where.render()}")
    if order_by:
        items = [order_by] if isinstance(order_by, str | OrderBy) else list(order_by)
        rendered = [(i if isinstance(i, OrderBy) else OrderBy.parse(i)).render() for i in items]
        parts.append(" ORDER BY " + ", ".join(rendered))
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, not {limit!r}")
        parts.append(f" LIMIT {limit}")
    if offset is not None:
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
            raise ValueError(f"offset must be an integer from 0 to {MAX_OFFSET}, not {offset!r}")
        parts.append(f" OFFSET {offset}")
    return "".join(parts)


class QueryTooLongError(ValueError):
    """The statement is longer than Salesforce accepts."""


def _checked(statement: str) -> str:
    if len(statement) > MAX_SOQL_LENGTH:
        raise QueryTooLongError(
            f"the SOQL statement is {len(statement)} characters (limit {MAX_SOQL_LENGTH})"
        )
    return statement


def _select_list(fields: Iterable[str | Subquery]) -> list[str]:
    if isinstance(fields, str):
        raise TypeError("fields is a list of field names, not a string")
    chosen: dict[str, str] = {}
    for item in fields:
        if isinstance(item, Subquery):
            chosen[f"({len(chosen)}"] = item.render()  # a key no field name can have: kept in place
        else:
            chosen.setdefault(identifier(item).lower(), item)
    return list(chosen.values())


def field_list(fields: Iterable[str]) -> list[str]:
    """Field names validated (relationship paths allowed) and de-duplicated case-insensitively,
    keeping the first spelling and order: the field list of a SELECT, and of a record GET."""
    if isinstance(fields, str):
        raise TypeError("fields is a list of field names, not a string")
    names = list(fields)
    if any(isinstance(name, Subquery) for name in names):
        raise TypeError("a field list holds field names only")
    return _select_list(names)


@dataclass(frozen=True)
class Subquery:
    """A parent-child relationship subquery in a SELECT list:
    ``(SELECT fields FROM relationship [WHERE ...] [ORDER BY ...] [LIMIT n])``.

    ``relationship`` is the child relationship name (``Contacts``, ``Histories``, ``Items__r``);
    its fields are the child object's. Salesforce allows one level of them, so a subquery holds
    field names only.
    """

    relationship: str
    fields: Sequence[str]
    where: Condition | None = None
    order_by: OrderSpec = None
    limit: int | None = None

    def render(self) -> str:
        try:
            relationship = sobject_name(self.relationship)
        except InvalidIdentifierError:
            raise InvalidIdentifierError(self.relationship, "child relationship name") from None
        if any(not isinstance(name, str) for name in self.fields):
            raise TypeError("a subquery selects field names only (Salesforce allows one level)")
        return f"({_statement(relationship, self.fields, self.where, self.order_by, self.limit, None)})"


def _statement(
    source: str,
    fields: Iterable[str | Subquery],
    where: Condition | None,
    order_by: OrderSpec,
    limit: int | None,
    offset: int | None,
    scope: str | None = None,
) -> str:
    rendered = _select_list(fields)
    if not rendered:
        raise ValueError("select needs at least one field")
    # Every part below is a validated identifier or a rendered, escaped condition.
    head = f"SELECT {', '.join(rendered)} FROM {source}"  # noqa: S608
    if scope:
        head += f" USING SCOPE {identifier(scope)}"
    return head + _tail(where, order_by, limit, offset)


def select(
    sobject: str,
    fields: Iterable[str | Subquery],
    where: Condition | None = None,
    order_by: OrderSpec = None,
    limit: int | None = None,
    offset: int | None = None,
    scope: str | None = None,
) -> str:
    """``SELECT fields FROM sobject [USING SCOPE scope] [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n]``.

    Field names are validated (relationship paths allowed) and de-duplicated case-insensitively,
    keeping the first spelling and order (:func:`field_list`); a :class:`Subquery` among them
    reads a child relationship. Raises :class:`QueryTooLongError` past Salesforce's length limit.
    """
    return _checked(_statement(sobject_name(sobject), fields, where, order_by, limit, offset, scope))


def select_count(sobject: str, where: Condition | None = None) -> str:
    """``SELECT COUNT() FROM sobject [WHERE ...]`` (the count comes back as ``totalSize``)."""
    statement = f"SELECT COUNT() FROM {sobject_name(sobject)}"  # noqa: S608 (validated identifier)
    return _checked(statement + _tail(where, None, None, None))
