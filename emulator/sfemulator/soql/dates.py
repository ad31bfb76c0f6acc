"""SOQL's relative date literals (``TODAY``, ``LAST_N_DAYS:7``, ``THIS_FISCAL_QUARTER``...) as date ranges.

Each literal is a half-open range of days ``[start, end)`` computed from ``today``. The emulator runs
in UTC with the en_US locale: weeks start on Sunday, and the fiscal year starts in January (the
default org setting), so fiscal quarters and years are calendar ones.

Salesforce's own behaviour is followed where it differs from its documentation: ``LAST_N_DAYS:n``
covers the past n days *and today* (n + 1 days), ``LAST_90_DAYS`` likewise; ``NEXT_N_DAYS:n`` starts
tomorrow.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["PARAMETERIZED", "SIMPLE", "date_range", "is_date_literal"]

_DAY = dt.timedelta(days=1)

SIMPLE = frozenset(
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
"""Date literals without a parameter."""

PARAMETERIZED = frozenset(
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
"""Date literals written ``NAME:n``."""


def is_date_literal(upper_name: str) -> bool:
    return upper_name in SIMPLE or upper_name in PARAMETERIZED


def _period_start(today: dt.date, unit: str) -> dt.date:
    if unit == "WEEK":
        # date.weekday(): Monday is 0; en_US weeks start on Sunday.
        return today - dt.timedelta(days=(today.weekday() + 1) % 7)
    if unit == "MONTH":
        return today.replace(day=1)
    if unit == "QUARTER":
        return today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    return today.replace(month=1, day=1)


def _shift(start: dt.date, unit: str, count: int) -> dt.date:
    """``start`` (the first day of a period) moved by ``count`` periods."""
    if unit == "WEEK":
        return start + dt.timedelta(weeks=count)
    months = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[unit] * count
    index = start.year * 12 + (start.month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _unit_of(name: str) -> str | None:
    for unit in ("WEEK", "MONTH", "QUARTER", "YEAR"):
        if name.endswith((f"_{unit}", f"_{unit}S", f"_{unit}S_AGO")):
            return unit
    return None


def date_range(name: str, n: int | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The days ``[start, end)`` that the literal ``name`` (upper case, parameter ``n``) covers."""
    if name == "TODAY":
        return today, today + _DAY
    if name == "YESTERDAY":
        return today - _DAY, today
    if name == "TOMORROW":
        return today + _DAY, today + 2 * _DAY
    if name in ("LAST_N_DAYS", "LAST_90_DAYS"):
        days = 90 if n is None else n
        return today - dt.timedelta(days=days), today + _DAY
    if name in ("NEXT_N_DAYS", "NEXT_90_DAYS"):
        days = 90 if n is None else n
        return today + _DAY, today + _DAY + dt.timedelta(days=days)
    if name == "N_DAYS_AGO":
        assert n is not None
        start = today - dt.timedelta(days=n)
        return start, start + _DAY
    unit = _unit_of(name.replace("FISCAL_", ""))
    if unit is None:
        raise ValueError(f"not a date literal: {name}")
    current = _period_start(today, unit)
    if name.startswith("THIS_"):
        return current, _shift(current, unit, 1)
    if name.startswith("LAST_N_"):
        assert n is not None
        return _shift(current, unit, -n), current
    if name.startswith("NEXT_N_"):
        assert n is not None
        return _shift(current, unit, 1), _shift(current, unit, 1 + n)
    if name.startswith("LAST_"):
        return _shift(current, unit, -1), current
    if name.startswith("NEXT_"):
        return _shift(current, unit, 1), _shift(current, unit, 2)
    if name.startswith("N_") and name.endswith("_AGO"):
        assert n is not None
        return _shift(current, unit, -n), _shift(current, unit, 1 - n)
    raise ValueError(f"not a date literal: {name}")
