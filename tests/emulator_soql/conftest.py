"""An in-memory RecordSource for the SOQL engine's tests.

The engine's own port is faked here on purpose: these tests pin the parser and evaluator, while the
emulator's storage (the real RecordSource) is exercised over HTTP by the emulator's tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from sfemulator.soql import FieldSpec

NOW = dt.datetime(2024, 5, 15, 13, 30, 0, tzinfo=dt.UTC)  # a Wednesday


def _fields(*specs: FieldSpec) -> dict[str, FieldSpec]:
    return {spec.name: spec for spec in specs}


SYSTEM = (
    FieldSpec("Id", "id"),
    FieldSpec("IsDeleted", "boolean"),
    FieldSpec("CreatedDate", "datetime"),
    FieldSpec("LastModifiedDate", "datetime"),
    FieldSpec("SystemModstamp", "datetime"),
)

SCHEMA: dict[str, dict[str, FieldSpec]] = {
    "User": _fields(
        *SYSTEM,
        FieldSpec("Name", "string"),
        FieldSpec("Email", "email"),
        FieldSpec("IsActive", "boolean"),
        FieldSpec("ManagerId", "reference", ("User",), "Manager"),
    ),
    "Group": _fields(*SYSTEM, FieldSpec("Name", "string"), FieldSpec("Type", "picklist")),
    "Account": _fields(
        *SYSTEM,
        FieldSpec("Name", "string"),
        FieldSpec("Type", "picklist"),
        FieldSpec("Industry", "picklist"),
        FieldSpec("Rating", "picklist"),
        FieldSpec("AnnualRevenue", "currency"),
        FieldSpec("NumberOfEmployees", "int"),
        FieldSpec("Description", "textarea", filterable=False, sortable=False),
        FieldSpec("Website", "url"),
        FieldSpec("ParentId", "reference", ("Account",), "Parent"),
        FieldSpec("OwnerId", "reference", ("User",), "Owner"),
        FieldSpec("Regions__c", "multipicklist"),
        FieldSpec("Active__c", "boolean"),
        FieldSpec("Since__c", "date"),
        FieldSpec("Score__c", "double"),
        FieldSpec("Partner__c", "reference", ("Account",), "Partner__r"),
        FieldSpec("RecordTypeId", "reference", ("RecordType",), "RecordType"),
    ),
    "Contact": _fields(
        *SYSTEM,
        FieldSpec("FirstName", "string"),
        FieldSpec("LastName", "string"),
        FieldSpec("Name", "string"),
        FieldSpec("Email", "email"),
        FieldSpec("Birthdate", "date"),
        FieldSpec("AccountId", "reference", ("Account",), "Account"),
        FieldSpec("OwnerId", "reference", ("User",), "Owner"),
    ),
    "Case": _fields(
        *SYSTEM,
        FieldSpec("Subject", "string"),
        FieldSpec("Status", "picklist"),
        FieldSpec("AccountId", "reference", ("Account",), "Account"),
        FieldSpec("OwnerId", "reference", ("Group", "User"), "Owner"),
    ),
    "Task": _fields(
        *SYSTEM,
        FieldSpec("Subject", "string"),
        FieldSpec("WhatId", "reference", ("Account", "Case"), "What"),
    ),
    "AccountHistory": _fields(
        FieldSpec("Id", "id"),
        FieldSpec("AccountId", "reference", ("Account",), "Account"),
        FieldSpec("Field", "picklist"),
        FieldSpec("OldValue", "anyType", filterable=False, sortable=False),
        FieldSpec("NewValue", "anyType", filterable=False, sortable=False),
        FieldSpec("CreatedDate", "datetime"),
    ),
}


def _id(prefix: str, n: int) -> str:
    """An 18-character id (checksum not computed: the engine only relies on the first 15)."""
    return f"{prefix}{n:012d}AAA"


U1, U2 = _id("005", 1), _id("005", 2)
G1 = _id("00G", 1)
A1, A2, A3, A4 = (_id("001", n) for n in (1, 2, 3, 4))
C1, C2, C3 = (_id("003", n) for n in (1, 2, 3))
CASE1, CASE2 = _id("500", 1), _id("500", 2)


def _records() -> dict[str, list[dict[str, Any]]]:
    base = {"IsDeleted": False, "LastModifiedDate": "2024-05-01T00:00:00.000+0000"}
    return {
        "User": [
            {
                **base,
                "Id": U1,
                "Name": "Ada Admin",
                "Email": "ada@example.com",
                "IsActive": True,
                "ManagerId": None,
                "CreatedDate": "2020-01-01T00:00:00.000+0000",
            },
            {
                **base,
                "Id": U2,
                "Name": "Bob Builder",
                "Email": "bob@example.com",
                "IsActive": False,
                "ManagerId": U1,
                "CreatedDate": "2021-01-01T00:00:00.000+0000",
            },
        ],
        "Group": [
            {
                **base,
                "Id": G1,
                "Name": "Support Queue",
                "Type": "Queue",
                "CreatedDate": "2020-01-01T00:00:00.000+0000",
            }
        ],
        "Account": [
            {
                **base,
                "Id": A1,
                "Name": "Acme",
                "Type": "Customer",
                "Industry": "Energy",
                "Rating": "Hot",
                "AnnualRevenue": 5000000.0,
                "NumberOfEmployees": 120,
                "Description": "Big one",
                "Website": "acme.example.com",
                "ParentId": None,
                "OwnerId": U2,
                "Regions__c": "EMEA;APAC",
                "Active__c": True,
                "Since__c": "2019-03-01",
                "Score__c": 7.5,
                "Partner__c": A2,
                "CreatedDate": "2024-05-15T08:00:00.000+0000",
            },
            {
                **base,
                "Id": A2,
                "Name": "globex 100%_off",
                "Type": "Partner",
                "Industry": None,
                "Rating": "Cold",
                "AnnualRevenue": 250000.0,
                "NumberOfEmployees": 15,
                "Description": None,
                "Website": None,
                "ParentId": A1,
                "OwnerId": U1,
                "Regions__c": "AMER",
                "Active__c": False,
                "Since__c": "2024-05-14",
                "Score__c": None,
                "Partner__c": None,
                "CreatedDate": "2024-05-14T23:59:59.000+0000",
            },
            {
                **base,
                "Id": A3,
                "Name": "Initech",
                "Type": None,
                "Industry": "Technology",
                "Rating": None,
                "AnnualRevenue": None,
                "NumberOfEmployees": None,
                "Description": None,
                "Website": None,
                "ParentId": A2,
                "OwnerId": U1,
                "Regions__c": None,
                "Active__c": True,
                "Since__c": None,
                "Score__c": 3.0,
                "Partner__c": None,
                "CreatedDate": "2024-04-30T12:00:00.000+0000",
            },
            {
                **base,
                "Id": A4,
                "Name": "O'Hara \\ Sons",
                "Type": "Customer",
                "Industry": "energy",
                "Rating": "Warm",
                "AnnualRevenue": 5000000.0,
                "NumberOfEmployees": 120,
                "Description": None,
                "Website": None,
                "ParentId": None,
                "OwnerId": U2,
                "Regions__c": "APAC;EMEA;AMER",
                "Active__c": True,
                "Since__c": "2023-12-31",
                "Score__c": -1.25,
                "Partner__c": None,
                "CreatedDate": "2023-05-15T13:30:00.000+0000",
            },
        ],
        "Contact": [
            {
                **base,
                "Id": C1,
                "FirstName": "Jane",
                "LastName": "Doe",
                "Name": "Jane Doe",
                "Email": "jane@acme.example.com",
                "Birthdate": "1990-05-15",
                "AccountId": A1,
                "OwnerId": U1,
                "CreatedDate": "2024-05-10T10:00:00.000+0000",
            },
            {
                **base,
                "Id": C2,
                "FirstName": "John",
                "LastName": "Roe",
                "Name": "John Roe",
                "Email": None,
                "Birthdate": None,
                "AccountId": A3,
                "OwnerId": U2,
                "CreatedDate": "2024-05-11T10:00:00.000+0000",
            },
            {
                **base,
                "Id": C3,
                "FirstName": None,
                "LastName": "Orphan",
                "Name": "Orphan",
                "Email": "orphan@example.com",
                "Birthdate": "2000-01-01",
                "AccountId": None,
                "OwnerId": U1,
                "CreatedDate": "2024-05-12T10:00:00.000+0000",
            },
        ],
        "Case": [
            {
                **base,
                "Id": CASE1,
                "Subject": "Broken",
                "Status": "New",
                "AccountId": A1,
                "OwnerId": G1,
                "CreatedDate": "2024-05-15T09:00:00.000+0000",
            },
            {
                **base,
                "Id": CASE2,
                "Subject": "Question",
                "Status": "Closed",
                "AccountId": A2,
                "OwnerId": U2,
                "CreatedDate": "2024-05-13T09:00:00.000+0000",
            },
        ],
        "Task": [
            {
                **base,
                "Id": _id("00T", 1),
                "Subject": "Call",
                "WhatId": A1,
                "CreatedDate": "2024-05-15T09:00:00.000+0000",
            },
            {
                **base,
                "Id": _id("00T", 2),
                "Subject": "Follow up",
                "WhatId": CASE1,
                "CreatedDate": "2024-05-15T09:00:00.000+0000",
            },
            {
                **base,
                "Id": _id("00T", 3),
                "Subject": "Nothing",
                "WhatId": None,
                "CreatedDate": "2024-05-15T09:00:00.000+0000",
            },
        ],
        "AccountHistory": [
            {
                "Id": _id("017", 1),
                "AccountId": A1,
                "Field": "Rating",
                "OldValue": "Warm",
                "NewValue": "Hot",
                "CreatedDate": "2024-05-15T08:00:00.000+0000",
            },
        ],
    }


class FakeSource:
    """Records in memory; sObject names matched case-insensitively like the emulator's schema."""

    def __init__(self) -> None:
        self.data = _records()
        self.deleted: dict[str, list[dict[str, Any]]] = {}
        self.lookups = 0

    def _canonical(self, sobject: str) -> str | None:
        return next((name for name in SCHEMA if name.lower() == sobject.lower()), None)

    def sobject_name(self, sobject: str) -> str | None:
        return self._canonical(sobject)

    def sobject_fields(self, sobject: str) -> Mapping[str, FieldSpec] | None:
        name = self._canonical(sobject)
        return None if name is None else SCHEMA[name]

    def records(self, sobject: str, *, include_deleted: bool) -> Iterable[Mapping[str, Any]]:
        live = self.data.get(sobject, [])
        return [*live, *self.deleted.get(sobject, [])] if include_deleted else live

    def record_by_id(self, record_id: str) -> tuple[str, Mapping[str, Any]] | None:
        self.lookups += 1
        for name, rows in self.data.items():
            for row in rows:
                if row["Id"][:15] == record_id[:15]:
                    return name, row
        return None


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()
