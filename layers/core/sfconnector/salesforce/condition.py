"""A guarded SOQL WHERE condition: parsed, checked and re-emitted, never pasted.

"Find all Opportunity Contact Roles by a SOQL condition" takes the part after WHERE from the
user. Pasting it into a query would let ``x = 'a') OR Id IN (SELECT ...`` or ``...; DELETE`` reach
Salesforce. Instead the text is tokenised and parsed by a recursive-descent parser over a
restricted grammar, every field is checked against the object's fields (a :class:`FieldPolicy`,
from its describe or an allow-list), and the parse is a tree of the connector's one condition
tree (:mod:`sfconnector.salesforce.soql`), rendered again by it: names from the policy, strings
re-escaped, numbers and dates re-formatted. :func:`build_guarded_query` builds the final statement
around it with the one SELECT builder (it is what the find-all service sends), so it can only ever
read the one sObject (and, through parent paths such as ``Contact.Email``, the parents of its rows).

Grammar (keywords are case-insensitive)::

    condition  := disjunct                       -- AND and OR cannot be mixed without parentheses
    disjunct   := conjunct ( "OR" conjunct )*  |  conjunct ( "AND" conjunct )*
    conjunct   := "NOT" conjunct | "(" condition ")" | comparison
    comparison := field ( op value
                        | ["NOT"] "LIKE" string
                        | ["NOT"] "IN" "(" value ("," value)* ")"
                        | ("INCLUDES" | "EXCLUDES") "(" string ("," string)* ")" )
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value      := string | number | "true" | "false" | "null" | date | datetime | date literal [":" n]
    field      := name ("." name)*                -- a parent path starts with a relationship name

Anything else (subqueries, ``;``, FROM, LIMIT/ORDER BY/..., comments, bind variables, double
quotes, unbalanced quotes or parentheses) is a :class:`ConditionError` that names the problem and
its position.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

from sfconnector.errors import ConnectorError
from sfconnector.salesforce import soql
from sfconnector.salesforce.describe import ID_TYPES, FieldInfo
from sfconnector.salesforce.soql import Condition, PatternPart, identifier, sobject_name

__all__ = [
    "OPPORTUNITY_CONTACT_ROLE_POLICY",
    "ConditionError",
    "FieldInfo",
    "FieldPolicy",
    "build_guarded_query",
    "parse_condition",
    "render_condition",
]

MAX_CONDITION_CHARS = 20_000
MAX_DEPTH = 32
MAX_IN_VALUES = 1_000
MAX_TERMS = 200


class ConditionError(ConnectorError, ValueError):
    """The condition is not acceptable (fault ``INVALID``: a 422 naming the ``condition`` field)."""

    code: ClassVar[str] = "invalid_condition"

    def __init__(self, problem: str, position: int | None = None, *, field: str = "condition") -> None:
        where = f" (at character {position + 1})" if position is not None else ""
        super().__init__(f"{problem}{where}", fields=[field])
        self.problem = problem
        self.position = position
        self.field = field


# ------------------------------------------------------------------------------------------ tokens

TokenKind = Literal["name", "string", "number", "date", "datetime", "op", "lparen", "rparen", "comma", "end"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    """The source text (for strings: the body between the quotes, escapes undecoded)."""
    pos: int


_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})(?![A-Za-z0-9_.:])"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![A-Za-z0-9_.:])")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)(?![A-Za-z0-9_.])")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_WS = " \t\r\n"
_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")

# Words that start another clause or statement: named explicitly so the error says what is wrong.
_CLAUSE_WORDS = {
    "SELECT": "subqueries and second statements are not allowed",
    "FROM": "FROM is not allowed in a condition: the object is fixed",
    "WHERE": "give only the condition, without WHERE",
    "LIMIT": "LIMIT is not allowed in a condition; use the limit parameter",
    "OFFSET": "OFFSET is not allowed in a condition",
    "ORDER": "ORDER BY is not allowed in a condition",
    "GROUP": "GROUP BY is not allowed in a condition",
    "HAVING": "HAVING is not allowed in a condition",
    "WITH": "WITH is not allowed in a condition",
    "FOR": "FOR VIEW/REFERENCE/UPDATE is not allowed in a condition",
    "UPDATE": "UPDATE is not allowed in a condition",
    "USING": "USING SCOPE is not allowed in a condition",
    "TYPEOF": "TYPEOF is not allowed in a condition",
    "ALL": "ALL ROWS is not allowed in a condition",
    "INSERT": "DML statements are not allowed",
    "DELETE": "DML statements are not allowed",
    "UPSERT": "DML statements are not allowed",
    "MERGE": "DML statements are not allowed",
    "FIND": "SOSL is not allowed",
    "RETURNING": "SOSL is not allowed",
}
_KEYWORDS = frozenset({"AND", "OR", "NOT", "LIKE", "IN", "INCLUDES", "EXCLUDES", "TRUE", "FALSE", "NULL"})

_DATE_LITERALS = frozenset(
    {
        "YESTERDAY",
        "TODAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_QUARTER",
        "LAST_QUARTER",
        "NEXT_QUARTER",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
        "THIS_FISCAL_QUARTER",
        "LAST_FISCAL_QUARTER",
        "NEXT_FISCAL_QUARTER",
        "THIS_FISCAL_YEAR",
        "LAST_FISCAL_YEAR",
        "NEXT_FISCAL_YEAR",
    }
)
_DATE_LITERALS_N = frozenset(
    {
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "N_DAYS_AGO",
        "LAST_N_WEEKS",
        "NEXT_N_WEEKS",
        "N_WEEKS_AGO",
        "LAST_N_MONTHS",
        "NEXT_N_MONTHS",
        "N_MONTHS_AGO",
        "LAST_N_QUARTERS",
        "NEXT_N_QUARTERS",
        "N_QUARTERS_AGO",
        "LAST_N_YEARS",
        "NEXT_N_YEARS",
        "N_YEARS_AGO",
        "LAST_N_FISCAL_QUARTERS",
        "NEXT_N_FISCAL_QUARTERS",
        "N_FISCAL_QUARTERS_AGO",
        "LAST_N_FISCAL_YEARS",
        "NEXT_N_FISCAL_YEARS",
        "N_FISCAL_YEARS_AGO",
    }
)
_DATE_LITERAL_N_SUFFIX = re.compile(r":(\d{1,6})(?![A-Za-z0-9_.:])")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raises ConditionError for anything outside the grammar's alphabet."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _WS:
            i += 1
            continue
        two = text[i : i + 2]
        if two in ("/*", "//", "--"):
            raise ConditionError("comments are not allowed", i)
        if ch == ";":
            raise ConditionError("';' is not allowed: a condition cannot end a statement or start another", i)
        if ch == "'":
            end = _string_end(text, i)
            tokens.append(Token("string", text[i + 1 : end], i))
            i = end + 1
            continue
        if ch == '"':
            raise ConditionError("strings are written in single quotes", i)
        if ch == ":":
            raise ConditionError("bind variables (':name') are not allowed", i)
        if ch == "(":
            tokens.append(Token("lparen", ch, i))
            i += 1
            continue
        if ch == ")":
            tokens.append(Token("rparen", ch, i))
            i += 1
            continue
        if ch == ",":
            tokens.append(Token("comma", ch, i))
            i += 1
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token("op", op, i))
            i += len(op)
            continue
        for kind, pattern in (("datetime", _DATETIME), ("date", _DATE), ("number", _NUMBER)):
            match = pattern.match(text, i)
            if match:
                tokens.append(Token(kind, match.group(0), i))  # type: ignore[arg-type]
                i = match.end()
                break
        else:
            match = _NAME.match(text, i)
            if match is None:
                raise ConditionError(f"unexpected character {ch!r}", i)
            word = match.group(0)
            upper = word.upper()
            i = match.end()
            if upper in _DATE_LITERALS_N:
                suffix = _DATE_LITERAL_N_SUFFIX.match(text, i)
                if suffix is None:
                    raise ConditionError(f"{upper} needs a number, e.g. {upper}:30", match.start())
                word = f"{upper}:{suffix.group(1)}"
                i = suffix.end()
            elif i < n and text[i] == ":":
                raise ConditionError(f"{word!r} takes no ':' (only the *_N_* date literals do)", i)
            tokens.append(Token("name", word, match.start()))
    tokens.append(Token("end", "", n))
    return tokens


def _string_end(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "'":
            return i
        if ch in "\r\n":
            break
        i += 1
    raise ConditionError("unbalanced quote: a string is not closed", start)


_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _decode(body: str, pos: int, *, like: bool) -> list[PatternPart]:
    out: list[PatternPart] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt in _ESCAPES:
                out.append(("lit", _ESCAPES[nxt]))
                i += 2
            elif nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", body[i + 2 : i + 6]):
                out.append(("lit", chr(int(body[i + 2 : i + 6], 16))))
                i += 6
            elif nxt in "%_" and like:
                out.append(("lit", nxt))
                i += 2
            else:
                shown = "\\" + nxt
                raise ConditionError(f"invalid escape {shown!r} in a string", pos + 1 + i)
            continue
        if like and ch == "%":
            out.append(("any", ch))
        elif like and ch == "_":
            out.append(("one", ch))
        else:
            out.append(("lit", ch))
        i += 1
    return out


# ------------------------------------------------------------------------------------------ values

ValueKind = Literal["string", "number", "boolean", "null", "date", "datetime", "date_literal"]


@dataclass(frozen=True, slots=True)
class _Value:
    """A parsed value: its kind (for the field-type checks), the tree's scalar, and where it was."""

    kind: ValueKind
    value: soql.Scalar
    pos: int


