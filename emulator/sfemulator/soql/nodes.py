"""The immutable syntax tree of a parsed SOQL query.

Every node remembers ``pos``, its 0-based offset in the query text, because Salesforce's errors point
at the offending token (``ERROR at Row:1:Column:19`` with a caret under it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from typing import Literal as TypingLiteral

__all__ = [
    "And",
    "ChildQuery",
    "Comparison",
    "Condition",
    "CountAll",
    "CountField",
    "DateLiteral",
    "FieldPath",
    "FieldsMacro",
    "InList",
    "Includes",
    "Literal",
    "LiteralKind",
    "Not",
    "Or",
    "OrderItem",
    "QueryResult",
    "SelectItem",
    "SelectQuery",
    "SemiJoin",
]

LiteralKind = TypingLiteral[
    "string", "integer", "decimal", "boolean", "null", "date", "datetime", "date_literal"
]


@dataclass(frozen=True, slots=True)
class DateLiteral:
    """A relative date literal such as ``TODAY`` or ``LAST_N_DAYS:7`` (``n`` is None without a parameter)."""

    name: str
    n: int | None = None

    def __str__(self) -> str:
        return self.name if self.n is None else f"{self.name}:{self.n}"


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal value: ``value`` is str, Decimal, bool, None, date, aware datetime or DateLiteral."""

    kind: LiteralKind
    value: str | Decimal | bool | dt.date | dt.datetime | DateLiteral | None
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A field as written: ``("Account", "Owner", "Name")`` for ``Account.Owner.Name``."""

    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class CountAll:
    """``COUNT()``: the query answers only ``totalSize``."""

    pos: int


@dataclass(frozen=True, slots=True)
class CountField:
    """``COUNT(field) [alias]``: an aggregate query answering one AggregateResult row."""

    field: FieldPath
    alias: str | None
    pos: int


@dataclass(frozen=True, slots=True)
class FieldsMacro:
    """``FIELDS(ALL | STANDARD | CUSTOM)``: expanded to the object's fields when the query runs."""

    kind: str
    pos: int


@dataclass(frozen=True, slots=True)
class ChildQuery:
    """``(SELECT ... FROM Relationship ...)`` in the SELECT list: a parent-child relationship query.

    ``query.sobject`` is the child relationship name (``Contacts``, ``Histories``), not an sObject.
    """

    query: SelectQuery
    pos: int


SelectItem = FieldPath | CountAll | CountField | FieldsMacro | ChildQuery


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value`` with op one of = != < <= > >= LIKE (``<>`` is read as ``!=``).

    For LIKE the string value is the decoded pattern in which ``\\%``, ``\\_`` and ``\\\\`` stand for
    the literal characters (see ``lexer.like_regex``).
    """

    field: FieldPath
    op: str
    value: Literal
    pos: int


@dataclass(frozen=True, slots=True)
class InList:
    """``field [NOT] IN (literal, ...)``."""

    field: FieldPath
    negated: bool
    values: tuple[Literal, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class SemiJoin:
    """``field [NOT] IN (SELECT one_field FROM ...)``."""

    field: FieldPath
    negated: bool
    query: SelectQuery
    pos: int


@dataclass(frozen=True, slots=True)
class Includes:
    """``multipicklist INCLUDES|EXCLUDES ('a;b', 'c')``: each value is a set of picklist values."""

    field: FieldPath
    excludes: bool
    values: tuple[Literal, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition


Condition = Comparison | InList | SemiJoin | Includes | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldPath
    descending: bool
    nulls_last: bool


@dataclass(frozen=True, slots=True)
class SelectQuery:
    """A parsed SELECT statement (immutable, so parses can be cached and shared between threads)."""

    text: str
    items: tuple[SelectItem, ...]
    sobject: str
    sobject_pos: int
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None
    alias: str | None = None

    @property
    def is_count(self) -> bool:
        """True for ``SELECT COUNT() FROM ...``."""
        return any(isinstance(item, CountAll) for item in self.items)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The rows of one query shaped as Salesforce returns them, and ``totalSize``."""

    records: list[dict[str, Any]]
    total_size: int
