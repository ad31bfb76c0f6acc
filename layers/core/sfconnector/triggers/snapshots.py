"""Field matched on fields without history tracking: the stream's field snapshot, decided
(pure, no I/O). The cycle loads the buckets of the records it reads and writes back the buckets
:func:`remembered` returns; the decision core reads the held entries through :func:`lookup`.

Buckets as loaded: per watched field (lower case), ``{bucket: {15-char id: value}}``, values as
``stores.cursors.snapshot_value`` makes them (the value hash and the version it was recorded at).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sfconnector.catalog import STREAMS, TriggerKind
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.cursors import snapshot_bucket, snapshot_parts, snapshot_value
from sfconnector.triggers import streams
from sfconnector.triggers.decide import Candidate, SnapshotLookup

__all__ = ["Buckets", "lookup", "remembered", "watched_fields"]

Buckets = dict[str, dict[str, dict[str, str]]]
"""Per watched field (lower case): ``{bucket: {15-char id: value}}``."""

_MATCHED = STREAMS[TriggerKind.FIELD_MATCHED]


def watched_fields(subscriptions: Iterable[Subscription]) -> set[str]:
    """The fields (lower case) ``changed_to`` subscriptions watch: their snapshot decides the
    transitions no History row covers (a field without history tracking)."""
    return {
        str(sub.params["field"]).lower()
        for sub in subscriptions
        if sub.kind == TriggerKind.FIELD_MATCHED.value
        and sub.params.get("mode", "changed_to") == "changed_to"
        and sub.params.get("field")
    }


def lookup(snapshots: Mapping[str, Mapping[str, Mapping[str, str]]]) -> SnapshotLookup:
    def held(rid: str) -> dict[str, tuple[str, int | None] | None]:
        bucket = snapshot_bucket(rid)
        entries = {name: buckets.get(bucket, {}).get(rid) for name, buckets in snapshots.items()}
        return {name: None if value is None else snapshot_parts(value) for name, value in entries.items()}

    return held


def remembered(
    snapshots: Mapping[str, Mapping[str, Mapping[str, str]]], settled: Sequence[Candidate]
) -> Buckets:
    """The buckets the settled rows change (copies; the loaded ones stay as they are): each
    record's watched values as processed, with the version they were read at, which the next
    change is compared with and the next transition identified by. Only rows whose events all
    went out are settled: a re-send decides from the same old value."""
    out: Buckets = {}
    for candidate in settled:
        rid = str(candidate.row.get("Id") or "")[:15]
        if candidate.key != streams.seen_key(rid, _MATCHED):
            continue  # a History row or another stream's change: the row itself is what is kept
        bucket = snapshot_bucket(rid)
        for name, buckets in snapshots.items():
            digest = streams.value_hash(streams.field_value(candidate.row, name))
            entries = out.get(name, {}).get(bucket, buckets.get(bucket, {}))
            if snapshot_parts(entries.get(rid) or "")[0] != digest:
                changed = out.setdefault(name, {}).setdefault(bucket, dict(entries))
                changed[rid] = snapshot_value(digest, candidate.version)
    return out
