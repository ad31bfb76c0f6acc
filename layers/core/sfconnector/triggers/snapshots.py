"""The field snapshot variant of a stream (flow: plan -> fetch -> **decide** -> publish ->
**settle** -> **commit**): field matched on fields without history tracking. Its state is the
snapshot's buckets of the records the page holds (loaded before deciding), which the record rows
variant reads through :func:`lookup`; it fires nothing itself; its next state is the buckets
:func:`remembered` returns (the values of the rows whose events all went out), written
(``SNAPSHOT#`` items) before the stream's item. The functions here are pure; the variant's
``load`` and ``commit`` are its thin I/O.

Buckets as loaded: per watched field (lower case), ``{bucket: {15-char id: value}}``, values as
``stores.cursors.snapshot_value`` makes them (the value hash and the version it was recorded at).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from sfconnector.catalog import STREAMS, TriggerKind
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.cursors import snapshot_bucket, snapshot_parts, snapshot_value
from sfconnector.triggers import streams
from sfconnector.triggers.decide import Candidate, Settlement, SnapshotLookup, Unit, unseen
from sfconnector.triggers.plan import CycleContext, StreamRun, progress_of

if TYPE_CHECKING:
    from sfconnector.stores.cursors import CursorStore

__all__ = ["Buckets", "SnapshotVariant", "lookup", "remembered", "watched_fields"]

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


class SnapshotVariant:
    def __init__(self, run: StreamRun, context: CycleContext) -> None:
        self.run, self.context = run, context
        self.watched = watched_fields(run.subs)
        self.buckets: Buckets = {}
        """Per watched field, the buckets loaded this cycle (and, at its end, what settled)."""
        self.dirty: dict[str, set[str]] = {}
        """The buckets of each field whose entries changed (written before the stream's item)."""
        self.next: Buckets = {}

    def load(self, store: CursorStore) -> int:
        """The buckets of the records whose row change is not processed yet (rows re-read inside
        the lookback cost nothing)."""
        if not self.watched or _MATCHED not in {streams.stream_of(s) for s in self.run.subs}:
            return 0
        progress, buckets, requests = progress_of(self.run.state), set(), 0
        for row in self.run.rows:
            rid, version = str(row.get("Id") or "")[:15], streams.row_version(row, _MATCHED)
            if rid and version is not None and unseen(progress, streams.seen_key(rid, _MATCHED), version):
                buckets.add(snapshot_bucket(rid))
        for name in sorted(self.watched):
            loaded, asked = (
                ({b: {} for b in buckets}, 0)
                if not buckets
                else store.load_snapshot(self.context.connection_id, self.run.state.sk, name, buckets)
            )
            self.buckets[name] = loaded
            requests += asked
        return requests

    def lookup(self) -> SnapshotLookup | None:
        """What the record rows variant decides field matched transitions with (None: none)."""
        return lookup(self.buckets) if self.buckets else None

    def decide(self) -> Sequence[Unit]:
        return ()  # the transitions it decides are the record rows' changes (their seen keys)

    def cut(self, keep: int) -> None:
        return None  # what it remembers comes from the settled rows, already cut

    def settle(self, settlement: Settlement, *, final: bool) -> None:
        self.next = remembered(self.buckets, settlement.settled)
        if final:
            for name, buckets in self.next.items():
                self.buckets[name].update(buckets)
                self.dirty.setdefault(name, set()).update(buckets)

    def errors(self) -> dict[str, str]:
        return {}  # its failures are the stream's own (``run.error``)

    def commit(self, store: CursorStore, owner: str | None, *, final: bool) -> int:
        """Snapshots before the stream's item: a crash between the two leaves a change unseen
        whose snapshot already holds its value (re-read, it fires nothing: its event was
        published before either write), never a seen change with a stale snapshot. Not lease
        conditional: the stream item, which is, decides whether these values count."""
        cid, state, writes = self.context.connection_id, self.run.state, 0
        if not final:
            for name, buckets in sorted(self.next.items()):
                writes += store.save_snapshot(cid, state.sk, name, buckets)
            return writes
        merged = self.run.merged
        for name, dirty in sorted(self.dirty.items()):
            if not merged:
                writes += store.save_snapshot(cid, state.sk, name, {b: self.buckets[name][b] for b in dirty})
        watched = set() if merged else self.watched
        for name in sorted(set(state.snapshots) - watched):
            writes += store.delete_snapshot(cid, state.sk, name)
        state.snapshots = sorted(watched)
        return writes
