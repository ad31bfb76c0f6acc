"""AWS schedule expressions: rate(), the 6-field cron() (AWS's documented examples), at()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from devstack.cron import ScheduleExpressionError, parse_schedule

ANCHOR = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


def _fires(expression: str, start: datetime, count: int, timezone: str = "UTC") -> list[datetime]:
    schedule = parse_schedule(expression, anchor=ANCHOR, timezone=timezone)
    out: list[datetime] = []
    moment = start
    for _ in range(count):
        upcoming = schedule.next_after(moment)
        assert upcoming is not None
        out.append(upcoming)
        moment = upcoming
    return out


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_rate_counts_from_the_anchor() -> None:
    assert _fires("rate(5 minutes)", ANCHOR, 3) == [ANCHOR + timedelta(minutes=m) for m in (5, 10, 15)]
    # Asked mid-interval, the next fire stays on the anchor's grid.
    assert _fires("rate(1 hour)", ANCHOR + timedelta(minutes=59, seconds=59), 1) == [
        ANCHOR + timedelta(hours=1)
    ]
    assert _fires("rate(2 days)", ANCHOR - timedelta(days=1), 1) == [ANCHOR + timedelta(days=2)]


@pytest.mark.parametrize(
    "expression",
    ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(5 weeks)", "rate(five minutes)"],
)
def test_bad_rates_are_rejected(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        parse_schedule(expression, anchor=ANCHOR)


def test_daily_and_minute_fields() -> None:
    # "cron(0 10 * * ? *)": 10:00 UTC every day.
    assert _fires("cron(0 10 * * ? *)", ANCHOR, 2) == [_utc(2026, 3, 2, 10, 0), _utc(2026, 3, 3, 10, 0)]
    # "cron(15 12 * * ? *)": 12:15 UTC every day.
    assert _fires("cron(15 12 * * ? *)", _utc(2026, 3, 2, 12, 15), 1) == [_utc(2026, 3, 3, 12, 15)]
    # "cron(0/15 * * * ? *)": every 15 minutes.
    assert _fires("cron(0/15 * * * ? *)", _utc(2026, 3, 2, 8, 7, 30), 3) == [
        _utc(2026, 3, 2, 8, 15),
        _utc(2026, 3, 2, 8, 30),
        _utc(2026, 3, 2, 8, 45),
    ]


def test_weekday_ranges_and_names() -> None:
    # "cron(0 18 ? * MON-FRI *)": 18:00 on weekdays; from Friday evening the next is Monday.
    friday_night = _utc(2026, 3, 6, 18, 0)
    assert _fires("cron(0 18 ? * MON-FRI *)", friday_night, 1) == [_utc(2026, 3, 9, 18, 0)]
    # "cron(0/5 8-17 ? * MON-FRI *)": every 5 minutes during office hours.
    assert _fires("cron(0/5 8-17 ? * MON-FRI *)", _utc(2026, 3, 2, 17, 55), 1) == [_utc(2026, 3, 3, 8, 0)]
    # Numbers are 1=SUN..7=SAT: 1,7 is the weekend.
    assert _fires("cron(0 12 ? * 1,7 *)", ANCHOR, 2) == [_utc(2026, 3, 7, 12, 0), _utc(2026, 3, 8, 12, 0)]


def test_month_day_specials() -> None:
    # "cron(0 8 1 * ? *)": 08:00 on the first of each month.
    assert _fires("cron(0 8 1 * ? *)", ANCHOR, 2) == [_utc(2026, 4, 1, 8, 0), _utc(2026, 5, 1, 8, 0)]
    # L: the last day of the month (February 2028 is a leap month).
    assert _fires("cron(0 0 L 2 ? *)", ANCHOR, 3) == [
        _utc(2027, 2, 28, 0, 0),
        _utc(2028, 2, 29, 0, 0),
        _utc(2029, 2, 28, 0, 0),
    ]
    # LW: the last weekday; 2026-05-31 is a Sunday, so Friday the 29th.
    assert _fires("cron(0 9 LW 5 ? 2026)", ANCHOR, 1) == [_utc(2026, 5, 29, 9, 0)]
    # 15W: the weekday nearest the 15th; 2026-03-15 is a Sunday, so Monday the 16th.
    assert _fires("cron(0 9 15W 3 ? 2026)", ANCHOR, 1) == [_utc(2026, 3, 16, 9, 0)]
    # 1W on a Saturday does not leave the month: 2026-08-01 is a Saturday, so Monday the 3rd.
    assert _fires("cron(0 9 1W 8 ? 2026)", ANCHOR, 1) == [_utc(2026, 8, 3, 9, 0)]


def test_week_day_specials() -> None:
    # 2#1: the first Monday of the month.
    assert _fires("cron(0 9 ? * 2#1 *)", ANCHOR, 2) == [_utc(2026, 3, 2, 9, 0), _utc(2026, 4, 6, 9, 0)]
    # 6L: the last Friday of the month.
    assert _fires("cron(0 9 ? * 6L *)", ANCHOR, 2) == [_utc(2026, 3, 27, 9, 0), _utc(2026, 4, 24, 9, 0)]


def test_year_field_ends_the_schedule() -> None:
    schedule = parse_schedule("cron(0 0 1 1 ? 2027)", anchor=ANCHOR)
    assert schedule.next_after(ANCHOR) == _utc(2027, 1, 1, 0, 0)
    assert schedule.next_after(_utc(2027, 1, 1, 0, 0)) is None


def test_time_zones_follow_daylight_saving() -> None:
    # 09:00 in New York is 14:00 UTC in winter (EST) and 13:00 UTC in summer (EDT, from 8 March 2026).
    fires = _fires("cron(0 9 * * ? *)", _utc(2026, 3, 6, 0, 0), 3, timezone="America/New_York")
    assert fires == [_utc(2026, 3, 6, 14, 0), _utc(2026, 3, 7, 14, 0), _utc(2026, 3, 8, 13, 0)]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 10 * * *)", "6 fields"),
        ("cron(0 10 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 10 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(60 10 * * ? *)", "outside 0-59"),
        ("cron(0 10 * FOO ? *)", "not a number or name"),
        ("cron(0 10 ? * 2#6 *)", "must be 1-5"),
        ("cron(0 20-10 * * ? *)", "runs backwards"),
        ("every 5 minutes", "expected rate"),
    ],
)
def test_bad_cron_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ScheduleExpressionError, match=message):
        parse_schedule(expression, anchor=ANCHOR)


def test_at_fires_once_in_its_time_zone() -> None:
    schedule = parse_schedule("at(2026-03-02T10:30:00)", anchor=ANCHOR, timezone="Europe/Paris")
    assert schedule.next_after(ANCHOR) == _utc(2026, 3, 2, 9, 30)
    assert schedule.next_after(_utc(2026, 3, 2, 9, 30)) is None
    with pytest.raises(ScheduleExpressionError, match="time zone"):
        parse_schedule("at(2026-03-02T10:30:00)", anchor=ANCHOR, timezone="Mars/Olympus")
