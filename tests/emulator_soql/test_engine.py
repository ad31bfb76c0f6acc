"""The SOQL evaluator: results shaped like Salesforce's, its comparison semantics, and its errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sfemulator.soql import QueryResult, SoqlError, execute, parse
from sfemulator.versions import DEFAULT_API_VERSION as API_VERSION

from tests.emulator_soql.conftest import A1, A2, A3, A4, C1, CASE1, CASE2, G1, NOW, U1, U2, FakeSource
from tests.emulator_soql.test_parser import soql_escape


def run(source: FakeSource, text: str, **kwargs: Any) -> QueryResult:
    return execute(parse(text), source, now=kwargs.pop("now", NOW), **kwargs)


def names(source: FakeSource, where: str = "", order: str = "", **kwargs: Any) -> list[str]:
    text = "SELECT Name FROM Account"
    if where:
        text += f" WHERE {where}"
    if order:
        text += f" ORDER BY {order}"
    return [record["Name"] for record in run(source, text, **kwargs).records]


def failure(source: FakeSource, text: str) -> tuple[str, str]:
    with pytest.raises(SoqlError) as caught:
        run(source, text)
    return caught.value.error_code, caught.value.message


def url(kind: str, record_id: str) -> str:
    return f"/services/data/{API_VERSION}/sobjects/{kind}/{record_id}"


ACME, GLOBEX, INITECH, OHARA = "Acme", "globex 100%_off", "Initech", "O'Hara \\ Sons"


# -------------------------------------------------------------------------------------------- shape


def test_records_are_shaped_like_salesforce_with_nested_parents(source: FakeSource) -> None:
    result = run(
        source, "SELECT Id, Name, Owner.Name, Owner.Email, Parent.Name FROM Account WHERE Name = 'Acme'"
    )
    assert result.total_size == 1
    assert result.records == [
        {
            "attributes": {"type": "Account", "url": url("Account", A1)},
            "Id": A1,
            "Name": "Acme",
            "Owner": {
                "attributes": {"type": "User", "url": url("User", U2)},
                "Name": "Bob Builder",
                "Email": "bob@example.com",
            },
            "Parent": None,
        }
    ]
    assert list(result.records[0]) == ["attributes", "Id", "Name", "Owner", "Parent"]


def test_every_url_carries_the_version_it_was_asked_for(source: FakeSource) -> None:
    query = parse("SELECT Id, Owner.Name, Parent.Name FROM Account WHERE Name = 'Acme'")
    (record,) = execute(query, source, now=NOW, version="v59.0").records
    assert record["attributes"]["url"] == f"/services/data/v59.0/sobjects/Account/{A1}"
    assert record["Owner"]["attributes"]["url"] == f"/services/data/v59.0/sobjects/User/{U2}"
    (default,) = execute(query, source, now=NOW).records
    assert default["attributes"]["url"] == url("Account", A1)


def test_names_come_back_canonical_whatever_case_was_written(source: FakeSource) -> None:
    record = run(source, "select NAME, owner.name, ownerid from ACCOUNT where name = 'acme'").records[0]
    assert record == {
        "attributes": {"type": "Account", "url": url("Account", A1)},
        "Name": "Acme",
        "Owner": {"attributes": {"type": "User", "url": url("User", U2)}, "Name": "Bob Builder"},
        "OwnerId": U2,
    }


def test_the_url_is_there_even_without_id_selected(source: FakeSource) -> None:
    record = run(source, "SELECT Name FROM Account WHERE Name = 'Initech'").records[0]
    assert record["attributes"] == {"type": "Account", "url": url("Account", A3)}
    assert "Id" not in record


def test_several_levels_of_parents_and_a_null_grandparent(source: FakeSource) -> None:
    record = run(
        source,
        "SELECT Name, Parent.Parent.Name, Parent.Owner.Manager.Name, Parent.Name FROM Account "
        "WHERE Name = 'Initech'",
    ).records[0]
    assert record == {
        "attributes": {"type": "Account", "url": url("Account", A3)},
        "Name": "Initech",
        "Parent": {
            "attributes": {"type": "Account", "url": url("Account", A2)},
            "Parent": {"attributes": {"type": "Account", "url": url("Account", A1)}, "Name": "Acme"},
            "Owner": {"attributes": {"type": "User", "url": url("User", U1)}, "Manager": None},
            "Name": GLOBEX,
        },
    }


def test_custom_relationship_with_r_suffix(source: FakeSource) -> None:
    records = run(source, "SELECT Name, Partner__r.Name FROM Account WHERE Partner__c != null").records
    assert [(r["Name"], r["Partner__r"]["Name"]) for r in records] == [("Acme", GLOBEX)]
    assert records[0]["Partner__r"]["attributes"] == {"type": "Account", "url": url("Account", A2)}


def test_polymorphic_parents_are_typed_name_with_the_real_url(source: FakeSource) -> None:
    records = run(source, "SELECT Subject, What.Name, What.Type FROM Task").records
    assert [r["What"] for r in records] == [
        {"attributes": {"type": "Name", "url": url("Account", A1)}, "Name": "Acme", "Type": "Account"},
        {"attributes": {"type": "Name", "url": url("Case", CASE1)}, "Name": None, "Type": "Case"},
        None,
    ]
    owners = run(source, "SELECT Owner.Name FROM Case ORDER BY Subject").records
    assert [o["Owner"]["Name"] for o in owners] == ["Support Queue", "Bob Builder"]
    assert owners[0]["Owner"]["attributes"]["url"] == url("Group", G1)
    assert names_of(run(source, "SELECT Subject FROM Task WHERE What.Type = 'Case'")) == ["Follow up"]


def names_of(result: QueryResult, key: str = "Subject") -> list[Any]:
    return [record[key] for record in result.records]


def test_object_name_and_alias_prefixes_are_accepted(source: FakeSource) -> None:
    assert (
        run(source, "SELECT Account.Name FROM Account WHERE Account.Name = 'Acme'").records[0]["Name"] == ACME
    )
    assert run(source, "SELECT a.Name FROM Account a WHERE a.Rating = 'Hot'").records[0]["Name"] == ACME
    # On Contact, Account is a relationship, not a prefix.
    contact = run(source, "SELECT Account.Name FROM Contact WHERE LastName = 'Doe'").records[0]
    assert contact["Account"]["Name"] == ACME


def test_parent_records_are_looked_up_once_per_query(source: FakeSource) -> None:
    run(source, "SELECT Name, Owner.Name, Owner.Email FROM Account WHERE Owner.IsActive != null")
    assert source.lookups == 2  # two distinct owners, four accounts


# ---------------------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'ACME'", [ACME]),
        ("Industry = 'energy'", [ACME, OHARA]),
        ("Name != 'Acme'", [GLOBEX, INITECH, OHARA]),
        ("Name <> 'Acme'", [GLOBEX, INITECH, OHARA]),
        # != and NOT IN match nulls, as in Salesforce.
        ("Industry != 'Energy'", [GLOBEX, INITECH]),
        ("Type = null", [INITECH]),
        ("Type != null", [ACME, GLOBEX, OHARA]),
        ("Type = ''", [INITECH]),
        ("NumberOfEmployees > 100", [ACME, OHARA]),
        ("NumberOfEmployees >= 15", [ACME, GLOBEX, OHARA]),
        ("NumberOfEmployees < 100", [GLOBEX]),
        ("NumberOfEmployees <= 15", [GLOBEX]),
        ("AnnualRevenue = 5000000", [ACME, OHARA]),
        ("AnnualRevenue = 5000000.00", [ACME, OHARA]),
        ("Score__c < 0", [OHARA]),
        ("Score__c > -2", [ACME, INITECH, OHARA]),
        ("Score__c = 7.5", [ACME]),
        ("Active__c = true", [ACME, INITECH, OHARA]),
        ("Active__c = FALSE", [GLOBEX]),
        ("Active__c != true", [GLOBEX]),
        ("Since__c = 2024-05-14", [GLOBEX]),
        ("Since__c < 2024-01-01", [ACME, OHARA]),
        ("Since__c > 2023-12-31", [GLOBEX]),
        ("Since__c != 2024-05-14", [ACME, INITECH, OHARA]),
        ("CreatedDate > 2024-05-14T23:59:59Z", [ACME]),
        ("CreatedDate >= 2024-05-14T23:59:59Z", [ACME, GLOBEX]),
        ("CreatedDate = 2024-05-15T08:00:00.000Z", [ACME]),
        ("CreatedDate < 2024-05-15T00:59:59+01:00", [INITECH, OHARA]),
        ("CreatedDate <= 2024-05-15T00:59:59+01:00", [GLOBEX, INITECH, OHARA]),
        ("Name < 'b'", [ACME]),
        ("Name > 'H'", [INITECH, OHARA]),
        ("ParentId = null", [ACME, OHARA]),
        (f"Id = '{A2[:15]}'", [GLOBEX]),
        (f"Id = '{A2}'", [GLOBEX]),
        (f"Id != '{A1}'", [GLOBEX, INITECH, OHARA]),
        (f"Id IN ('{A1[:15]}', '{A3}')", [ACME, INITECH]),
        (f"Id > '{A2}'", [INITECH, OHARA]),
        (f"ParentId = '{A1[:15]}'", [GLOBEX]),
        ("Website LIKE '%.example.com'", [ACME]),
        ("Name LIKE 'GLOBEX%'", [GLOBEX]),
        ("Name LIKE '%100\\%\\_off'", [GLOBEX]),
        ("Name LIKE '%100%off'", [GLOBEX]),
        ("Name LIKE '%100\\%off'", []),
        ("Name LIKE 'Acm_'", [ACME]),
        ("Name LIKE 'Ac_'", []),
        ("Name LIKE '%\\\\ Sons'", [OHARA]),
        ("Name LIKE '%'", [ACME, GLOBEX, INITECH, OHARA]),
        ("Industry LIKE null", []),
        ("Name = 'O\\'Hara \\\\ Sons'", [OHARA]),
        ("Type IN ('customer', 'PARTNER')", [ACME, GLOBEX, OHARA]),
        ("Type NOT IN ('Customer')", [GLOBEX, INITECH]),
        ("Type IN ('Customer', null)", [ACME, INITECH, OHARA]),
        ("NumberOfEmployees IN (15, 120)", [ACME, GLOBEX, OHARA]),
        ("Since__c IN (2024-05-14, 2019-03-01)", [ACME, GLOBEX]),
        ("Regions__c INCLUDES ('emea')", [ACME, OHARA]),
        ("Regions__c INCLUDES ('EMEA;AMER')", [OHARA]),
        ("Regions__c INCLUDES ('AMER', 'APAC;EMEA')", [ACME, GLOBEX, OHARA]),
        ("Regions__c EXCLUDES ('AMER')", [ACME, INITECH]),
        ("Regions__c = 'APAC;EMEA'", [ACME]),
        ("Regions__c != 'APAC;EMEA'", [GLOBEX, INITECH, OHARA]),
        ("(Type = 'Customer' AND Rating = 'Hot') OR Name = 'Initech'", [ACME, INITECH]),
        ("Type = 'Customer' AND (Rating = 'Hot' OR Rating = 'Warm')", [ACME, OHARA]),
        ("NOT (Type = 'Customer')", [GLOBEX, INITECH]),
        ("NOT Type = 'Customer' AND Active__c = true", [INITECH]),
        ("NOT (Type = 'Customer' OR Type = 'Partner')", [INITECH]),
        ("Parent.Name = 'Acme'", [GLOBEX]),
        ("Owner.Name LIKE 'ada%'", [GLOBEX, INITECH]),
        ("Parent.Parent.Name = 'Acme'", [INITECH]),
        ("Parent.Name = null", [ACME, OHARA]),
        ("Id IN (SELECT AccountId FROM Contact)", [ACME, INITECH]),
        ("Id NOT IN (SELECT AccountId FROM Contact)", [GLOBEX, OHARA]),
        ("OwnerId IN (SELECT Id FROM User WHERE IsActive = true)", [GLOBEX, INITECH]),
        ("Id IN (SELECT AccountId FROM Case WHERE Status = 'Closed') OR Rating = 'Hot'", [ACME, GLOBEX]),
    ],
)
def test_where(source: FakeSource, where: str, expected: list[str]) -> None:
    assert names(source, where) == expected


def test_semi_join_from_the_child_side(source: FakeSource) -> None:
    result = run(
        source,
        "SELECT LastName FROM Contact WHERE AccountId IN (SELECT Id FROM Account WHERE Industry = 'energy')",
    )
    assert names_of(result, "LastName") == ["Doe"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CreatedDate = TODAY", [ACME]),
        ("CreatedDate = YESTERDAY", [GLOBEX]),
        ("CreatedDate = TOMORROW", []),
        ("CreatedDate = LAST_N_DAYS:1", [ACME, GLOBEX]),
        ("CreatedDate = LAST_N_DAYS:30", [ACME, GLOBEX, INITECH]),
        ("CreatedDate < TODAY", [GLOBEX, INITECH, OHARA]),
        ("CreatedDate <= TODAY", [ACME, GLOBEX, INITECH, OHARA]),
        ("CreatedDate > YESTERDAY", [ACME]),
        ("CreatedDate >= YESTERDAY", [ACME, GLOBEX]),
        ("CreatedDate != TODAY", [GLOBEX, INITECH, OHARA]),
        ("CreatedDate = THIS_WEEK", [ACME, GLOBEX]),
        ("CreatedDate = LAST_WEEK", []),
        ("CreatedDate = THIS_MONTH", [ACME, GLOBEX]),
        ("CreatedDate = LAST_MONTH", [INITECH]),
        ("CreatedDate = THIS_YEAR", [ACME, GLOBEX, INITECH]),
        ("CreatedDate = LAST_YEAR", [OHARA]),
        ("CreatedDate = THIS_FISCAL_YEAR", [ACME, GLOBEX, INITECH]),
        ("CreatedDate = THIS_QUARTER", [ACME, GLOBEX, INITECH]),
        ("CreatedDate = N_DAYS_AGO:1", [GLOBEX]),
        ("CreatedDate = N_YEARS_AGO:1", [OHARA]),
        ("CreatedDate = LAST_N_MONTHS:13", [INITECH, OHARA]),
        ("CreatedDate < LAST_N_DAYS:30", [OHARA]),
        ("Since__c = YESTERDAY", [GLOBEX]),
        ("Since__c = LAST_N_DAYS:1", [GLOBEX]),
        ("Since__c = LAST_YEAR", [OHARA]),
        ("Since__c < THIS_YEAR", [ACME, OHARA]),
        ("Since__c > LAST_YEAR", [GLOBEX]),
        ("Since__c >= LAST_YEAR", [GLOBEX, OHARA]),
        ("Since__c <= LAST_YEAR", [ACME, OHARA]),
        ("Since__c = NEXT_N_DAYS:30", []),
    ],
)
def test_date_literals_against_a_fixed_now(source: FakeSource, where: str, expected: list[str]) -> None:
    assert names(source, where) == expected


def test_now_is_taken_in_utc(source: FakeSource) -> None:
    # 01:00 on the 16th in UTC+2 is still the 15th in UTC; a naive now is UTC.
    east = dt.datetime(2024, 5, 16, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert names(source, "CreatedDate = TODAY", now=east) == [ACME]
    assert names(source, "CreatedDate = TODAY", now=dt.datetime(2024, 5, 14, 12, 0)) == [GLOBEX]


# ----------------------------------------------------------------------------------------- ordering


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("Name", [ACME, GLOBEX, INITECH, OHARA]),
        ("Name DESC", [OHARA, INITECH, GLOBEX, ACME]),
        ("Type, Name", [INITECH, ACME, OHARA, GLOBEX]),
        ("Type DESC, Name", [GLOBEX, ACME, OHARA, INITECH]),
        ("Type DESC NULLS FIRST, Name DESC", [INITECH, GLOBEX, OHARA, ACME]),
        ("Type ASC NULLS LAST, Name", [ACME, OHARA, GLOBEX, INITECH]),
        ("Score__c DESC", [ACME, INITECH, OHARA, GLOBEX]),
        ("Score__c", [GLOBEX, OHARA, INITECH, ACME]),
        ("Owner.Name, Name", [GLOBEX, INITECH, ACME, OHARA]),
        ("Owner.Name DESC, Name DESC", [OHARA, ACME, INITECH, GLOBEX]),
        ("Parent.Name NULLS LAST, Name", [GLOBEX, INITECH, ACME, OHARA]),
        ("Active__c, Name", [GLOBEX, ACME, INITECH, OHARA]),
        ("CreatedDate DESC", [ACME, GLOBEX, INITECH, OHARA]),
        ("Since__c", [INITECH, ACME, OHARA, GLOBEX]),
        ("Industry, Name", [GLOBEX, ACME, OHARA, INITECH]),
        ("Id DESC", [OHARA, INITECH, GLOBEX, ACME]),
        ("AnnualRevenue DESC, CreatedDate", [OHARA, ACME, GLOBEX, INITECH]),
    ],
)
def test_order_by(source: FakeSource, order: str, expected: list[str]) -> None:
    assert names(source, order=order) == expected


def test_without_order_by_rows_keep_the_source_order(source: FakeSource) -> None:
    assert names(source) == [ACME, GLOBEX, INITECH, OHARA]


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("LIMIT 2", [ACME, GLOBEX]),
        ("LIMIT 2 OFFSET 1", [GLOBEX, INITECH]),
        ("OFFSET 3", [OHARA]),
        ("OFFSET 10", []),
        ("LIMIT 0", []),
        ("LIMIT 100", [ACME, GLOBEX, INITECH, OHARA]),
    ],
)
def test_limit_and_offset_apply_after_ordering(source: FakeSource, tail: str, expected: list[str]) -> None:
    result = run(source, f"SELECT Name FROM Account ORDER BY Name {tail}")  # noqa: S608 - SOQL under test
    assert names_of(result, "Name") == expected
    assert result.total_size == len(expected)


# -------------------------------------------------------------------------------------------- count


@pytest.mark.parametrize(
    ("text", "total"),
    [
        ("SELECT COUNT() FROM Account", 4),
        ("SELECT count() FROM Account WHERE Type = 'Customer'", 2),
        ("SELECT COUNT() FROM Contact WHERE Account.Name = 'Acme'", 1),
        ("SELECT COUNT() FROM Account LIMIT 3", 3),
        ("SELECT COUNT() FROM Account WHERE Name = 'nobody'", 0),
    ],
)
def test_count_gives_only_total_size(source: FakeSource, text: str, total: int) -> None:
    result = run(source, text)
    assert (result.records, result.total_size) == ([], total)


def test_count_of_a_field_is_an_aggregate_result(source: FakeSource) -> None:
    assert run(source, "SELECT COUNT(Id) FROM Account").records == [
        {"attributes": {"type": "AggregateResult"}, "expr0": 4}
    ]
    result = run(
        source, "SELECT COUNT(Industry) n, COUNT(Id), COUNT(Type) FROM Account WHERE Active__c = true"
    )
    assert result.records == [{"attributes": {"type": "AggregateResult"}, "n": 3, "expr0": 3, "expr1": 2}]
    assert result.total_size == 1
    # LIMIT and OFFSET apply to the aggregate row, not to the rows counted.
    assert run(source, "SELECT COUNT(Id) FROM Account LIMIT 1").records[0]["expr0"] == 4
    assert run(source, "SELECT COUNT(Id) FROM Account LIMIT 1 OFFSET 1").records == []


# ------------------------------------------------------------------------------------------ queryAll


def test_include_deleted_reaches_the_source_and_semi_joins(source: FakeSource) -> None:
    gone = {**source.data["Contact"][0], "Id": "003000000000009AAA", "IsDeleted": True, "AccountId": A4}
    source.deleted["Contact"] = [gone]
    assert run(source, "SELECT COUNT() FROM Contact").total_size == 3
    assert run(source, "SELECT COUNT() FROM Contact", include_deleted=True).total_size == 4
    where = "Id IN (SELECT AccountId FROM Contact)"
    assert names(source, where) == [ACME, INITECH]
    assert names(source, where, include_deleted=True) == [ACME, INITECH, OHARA]


# ------------------------------------------------------------------------------------------- errors

TYPE_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the appropriate names."
)


def criterion(field: str, soap_type: str) -> str:
    quoting = "should be" if soap_type in ("string", "id") else "should not be"
    return (
        f"value of filter criterion for field '{field}' must be of type {soap_type} "
        f"and {quoting} enclosed in quotes"
    )


def header(text: str, column: int) -> str:
    return f"\n{text}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n"


def test_unknown_sobject_matches_salesforce_captured_bodies(source: FakeSource) -> None:
    # Both messages are verbatim from recorded Salesforce responses (shared/salesforce-describe).
    assert failure(source, "SELECT Xyzzy FROM Xyzzy") == (
        "INVALID_TYPE",
        "\nSELECT Xyzzy FROM Xyzzy\n                  ^\nERROR at Row:1:Column:19\n"
        "sObject type 'Xyzzy' is not supported. If you are attempting to use a custom object, "
        "be sure to append the '__c' after the entity name. "
        "Please reference your WSDL or the describe call for the appropriate names.",
    )
    assert failure(source, "select count() from XYZZY") == (
        "INVALID_TYPE",
        "\nselect count() from XYZZY\n                    ^\nERROR at Row:1:Column:21\n"
        "sObject type 'XYZZY' is not supported. If you are attempting to use a custom object, "
        "be sure to append the '__c' after the entity name. "
        "Please reference your WSDL or the describe call for the appropriate names.",
    )


@pytest.mark.parametrize(
    ("text", "code", "column", "detail"),
    [
        (
            "SELECT Id, Nme FROM Account",
            "INVALID_FIELD",
            12,
            f"No such column 'Nme' on entity 'Account'. {FIELD_HINT}",
        ),
        (
            "SELECT Account.Nme FROM Contact",
            "INVALID_FIELD",
            8,
            f"No such column 'Nme' on entity 'Account'. {FIELD_HINT}",
        ),
        (
            "SELECT Account FROM Contact",
            "INVALID_FIELD",
            8,
            f"No such column 'Account' on entity 'Contact'. {FIELD_HINT}",
        ),
        (
            "SELECT Id FROM Contact WHERE Acount.Name = 'x'",
            "INVALID_FIELD",
            30,
            f"Didn't understand relationship 'Acount' in field path. {RELATIONSHIP_HINT}",
        ),
        (
            "SELECT Name.Foo FROM Account",
            "INVALID_FIELD",
            8,
            f"Didn't understand relationship 'Name' in field path. {RELATIONSHIP_HINT}",
        ),
        (
            "SELECT Partner__c.Name FROM Account",
            "INVALID_FIELD",
            8,
            f"Didn't understand relationship 'Partner__c' in field path. {RELATIONSHIP_HINT}",
        ),
        (
            "SELECT RecordType.Name FROM Account",
            "INVALID_FIELD",
            8,
            f"Didn't understand relationship 'RecordType' in field path. {RELATIONSHIP_HINT}",
        ),
        (
            "SELECT What.Owner.Name FROM Task",
            "INVALID_FIELD",
            8,
            f"Didn't understand relationship 'Owner' in field path. {RELATIONSHIP_HINT}",
        ),
        (
            "SELECT What.Nope FROM Task",
            "INVALID_FIELD",
            8,
            f"No such column 'Nope' on entity 'Name'. {FIELD_HINT}",
        ),
        (
            "SELECT Id FROM Account ORDER BY Nope",
            "INVALID_FIELD",
            33,
            f"No such column 'Nope' on entity 'Account'. {FIELD_HINT}",
        ),
        (
            "SELECT Id FROM Account WHERE Description = 'x'",
            "INVALID_FIELD",
            30,
            "field 'Description' can not be filtered in a query call",
        ),
        (
            "SELECT Id FROM AccountHistory WHERE NewValue = 'Hot'",
            "INVALID_FIELD",
            37,
            "field 'NewValue' can not be filtered in a query call",
        ),
        (
            "SELECT Id FROM Contact WHERE Account.Description LIKE '%x%'",
            "INVALID_FIELD",
            30,
            "field 'Description' can not be filtered in a query call",
        ),
        (
            "SELECT Id FROM Account ORDER BY Description",
            "MALFORMED_QUERY",
            33,
            "field 'Description' can not be sorted in a query call",
        ),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contactz)",
            "INVALID_TYPE",
            59,
            f"sObject type 'Contactz' is not supported. {TYPE_HINT}",
        ),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT Nope FROM Contact)",
            "INVALID_FIELD",
            44,
            f"No such column 'Nope' on entity 'Contact'. {FIELD_HINT}",
        ),
        (
            "SELECT COUNT(Id), Name FROM Account",
            "MALFORMED_QUERY",
            19,
            "Field must be grouped or aggregated: Name",
        ),
        (
            "SELECT COUNT(Id) FROM Account ORDER BY Name",
            "MALFORMED_QUERY",
            40,
            "Ordered field must be grouped or aggregated: Name",
        ),
        (
            "SELECT Id FROM Account WHERE Type INCLUDES ('a')",
            "MALFORMED_QUERY",
            35,
            "INCLUDES/EXCLUDES operator only valid on multipicklist field",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate IN (TODAY)",
            "MALFORMED_QUERY",
            46,
            "unexpected token: 'TODAY'",
        ),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE Id IN "
            "(SELECT WhoId FROM Task))",
            "MALFORMED_QUERY",
            59,
            "Nesting of semi join sub-selects is not supported",
        ),
    ],
)
def test_name_errors_carry_the_location_header(
    source: FakeSource, text: str, code: str, column: int, detail: str
) -> None:
    assert failure(source, text) == (code, header(text, column) + detail)


@pytest.mark.parametrize(
    ("where", "code", "message"),
    [
        (
            "IsDeleted = 'true'",
            "INVALID_FIELD",
            criterion("IsDeleted", "boolean"),
        ),
        (
            "IsDeleted = 1",
            "INVALID_FIELD",
            criterion("IsDeleted", "boolean"),
        ),
        (
            "CreatedDate > 2024-01-01",
            "INVALID_FIELD",
            criterion("CreatedDate", "dateTime"),
        ),
        (
            "CreatedDate > '2024-01-01T00:00:00Z'",
            "INVALID_FIELD",
            criterion("CreatedDate", "dateTime"),
        ),
        (
            "Since__c = 2024-01-01T00:00:00Z",
            "INVALID_FIELD",
            criterion("Since__c", "date"),
        ),
        (
            "Name = 5",
            "INVALID_FIELD",
            criterion("Name", "string"),
        ),
        (
            "Name = TODAY",
            "INVALID_FIELD",
            criterion("Name", "string"),
        ),
        (
            "Name LIKE 5",
            "INVALID_FIELD",
            criterion("Name", "string"),
        ),
        (
            "NumberOfEmployees = '5'",
            "INVALID_FIELD",
            criterion("NumberOfEmployees", "int"),
        ),
        (
            "AnnualRevenue > '5'",
            "INVALID_FIELD",
            criterion("AnnualRevenue", "double"),
        ),
        (
            "Id = 5",
            "INVALID_FIELD",
            criterion("Id", "id"),
        ),
        (
            "Type IN ('a', 3)",
            "INVALID_FIELD",
            criterion("Type", "string"),
        ),
        ("Id = '123'", "MALFORMED_QUERY", "invalid ID field: 123"),
        ("ParentId IN ('001000000000001', 'bad')", "MALFORMED_QUERY", "invalid ID field: bad"),
        ("Owner.Id = '005000000000001AAAX'", "MALFORMED_QUERY", "invalid ID field: 005000000000001AAAX"),
        ("Id LIKE '001%'", "MALFORMED_QUERY", "invalid operator on id field"),
        ("Active__c > true", "MALFORMED_QUERY", "invalid operator on boolean field"),
        ("NumberOfEmployees LIKE '1%'", "MALFORMED_QUERY", "invalid operator on int field"),
        ("Regions__c < 'a'", "MALFORMED_QUERY", "invalid operator on string field"),
    ],
)
def test_type_errors(source: FakeSource, where: str, code: str, message: str) -> None:
    assert failure(source, f"SELECT Id FROM Account WHERE {where}") == (code, message)  # noqa: S608


def test_fields_macros_expand_in_declared_order(source: FakeSource) -> None:
    standard = run(source, "SELECT FIELDS(STANDARD) FROM Account WHERE Name = 'Acme'").records[0]
    assert list(standard)[:4] == ["attributes", "Id", "IsDeleted", "CreatedDate"]
    assert "Regions__c" not in standard
    assert standard["OwnerId"] == U2
    custom = run(source, "SELECT Name, FIELDS(CUSTOM) FROM Account WHERE Name = 'Acme' LIMIT 200").records[0]
    assert list(custom) == [
        "attributes",
        "Name",
        "Regions__c",
        "Active__c",
        "Since__c",
        "Score__c",
        "Partner__c",
    ]
    everything = run(source, "SELECT FIELDS(ALL) FROM Account LIMIT 1").records[0]
    assert len(everything) == 1 + len(source.sobject_fields("Account") or {})


def test_fields_all_needs_a_limit_and_no_duplicates(source: FakeSource) -> None:
    text = "SELECT FIELDS(ALL) FROM Account"
    assert failure(source, text) == (
        "MALFORMED_QUERY",
        header(text, 8) + "The SOQL FIELDS function must have a LIMIT of at most 200",
    )
    assert failure(source, "SELECT Id, FIELDS(ALL) FROM Account LIMIT 200") == (
        "INVALID_FIELD",
        "duplicate field selected: Id",
    )


def test_duplicate_field(source: FakeSource) -> None:
    assert failure(source, "SELECT Id, Name, name FROM Account") == (
        "INVALID_FIELD",
        "duplicate field selected: Name",
    )
    assert failure(source, "SELECT Owner.Name, owner.NAME FROM Account") == (
        "INVALID_FIELD",
        "duplicate field selected: Owner.Name",
    )


def test_a_source_without_sobject_name_still_works(source: FakeSource) -> None:
    class Minimal:
        def sobject_fields(self, sobject: str) -> Any:
            return source.sobject_fields(sobject)

        def records(self, sobject: str, *, include_deleted: bool) -> Any:
            return source.records("Account", include_deleted=include_deleted)

        def record_by_id(self, record_id: str) -> Any:
            return source.record_by_id(record_id)

    # The canonical sObject name is then learnt from a record (record_by_id names its sObject).
    result = execute(parse("SELECT Owner.Name FROM account LIMIT 1"), Minimal(), now=NOW)
    assert result.records[0]["attributes"]["type"] == "Account"
    assert result.records[0]["Owner"]["Name"] == "Bob Builder"


def test_case_and_contact_ids_in_result(source: FakeSource) -> None:
    result = run(source, "SELECT Id, Account.Name FROM Case WHERE Status != 'New'")
    assert names_of(result, "Id") == [CASE2]
    by_short_id = run(source, f"SELECT Name FROM Contact WHERE Id = '{C1[:15]}'")  # noqa: S608
    assert by_short_id.records[0]["Name"] == "Jane Doe"


def like_escape(value: str) -> str:
    return soql_escape(value).replace("%", "\\%").replace("_", "\\_")


@given(st.text())
def test_a_stored_string_matches_its_escaped_literal(value: str) -> None:
    source = FakeSource()
    source.data["Account"] = [{**source.data["Account"][0], "Name": value}]
    assert run(source, f"SELECT Id FROM Account WHERE Name = '{soql_escape(value)}'").total_size == 1  # noqa: S608
    assert run(source, f"SELECT Id FROM Account WHERE Name != '{soql_escape(value)}'").total_size == 0  # noqa: S608
    if value:
        like = run(source, f"SELECT Id FROM Account WHERE Name LIKE '{like_escape(value)}'")  # noqa: S608
        assert like.total_size == 1
        wider = run(source, f"SELECT Id FROM Account WHERE Name LIKE '%{like_escape(value[1:])}'")  # noqa: S608
        assert wider.total_size == 1
