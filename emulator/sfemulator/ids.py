"""Salesforce record ids: 15-character case-sensitive ids, 18-character checksummed ids, key prefixes."""

from __future__ import annotations

import re
import threading

__all__ = ["IdGenerator", "checksum", "is_id_shaped", "normalize_id", "to18"]

_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-5]{3})?$")


def checksum(id15: str) -> str:
    """The 3-character suffix encoding which of the 15 characters are upper-case letters."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX_CHARS[bits])
    return "".join(out)


def is_id_shaped(value: str) -> bool:
    """True for 15 alphanumerics optionally followed by a 3-character suffix (not yet verified)."""
    return bool(_SHAPE.match(value))


def normalize_id(value: str) -> str | None:
    """The canonical 18-character form of an id, or None when it is not a valid id.

    An 18-character id is case-insensitive: its suffix says which letters are upper case, which is
    how Salesforce lets case-insensitive systems (spreadsheets, some databases) round-trip ids.
    """
    if not isinstance(value, str) or not _SHAPE.match(value):
        return None
    if len(value) == 15:
        return value + checksum(value)
    suffix = value[15:].upper()
    chars = list(value[:15])
    for chunk in range(3):
        bits = _SUFFIX_CHARS.index(suffix[chunk]) if suffix[chunk] in _SUFFIX_CHARS else -1
        if bits < 0:
            return None
        for i in range(5):
            pos = chunk * 5 + i
            ch = chars[pos]
            if ch.isalpha():
                chars[pos] = ch.upper() if bits & (1 << i) else ch.lower()
            elif bits & (1 << i):
                return None
    id15 = "".join(chars)
    return id15 + checksum(id15)


def to18(id15: str) -> str:
    """Append the checksum to a 15-character id (which must already be valid)."""
    return id15 if len(id15) == 18 else id15 + checksum(id15)


class IdGenerator:
    """Mints ids ``<prefix><pod><0><9-char base62 counter>`` + checksum, unique within one org."""

    def __init__(self, pod: str, start: int = 1) -> None:
        if len(pod) != 2 or not pod.isalnum():
            raise ValueError("pod must be 2 alphanumeric characters")
        self._pod = pod
        self._next = start
        self._lock = threading.Lock()

    @property
    def counter(self) -> int:
        return self._next

    @counter.setter
    def counter(self, value: int) -> None:
        with self._lock:
            self._next = value

    def new(self, key_prefix: str) -> str:
        with self._lock:
            n = self._next
            self._next += 1
        digits = []
        for _ in range(9):
            n, r = divmod(n, 62)
            digits.append(_BASE62[r])
        return to18(f"{key_prefix}{self._pod}0{''.join(reversed(digits))}")
