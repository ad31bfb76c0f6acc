"""AWS schedule expressions: ``rate(...)``, ``cron(...)`` (the 6-field AWS syntax) and ``at(...)``.

The cron dialect is EventBridge's: fields are minutes, hours, day-of-month, month, day-of-week,
year; exactly one of day-of-month and day-of-week is ``?``; day-of-week counts 1=SUN .. 7=SAT;
``L`` (last day of month, or ``5L`` = last Thursday), ``W`` (``15W`` nearest weekday, ``LW`` last
weekday) and ``#`` (``2#1`` = first Monday) are supported, as are names (JAN-DEC, SUN-SAT),
ranges, lists and ``/`` increments. Times are evaluated in the schedule's time zone (IANA name).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MIN_YEAR, MAX_YEAR = 1970, 2199
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


class ScheduleExpressionError(ValueError):
    """The expression is not valid AWS schedule syntax; the message says which part."""


class Schedule(Protocol):
    @property
    def expression(self) -> str: ...

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment`` (aware, UTC), or None if there is none."""


@dataclass(frozen=True)
class RateSchedule:
    """``rate(N unit)``: every N units, counted from ``anchor`` (creation or StartDate)."""

    expression: str
    period: timedelta
    anchor: datetime

    def next_after(self, moment: datetime) -> datetime | None:
        if moment < self.anchor:
            return self.anchor + self.period
        elapsed = (moment - self.anchor) // self.period
        return self.anchor + self.period * (elapsed + 1)


@dataclass(frozen=True)
class AtSchedule:
    """``at(yyyy-mm-ddThh:mm:ss)``: once, in the schedule's time zone."""

    expression: str
    when: datetime

    def next_after(self, moment: datetime) -> datetime | None:
        return self.when if self.when > moment else None


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment


