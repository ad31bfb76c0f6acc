"""A recursive-descent parser for the SELECT statements of SOQL.

Grammar (keywords case-insensitive)::

    query      := SELECT items FROM name [alias] [WHERE cond] [ORDER BY order {, order}]
                  [LIMIT int] [OFFSET int] [FOR VIEW | FOR REFERENCE]
    items      := COUNT() | item {, item}
    item       := path | COUNT(path) [alias] | ( query )      -- the last: a parent-child subquery
    path       := name {. name}
    cond       := unary {AND unary} | unary {OR unary}        -- mixing needs parentheses
    unary      := NOT unary | ( cond ) | path op value | path [NOT] IN ( values | query )
                | path LIKE string | path INCLUDES|EXCLUDES ( strings )
    value      := string | number | date | datetime | TRUE | FALSE | NULL | DATE_LITERAL [:n]

Errors are Salesforce's: MALFORMED_QUERY with the location header (query line, caret,
``ERROR at Row:R:Column:C``) and ``unexpected token: 'X'``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal

from sfemulator.soql import dates
from sfemulator.soql.errors import SoqlError, positioned
from sfemulator.soql.lexer import Token, decode_string, tokenize
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
    OrderItem,
    SelectItem,
    SelectQuery,
    SemiJoin,
)

__all__ = ["MAX_OFFSET", "MAX_QUERY_LENGTH", "parse"]

MAX_OFFSET = 2000
MAX_QUERY_LENGTH = 100_000
MAX_RELATIONSHIP_DEPTH = 5
# Parent-child subqueries nest up to five levels (API 58.0 and later).
MAX_CHILD_DEPTH = 5

_COMPARISON_OPS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
# Words that end the FROM clause, so they cannot be an alias.
_CLAUSE_WORDS = frozenset(
    {"WHERE", "ORDER", "LIMIT", "OFFSET", "FOR", "GROUP", "HAVING", "WITH", "USING", "UPDATE", "ALL"}
)
# Real SOQL the emulator does not implement: rejected with a message that says so, not a fake syntax error.
_UNSUPPORTED_CLAUSES = {
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "WITH": "WITH",
    "USING": "USING SCOPE",
    "UPDATE": "UPDATE TRACKING/VIEWSTAT",
    "ALL": "ALL ROWS",
}
_UNSUPPORTED_FUNCTIONS = frozenset(
    {
        "FIELDS",
        "TYPEOF",
        "SUM",
        "AVG",
        "MIN",
        "MAX",
        "COUNT_DISTINCT",
        "CALENDAR_MONTH",
        "CALENDAR_QUARTER",
        "CALENDAR_YEAR",
        "DAY_IN_MONTH",
        "DAY_IN_WEEK",
        "DAY_IN_YEAR",
        "DAY_ONLY",
        "FISCAL_MONTH",
        "FISCAL_QUARTER",
        "FISCAL_YEAR",
        "HOUR_IN_DAY",
        "WEEK_IN_MONTH",
        "WEEK_IN_YEAR",
        "CONVERTCURRENCY",
        "CONVERTTIMEZONE",
        "TOLABEL",
        "FORMAT",
        "GROUPING",
        "DISTANCE",
        "GEOLOCATION",
    }
)
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))"
)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> SelectQuery:
    """Parse a SOQL SELECT statement into an immutable :class:`SelectQuery` (cached by text).

    Raises :class:`SoqlError` (MALFORMED_QUERY, or NUMBER_OUTSIDE_VALID_RANGE for OFFSET > 2000).
    Names are checked against the org's metadata only by ``execute``.
    """
    if len(text) > MAX_QUERY_LENGTH:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"SOQL statements cannot be longer than {MAX_QUERY_LENGTH} characters.",
        )
    parser = _Parser(text)
    query = parser.query(nested=False)
    parser.expect_eof()
    return query


class _Parser:
    __slots__ = ("child_depth", "index", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.child_depth = 0

    # ------------------------------------------------------------------------------ token helpers

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def error(self, token: Token, detail: str | None = None) -> SoqlError:
        text = f"'{token.text}'" if token.kind == "string" else token.text
        shown = f"unexpected token: '{text}'" if detail is None else detail
        return SoqlError("MALFORMED_QUERY", positioned(self.text, token.pos, shown))

    def unsupported(self, token: Token, feature: str) -> SoqlError:
        return self.error(token, f"{feature} is not supported by the Salesforce emulator")

    def expect_word(self, word: str) -> Token:
        token = self.token
        if not token.is_word(word):
            raise self.error(token)
        return self.advance()

    def expect_op(self, op: str) -> Token:
        token = self.token
        if token.kind != "op" or token.text != op:
            raise self.error(token)
        return self.advance()

    def at_op(self, op: str) -> bool:
        token = self.token
        return token.kind == "op" and token.text == op

    def expect_eof(self) -> None:
        token = self.token
        if token.kind != "eof":
            raise self.unexpected_clause(token)

    def unexpected_clause(self, token: Token) -> SoqlError:
        feature = _UNSUPPORTED_CLAUSES.get(token.upper) if token.kind == "ident" else None
        if feature is not None:
            return self.unsupported(token, feature)
        return self.error(token)

    def name(self) -> Token:
        token = self.token
        if token.kind != "ident":
            raise self.error(token)
        return self.advance()

    # ------------------------------------------------------------------------------------ clauses

    def query(self, *, nested: bool) -> SelectQuery:
        select = self.expect_word("SELECT")
        if self.token.is_word("FROM"):
            raise self.error(self.token, "unexpected token: 'SELECT FROM'")
        items = self.select_items(select)
        self.expect_word("FROM")
        sobject = self.name()
        alias: str | None = None
        if self.token.kind == "ident" and self.token.upper not in _CLAUSE_WORDS:
            alias = self.advance().text
        where = None
        if self.token.is_word("WHERE"):
            self.advance()
            where = self.condition()
        order_by: tuple[OrderItem, ...] = ()
        if self.token.is_word("ORDER"):
            self.advance()
            self.expect_word("BY")
            order_by = self.order_items()
        limit = None
        if self.token.is_word("LIMIT"):
            self.advance()
            limit = self.integer()
        offset = None
        if self.token.is_word("OFFSET"):
            self.advance()
            offset_token = self.token
            offset = self.integer()
            if nested:
                raise self.error(offset_token, "OFFSET is not allowed in a subquery")
            if offset > MAX_OFFSET:
                raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        if self.token.is_word("FOR"):
            self.advance()
            mode = self.token
            if mode.is_word("VIEW", "REFERENCE"):
                self.advance()
            elif mode.is_word("UPDATE"):
                raise self.unsupported(mode, "FOR UPDATE")
            else:
                raise self.error(mode)
        return SelectQuery(
            text=self.text,
            items=items,
            sobject=sobject.text,
            sobject_pos=sobject.pos,
            where=where,
            order_by=order_by,
            limit=limit,
            offset=offset,
            alias=alias,
        )

    def select_items(self, select: Token) -> tuple[SelectItem, ...]:
        items: list[SelectItem] = []
        while True:
            token = self.token
            if token.is_word("COUNT") and self.peek().text == "(":
                self.advance()
                self.advance()
                if self.at_op(")"):
                    self.advance()
                    if items or self.at_op(","):
                        raise self.error(token if items else self.token)
                    return (CountAll(token.pos),)
                field = self.path()
                self.expect_op(")")
                alias = None
                if self.token.kind == "ident" and not self.token.is_word("FROM"):
                    alias = self.advance().text
                items.append(CountField(field, alias, token.pos))
            elif token.is_word("FIELDS") and self.peek().text == "(":
                self.advance()
                self.advance()
                kind = self.token
                if not kind.is_word("ALL", "STANDARD", "CUSTOM"):
                    raise self.error(kind)
                self.advance()
                self.expect_op(")")
                items.append(FieldsMacro(kind.upper, token.pos))
            elif token.kind == "op" and token.text == "(":
                items.append(self.child_query(token))
            elif token.kind == "ident" and token.upper in _UNSUPPORTED_FUNCTIONS and self.peek().text == "(":
                raise self.unsupported(token, f"{token.upper}()")
            elif token.kind == "ident" and token.upper == "TYPEOF":
                raise self.unsupported(token, "TYPEOF")
            else:
                items.append(self.path())
            if not self.at_op(","):
                break
            self.advance()
            if self.token.is_word("FROM"):
                raise self.error(self.token)
        return tuple(items)

    def child_query(self, open_paren: Token) -> ChildQuery:
        self.advance()
        if not self.token.is_word("SELECT"):
            raise self.error(self.token)
        self.child_depth += 1
        if self.child_depth > MAX_CHILD_DEPTH:
            raise SoqlError(
                "MALFORMED_QUERY",
                positioned(
                    self.text,
                    open_paren.pos,
                    f"SOQL statements cannot query more than {MAX_CHILD_DEPTH} levels of child relationships",
                ),
            )
        sub = self.query(nested=True)
        self.child_depth -= 1
        self.expect_op(")")
        if any(isinstance(item, CountAll | CountField) for item in sub.items):
            raise SoqlError(
                "MALFORMED_QUERY",
                positioned(self.text, open_paren.pos, "Aggregate functions are not supported in a subquery"),
            )
        return ChildQuery(sub, open_paren.pos)

    def path(self) -> FieldPath:
        first = self.name()
        parts = [first.text]
        while self.at_op("."):
            self.advance()
            parts.append(self.name().text)
        if len(parts) - 1 > MAX_RELATIONSHIP_DEPTH:
            raise SoqlError(
                "MALFORMED_QUERY",
                positioned(
                    self.text,
                    first.pos,
                    "SOQL statements cannot query more than "
                    f"{MAX_RELATIONSHIP_DEPTH} levels of relationships",
                ),
            )
        return FieldPath(tuple(parts), first.pos)

    def integer(self) -> int:
        token = self.token
        if token.kind != "number" or not token.text.isdigit():
            raise self.error(token)
        self.advance()
        value = int(token.text)
        if value > 2**31 - 1:
            raise self.error(token, f"numeric value out of range: {token.text}")
        return value

    def order_items(self) -> tuple[OrderItem, ...]:
        items: list[OrderItem] = []
        while True:
            token = self.token
            if token.kind == "ident" and token.upper in _UNSUPPORTED_FUNCTIONS and self.peek().text == "(":
                raise self.unsupported(token, f"{token.upper}() in ORDER BY")
            field = self.path()
            descending = False
            if self.token.is_word("ASC", "DESC"):
                descending = self.advance().upper == "DESC"
            nulls_last = descending
            if self.token.is_word("NULLS"):
                self.advance()
                which = self.token
                if not which.is_word("FIRST", "LAST"):
                    raise self.error(which)
                nulls_last = self.advance().upper == "LAST"
            items.append(OrderItem(field, descending, nulls_last))
            if not self.at_op(","):
                return tuple(items)
            self.advance()

    # --------------------------------------------------------------------------------- conditions

    def condition(self) -> Condition:
        first = self.unary()
        token = self.token
        if not token.is_word("AND", "OR"):
            return first
        connective = token.upper
        items = [first]
        while self.token.is_word("AND", "OR"):
            if self.token.upper != connective:
                # Salesforce needs parentheses to mix AND and OR.
                raise self.error(self.token)
            self.advance()
            items.append(self.unary())
        return And(tuple(items)) if connective == "AND" else Or(tuple(items))

    def unary(self) -> Condition:
        token = self.token
        if token.is_word("NOT"):
            self.advance()
            return Not(self.unary())
        if token.kind == "op" and token.text == "(":
            self.advance()
            inner = self.condition()
            self.expect_op(")")
            return inner
        if token.kind == "ident" and token.upper in _UNSUPPORTED_FUNCTIONS and self.peek().text == "(":
            raise self.unsupported(token, f"{token.upper}() in WHERE")
        return self.simple()

    def simple(self) -> Condition:
        field = self.path()
        token = self.token
        if token.kind == "op" and token.text in _COMPARISON_OPS:
            self.advance()
            op = "!=" if token.text == "<>" else token.text
            return Comparison(field, op, self.value(), token.pos)
        if token.is_word("LIKE"):
            self.advance()
            value_token = self.token
            if value_token.kind == "string":
                self.advance()
                pattern = decode_string(value_token.text, self.text, value_token.pos, like=True)
                return Comparison(
                    field, "LIKE", Literal("string", pattern, value_token.text, value_token.pos), token.pos
                )
            return Comparison(field, "LIKE", self.value(), token.pos)
        negated = False
        if token.is_word("NOT"):
            after = self.peek()
            if not after.is_word("IN"):
                raise self.error(after)
            self.advance()
            negated = True
            token = self.token
        if token.is_word("IN"):
            self.advance()
            return self.in_list(field, negated, token)
        if token.is_word("INCLUDES", "EXCLUDES"):
            self.advance()
            open_paren = self.expect_op("(")
            values = self.values_until_close(field, "INCLUDES", open_paren)
            return Includes(field, token.upper == "EXCLUDES", values, token.pos)
        raise self.error(token)

    def in_list(self, field: FieldPath, negated: bool, in_token: Token) -> Condition:
        if self.token.kind == "op" and self.token.text == ":":
            raise self.error(self.token, "Bind variables only allowed in Apex code")
        open_paren = self.expect_op("(")
        if self.token.is_word("SELECT"):
            sub = self.query(nested=True)
            self.expect_op(")")
            if len(sub.items) != 1 or not isinstance(sub.items[0], FieldPath):
                raise SoqlError(
                    "MALFORMED_QUERY",
                    positioned(
                        self.text, in_token.pos, "Semi join sub-selects can only select a single field"
                    ),
                )
            return SemiJoin(field, negated, sub, in_token.pos)
        op = "NOT IN" if negated else "IN"
        values = self.values_until_close(field, op, open_paren)
        return InList(field, negated, values, in_token.pos)

    def values_until_close(self, field: FieldPath, op: str, open_paren: Token) -> tuple[Literal, ...]:
        if self.at_op(")"):
            raise self.error(open_paren, f"unexpected token: '{field.text} {op} ()'")
        values = [self.value()]
        while self.at_op(","):
            self.advance()
            values.append(self.value())
        self.expect_op(")")
        return tuple(values)

    # ----------------------------------------------------------------------------------- literals

    def value(self) -> Literal:
        token = self.token
        kind = token.kind
        if kind == "string":
            self.advance()
            return Literal("string", decode_string(token.text, self.text, token.pos), token.text, token.pos)
        if kind == "number":
            self.advance()
            is_integer = token.text.lstrip("+-").isdigit()
            return Literal("integer" if is_integer else "decimal", Decimal(token.text), token.text, token.pos)
        if kind == "date":
            self.advance()
            return Literal("date", self.date_value(token), token.text, token.pos)
        if kind == "datetime":
            self.advance()
            return Literal("datetime", self.datetime_value(token), token.text, token.pos)
        if kind == "ident":
            upper = token.upper
            if upper in ("TRUE", "FALSE"):
                self.advance()
                return Literal("boolean", upper == "TRUE", token.text, token.pos)
            if upper == "NULL":
                self.advance()
                return Literal("null", None, token.text, token.pos)
            if upper in dates.SIMPLE:
                self.advance()
                return Literal("date_literal", DateLiteral(upper), token.text, token.pos)
            if upper in dates.PARAMETERIZED:
                self.advance()
                if not self.at_op(":"):
                    raise self.error(self.token)
                self.advance()
                count_token = self.token
                count = self.integer()
                text = self.text[token.pos : count_token.pos + len(count_token.text)]
                return Literal("date_literal", DateLiteral(upper, count), text, token.pos)
        if kind == "op" and token.text == ":":
            raise self.error(token, "Bind variables only allowed in Apex code")
        raise self.error(token)

    def date_value(self, token: Token) -> dt.date:
        try:
            return dt.date.fromisoformat(token.text)
        except ValueError:
            raise self.error(token, f"Invalid date: {token.text}") from None

    def datetime_value(self, token: Token) -> dt.datetime:
        match = _DATETIME.fullmatch(token.text)
        try:
            if match is None:
                raise ValueError(token.text)
            year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
            if zulu:
                zone = dt.UTC
            else:
                offset = dt.timedelta(hours=int(off_h), minutes=int(off_m))
                if offset > dt.timedelta(hours=18):
                    raise ValueError(token.text)
                zone = dt.timezone(-offset if sign == "-" else offset)
            micros = int((fraction or "0")[:6].ljust(6, "0"))
            moment = dt.datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=zone
            )
        except ValueError:
            raise self.error(token, f"Invalid datetime: {token.text}") from None
        return moment.astimezone(dt.UTC)