# ------------------------------------------------------------------------------------------ fields


_NUMERIC = frozenset({"int", "double", "currency", "percent", "long"})
_ACCEPTS: dict[str, frozenset[str]] = {
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date", "date_literal"}),
    "datetime": frozenset({"datetime", "date_literal", "date"}),
    "time": frozenset({"string"}),
}


@dataclass(frozen=True)
class FieldPolicy:
    """The fields a condition (and the select list) may use on one sObject.

    ``relationships`` maps a relationship name (``Contact``) to the sObjects it points at; a parent
    path must start with one. Names are matched case-insensitively and re-emitted as declared.
    """

    sobject: str
    fields: Mapping[str, FieldInfo]
    relationships: Mapping[str, str] = field(default_factory=dict)
    """Lower-cased relationship name -> its declared spelling."""
    allow_custom: bool = False
    """Accept ``*__c`` fields and ``*__r`` relationships not listed (when no describe is at hand)."""

    @classmethod
    def from_fields(
        cls,
        sobject: str,
        fields: Iterable[FieldInfo],
        relationships: Iterable[str] = (),
        *,
        allow_custom: bool = False,
    ) -> FieldPolicy:
        return cls(
            sobject=sobject_name(sobject),
            fields={f.name.lower(): f for f in fields},
            relationships={r.lower(): r for r in relationships},
            allow_custom=allow_custom,
        )

    @classmethod
    def from_describe(cls, describe: Mapping[str, Any]) -> FieldPolicy:
        """From an sObject describe: every field, and every relationship name of its lookups."""
        infos = [
            FieldInfo.from_describe(f)
            for f in describe.get("fields", [])
            if isinstance(f, Mapping) and isinstance(f.get("name"), str)
        ]
        return cls.of_described(str(describe["name"]), infos)

    @classmethod
    def of_described(cls, sobject: str, fields: Iterable[FieldInfo]) -> FieldPolicy:
        """From a describe's parsed fields (an SObjectSchema's): the relationships are theirs."""
        infos = list(fields)
        relationships = [f.relationship_name for f in infos if f.relationship_name]
        return cls.from_fields(sobject, infos, relationships)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields.values()]

    def resolve(self, path: str, pos: int | None = None) -> tuple[str, FieldInfo | None]:
        """The declared spelling of a field or parent path, and its info (None for parent paths)."""
        try:
            identifier(path)
        except ValueError:
            raise ConditionError(f"{path!r} is not a valid field name", pos) from None
        segments = path.split(".")
        if len(segments) == 1:
            info = self.fields.get(path.lower())
            if info is None:
                if self.allow_custom and path.lower().endswith("__c"):
                    return path, None
                raise ConditionError(f"{self.sobject} has no field {path!r}", pos)
            return info.name, info
        head = segments[0]
        rel = self.relationships.get(head.lower())
        if rel is None:
            if self.allow_custom and head.lower().endswith("__r"):
                return path, None
            raise ConditionError(
                f"{head!r} is not a relationship of {self.sobject} (parent paths start with one of: "
                f"{', '.join(sorted(self.relationships.values())) or 'none'})",
                pos,
            )
        return ".".join([rel, *segments[1:]]), None


