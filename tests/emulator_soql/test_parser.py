"""The SOQL parser: the grammar it accepts and Salesforce's exact MALFORMED_QUERY errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sfemulator.soql import SelectQuery, SoqlError, parse
from sfemulator.soql.nodes import (
    And,
    ChildQuery,
    Comparison,
    CountAll,
    CountField,
    DateLiteral,
    FieldPath,
    Includes,
    InList,
    Not,
    Or,
    SemiJoin,
)


def malformed(text: str) -> str:
    with pytest.raises(SoqlError) as caught:
        parse(text)
    assert caught.value.error_code == "MALFORMED_QUERY", caught.value.message
    return caught.value.message


def where(text: str) -> Comparison:
    query = parse(f"SELECT Id FROM Account WHERE {text}")  # noqa: S608 - SOQL under test, not SQL
    assert isinstance(query.where, Comparison)
    return query.where


# ------------------------------------------------------------------------------------------ structure


def test_a_full_query_parses_into_its_clauses() -> None:
    query = parse(
        "SELECT Id, Name, Account.Owner.Name FROM Contact WHERE Name LIKE 'J%' "
        "ORDER BY Name DESC NULLS FIRST, CreatedDate LIMIT 10 OFFSET 5 FOR VIEW"
    )
    assert query.sobject == "Contact"
    assert query.items == (
        FieldPath(("Id",), 7),
        FieldPath(("Name",), 11),
        FieldPath(("Account", "Owner", "Name"), 17),
    )
    assert isinstance(query.where, Comparison)
    assert query.where.op == "LIKE"
    assert [(o.field.text, o.descending, o.nulls_last) for o in query.order_by] == [
        ("Name", True, False),
        ("CreatedDate", False, False),
    ]
    assert (query.limit, query.offset) == (10, 5)


def test_keywords_are_case_insensitive_and_whitespace_is_free() -> None:
    query = parse("select\n\tId ,name\nfrom   account\nwhere NAME != null order by name desc limit 3")
    assert query.sobject == "account"
    assert query.limit == 3
    assert query.order_by[0].descending is True
    assert query.order_by[0].nulls_last is True  # DESC defaults to NULLS LAST


def test_count_forms() -> None:
    assert parse("SELECT COUNT() FROM Account").items == (CountAll(7),)
    assert parse("SELECT COUNT() FROM Account").is_count
    count = parse("SELECT count(Id) total FROM Account").items[0]
    assert isinstance(count, CountField)
    assert (count.field.text, count.alias) == ("Id", "total")


def test_and_or_not_and_parentheses_build_a_tree() -> None:
    query = parse(
        "SELECT Id FROM Account WHERE (Name = 'a' OR Name = 'b') AND NOT Type = 'c' AND (NOT (Rating = 'd'))"
    )
    assert isinstance(query.where, And)
    first, second, third = query.where.items
    assert isinstance(first, Or)
    assert len(first.items) == 2
    assert isinstance(second, Not)
    assert isinstance(second.item, Comparison)
    assert isinstance(third, Not)


def test_in_not_in_semi_join_and_includes() -> None:
    query = parse(
        "SELECT Id FROM Account WHERE Id IN ('001000000000001') AND Type NOT IN ('a', 'b') "
        "AND Id IN (SELECT AccountId FROM Contact WHERE Email != null) "
        "AND Regions__c INCLUDES ('a;b', 'c') AND Regions__c EXCLUDES ('d')"
    )
    assert isinstance(query.where, And)
    in_list, not_in, semi, includes, excludes = query.where.items
    assert isinstance(in_list, InList)
    assert not in_list.negated
    assert isinstance(not_in, InList)
    assert not_in.negated
    assert len(not_in.values) == 2
    assert isinstance(semi, SemiJoin)
    assert semi.query.sobject == "Contact"
    assert isinstance(includes, Includes)
    assert not includes.excludes
    assert isinstance(excludes, Includes)
    assert excludes.excludes


def test_not_equal_spellings() -> None:
    assert where("Name <> 'x'").op == "!="
    assert where("Name != 'x'").op == "!="


def test_alias_is_recorded() -> None:
    assert parse("SELECT a.Name FROM Account a WHERE a.Name != null").alias == "a"


def test_parsed_queries_are_cached_and_immutable() -> None:
    text = "SELECT Id FROM Account WHERE Name = 'cache me'"
    first = parse(text)
    assert parse(text) is first
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.limit = 5  # type: ignore[misc]
    assert isinstance(first, SelectQuery)


# ------------------------------------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("literal", "kind", "value"),
    [
        ("'text'", "string", "text"),
        ("42", "integer", Decimal(42)),
        ("-42", "integer", Decimal(-42)),
        ("+7", "integer", Decimal(7)),
        ("3.25", "decimal", Decimal("3.25")),
        ("-0.5", "decimal", Decimal("-0.5")),
        (".5", "decimal", Decimal("0.5")),
        ("true", "boolean", True),
        ("FALSE", "boolean", False),
        ("null", "null", None),
        ("NULL", "null", None),
        ("2024-01-31", "date", dt.date(2024, 1, 31)),
        ("2024-01-31T10:20:30Z", "datetime", dt.datetime(2024, 1, 31, 10, 20, 30, tzinfo=dt.UTC)),
        ("2024-01-31t10:20:30z", "datetime", dt.datetime(2024, 1, 31, 10, 20, 30, tzinfo=dt.UTC)),
        (
            "2024-01-31T10:20:30.123Z",
            "datetime",
            dt.datetime(2024, 1, 31, 10, 20, 30, 123000, tzinfo=dt.UTC),
        ),
        ("2024-01-31T10:20:30+02:00", "datetime", dt.datetime(2024, 1, 31, 8, 20, 30, tzinfo=dt.UTC)),
        ("2024-01-31T22:20:30-05:30", "datetime", dt.datetime(2024, 2, 1, 3, 50, 30, tzinfo=dt.UTC)),
        ("TODAY", "date_literal", DateLiteral("TODAY")),
        ("last_n_days:30", "date_literal", DateLiteral("LAST_N_DAYS", 30)),
        ("N_DAYS_AGO:3", "date_literal", DateLiteral("N_DAYS_AGO", 3)),
        ("THIS_FISCAL_QUARTER", "date_literal", DateLiteral("THIS_FISCAL_QUARTER")),
    ],
)
def test_literals(literal: str, kind: str, value: object) -> None:
    comparison = where(f"Name = {literal}")
    assert comparison.value.kind == kind
    assert comparison.value.value == value


@pytest.mark.parametrize(
    ("body", "decoded"),
    [
        (r"O\'Hara", "O'Hara"),
        (r"say \"hi\"", 'say "hi"'),
        (r"back\\slash", "back\\slash"),
        (r"a\nb\rc\td\be\ff", "a\nb\rc\td\be\ff"),
        (r"A\NB\RC\TD", "A\nB\rC\tD"),
        (r"\u00e9t\u00C9", "\u00e9t\u00c9"),
        ("raw\nnewline", "raw\nnewline"),
        ("", ""),
    ],
)
def test_string_escapes(body: str, decoded: str) -> None:
    assert where(f"Name = '{body}'").value.value == decoded


def test_like_keeps_escaped_wildcards_distinct() -> None:
    assert where(r"Name LIKE '100\%\_x%'").value.value == r"100\%\_x%"


@pytest.mark.parametrize("body", [r"a\q", r"bad\%", r"under\_", r"\u12", r"\x41"])
def test_an_invalid_escape_is_malformed(body: str) -> None:
    message = malformed(f"SELECT Id FROM Account WHERE Name = '{body}'")  # noqa: S608 - SOQL under test
    sequence = body[body.index("\\") : body.index("\\") + 2]
    assert message == (
        f"\nSELECT Id FROM Account WHERE Name = '{body}'\n{' ' * 36}^\nERROR at Row:1:Column:37\n"
        f"Invalid string literal '{body}'. Illegal character sequence '{sequence}' in string literal."
    )


def soql_escape(value: str) -> str:
    """Salesforce's escaping rules for a string literal body."""
    table = {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\b": "\\b",
        "\f": "\\f",
    }
    return "".join(table.get(char, char) for char in value)