_RATE_RE = re.compile(r"^rate\(\s*(\d+)\s+([a-z]+)\s*\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def _rate(expression: str, anchor: datetime) -> RateSchedule:
    match = _RATE_RE.match(expression)
    if not match:
        raise ScheduleExpressionError(f"{expression!r}: expected rate(value unit), e.g. rate(5 minutes)")
    value, unit = int(match.group(1)), match.group(2)
    singular = unit.removesuffix("s")
    if singular not in _UNITS:
        raise ScheduleExpressionError(f"{expression!r}: the unit must be minute(s), hour(s) or day(s)")
    if value < 1:
        raise ScheduleExpressionError(f"{expression!r}: the value must be a positive integer")
    # AWS rejects "rate(1 minutes)" and "rate(5 minute)": the unit's number must agree.
    if (value == 1) != (unit == singular):
        expected = singular if value == 1 else singular + "s"
        raise ScheduleExpressionError(f"{expression!r}: write rate({value} {expected})")
    return RateSchedule(expression, timedelta(seconds=value * _UNITS[singular]), _aware(anchor))


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleExpressionError(f"unknown time zone {timezone!r}") from None


def _at(expression: str, timezone: str) -> AtSchedule:
    match = re.match(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$", expression)
    if not match:
        raise ScheduleExpressionError(f"{expression!r}: expected at(yyyy-mm-ddThh:mm:ss)")
    try:
        local = datetime.fromisoformat(match.group(1))
    except ValueError:
        raise ScheduleExpressionError(f"{expression!r}: not a valid date and time") from None
    return AtSchedule(expression, local.replace(tzinfo=_zone(timezone)).astimezone(UTC))


def _number(token: str, names: dict[str, int] | None, low: int, high: int, field: str) -> int:
    upper = token.upper()
    if names and upper in names:
        return names[upper]
    if not token.isdigit():
        raise ScheduleExpressionError(f"{field}: {token!r} is not a number" + (" or name" if names else ""))
    value = int(token)
    if not low <= value <= high:
        raise ScheduleExpressionError(f"{field}: {value} is outside {low}-{high}")
    return value


def _values(
    text: str, low: int, high: int, field: str, names: dict[str, int] | None = None
) -> frozenset[int]:
    """Expand a plain field (``*``, lists, ranges, increments) into the set of values it allows."""
    out: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleExpressionError(f"{field}: empty list element in {text!r}")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleExpressionError(f"{field}: bad increment in {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = (_number(first, names, low, high, field), _number(last, names, low, high, field))
            if start > end:
                raise ScheduleExpressionError(f"{field}: range {base!r} runs backwards")
        else:
            start = _number(base, names, low, high, field)
            end = high if slash else start
        out.update(range(start, end + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class _DayOfMonth:
    values: frozenset[int] = frozenset()
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: int | None = None

    def days(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        found = {d for d in self.values if d <= length}
        if self.last:
            found.add(length)
        if self.last_weekday:
            day = length
            while date(year, month, day).weekday() >= 5:
                day -= 1
            found.add(day)
        if self.nearest_weekday is not None and self.nearest_weekday <= length:
            target = self.nearest_weekday
            weekday = date(year, month, target).weekday()
            if weekday == 5:  # Saturday: Friday before, unless that leaves the month
                target = target - 1 if target > 1 else target + 2
            elif weekday == 6:  # Sunday: Monday after, unless that leaves the month
                target = target + 1 if target < length else target - 2
            found.add(target)
        return found


@dataclass(frozen=True)
class _DayOfWeek:
    values: frozenset[int] = frozenset()  # 1=SUN .. 7=SAT
    last_of: int | None = None  # "5L": last Thursday of the month
    nth: tuple[int, int] | None = None  # "2#1": (weekday, n)

    def days(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        found: set[int] = set()
        for day in range(1, length + 1):
            aws_weekday = (date(year, month, day).weekday() + 1) % 7 + 1
            if aws_weekday in self.values:
                found.add(day)
            if self.last_of == aws_weekday and day + 7 > length:
                found.add(day)
            if self.nth is not None and self.nth[0] == aws_weekday and (day - 1) // 7 + 1 == self.nth[1]:
                found.add(day)
        return found


def _day_of_month(text: str) -> _DayOfMonth:
    field = "day-of-month"
    upper = text.upper()
    if upper == "L":
        return _DayOfMonth(last=True)
    if upper == "LW":
        return _DayOfMonth(last_weekday=True)
    if upper.endswith("W"):
        return _DayOfMonth(nearest_weekday=_number(upper[:-1], None, 1, 31, field))
    if "L" in upper or "W" in upper:
        raise ScheduleExpressionError(f"{field}: L and W cannot be combined with other values in {text!r}")
    return _DayOfMonth(values=_values(text, 1, 31, field))


def _day_of_week(text: str) -> _DayOfWeek:
    field = "day-of-week"
    upper = text.upper()
    if upper == "L":
        return _DayOfWeek(values=frozenset({7}))
    if upper.endswith("L"):
        return _DayOfWeek(last_of=_number(upper[:-1], _DAYS, 1, 7, field))
    if "#" in upper:
        day_text, _, n_text = upper.partition("#")
        if not n_text.isdigit() or not 1 <= int(n_text) <= 5:
            raise ScheduleExpressionError(f"{field}: the n in {text!r} must be 1-5")
        return _DayOfWeek(nth=(_number(day_text, _DAYS, 1, 7, field), int(n_text)))
    return _DayOfWeek(values=_values(text, 1, 7, field, _DAYS))


@dataclass(frozen=True)
class CronSchedule:
    """``cron(minutes hours day-of-month month day-of-week year)`` in a time zone."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: _DayOfMonth | None
    months: frozenset[int]
    day_of_week: _DayOfWeek | None
    years: frozenset[int]
    zone: ZoneInfo

    def _days(self, year: int, month: int) -> list[int]:
        if self.day_of_month is not None:
            return sorted(self.day_of_month.days(year, month))
        assert self.day_of_week is not None
        return sorted(self.day_of_week.days(year, month))

    def next_after(self, moment: datetime) -> datetime | None:
        local = _aware(moment).astimezone(self.zone).replace(second=0, microsecond=0, tzinfo=None)
        start = local + timedelta(minutes=1)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for year in sorted(y for y in self.years if y >= start.year):
            for month in sorted(self.months):
                if (year, month) < (start.year, start.month):
                    continue
                for day in self._days(year, month):
                    if (year, month, day) < (start.year, start.month, start.day):
                        continue
                    same_day = (year, month, day) == (start.year, start.month, start.day)
                    for hour in hours:
                        if same_day and hour < start.hour:
                            continue
                        for minute in minutes:
                            if same_day and hour == start.hour and minute < start.minute:
                                continue
                            candidate = datetime(year, month, day, hour, minute, tzinfo=self.zone)
                            result = candidate.astimezone(UTC)
                            if result > moment:
                                return result
        return None


def _cron(expression: str, timezone: str) -> CronSchedule:
    match = re.match(r"^cron\((.*)\)$", expression)
    if not match:
        raise ScheduleExpressionError(f"{expression!r}: expected cron(fields)")
    fields = match.group(1).split()
    if len(fields) != 6:
        raise ScheduleExpressionError(
            f"{expression!r}: AWS cron has 6 fields (minutes hours day-of-month month day-of-week year), "
            f"got {len(fields)}"
        )
    minute_f, hour_f, dom_f, month_f, dow_f, year_f = fields
    if (dom_f == "?") == (dow_f == "?"):
        raise ScheduleExpressionError(
            f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'"
        )
    return CronSchedule(
        expression=expression,
        minutes=_values(minute_f, 0, 59, "minutes"),
        hours=_values(hour_f, 0, 23, "hours"),
        day_of_month=None if dom_f == "?" else _day_of_month(dom_f),
        months=_values(month_f, 1, 12, "month", _MONTHS),
        day_of_week=None if dow_f == "?" else _day_of_week(dow_f),
        years=_values(year_f, MIN_YEAR, MAX_YEAR, "year"),
        zone=_zone(timezone),
    )


def parse_schedule(expression: str, *, anchor: datetime, timezone: str = "UTC") -> Schedule:
    """Parse any AWS schedule expression; ``anchor`` is when a rate() schedule starts counting."""
    text = expression.strip()
    if text.startswith("rate("):
        return _rate(text, anchor)
    if text.startswith("cron("):
        return _cron(text, timezone)
    if text.startswith("at("):
        return _at(text, timezone)
    raise ScheduleExpressionError(f"{expression!r}: expected rate(...), cron(...) or at(...)")