OPPORTUNITY_CONTACT_ROLE_POLICY = FieldPolicy.from_fields(
    "OpportunityContactRole",
    [
        FieldInfo("Id", "id"),
        FieldInfo("OpportunityId", "reference"),
        FieldInfo("ContactId", "reference"),
        FieldInfo("Role", "picklist"),
        FieldInfo("IsPrimary", "boolean"),
        FieldInfo("CreatedDate", "datetime"),
        FieldInfo("CreatedById", "reference"),
        FieldInfo("LastModifiedDate", "datetime"),
        FieldInfo("LastModifiedById", "reference"),
        FieldInfo("SystemModstamp", "datetime"),
        FieldInfo("IsDeleted", "boolean"),
    ],
    ["Opportunity", "Contact", "CreatedBy", "LastModifiedBy"],
    allow_custom=True,
)
"""The standard fields of OpportunityContactRole (from a real describe), for use without a describe."""


# ------------------------------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, tokens: Sequence[Token], policy: FieldPolicy) -> None:
        self.tokens = tokens
        self.i = 0
        self.policy = policy
        self.terms = 0

    # -- token helpers

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def word(self, tok: Token | None = None) -> str | None:
        tok = tok or self.peek()
        return tok.text.upper() if tok.kind == "name" else None

    def expect_word(self, word: str) -> Token:
        tok = self.advance()
        if self.word(tok) != word:
            raise self.unexpected(tok, f"expected {word}")
        return tok

    def unexpected(self, tok: Token, expected: str) -> ConditionError:
        if tok.kind == "end":
            return ConditionError(f"the condition ends too early: {expected}", tok.pos)
        upper = tok.text.upper()
        if tok.kind == "name" and upper in _CLAUSE_WORDS:
            return ConditionError(_CLAUSE_WORDS[upper], tok.pos)
        shown = tok.text if tok.kind != "string" else f"'{tok.text}'"
        if len(shown) > 40:
            shown = shown[:40] + "..."
        return ConditionError(f"{expected}, found {shown!r}", tok.pos)

    # -- grammar

    def parse(self) -> Condition:
        if self.peek().kind == "end":
            raise ConditionError("the condition is empty", 0)
        node = self.condition(0)
        tok = self.peek()
        if tok.kind != "end":
            if tok.kind == "rparen":
                raise ConditionError("unbalanced parentheses: ')' without '('", tok.pos)
            raise self.unexpected(tok, "expected AND, OR or the end of the condition")
        return node

    def condition(self, depth: int) -> Condition:
        if depth > MAX_DEPTH:
            raise ConditionError(f"the condition nests deeper than {MAX_DEPTH} levels", self.peek().pos)
        first = self.conjunct(depth)
        joiner = self.word()
        if joiner not in ("AND", "OR"):
            return first
        items = [first]
        while self.word() in ("AND", "OR"):
            tok = self.advance()
            if tok.text.upper() != joiner:
                raise ConditionError(
                    "AND and OR cannot be mixed without parentheses, e.g. (a AND b) OR c", tok.pos
                )
            items.append(self.conjunct(depth))
        return soql.And(items) if joiner == "AND" else soql.Or(items)

    def conjunct(self, depth: int) -> Condition:
        tok = self.peek()
        if self.word(tok) == "NOT":
            self.advance()
            return soql.Not(self.conjunct(depth + 1))
        if tok.kind == "lparen":
            self.advance()
            if self.word() == "SELECT":
                raise ConditionError(_CLAUSE_WORDS["SELECT"], self.peek().pos)
            inner = self.condition(depth + 1)
            close = self.advance()
            if close.kind != "rparen":
                if close.kind == "end":
                    raise ConditionError("unbalanced parentheses: '(' is not closed", tok.pos)
                raise self.unexpected(close, "expected ')'")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        tok = self.advance()
        if tok.kind != "name" or tok.text.upper() in _KEYWORDS:
            raise self.unexpected(tok, "expected a field name")
        if tok.text.upper() in _CLAUSE_WORDS and self.peek().kind != "op":
            raise ConditionError(_CLAUSE_WORDS[tok.text.upper()], tok.pos)
        name, info = self.policy.resolve(tok.text, tok.pos)
        if info is not None and not info.filterable:
            raise ConditionError(f"{name} cannot be used in a condition (not filterable)", tok.pos)
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise ConditionError(f"the condition has more than {MAX_TERMS} comparisons", tok.pos)

        nxt = self.peek()
        negated = False
        if self.word(nxt) == "NOT":
            self.advance()
            negated = True
            nxt = self.peek()
            if self.word(nxt) not in ("LIKE", "IN"):
                raise self.unexpected(nxt, f"expected LIKE or IN after {name} NOT")
        word = self.word(nxt)
        if nxt.kind == "op":
            self.advance()
            value = self.value(name, info)
            if value.kind == "null" and nxt.text not in ("=", "!=", "<>"):
                raise ConditionError("null can only be compared with = or !=", value.pos)
            return soql.comparison(name, nxt.text, value.value)
        if word == "LIKE":
            self.advance()
            if info is not None and not info.textual:
                raise ConditionError(f"LIKE needs a text field; {name} is a {info.type}", nxt.pos)
            pat = self.advance()
            if pat.kind != "string":
                raise self.unexpected(pat, "expected a quoted pattern after LIKE")
            like = soql.Like(name, soql.LikePattern(tuple(_decode(pat.text, pat.pos, like=True))))
            return soql.Not(like) if negated else like
        if word in ("IN", "INCLUDES", "EXCLUDES"):
            self.advance()
            if word != "IN" and negated:
                raise self.unexpected(nxt, "NOT goes with IN or LIKE only")
            if word != "IN" and info is not None and info.type != "multipicklist":
                raise ConditionError(
                    f"{word} needs a multi-select picklist; {name} is a {info.type}", nxt.pos
                )
            values = [v.value for v in self.value_list(name, info, strings_only=word != "IN")]
            if negated:
                return soql.NotIn(name, values)
            if word == "IN":
                return soql.In(name, values)
            return soql.Includes(name, values) if word == "INCLUDES" else soql.Excludes(name, values)
        raise self.unexpected(nxt, f"expected an operator after {name}")

    def value_list(self, name: str, info: FieldInfo | None, *, strings_only: bool) -> tuple[_Value, ...]:
        open_tok = self.advance()
        if open_tok.kind != "lparen":
            raise self.unexpected(open_tok, "expected '(' and a list of values")
        if self.word() == "SELECT":
            raise ConditionError(_CLAUSE_WORDS["SELECT"], self.peek().pos)
        values: list[_Value] = []
        while True:
            value = self.value(name, info)
            if strings_only and value.kind != "string":
                raise ConditionError("INCLUDES/EXCLUDES take quoted values", value.pos)
            values.append(value)
            if len(values) > MAX_IN_VALUES:
                raise ConditionError(f"a value list holds at most {MAX_IN_VALUES} values", value.pos)
            sep = self.advance()
            if sep.kind == "rparen":
                return tuple(values)
            if sep.kind != "comma":
                if sep.kind == "end":
                    raise ConditionError("unbalanced parentheses: '(' is not closed", open_tok.pos)
                raise self.unexpected(sep, "expected ',' or ')' in the value list")

    def value(self, name: str, info: FieldInfo | None) -> _Value:
        tok = self.advance()
        value = self._literal(tok)
        if info is not None:
            accepted = _ACCEPTS.get(info.type)
            if accepted is None:
                accepted = frozenset({"number"}) if info.type in _NUMERIC else frozenset({"string"})
            if value.kind != "null" and value.kind not in accepted:
                raise ConditionError(
                    f"{name} is a {info.type} field; {value.kind.replace('_', ' ')} values do not apply",
                    tok.pos,
                )
            if info.type in ID_TYPES and isinstance(value.value, str) and not _ID.fullmatch(value.value):
                raise ConditionError(f"{name} takes a 15 or 18 character record id", tok.pos)
        return value

    def _literal(self, tok: Token) -> _Value:
        if tok.kind == "string":
            text = "".join(ch for _k, ch in _decode(tok.text, tok.pos, like=False))
            return _Value("string", text, tok.pos)
        if tok.kind == "number":
            try:
                number = Decimal(tok.text)
            except InvalidOperation:
                raise ConditionError(f"{tok.text!r} is not a number", tok.pos) from None
            return _Value("number", number, tok.pos)
        if tok.kind == "date":
            try:
                return _Value("date", dt.date.fromisoformat(tok.text), tok.pos)
            except ValueError:
                raise ConditionError(f"{tok.text!r} is not a valid date", tok.pos) from None
        if tok.kind == "datetime":
            try:
                text = tok.text[:-1] + "+00:00" if tok.text.endswith("Z") else tok.text
                # Kept to the millisecond as typed (a plain datetime would render to the second).
                return _Value("datetime", soql.Timestamp(dt.datetime.fromisoformat(text)), tok.pos)
            except ValueError:
                raise ConditionError(f"{tok.text!r} is not a valid datetime", tok.pos) from None
        if tok.kind == "name":
            upper = tok.text.upper()
            if upper in ("TRUE", "FALSE"):
                return _Value("boolean", upper == "TRUE", tok.pos)
            if upper == "NULL":
                return _Value("null", None, tok.pos)
            if upper in _DATE_LITERALS:
                return _Value("date_literal", soql.DateLiteral(upper), tok.pos)
            base, _, n = upper.partition(":")
            if base in _DATE_LITERALS_N and n:
                return _Value("date_literal", soql.DateLiteral(base, int(n)), tok.pos)
            if upper in _CLAUSE_WORDS:
                raise ConditionError(_CLAUSE_WORDS[upper], tok.pos)
            raise ConditionError(
                f"{tok.text!r} is not a value (quote text, e.g. '{tok.text[:20]}'; fields cannot be "
                "compared with fields)",
                tok.pos,
            )
        if tok.kind == "lparen":
            nxt = self.peek()
            if self.word(nxt) == "SELECT":
                raise ConditionError(_CLAUSE_WORDS["SELECT"], nxt.pos)
        raise self.unexpected(tok, "expected a value")