@given(st.text())
def test_any_escaped_string_parses_back_to_itself(value: str) -> None:
    assert where(f"Name = '{soql_escape(value)}'").value.value == value


@given(st.text(alphabet=st.characters(codec="utf-16", exclude_categories=["Cs"]), max_size=30))
def test_unicode_escapes_parse_back(value: str) -> None:
    body = "".join(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else char for char in value)
    assert where(f"Name = '{body}'").value.value == value


# --------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "column", "detail"),
    [
        ("SELECT Id FRM Account", 11, "unexpected token: 'FRM'"),
        ("SELECT Id FROM", 15, "unexpected token: '<EOF>'"),
        ("SELECT FROM Account", 8, "unexpected token: 'SELECT FROM'"),
        ("SELECT Id, FROM Account", 12, "unexpected token: 'FROM'"),
        ("SELECT Id FROM Account WHERE", 29, "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Account WHERE Name", 34, "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Account WHERE Name = ", 37, "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Account WHERE Name = foo", 37, "unexpected token: 'foo'"),
        ("SELECT Id FROM Account WHERE Name NOT LIKE 'a'", 39, "unexpected token: 'LIKE'"),
        (
            "SELECT Id FROM Account WHERE Name = 'a' AND Type = 'b' OR Rating = 'c'",
            56,
            "unexpected token: 'OR'",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'a' OR Type = 'b' AND Rating = 'c'",
            55,
            "unexpected token: 'AND'",
        ),
        ("SELECT Id FROM Account WHERE (Name = 'a'", 41, "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Account WHERE Id IN ()", 36, "unexpected token: 'Id IN ()'"),
        ("SELECT Id FROM Account WHERE Id NOT IN ()", 40, "unexpected token: 'Id NOT IN ()'"),
        ("SELECT Id FROM Account WHERE Id IN :ids", 36, "Bind variables only allowed in Apex code"),
        ("SELECT Id FROM Account WHERE Name = :name", 37, "Bind variables only allowed in Apex code"),
        ("SELECT Id FROM Account LIMIT 'x'", 30, "unexpected token: ''x''"),
        ("SELECT Id FROM Account LIMIT 1.5", 30, "unexpected token: '1.5'"),
        ("SELECT Id FROM Account LIMIT -1", 30, "unexpected token: '-1'"),
        ("SELECT Id FROM Account LIMIT 2147483648", 30, "numeric value out of range: 2147483648"),
        ("SELECT Id FROM Account OFFSET 5 LIMIT 1", 33, "unexpected token: 'LIMIT'"),
        ("SELECT Id FROM Account ORDER Name", 30, "unexpected token: 'Name'"),
        ("SELECT Id FROM Account ORDER BY Name NULLS", 43, "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Account FOR SOMETHING", 28, "unexpected token: 'SOMETHING'"),
        ("SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS", 55, "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:x", 56, "unexpected token: 'x'"),
        ("SELECT Id FROM Account WHERE Name = 'open", 37, "unexpected token: '''"),
        ("SELECT COUNT(), Name FROM Account", 15, "unexpected token: ','"),
        ("SELECT Name, COUNT() FROM Account", 14, "unexpected token: 'COUNT'"),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2020-12-12T12:12:00-25:00",
            44,
            "Invalid datetime: 2020-12-12T12:12:00-25:00",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2020-52-12T12:12:00Z",
            44,
            "Invalid datetime: 2020-52-12T12:12:00Z",
        ),
        ("SELECT Id FROM Account WHERE CloseDate = 2024-02-30", 42, "Invalid date: 2024-02-30"),
        ("SELECT Id FROM Account GROUP BY Name", 24, "GROUP BY is not supported by the Salesforce emulator"),
        (
            "SELECT Id, (SELECT COUNT() FROM Contacts) FROM Account",
            12,
            "Aggregate functions are not supported in a subquery",
        ),
        (
            "SELECT Id, (SELECT Id FROM Contacts OFFSET 2) FROM Account",
            44,
            "OFFSET is not allowed in a subquery",
        ),
        ("SELECT Id, (Name) FROM Account", 13, "unexpected token: 'Name'"),
        (
            "SELECT Id, (SELECT Id, (SELECT Id, (SELECT Id, (SELECT Id, (SELECT Id, (SELECT Id FROM G) "
            "FROM F) FROM E) FROM D) FROM C) FROM B) FROM A",
            72,
            "SOQL statements cannot query more than 5 levels of child relationships",
        ),
        ("SELECT SUM(Amount) FROM Opportunity", 8, "SUM() is not supported by the Salesforce emulator"),
        ("SELECT FIELDS(SOME) FROM Account", 15, "unexpected token: 'SOME'"),
        (
            "SELECT Id FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2024",
            30,
            "CALENDAR_YEAR() in WHERE is not supported by the Salesforce emulator",
        ),
        ("SELECT Id FROM Account FOR UPDATE", 28, "FOR UPDATE is not supported by the Salesforce emulator"),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT Id, Name FROM Contact)",
            33,
            "Semi join sub-selects can only select a single field",
        ),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact OFFSET 1)",
            74,
            "OFFSET is not allowed in a subquery",
        ),
        (
            "SELECT A.B.C.D.E.F.G FROM Account",
            8,
            "SOQL statements cannot query more than 5 levels of relationships",
        ),
    ],
)
def test_syntax_errors_are_malformed_query_with_the_location_header(
    text: str, column: int, detail: str
) -> None:
    caret = " " * (column - 1) + "^"
    assert malformed(text) == f"\n{text}\n{caret}\nERROR at Row:1:Column:{column}\n{detail}"


