"""The org's clock: real time by default, settable and advanceable by tests (admin API)."""

from __future__ import annotations

import datetime as dt
import threading

__all__ = ["Clock", "format_datetime", "parse_datetime"]

UTC = dt.UTC


class Clock:
    """Wall-clock time plus an offset, or a frozen instant; always timezone-aware UTC."""

    def __init__(self) -> None:
        self._offset = dt.timedelta(0)
        self._frozen: dt.datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return dt.datetime.now(UTC) + self._offset

    def set(self, instant: dt.datetime, *, frozen: bool = False) -> None:
        instant = instant.astimezone(UTC)
        with self._lock:
            if frozen:
                self._frozen = instant
            else:
                self._frozen = None
                self._offset = instant - dt.datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            delta = dt.timedelta(seconds=seconds)
            if self._frozen is not None:
                self._frozen += delta
            else:
                self._offset += delta

    def reset(self) -> None:
        with self._lock:
            self._offset = dt.timedelta(0)
            self._frozen = None

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    @property
    def offset_seconds(self) -> float:
        return self._offset.total_seconds()


def format_datetime(value: dt.datetime) -> str:
    """Salesforce's wire form, stored to the second: ``2024-05-20T20:49:32.000+0000``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S") + ".000+0000"


def parse_datetime(text: str) -> dt.datetime | None:
    """Parse the ISO 8601 forms Salesforce accepts (``Z``, ``+00:00``, ``+0000``, fractions); None if not."""
    s = text.strip()
    if len(s) < 19 or s[10] not in "Tt ":
        return None
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    elif len(s) >= 5 and s[-5] in "+-" and s[-4:].isdigit():
        s = s[:-5] + s[-5:-2] + ":" + s[-2:]
    try:
        parsed = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
