"""Salesforce record ids: 15-character (case-sensitive) and 18-character (case-safe) forms.

An 18-character id is the 15-character id plus a 3-character suffix that encodes, for each block of
five characters, which of them are upper case. The suffix makes the id safe to pass through
case-insensitive systems (spreadsheets, some databases): :func:`normalize_id` uses it to restore the
original case of an 18-character id whose case was lost.
"""

from __future__ import annotations

import re

__all__ = [
    "KEY_PREFIXES",
    "InvalidIdError",
    "is_valid_id",
    "key_prefix",
    "normalize_id",
    "sobject_for_id",
    "to_15",
    "to_18",
]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ALNUM15 = re.compile(r"[A-Za-z0-9]{15}")
_ALNUM18 = re.compile(r"[A-Za-z0-9]{18}")

KEY_PREFIXES: dict[str, str] = {
    "001": "Account",
    "003": "Contact",
    "005": "User",
    "006": "Opportunity",
    "00D": "Organization",
    "00G": "Group",
    "00K": "OpportunityContactRole",
    "00P": "Attachment",
    "00Q": "Lead",
    "00T": "Task",
    "00U": "Event",
    "00B": "ListView",
    "00a": "CaseComment",
    "00e": "Profile",
    "00k": "OpportunityLineItem",
    "00v": "CampaignMember",
    "012": "RecordType",
    "015": "Document",
    "01s": "Pricebook2",
    "01t": "Product2",
    "01u": "PricebookEntry",
    "068": "ContentVersion",
    "069": "ContentDocument",
    "06A": "ContentDocumentLink",
    "0D5": "FeedItem",
    "0D7": "FeedComment",
    "500": "Case",
    "701": "Campaign",
}
"""Key prefix (first three characters, case-sensitive) -> sObject, for the standard objects the
connector meets. Custom objects get org-specific prefixes (``a0X``...) and are not listed."""


class InvalidIdError(ValueError):
    """A value is not a Salesforce record id."""

    def __init__(self, value: object, reason: str = "is not a valid Salesforce id") -> None:
        shown = value if isinstance(value, str) and len(value) <= 40 else f"{str(value)[:40]}..."
        self.value = value
        super().__init__(f"{shown!r} {reason}")


def _suffix(id15: str) -> str:
    out = []
    for block in range(3):
        bits = 0
        for i, char in enumerate(id15[block * 5 : block * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        out.append(_ALPHABET[bits])
    return "".join(out)


def to_18(id15: str) -> str:
    """The 18-character form of a 15-character id (an 18-character id is normalised)."""
    if isinstance(id15, str) and len(id15) == 18:
        return normalize_id(id15)
    if not isinstance(id15, str) or not _ALNUM15.fullmatch(id15):
        raise InvalidIdError(id15)
    return id15 + _suffix(id15)


def to_15(value: str) -> str:
    """The 15-character (case-sensitive) form of a 15- or 18-character id."""
    return normalize_id(value)[:15]


def normalize_id(value: str) -> str:
    """The canonical 18-character form of an id.

    An 18-character id whose case was lost is repaired from its checksum. Raises
    :class:`InvalidIdError` (naming the value) for anything else.
    """
    if not isinstance(value, str):
        raise InvalidIdError(value)
    value = value.strip()
    if _ALNUM15.fullmatch(value):
        return value + _suffix(value)
    if not _ALNUM18.fullmatch(value):
        raise InvalidIdError(value)
    suffix = value[15:].upper()
    if any(c not in _ALPHABET for c in suffix):
        raise InvalidIdError(value, "has an invalid checksum")
    repaired = []
    for block, code in enumerate(suffix):
        bits = _ALPHABET.index(code)
        for i, char in enumerate(value[block * 5 : block * 5 + 5]):
            upper = bool(bits & (1 << i))
            if char.isdigit():
                if upper:
                    raise InvalidIdError(value, "has an invalid checksum")
                repaired.append(char)
            else:
                repaired.append(char.upper() if upper else char.lower())
    return "".join(repaired) + suffix


def is_valid_id(value: object) -> bool:
    """True for a 15-character id, or an 18-character id whose checksum is consistent."""
    if not isinstance(value, str):
        return False
    try:
        normalize_id(value)
    except InvalidIdError:
        return False
    return len(value.strip()) == len(value)


def key_prefix(value: str) -> str:
    """The 3-character key prefix of an id (identifies its sObject type)."""
    return normalize_id(value)[:3]


def sobject_for_id(value: str) -> str | None:
    """The standard sObject an id belongs to, from its key prefix (None if not a known prefix)."""
    return KEY_PREFIXES.get(key_prefix(value))