def test_a_stray_character_is_reported_like_salesforce_lexer() -> None:
    assert malformed("SELECT Id from $casecomment") == (
        "\nSELECT Id from $casecomment\n               ^\nERROR at Row:1:Column:16\n"
        "line 1:15 unexpected token: '$'"
    )


def test_errors_on_later_lines_show_that_line_and_its_row() -> None:
    text = "SELECT Id\nFROM Account\nWHERE Name = 'a'\n  AND Type = 'b' OR Rating = 'c'"
    assert (
        malformed(text)
        == "\n  AND Type = 'b' OR Rating = 'c'\n                 ^\nERROR at Row:4:Column:18\n"
        "unexpected token: 'OR'"
    )


def test_offset_above_2000_is_number_outside_valid_range() -> None:
    assert parse("SELECT Id FROM Account LIMIT 10 OFFSET 2000").offset == 2000
    with pytest.raises(SoqlError) as caught:
        parse("SELECT Id FROM Account OFFSET 2001")
    assert (caught.value.error_code, caught.value.message) == (
        "NUMBER_OUTSIDE_VALID_RANGE",
        "Maximum SOQL offset allowed is 2000",
    )


def test_a_statement_over_100000_characters_is_rejected() -> None:
    text = "SELECT Id FROM Account WHERE Name = '" + "x" * 100_000 + "'"
    assert malformed(text) == "SOQL statements cannot be longer than 100000 characters."


def test_error_body_is_salesforce_shape() -> None:
    with pytest.raises(SoqlError) as caught:
        parse("SELECT Id FRM Account")
    assert caught.value.to_body() == [{"message": caught.value.message, "errorCode": "MALFORMED_QUERY"}]
    assert "MALFORMED_QUERY" in repr(caught.value)


def test_a_parent_child_subquery_is_a_select_item_with_its_own_clauses() -> None:
    query = parse(
        "SELECT Id, (SELECT Field, NewValue FROM Histories WHERE CreatedDate >= 2024-05-01T00:00:00Z "
        "ORDER BY CreatedDate DESC LIMIT 3), Name FROM Account"
    )
    assert [type(item).__name__ for item in query.items] == ["FieldPath", "ChildQuery", "FieldPath"]
    child = query.items[1]
    assert isinstance(child, ChildQuery)
    assert child.query.sobject == "Histories"
    assert [p.text for p in child.query.items if isinstance(p, FieldPath)] == ["Field", "NewValue"]
    assert child.query.limit == 3
    assert child.query.order_by[0].descending is True
    assert child.query.where is not None
