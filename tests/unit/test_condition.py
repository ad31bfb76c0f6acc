"""The guarded SOQL condition of "find all Opportunity Contact Roles".

The property that matters: whatever the user types, the query sent to Salesforce reads
OpportunityContactRole and nothing else (one SELECT, one FROM, no subquery, no second statement).
Two independent oracles check it: a structural check over the statement with its string literals
blanked out, and the emulator's own SOQL parser. ``build_guarded_query`` is the function the
find-all service builds its statement with; the last properties drive the service itself.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sfconnector.actions.records import RecordService
from sfconnector.salesforce import ids
from sfconnector.salesforce.client import QueryPage
from sfconnector.salesforce.condition import (
    OPPORTUNITY_CONTACT_ROLE_POLICY,
    ConditionError,
    FieldInfo,
    FieldPolicy,
    build_guarded_query,
    parse_condition,
    render_condition,
)
from sfemulator.soql import SelectQuery
from sfemulator.soql import parse as emulator_parse

POLICY = OPPORTUNITY_CONTACT_ROLE_POLICY
OPP_ID = "006000000000001AAA"
CONTACT_ID = "003000000000001AAA"

_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'")


def assert_only_contact_roles(statement: str) -> None:
    """Both oracles: the statement reads OpportunityContactRole only."""
    blanked = _STRING_LITERAL.sub("''", statement)
    assert "'" not in blanked.replace("''", ""), statement
    assert ";" not in blanked
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", blanked)
    upper = [w.upper() for w in words]
    assert upper.count("SELECT") == 1, statement
    assert upper.count("FROM") == 1, statement
    assert re.search(r"\bFROM OpportunityContactRole WHERE ", blanked), statement
    for clause in ("LIMIT", "ORDER", "OFFSET", "GROUP", "HAVING", "WITH", "FOR", "USING"):
        assert upper.count(clause) <= (1 if clause in ("LIMIT", "ORDER") else 0), statement
    assert blanked.count("(") == blanked.count(")")

    parsed = emulator_parse(statement)
    assert parsed.sobject == "OpportunityContactRole"
    assert not _contains_subquery(parsed.where), statement


def _contains_subquery(node: Any) -> bool:
    if isinstance(node, SelectQuery):
        return True
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return any(_contains_subquery(getattr(node, f.name)) for f in dataclasses.fields(node))
    if isinstance(node, tuple | list):
        return any(_contains_subquery(item) for item in node)
    return False


# ------------------------------------------------------------------------------------ accepted


@pytest.mark.parametrize(
    ("condition", "expected_where"),
    [
        ("IsPrimary = true", "IsPrimary = true"),
        ("isprimary = TRUE", "IsPrimary = true"),
        (f"OpportunityId = '{OPP_ID}'", f"OpportunityId = '{OPP_ID}'"),
        (
            f"OpportunityId = '{OPP_ID}' AND IsPrimary = false",
            f"(OpportunityId = '{OPP_ID}' AND IsPrimary = false)",
        ),
        (
            "Role = 'Decision Maker' OR Role = 'Evaluator' OR Role = null",
            "(Role = 'Decision Maker' OR Role = 'Evaluator' OR Role = null)",
        ),
        ("Role <> null", "Role != null"),
        ("Role LIKE 'Dec%'", "Role LIKE 'Dec%'"),
        ("Role NOT LIKE '%\\_x'", "(NOT Role LIKE '%\\_x')"),
        ("Contact.Email LIKE '%@example.com'", "Contact.Email LIKE '%@example.com'"),
        ("contact.email = 'o\\'hara@example.com'", "Contact.email = 'o\\'hara@example.com'"),
        ("Opportunity.Account.Name = 'Acme'", "Opportunity.Account.Name = 'Acme'"),
        (
            f"ContactId IN ('{CONTACT_ID}', '003000000000002AAA')",
            f"ContactId IN ('{CONTACT_ID}', '003000000000002AAA')",
        ),
        ("Role NOT IN ('A', 'B')", "Role NOT IN ('A', 'B')"),
        ("NOT IsPrimary = true", "(NOT IsPrimary = true)"),
        (
            "(IsPrimary = true AND Role = 'A') OR (NOT (Role LIKE 'B%'))",
            "((IsPrimary = true AND Role = 'A') OR (NOT Role LIKE 'B%'))",
        ),
        ("CreatedDate > 2024-01-01T00:00:00Z", "CreatedDate > 2024-01-01T00:00:00Z"),
        ("CreatedDate >= 2024-01-01T10:00:00.250+02:00", "CreatedDate >= 2024-01-01T08:00:00.250Z"),
        ("CreatedDate > 2024-06-30", "CreatedDate > 2024-06-30"),
        ("CreatedDate = LAST_N_DAYS:30", "CreatedDate = LAST_N_DAYS:30"),
        ("CreatedDate = this_fiscal_quarter", "CreatedDate = THIS_FISCAL_QUARTER"),
        ("LastModifiedDate < TODAY", "LastModifiedDate < TODAY"),
        ("Opportunity.Amount > -1500.50", "Opportunity.Amount > -1500.50"),
        ("Opportunity.Amount >= 0", "Opportunity.Amount >= 0"),
        ("Contact.Name = 'tab\\there\\nnewline \\u00e9'", "Contact.Name = 'tab\\there\\nnewline é'"),
        ("Custom_Flag__c = true", "Custom_Flag__c = true"),
        ("Partner__r.Name = 'x'", "Partner__r.Name = 'x'"),
        ("  IsPrimary\n=\ttrue  ", "IsPrimary = true"),
    ],
)
def test_accepted_conditions_are_re_emitted(condition: str, expected_where: str) -> None:
    statement = build_guarded_query(condition, POLICY, limit=50)

    assert f" WHERE {expected_where} ORDER BY " in statement
    assert statement.startswith("SELECT Id, OpportunityId, ContactId, Role, IsPrimary, ")
    assert statement.endswith(" ORDER BY CreatedDate ASC, Id ASC LIMIT 50")
    assert_only_contact_roles(statement)


def test_re_emission_is_a_fixed_point() -> None:
    text = "(Role LIKE 'a\\%b%' AND Contact.Email IN ('x@y.z')) OR NOT CreatedDate = LAST_N_WEEKS:2"
    once = render_condition(parse_condition(text, POLICY))
    assert render_condition(parse_condition(once, POLICY)) == once


def test_fields_and_limit_of_the_select_are_checked_too() -> None:
    statement = build_guarded_query(
        "IsPrimary = true", POLICY, fields=["id", "Contact.Email", "Role"], limit=3
    )
    assert statement.startswith("SELECT Id, Contact.Email, Role FROM OpportunityContactRole WHERE ")
    with pytest.raises(ConditionError) as err:
        build_guarded_query("IsPrimary = true", POLICY, fields=["Id FROM Contact"])
    assert err.value.field == "fields"
    with pytest.raises(ConditionError) as err:
        build_guarded_query("IsPrimary = true", POLICY, fields=["Account.Name"])
    assert err.value.field == "fields"
    with pytest.raises(ConditionError) as err:
        build_guarded_query("IsPrimary = true", POLICY, limit=0)
    assert err.value.field == "limit"


# ------------------------------------------------------------------------------------ refused


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("IsPrimary = true; DELETE FROM Contact", "';' is not allowed"),
        ("IsPrimary = true;", "';' is not allowed"),
        ("ContactId IN (SELECT Id FROM Contact)", "subqueries"),
        ("(SELECT Id FROM Contact)", "subqueries"),
        ("SELECT Id FROM Contact", "subqueries"),
        ("IsPrimary = true) OR Id IN (SELECT Id FROM Account", "')' without '('"),
        ("IsPrimary = true FROM Contact", "FROM is not allowed"),
        ("IsPrimary = true LIMIT 1", "LIMIT is not allowed"),
        ("IsPrimary = true ORDER BY Id", "ORDER BY is not allowed"),
        ("IsPrimary = true OFFSET 5", "OFFSET is not allowed"),
        ("IsPrimary = true GROUP BY Role", "GROUP BY is not allowed"),
        ("IsPrimary = true FOR UPDATE", "FOR VIEW/REFERENCE/UPDATE"),
        ("IsPrimary = true WITH SECURITY_ENFORCED", "WITH is not allowed"),
        ("IsPrimary = true ALL ROWS", "ALL ROWS"),
        ("WHERE IsPrimary = true", "without WHERE"),
        ("IsPrimary = true -- comment", "comments"),
        ("IsPrimary = true /* x */", "comments"),
        ("IsPrimary = true // x", "comments"),
        ("Role = 'unterminated", "unbalanced quote"),
        ("Role = 'it''s'", "expected AND, OR"),
        ('Role = "x"', "single quotes"),
        ("(IsPrimary = true", "'(' is not closed"),
        ("Role IN ('a', 'b'", "'(' is not closed"),
        ("IsPrimary = true AND Role = 'a' OR Role = 'b'", "cannot be mixed"),
        ("Role = :name", "bind variables"),
        ("Role = 'a\\qb'", "invalid escape"),
        ("Role = 'a\\%'", "invalid escape"),
        ("Name = 'x'", "has no field 'Name'"),
        ("Account.Name = 'x'", "not a relationship"),
        ("IsPrimary = 'yes'", "boolean field"),
        ("IsPrimary LIKE 'y%'", "LIKE needs a text field"),
        ("CreatedDate > 5", "datetime field"),
        ("CreatedDate > 2024-13-01", "not a valid date"),
        ("CreatedDate > LAST_N_DAYS", "needs a number"),
        ("CreatedDate > TODAY:3", "takes no ':'"),
        ("OpportunityId = 'not-an-id'", "record id"),
        ("Role = Role", "fields cannot be compared with fields"),
        ("Role > null", "null can only be compared"),
        ("Role", "expected an operator"),
        ("Role =", "ends too early"),
        ("AND Role = 'a'", "expected a field name"),
        ("Role = 'a' AND", "ends too early"),
        ("Role INCLUDES ('a')", "multi-select picklist"),
        ("Role == 'a'", "expected a value"),
        ("Role = 'a' Role = 'b'", "expected AND, OR"),
        ("Role = 'x' UNION SELECT Id FROM User", "expected AND, OR"),
        ("Role = 'a' \x00", "unexpected character"),
        ("Role = 1e5", "unexpected character"),
    ],
)
def test_refused_conditions_name_the_problem(condition: str, problem: str) -> None:
    with pytest.raises(ConditionError) as err:
        build_guarded_query(condition, POLICY)
    assert problem in str(err.value)
    assert err.value.status == 422
    assert err.value.code == "invalid_condition"
    assert err.value.field == "condition"


def test_error_names_the_position() -> None:
    with pytest.raises(ConditionError) as err:
        parse_condition("IsPrimary = true; DROP", POLICY)
    assert err.value.position == 16
    assert "character 17" in str(err.value)


def test_nesting_and_size_limits() -> None:
    with pytest.raises(ConditionError, match="nests deeper"):
        parse_condition("(" * 200 + "IsPrimary = true" + ")" * 200, POLICY)
    with pytest.raises(ConditionError, match="more than 200 comparisons"):
        parse_condition(" OR ".join(["IsPrimary = true"] * 201), POLICY)
    with pytest.raises(ConditionError, match="longer than"):
        parse_condition("Role = '" + "x" * 30_000 + "'", POLICY)


# --------------------------------------------------------------------------- policy from describe

# The emulator's metadata is built from a describe recorded from a real org.
DESCRIBE = (
    Path(__file__).resolve().parents[2]
    / "emulator"
    / "sfemulator"
    / "metadata"
    / "sobjects"
    / "OpportunityContactRole.json"
)


def test_policy_from_a_real_describe_matches_the_built_in_one() -> None:
    describe = json.loads(DESCRIBE.read_text()) if DESCRIBE.exists() else None
    if describe is None:
        describe = {
            "name": "OpportunityContactRole",
            "fields": [
                {"name": f.name, "type": f.type, "filterable": True, "relationshipName": None}
                for f in POLICY.fields.values()
            ],
        }
    policy = FieldPolicy.from_describe(describe)
    assert policy.sobject == "OpportunityContactRole"
    assert {n.lower() for n in policy.field_names} >= {
        "id",
        "opportunityid",
        "contactid",
        "role",
        "isprimary",
    }
    # A describe knows every field exactly: custom names that are not there are refused.
    with pytest.raises(ConditionError, match="has no field"):
        parse_condition("Unknown__c = 1", policy)


def test_non_filterable_fields_are_refused() -> None:
    policy = FieldPolicy.from_fields(
        "OpportunityContactRole", [FieldInfo("Id", "id"), FieldInfo("Notes__c", "textarea", filterable=False)]
    )
    with pytest.raises(ConditionError, match="not filterable"):
        parse_condition("Notes__c = 'x'", policy)


# ---------------------------------------------------------------------------------- properties

# Fragments an attacker would combine: near-valid text explores the parser far better than noise.
_FRAGMENTS = [
    "IsPrimary",
    "Role",
    "Contact.Email",
    "Opportunity.Account.Name",
    "ContactId",
    "CreatedDate",
    "=",
    "!=",
    "<",
    ">=",
    "LIKE",
    "NOT",
    "IN",
    "AND",
    "OR",
    "(",
    ")",
    ",",
    "'",
    "\\'",
    "\\",
    "'x'",
    "'%'",
    "'a\\'b'",
    "true",
    "null",
    "1",
    "-2.5",
    "2024-01-01",
    "2024-01-01T00:00:00Z",
    "TODAY",
    "LAST_N_DAYS:7",
    ";",
    "SELECT",
    "Id",
    "FROM",
    "Contact",
    "User",
    "WHERE",
    "LIMIT",
    "5",
    "--",
    "/*",
    "*/",
    ":",
    '"',
    "UNION",
    "ALL ROWS",
    "FOR UPDATE",
    "\n",
    f"'{OPP_ID}'",
    "') OR (Id != null",
    "' OR Id IN (SELECT Id FROM Account) OR Role = '",
]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=14).map(" ".join))
@example("Role = '' OR Id IN (SELECT Id FROM Account) OR Role = ''")
@example("Role = '\\' OR Id IN (SELECT Id FROM Account) OR Role = \\''")
@example("Role = 'x' ) FROM Contact WHERE ( Role = 'x'")
def test_no_combination_of_fragments_reaches_another_object(condition: str) -> None:
    try:
        statement = build_guarded_query(condition, POLICY, limit=10)
    except ConditionError:
        return
    assert_only_contact_roles(statement)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=200))
def test_no_arbitrary_text_reaches_another_object(condition: str) -> None:
    try:
        statement = build_guarded_query(condition, POLICY, limit=10)
    except ConditionError:
        return
    assert_only_contact_roles(statement)


# Arbitrary string values (quotes, backslashes, controls, wildcards) survive as data, never as syntax.
_SQL_TEXT = st.lists(
    st.sampled_from([*"abc' \\%_();\n\t\"-/*", "FROM", "SELECT", "é", "\u2028", "\x00"]), max_size=20
).map("".join)


def _soql_string(value: str) -> str:
    out = []
    for ch in value:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ch == "\u2028":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


@settings(max_examples=500, deadline=None)
@given(st.lists(_SQL_TEXT, min_size=1, max_size=4), st.sampled_from(["=", "!=", "IN", "LIKE"]))
def test_string_values_stay_data(values: list[str], op: str) -> None:
    if op == "IN":
        condition = f"Contact.Email IN ({', '.join(_soql_string(v) for v in values)})"
    else:
        condition = " OR ".join(f"Contact.Email {op} {_soql_string(v)}" for v in values)
    statement = build_guarded_query(condition, POLICY)
    assert_only_contact_roles(statement)
    parsed = emulator_parse(statement)
    seen = [lit.value for lit in _literals(parsed.where)]
    if op != "LIKE":
        assert seen == values
    assert render_condition(
        parse_condition(statement.split(" WHERE ", 1)[1].rsplit(" ORDER BY ", 1)[0], POLICY)
    )


def _literals(node: Any) -> list[Any]:
    out: list[Any] = []
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        if type(node).__name__ == "Literal":
            return [node]
        for f in dataclasses.fields(node):
            out += _literals(getattr(node, f.name))
    elif isinstance(node, tuple | list):
        for item in node:
            out += _literals(item)
    return out


# Grammar-built conditions: every one must be accepted; with a fragment spliced in anywhere, the
# result is either refused or still reads OpportunityContactRole only.
_STRING_VALUE = _SQL_TEXT.map(_soql_string)
_TYPED_COMPARISON = st.one_of(
    st.tuples(
        st.sampled_from(["Role", "Contact.Email", "Opportunity.Account.Name"]),
        st.sampled_from(["=", "!=", "<>", "<", ">=", "LIKE", "NOT LIKE"]),
        _STRING_VALUE,
    ).map(" ".join),
    st.tuples(
        st.sampled_from(["Contact.Email", "Role"]),
        st.sampled_from(["IN", "NOT IN"]),
        st.lists(_STRING_VALUE, min_size=1, max_size=3).map(lambda vs: "(" + ", ".join(vs) + ")"),
    ).map(" ".join),
    st.tuples(
        st.just("IsPrimary"), st.sampled_from(["=", "!="]), st.sampled_from(["true", "FALSE", "null"])
    ).map(" ".join),
    st.tuples(
        st.sampled_from(["CreatedDate", "LastModifiedDate"]),
        st.sampled_from(["=", "<", ">="]),
        st.sampled_from(["TODAY", "LAST_N_DAYS:3", "2024-01-01", "2024-02-29T23:59:59Z", "N_DAYS_AGO:0"]),
    ).map(" ".join),
    st.tuples(
        st.just("Opportunity.Amount"),
        st.sampled_from(["=", "<", ">"]),
        st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9).map(
            str
        ),
    ).map(" ".join),
)
_CONDITION = st.recursive(
    _TYPED_COMPARISON,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + " AND ".join(xs) + ")"),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + " OR ".join(xs) + ")"),
        inner.map(lambda x: f"NOT ({x})"),
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_CONDITION)
def test_grammar_built_conditions_are_accepted_and_stable(condition: str) -> None:
    statement = build_guarded_query(condition, POLICY, limit=5)
    assert_only_contact_roles(statement)
    once = render_condition(parse_condition(condition, POLICY))
    assert render_condition(parse_condition(once, POLICY)) == once


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_CONDITION, st.sampled_from(_FRAGMENTS), st.floats(min_value=0, max_value=1))
def test_a_fragment_spliced_into_a_valid_condition_never_reaches_another_object(
    condition: str, fragment: str, where: float
) -> None:
    at = int(where * len(condition))
    mutated = condition[:at] + " " + fragment + " " + condition[at:]
    try:
        statement = build_guarded_query(mutated, POLICY, limit=10)
    except ConditionError:
        return
    assert_only_contact_roles(statement)


# ------------------------------------------------------------------ the find-all service itself


class _RecordingClient:
    """Answers the describe with the real one and records each query (an empty page)."""

    def __init__(self, describe: dict[str, Any]) -> None:
        self._describe = describe
        self.statements: list[str] = []

    def describe(self, sobject: str) -> dict[str, Any]:
        assert sobject == "OpportunityContactRole"
        return self._describe

    def query_page(self, statement: str) -> QueryPage:
        self.statements.append(statement)
        return QueryPage(total_size=0, done=True, records=[])


_SERVICE_DESCRIBE: dict[str, Any] = json.loads(DESCRIBE.read_text())
_PAGE_TOKENS = st.one_of(
    st.none(),
    st.builds(
        lambda n, seconds: f"{ids.to_18(f'00K{n:012d}')}-{seconds}",
        st.integers(min_value=1, max_value=10**9),
        st.integers(min_value=0, max_value=4_000_000_000),
    ),
)


def _find_all(condition: str, next_page: str | None) -> str | None:
    client = _RecordingClient(_SERVICE_DESCRIBE)
    service = RecordService(client, "OpportunityContactRole")  # type: ignore[arg-type]
    try:
        service.find_all(condition, None, 10, next_page)
    except ConditionError:
        return None
    (statement,) = client.statements
    return statement


def test_the_service_sends_the_guarded_query() -> None:
    statement = _find_all("IsPrimary = true AND Role LIKE 'Dec%'", None)
    assert statement is not None
    assert statement.endswith(
        " WHERE (IsPrimary = true AND Role LIKE 'Dec%') ORDER BY CreatedDate ASC, Id ASC LIMIT 11"
    )
    token = f"{ids.to_18('00K000000000001')}-1704067200"
    paged = _find_all("IsPrimary = true", token)
    assert paged is not None
    assert " WHERE (IsPrimary = true AND (CreatedDate > 2024-01-01T00:00:00Z OR (CreatedDate = " in paged
    assert_only_contact_roles(paged)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_CONDITION, st.sampled_from(["", *_FRAGMENTS]), st.floats(min_value=0, max_value=1), _PAGE_TOKENS)
def test_whatever_the_service_sends_reads_contact_roles_only(
    condition: str, fragment: str, where: float, next_page: str | None
) -> None:
    at = int(where * len(condition))
    mutated = condition[:at] + " " + fragment + " " + condition[at:] if fragment else condition
    statement = _find_all(mutated, next_page)
    if statement is not None:
        assert_only_contact_roles(statement)
    if not fragment:
        assert statement is not None  # a condition the grammar builds is always accepted
