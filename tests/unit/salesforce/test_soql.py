"""SOQL builder: identifiers validated, every literal escaped so no value changes a query's structure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sfconnector.salesforce.soql import (
    And,
    DateLiteral,
    Eq,
    Excludes,
    Ge,
    Gt,
    In,
    Includes,
    InvalidIdentifierError,
    IsNull,
    Le,
    Like,
    LikePattern,
    Lt,
    Ne,
    Not,
    NotIn,
    NotNull,
    Or,
    OrderBy,
    QueryTooLongError,
    Subquery,
    Timestamp,
    comparison,
    field_list,
    identifier,
    like_literal,
    literal,
    select,
    select_count,
    sobject_name,
)
from sfemulator.soql import parse as emulator_parse

# ----------------------------------------------------------------------- a reference tokenizer

_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def read_literal(text: str, start: int, *, like: bool = False) -> tuple[str, int]:
    """Decode the SOQL string literal starting at ``text[start]`` the way Salesforce's lexer reads
    it; returns (value, index just past the closing quote). In LIKE patterns ``\\%``/``\\_`` decode
    to ``%``/``_`` and bare ``%``/``_`` to the markers ``*``/``?``."""
    assert text[start] == "'", f"no literal at {start}: {text[start : start + 20]!r}"
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt == "u":
                digits = text[i + 2 : i + 6]
                assert len(digits) == 4
                assert all(c in "0123456789abcdefABCDEF" for c in digits)
                out.append(chr(int(digits, 16)))
                i += 6
            elif like and nxt in "%_":
                out.append(nxt)
                i += 2
            else:
                raise AssertionError(f"invalid escape \\{nxt}")
        elif char == "'":
            return "".join(out), i + 1
        else:
            assert ord(char) >= 0x20, f"raw control character {char!r}"
            assert not 0x7F <= ord(char) <= 0x9F, f"raw control character {char!r}"
            out.append({"%": "*", "_": "?"}.get(char, char) if like else char)
            i += 1
    raise AssertionError("unterminated literal")


# ------------------------------------------------------------------------------- string literals


@given(st.text())
def test_any_string_survives_as_a_literal(value: str) -> None:
    rendered = literal(value)
    decoded, end = read_literal(rendered, 0)
    assert decoded == value
    assert end == len(rendered)  # the literal cannot be terminated early


@given(st.text(), st.text())
def test_no_value_can_inject_a_clause(name: str, kind: str) -> None:
    query = select("Account", ["Id"], where=Eq("Name", name) & Eq("Type", kind), limit=5)
    prefix = "SELECT Id FROM Account WHERE (Name = "
    assert query.startswith(prefix)
    first, end = read_literal(query, len(prefix))
    assert first == name
    middle = " AND Type = "
    assert query[end : end + len(middle)] == middle
    second, end = read_literal(query, end + len(middle))
    assert second == kind
    assert query[end:] == ") LIMIT 5"


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_in_lists_keep_their_structure(values: list[str]) -> None:
    rendered = In("Email", values).render()
    assert rendered.startswith("Email IN (")
    position = len("Email IN (")
    decoded = []
    for index in range(len(values)):
        value, position = read_literal(rendered, position)
        decoded.append(value)
        separator = ")" if index == len(values) - 1 else ", "
        assert rendered[position : position + len(separator)] == separator
        position += len(separator)
    assert position == len(rendered)
    assert decoded == values


@given(st.text(), st.sampled_from(["exact", "prefix", "suffix", "contains"]))
def test_like_patterns_escape_wildcards(value: str, match: str) -> None:
    rendered = like_literal(value, match)  # type: ignore[arg-type]
    decoded, end = read_literal(rendered, 0, like=True)
    assert end == len(rendered)
    lead = "*" if match in ("suffix", "contains") else ""
    trail = "*" if match in ("prefix", "contains") else ""
    assert decoded == lead + value + trail


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Hara", r"'O\'Hara'"),
        ('say "hi"', r"'say \"hi\"'"),
        ("back\\slash", r"'back\\slash'"),
        ("a\nb\rc\td\be\ff", r"'a\nb\rc\td\be\ff'"),
        ("nul\x00 bell\x07 del\x7f", r"'nul\u0000 bell\u0007 del\u007f'"),
        ("line\u2028sep", r"'line\u2028sep'"),
        ("x' OR Name != '", r"'x\' OR Name != \''"),
        ("naïve 日本 🎉", "'naïve 日本 🎉'"),
        ("", "''"),
    ],
)
def test_string_escapes(value: str, expected: str) -> None:
    assert literal(value) == expected


def test_like_escapes() -> None:
    assert like_literal("50%_off") == r"'50\%\_off'"
    assert like_literal("Acme", "prefix") == "'Acme%'"
    assert like_literal("a'b", "contains") == r"'%a\'b%'"
    assert Like("Name", "Ac_me", "prefix").render() == r"Name LIKE 'Ac\_me%'"


# ------------------------------------------------------------------------------- other literals


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-42, "-42"),
        (10**20, "100000000000000000000"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e-7, "0.0000001"),
        (2.5e15, "2500000000000000.0"),
        (-0.0, "0"),
        (Decimal("12.340"), "12.340"),
        (Decimal("1E+3"), "1000"),
        (date(2024, 2, 29), "2024-02-29"),
        (datetime(2024, 1, 1, 12, 30, 5, 999999, tzinfo=UTC), "2024-01-01T12:30:05Z"),
        (datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))), "2023-12-31T23:00:00Z"),
        (datetime(2024, 1, 1, 1, 0), "2024-01-01T01:00:00Z"),
        (DateLiteral("TODAY"), "TODAY"),
        (DateLiteral("LAST_N_DAYS", 30), "LAST_N_DAYS:30"),
        ([1, "a", None], "(1, 'a', null)"),
        (("x",), "('x')"),
    ],
)
def test_literals(value: object, expected: str) -> None:
    assert literal(value) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (Decimal("NaN"), ValueError),
        ([], ValueError),
        ([[1]], TypeError),
        (b"bytes", TypeError),
        ({"a": 1}, TypeError),
        (object(), TypeError),
    ],
)
def test_values_that_cannot_be_literals(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        literal(value)


@pytest.mark.parametrize(
    "bad", [("LAST_N_DAYS", None), ("TODAY", 3), ("today", None), ("X; DELETE", None), ("LAST_N_DAYS", -1)]
)
def test_bad_date_literals(bad: tuple[str, int | None]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        DateLiteral(*bad)


# ---------------------------------------------------------------------------------- identifiers


@pytest.mark.parametrize(
    "name",
    [
        "Id", "Name", "Custom__c", "ns__Custom__c", "Parent__r.Name", "Account.Owner.Name", "My_Field_2__c",
        "Location__latitude__s", "Knowledge__kav", "a.b.c.d.e.f", "X", "Order", "Group",
    ],
)  # fmt: skip
def test_valid_identifiers(name: str) -> None:
    assert identifier(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "", "1Field", "_Field", "Field_", "Fi__", "Field__c__", "Fi eld", "Name,Id", "Name)", "Name--",
        "Account.", ".Name", "A..B", "Name'", "Id FROM User", "a.b.c.d.e.f.g", "Na\nme", "Näme",
        "x" * 256, "COUNT()", "Field__c; DROP",
    ],
)  # fmt: skip
def test_invalid_identifiers_name_the_value(name: str) -> None:
    with pytest.raises(InvalidIdentifierError) as caught:
        identifier(name)
    assert repr(name)[:40].rstrip("'") in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_sobject_names_have_no_path() -> None:
    assert sobject_name("Custom__c") == "Custom__c"
    with pytest.raises(InvalidIdentifierError, match="sObject"):
        sobject_name("Account.Owner")


@given(st.text(max_size=30))
def test_identifier_never_accepts_query_syntax(name: str) -> None:
    try:
        identifier(name)
    except InvalidIdentifierError:
        return
    assert all(c.isascii() and (c.isalnum() or c in "_.") for c in name)


# ----------------------------------------------------------------------------------- statements


def test_select_with_everything() -> None:
    since = datetime(2024, 5, 1, tzinfo=UTC)
    where = And(
        [
            Or([Eq("Industry", "Energy"), In("Type", ["Customer", "Partner"])]),
            Ge("SystemModstamp", since),
            Not(IsNull("Name")),
            NotNull("OwnerId"),
            Ne("Rating", None),
            Lt("NumberOfEmployees", 500),
            Le("AnnualRevenue", Decimal("1000000.50")),
            Gt("CreatedDate", DateLiteral("LAST_N_DAYS", 7)),
            NotIn("BillingCountry", ["US"]),
        ]
    )
    query = select(
        "Account",
        ["Id", "Name", "Owner.Name", "name"],
        where=where,
        order_by=["SystemModstamp", OrderBy("Id", descending=True, nulls="last")],
        limit=200,
        offset=10,
    )
    assert query == (
        "SELECT Id, Name, Owner.Name FROM Account"
        " WHERE ((Industry = 'Energy' OR Type IN ('Customer', 'Partner'))"
        " AND SystemModstamp >= 2024-05-01T00:00:00Z AND (NOT Name = null) AND OwnerId != null"
        " AND Rating != null AND NumberOfEmployees < 500 AND AnnualRevenue <= 1000000.50"
        " AND CreatedDate > LAST_N_DAYS:7 AND BillingCountry NOT IN ('US'))"
        " ORDER BY SystemModstamp ASC, Id DESC NULLS LAST LIMIT 200 OFFSET 10"
    )


def test_operators_compose() -> None:
    condition = (Eq("A", 1) | Eq("B", 2)) & ~Eq("C", 3)
    assert condition.render() == "((A = 1 OR B = 2) AND (NOT C = 3))"
    assert And([Eq("A", 1)]).render() == "A = 1"


def test_select_count() -> None:
    assert (
        select_count("Contact", Eq("Email", "a@b.co")) == "SELECT COUNT() FROM Contact WHERE Email = 'a@b.co'"
    )
    assert select_count("Lead") == "SELECT COUNT() FROM Lead"


@pytest.mark.parametrize(
    "build",
    [
        lambda: select("Account", []),
        lambda: select("Account", ["Id"], limit=0),
        lambda: select("Account", ["Id"], offset=2001),
        lambda: select("Account", ["Id"], order_by="Name SIDEWAYS"),
        lambda: select("Account", ["Id"], where="Name = 'x'"),  # type: ignore[arg-type]
        lambda: select("Account", "Id, Name"),
        lambda: select("Account", ["Id"], where=Eq("Name", "x" * 100_000)),
        lambda: In("Id", []),
        lambda: In("Id", "001"),
        lambda: Eq("Id", ["a"]),  # type: ignore[arg-type]
        lambda: And([]),
        lambda: And(["Name = 'x'"]),  # type: ignore[list-item]
    ],
)
def test_misuse_is_refused(build: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        build()  # type: ignore[operator]


def test_order_by_parsing() -> None:
    assert OrderBy.parse("Name").render() == "Name ASC"
    assert OrderBy.parse("createddate desc nulls first").render() == "createddate DESC NULLS FIRST"
    with pytest.raises(ValueError, match="ORDER BY"):
        OrderBy.parse("Name; DELETE")
    with pytest.raises(InvalidIdentifierError):
        OrderBy.parse("Na'me DESC")


# ------------------------------------------------------------------- what the trigger engine polls


def test_the_trigger_poll_with_a_history_subquery() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    until = since + timedelta(minutes=5)
    histories = Subquery(
        "Histories",
        ["Field", "OldValue", "NewValue", "CreatedDate", "CreatedById"],
        where=Ge("CreatedDate", since),
        order_by="CreatedDate",
    )
    query = select(
        "Account",
        ["Id", "Name", "SystemModstamp", histories],
        where=Ge("SystemModstamp", since) & Lt("SystemModstamp", until),
        order_by=["SystemModstamp", "Id"],
        limit=2000,
    )
    assert query == (
        "SELECT Id, Name, SystemModstamp, (SELECT Field, OldValue, NewValue, CreatedDate, CreatedById"
        " FROM Histories WHERE CreatedDate >= 2026-01-01T00:00:00Z ORDER BY CreatedDate ASC)"
        " FROM Account WHERE (SystemModstamp >= 2026-01-01T00:00:00Z"
        " AND SystemModstamp < 2026-01-01T00:05:00Z)"
        " ORDER BY SystemModstamp ASC, Id ASC LIMIT 2000"
    )


def test_subqueries_keep_their_place_and_their_own_clauses() -> None:
    contacts = Subquery(
        "Contacts",
        ["Id", "Email", "email"],
        where=Or([Eq("Email", None), Like("Email", "@example.com", "suffix")]),
        order_by=[OrderBy("LastName", descending=True)],
        limit=5,
    )
    query = select("Account", ["Id", contacts, "Owner.Name", "id"], where=Not(Eq("Type", "x")))
    assert query == (
        "SELECT Id, (SELECT Id, Email FROM Contacts WHERE (Email = null OR Email LIKE '%@example.com')"
        " ORDER BY LastName DESC LIMIT 5), Owner.Name FROM Account WHERE (NOT Type = 'x')"
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: select("Account", ["Id", Subquery("Contacts.Owner", ["Id"])]),
        lambda: select("Account", ["Id", Subquery("Contacts) FROM User", ["Id"])]),
        lambda: select("Account", ["Id", Subquery("Contacts", [])]),
        lambda: select("Account", ["Id", Subquery("Contacts", "Id")]),
        lambda: select("Account", ["Id", Subquery("Contacts", [Subquery("Cases", ["Id"])])]),  # type: ignore[list-item]
        lambda: select("Account", ["Id", Subquery("Contacts", ["Id"], limit=0)]),
        lambda: select("Account", ["Id", Subquery("Contacts", ["Id"], where="Id != null")]),  # type: ignore[arg-type]
        lambda: field_list(["Id", Subquery("Contacts", ["Id"])]),  # type: ignore[list-item]
        lambda: field_list("Id, Name"),
    ],
)
def test_subquery_misuse_is_refused(build: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        build()  # type: ignore[operator]


@given(st.text(), st.text())
def test_no_value_in_a_subquery_can_inject_a_clause(child: str, parent: str) -> None:
    query = select(
        "Account", ["Id", Subquery("Contacts", ["Id"], where=Eq("Email", child))], where=Eq("Name", parent)
    )
    prefix = "SELECT Id, (SELECT Id FROM Contacts WHERE Email = "
    assert query.startswith(prefix)
    first, end = read_literal(query, len(prefix))
    assert first == child
    middle = ") FROM Account WHERE Name = "
    assert query[end : end + len(middle)] == middle
    second, end = read_literal(query, end + len(middle))
    assert (second, end) == (parent, len(query))


def test_field_lists_are_validated_and_de_duplicated() -> None:
    assert field_list(["Id", "Name", "ID", "Account.Name", "account.name"]) == ["Id", "Name", "Account.Name"]
    with pytest.raises(InvalidIdentifierError):
        field_list(["Id", "Name FROM User"])


# ------------------------------------------------------------------------ the rest of the tree


def test_timestamps_keep_milliseconds_plain_datetimes_do_not() -> None:
    moment = datetime(2024, 1, 1, 10, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    assert literal(Timestamp(moment)) == "2024-01-01T08:00:00.250Z"
    assert literal(moment) == "2024-01-01T08:00:00Z"
    assert literal(Timestamp(datetime(2024, 1, 1, tzinfo=UTC))) == "2024-01-01T00:00:00Z"


def test_comparison_operators_by_symbol() -> None:
    rendered = [comparison("Amount", op, 5).render() for op in ("=", "!=", "<>", "<", "<=", ">", ">=")]
    assert rendered == [
        "Amount = 5", "Amount != 5", "Amount != 5", "Amount < 5", "Amount <= 5", "Amount > 5", "Amount >= 5",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not a SOQL comparison operator"):
        comparison("Amount", "==", 5)


def test_multi_select_picklists_and_like_patterns() -> None:
    assert Includes("Tags__c", ["a;b", "c"]).render() == "Tags__c INCLUDES ('a;b', 'c')"
    assert Excludes("Tags__c", ["x"]).render() == "Tags__c EXCLUDES ('x')"
    pattern = LikePattern(
        (("lit", "5"), ("lit", "0"), ("lit", "%"), ("one", "_"), ("any", "%"), ("lit", "'"))
    )
    assert Like("Name", pattern).render() == "Name LIKE '50\\%_%\\''"


def test_n_date_literals() -> None:
    assert DateLiteral("N_DAYS_AGO", 3).render() == "N_DAYS_AGO:3"
    assert DateLiteral("LAST_N_FISCAL_YEARS", 2).render() == "LAST_N_FISCAL_YEARS:2"
    with pytest.raises(ValueError, match="needs N"):
        DateLiteral("N_WEEKS_AGO")


def test_over_long_statements_are_their_own_error() -> None:
    with pytest.raises(QueryTooLongError, match="100000"):
        select("Account", ["Id"], where=Eq("Name", "x" * 100_000))


# Statements the emulator's own SOQL parser reads back: the structure is the one that was built.
_TEXT = st.lists(st.sampled_from([*"ab' \\%_()\n\"", "FROM", "é", "\x00"]), max_size=12).map("".join)


@given(st.lists(_TEXT, min_size=1, max_size=4), _TEXT, st.sampled_from(["exact", "prefix", "contains"]))
def test_the_emulator_reads_back_what_was_built(emails: list[str], name: str, match: str) -> None:
    where = And(
        [
            In("Email", emails),
            Not(Like("LastName", name, match)),  # type: ignore[arg-type]
            Ge("CreatedDate", DateLiteral("N_DAYS_AGO", 2)),
        ]
    )
    parsed = emulator_parse(
        select("Contact", ["Id", "Account.Name"], where=where, order_by="Id DESC", limit=3)
    )
    assert parsed.sobject == "Contact"
    assert (parsed.limit, len(parsed.order_by), parsed.order_by[0].descending) == (3, 1, True)
    in_list, negated_like, _ = parsed.where.items  # type: ignore[union-attr]
    assert [v.value for v in in_list.values] == emails
    assert negated_like.item.op == "LIKE"


def test_a_scope_goes_right_after_from_and_is_an_identifier() -> None:
    """``USING SCOPE`` (a list view's ``mine``) is a clause of its own, placed by the builder
    (before, the trigger engine spliced it into the text with a string split)."""
    assert select("Lead", ["Id"], where=Eq("Status", "Open"), order_by=["Id"], limit=5, scope="mine") == (
        "SELECT Id FROM Lead USING SCOPE mine WHERE Status = 'Open' ORDER BY Id ASC LIMIT 5"
    )
    assert select("Lead", ["Id"], scope=None) == "SELECT Id FROM Lead"
    with pytest.raises(InvalidIdentifierError):
        select("Lead", ["Id"], scope="mine WHERE Id != null")
