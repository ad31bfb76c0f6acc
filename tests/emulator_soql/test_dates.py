"""Relative date literals as day ranges (UTC, weeks from Sunday, fiscal year from January)."""

from __future__ import annotations

import datetime as dt

import pytest
from sfemulator.soql.dates import PARAMETERIZED, SIMPLE, date_range

TODAY = dt.date(2024, 5, 15)  # a Wednesday


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


CASES: list[tuple[str, int | None, str, str]] = [
    ("TODAY", None, "2024-05-15", "2024-05-16"),
    ("YESTERDAY", None, "2024-05-14", "2024-05-15"),
    ("TOMORROW", None, "2024-05-16", "2024-05-17"),
    ("LAST_WEEK", None, "2024-05-05", "2024-05-12"),
    ("THIS_WEEK", None, "2024-05-12", "2024-05-19"),
    ("NEXT_WEEK", None, "2024-05-19", "2024-05-26"),
    ("LAST_MONTH", None, "2024-04-01", "2024-05-01"),
    ("THIS_MONTH", None, "2024-05-01", "2024-06-01"),
    ("NEXT_MONTH", None, "2024-06-01", "2024-07-01"),
    ("LAST_90_DAYS", None, "2024-02-15", "2024-05-16"),
    ("NEXT_90_DAYS", None, "2024-05-16", "2024-08-14"),
    ("THIS_QUARTER", None, "2024-04-01", "2024-07-01"),
    ("LAST_QUARTER", None, "2024-01-01", "2024-04-01"),
    ("NEXT_QUARTER", None, "2024-07-01", "2024-10-01"),
    ("THIS_YEAR", None, "2024-01-01", "2025-01-01"),
    ("LAST_YEAR", None, "2023-01-01", "2024-01-01"),
    ("NEXT_YEAR", None, "2025-01-01", "2026-01-01"),
    ("THIS_FISCAL_QUARTER", None, "2024-04-01", "2024-07-01"),
    ("LAST_FISCAL_QUARTER", None, "2024-01-01", "2024-04-01"),
    ("NEXT_FISCAL_QUARTER", None, "2024-07-01", "2024-10-01"),
    ("THIS_FISCAL_YEAR", None, "2024-01-01", "2025-01-01"),
    ("LAST_FISCAL_YEAR", None, "2023-01-01", "2024-01-01"),
    ("NEXT_FISCAL_YEAR", None, "2025-01-01", "2026-01-01"),
    # LAST_N_DAYS includes today (Salesforce's behaviour, unlike its documentation).
    ("LAST_N_DAYS", 1, "2024-05-14", "2024-05-16"),
    ("LAST_N_DAYS", 7, "2024-05-08", "2024-05-16"),
    ("NEXT_N_DAYS", 7, "2024-05-16", "2024-05-23"),
    ("N_DAYS_AGO", 3, "2024-05-12", "2024-05-13"),
    ("LAST_N_WEEKS", 2, "2024-04-28", "2024-05-12"),
    ("NEXT_N_WEEKS", 2, "2024-05-19", "2024-06-02"),
    ("N_WEEKS_AGO", 1, "2024-05-05", "2024-05-12"),
    ("LAST_N_MONTHS", 2, "2024-03-01", "2024-05-01"),
    ("LAST_N_MONTHS", 13, "2023-04-01", "2024-05-01"),
    ("NEXT_N_MONTHS", 2, "2024-06-01", "2024-08-01"),
    ("N_MONTHS_AGO", 12, "2023-05-01", "2023-06-01"),
    ("LAST_N_QUARTERS", 2, "2023-10-01", "2024-04-01"),
    ("NEXT_N_QUARTERS", 2, "2024-07-01", "2025-01-01"),
    ("N_QUARTERS_AGO", 1, "2024-01-01", "2024-04-01"),
    ("LAST_N_YEARS", 2, "2022-01-01", "2024-01-01"),
    ("NEXT_N_YEARS", 1, "2025-01-01", "2026-01-01"),
    ("N_YEARS_AGO", 2, "2022-01-01", "2023-01-01"),
    ("LAST_N_FISCAL_QUARTERS", 1, "2024-01-01", "2024-04-01"),
    ("NEXT_N_FISCAL_QUARTERS", 3, "2024-07-01", "2025-04-01"),
    ("N_FISCAL_QUARTERS_AGO", 2, "2023-10-01", "2024-01-01"),
    ("LAST_N_FISCAL_YEARS", 1, "2023-01-01", "2024-01-01"),
    ("NEXT_N_FISCAL_YEARS", 2, "2025-01-01", "2027-01-01"),
    ("N_FISCAL_YEARS_AGO", 1, "2023-01-01", "2024-01-01"),
]


@pytest.mark.parametrize(("name", "n", "start", "end"), CASES)
def test_date_literal_ranges(name: str, n: int | None, start: str, end: str) -> None:
    assert date_range(name, n, TODAY) == (d(start), d(end))


def test_every_literal_is_covered() -> None:
    assert {name for name, *_ in CASES} == SIMPLE | PARAMETERIZED


@pytest.mark.parametrize("today", ["2024-05-12", "2024-05-18"])
def test_weeks_run_sunday_to_saturday(today: str) -> None:
    assert date_range("THIS_WEEK", None, d(today)) == (d("2024-05-12"), d("2024-05-19"))


def test_month_arithmetic_crosses_years() -> None:
    assert date_range("LAST_MONTH", None, d("2024-01-10")) == (d("2023-12-01"), d("2024-01-01"))
    assert date_range("NEXT_QUARTER", None, d("2024-11-30")) == (d("2025-01-01"), d("2025-04-01"))
    assert date_range("LAST_N_DAYS", 1, d("2024-03-01")) == (d("2024-02-29"), d("2024-03-02"))


def test_unknown_literal_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a date literal"):
        date_range("SOMEDAY", None, TODAY)