# ------------------------------------------------------------------------------------------ public


def parse_condition(text: str, policy: FieldPolicy) -> Condition:
    """Parse and check a WHERE condition into the one condition tree (:mod:`sfconnector.salesforce.soql`);
    raises ConditionError naming the problem."""
    if not isinstance(text, str):
        raise ConditionError("the condition must be text")
    if len(text) > MAX_CONDITION_CHARS:
        raise ConditionError(f"the condition is longer than {MAX_CONDITION_CHARS} characters")
    return _Parser(tokenize(text), policy).parse()


def render_condition(node: Condition) -> str:
    """The condition as SOQL, rebuilt from the syntax tree (never from the user's text)."""
    return node.render()


def build_guarded_query(
    condition: str | Condition,
    policy: FieldPolicy,
    *,
    fields: Sequence[str] | None = None,
    limit: int | None = None,
    order_by: Sequence[str] = ("CreatedDate", "Id"),
    after: Condition | None = None,
) -> str:
    """``SELECT <fields> FROM <policy.sobject> WHERE <re-emitted condition> ORDER BY ... LIMIT n``:
    the statement "find all by a SOQL condition" sends (``RecordService.find_all``), built by
    :func:`sfconnector.salesforce.soql.select`.

    ``fields`` (default: every field the policy knows) and ``order_by`` (ascending; names the
    policy does not know are left out) are checked against the policy like the condition's fields;
    unknown ones are a ConditionError naming the ``fields``. ``after`` (the service's keyset
    condition of a next page) is AND-ed to the user's condition. ``condition`` is the user's text,
    or the tree :func:`parse_condition` already made of it against this ``policy``.
    """
    node = condition if isinstance(condition, Condition) else parse_condition(condition, policy)
    chosen: list[str] = []
    for name in fields if fields is not None else policy.field_names:
        try:
            chosen.append(policy.resolve(name)[0])
        except ConditionError as exc:
            raise ConditionError(exc.problem, field="fields") from None
    if not chosen:
        raise ConditionError("at least one field must be selected", field="fields")
    order = [soql.OrderBy(policy.resolve(name)[0]) for name in order_by if name.lower() in policy.fields]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConditionError("limit must be a positive integer", field="limit")
    where = node if after is None else soql.And([node, after])
    try:
        return soql.select(policy.sobject, chosen, where, order_by=order, limit=limit)
    except soql.QueryTooLongError:
        raise ConditionError(f"the query would be longer than {soql.MAX_SOQL_LENGTH} characters") from None
