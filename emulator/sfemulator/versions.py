"""The REST API versions this emulator serves (``metadata/versions.json``, as ``GET /services/data/`` lists).

The emulator owns its versions: it imports nothing from the connector. A request under a version not
listed here answers 404 ``NOT_FOUND``, as Salesforce does for a retired or unknown version. Every URL
in an answer (``attributes.url``, ``nextRecordsUrl``, ``Location``, describe ``urls``) carries the
version of the request that produced it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_API_VERSION",
    "LATEST_API_VERSION",
    "SERVED_VERSIONS",
    "VERSIONS",
    "is_served",
    "rebase_urls",
]

_FILE = Path(__file__).resolve().parent / "metadata" / "versions.json"
VERSIONS: list[dict[str, str]] = json.loads(_FILE.read_text(encoding="utf-8"))
SERVED_VERSIONS: frozenset[str] = frozenset("v" + v["version"] for v in VERSIONS)
LATEST_API_VERSION = "v" + max(VERSIONS, key=lambda v: float(v["version"]))["version"]
# The version an org advertises when none is configured (identity document, stored Attachment Body
# URLs, the test handle's REST client); any served version can be requested.
DEFAULT_API_VERSION = "v62.0"
assert DEFAULT_API_VERSION in SERVED_VERSIONS, "versions.json must list the default version"
_VERSION_SHAPE = re.compile(r"v\d{2,3}\.\d")


def is_served(version: str) -> bool:
    return version in SERVED_VERSIONS


def rebase_urls(obj: Any, old: str, new: str) -> Any:
    """``obj`` (query records) with every ``/services/data/<old>/`` URL moved to ``<new>``.

    Query cursors keep the records of their first page's request; a later page may be requested
    under another version, and its records' URLs must carry that one (as must a stored value such
    as an Attachment's ``Body`` URL).
    """
    if old == new or not _VERSION_SHAPE.fullmatch(old):
        return obj
    prefix = f"/services/data/{old}/"
    target = f"/services/data/{new}/"
    return _rebase(obj, prefix, target)


def _rebase(obj: Any, prefix: str, target: str) -> Any:
    if isinstance(obj, str):
        return target + obj[len(prefix) :] if obj.startswith(prefix) else obj
    if isinstance(obj, dict):
        return {k: _rebase(v, prefix, target) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rebase(v, prefix, target) for v in obj]
    return obj
