"""Properties of the stream variants' common interface (``triggers/variants.py``): the record
rows, the field snapshot and list view membership each decide a page into units and settle into
their next state; a page read whole, or split at any row over two cycles (a bound or a
checkpoint stopped the first), fires the same events (same ids) and leaves the same state.

Driven directly, no emulator, no AWS: each variant's state is given as its stored form would
load it (the DynamoDB reads and writes around it are the integration tests' business).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sfconnector.catalog import REPLICATION_KEY, TriggerKind
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.cursors import (
    ListViewState,
    StreamState,
    snapshot_bucket,
    snapshot_parts,
    snapshot_value,
)
from sfconnector.triggers import streams
from sfconnector.triggers.decide import Variant
from sfconnector.triggers.membership import MembershipVariant
from sfconnector.triggers.plan import CycleContext, StreamRun, ViewRun, progress_of
from sfconnector.triggers.ports import PollerSettings, PollReport
from sfconnector.triggers.rows import RowsVariant
from sfconnector.triggers.snapshots import Buckets, SnapshotVariant
from sfconnector.triggers.variants import Track

LOOKBACK = 300
T0 = 1_800_000_000
CURSOR = T0 + 2000
OWN_USER = "005000000000001AAA"
OTHER_USER = "005000000000002AAA"
SOURCES = ["Web", "Phone", "Partner"]
SETTINGS = PollerSettings()


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _sub(n: int, family: str, sobject: str, kind: TriggerKind, **extra: Any) -> Subscription:
    return Subscription(
        subscription_id=f"{n:032x}",
        connection_id="conn-variants",
        trigger=f"{family}.{kind.value}",
        kind=kind.value,
        family=family,
        sobject=sobject,
        start_at=dt.datetime.fromtimestamp(T0, dt.UTC),
        **extra,
    )


ROW_SUBS = [
    _sub(1, "opportunities", "Opportunity", TriggerKind.CREATED),
    _sub(2, "opportunities", "Opportunity", TriggerKind.UPDATED, ignore_own_changes=True),
    _sub(3, "opportunities", "Opportunity", TriggerKind.DELETED),
]
SNAPSHOT_SUBS = [
    # LeadSource has no History rows here: the snapshot decides its transitions.
    _sub(
        4,
        "opportunities",
        "Opportunity",
        TriggerKind.FIELD_MATCHED,
        params={"field": "LeadSource", "value": "Web"},
    ),
    _sub(5, "opportunities", "Opportunity", TriggerKind.UPDATED, fields=["LeadSource"]),
]
VIEW_SUBS = [
    _sub(6, "accounts", "Account", TriggerKind.ENTERED_LIST_VIEW, params={"list_view_id": "00B000000000001"}),
    _sub(7, "accounts", "Account", TriggerKind.ENTERED_LIST_VIEW, params={"list_view_id": "00B000000000001"}),
]


@st.composite
def _rows(draw: st.DrawFn, prefix: str) -> list[dict[str, Any]]:
    """A page of a stream's window, sorted as the query returns it (SystemModstamp, Id)."""
    rows = []
    for n in range(draw(st.integers(1, 12))):
        stamp = draw(st.integers(CURSOR - LOOKBACK, CURSOR + 200))
        created = stamp - draw(st.sampled_from([0, 0, 1, 30, 400, 2500]))
        modified = draw(st.integers(created, stamp))
        actor = draw(st.sampled_from([OWN_USER, OTHER_USER]))
        rows.append(
            {
                "Id": f"{prefix}{n:012d}AAA",
                "LeadSource": draw(st.sampled_from(SOURCES)),
                "CreatedDate": _iso(created),
                "CreatedById": actor,
                "LastModifiedDate": _iso(modified),
                "LastModifiedById": actor,
                REPLICATION_KEY: _iso(stamp),
                "IsDeleted": draw(st.sampled_from([False, False, False, True])),
            }
        )
    return sorted(rows, key=lambda r: (streams.parse_stamp(r[REPLICATION_KEY]), r["Id"]))


def _upper(rows: Sequence[dict[str, Any]]) -> int:
    return max(CURSOR, *(streams.parse_stamp(r[REPLICATION_KEY]) or 0 for r in rows)) + 1


def _context() -> CycleContext:
    return CycleContext("conn-variants", OWN_USER, "00D", float(CURSOR + 400), SETTINGS, PollReport(
        connection_id="conn-variants", outcome="polled"
    ), {})  # fmt: skip


def _run(
    state: StreamState, subs: list[Subscription], rows: list[dict[str, Any]], upper: int, *, done: bool
) -> StreamRun:
    low = max(0, state.cursor - LOOKBACK)
    return StreamRun(state=state, subs=subs, low=low, upper=upper, rows=list(rows), done=done, started=True)


def _cycle(run: StreamRun, variants: Sequence[Variant]) -> list[str]:
    """Decide the page with the variants (their state as loaded) and settle it, every event out
    (SNS accepted it or the outbox keeps it); returns the events' ids in publish order."""
    track = Track(run, variants)
    for variant in variants:
        track.decided += variant.decide()
    ids = [event.id for unit in track.units for _sub, event in unit.events]
    track.settle(len(run.rows), set(ids), final=True)
    return ids


def _rows_variants(run: StreamRun, snapshot: Buckets | None = None) -> list[Variant]:
    context = _context()
    if snapshot is None:
        return [RowsVariant(run, context, snapshot=lambda: None, relayed=None, reconciled=False)]
    held = SnapshotVariant(run, context)
    held.buckets = {name: {b: dict(e) for b, e in buckets.items()} for name, buckets in snapshot.items()}
    return [held, RowsVariant(run, context, snapshot=held.lookup, relayed=None, reconciled=False)]


def _state(seen: dict[str, int]) -> StreamState:
    return StreamState(sobject="Opportunity", cursor=CURSOR, prev_cursor=CURSOR - 60, seen=dict(seen))


def _seen(
    data: st.DataObject, rows: Sequence[dict[str, Any]], subs: Sequence[Subscription]
) -> dict[str, int]:
    """Some of the page's changes already seen (an earlier, overlapping window)."""
    seen: dict[str, int] = {}
    for row in rows:
        for stream in {streams.stream_of(s) for s in subs}:
            assert stream is not None
            for change in streams.row_changes(row, stream):
                if data.draw(st.sampled_from(["unseen", "unseen", "seen"]), label="seen") == "seen":
                    seen[change.key] = change.version
    return seen


def _after_next_window(state: StreamState, upper: int) -> tuple[object, dict[str, int]]:
    """The stream's progress after one more complete window with no rows (a split window keeps
    its drain's horizon for one window more)."""
    run = _run(state, ROW_SUBS, [], upper, done=True)
    _cycle(run, _rows_variants(run))
    progress = progress_of(run.state)
    return progress.position, dict(progress.seen)


@settings(max_examples=80)
@given(data=st.data())
def test_record_rows_split_at_any_row_fire_the_same_events_and_leave_the_same_state(
    data: st.DataObject,
) -> None:
    rows = data.draw(_rows("006"), label="rows")
    seen = _seen(data, rows, ROW_SUBS)
    k = data.draw(st.integers(0, len(rows)), label="split")
    upper = _upper(rows)

    whole = _run(_state(seen), ROW_SUBS, rows, upper, done=True)
    whole_ids = _cycle(whole, _rows_variants(whole))

    first = _run(_state(seen), ROW_SUBS, rows[:k], upper, done=False)
    first_ids = _cycle(first, _rows_variants(first))
    rest = _run(first.state, ROW_SUBS, rows[k:], upper, done=True)
    rest_ids = _cycle(rest, _rows_variants(rest))

    assert first_ids + rest_ids == whole_ids
    assert rest.state.cursor == whole.state.cursor == upper
    later = upper + data.draw(st.integers(1, 400), label="next window")
    assert _after_next_window(rest.state, later) == _after_next_window(whole.state, later)


@settings(max_examples=80)
@given(data=st.data())
def test_the_field_snapshot_split_at_any_row_fires_the_same_events_and_holds_the_same_values(
    data: st.DataObject,
) -> None:
    rows = data.draw(_rows("006"), label="rows")
    seen = _seen(data, rows, SNAPSHOT_SUBS)
    snapshot: Buckets = {"leadsource": {}}
    for row in rows:
        if data.draw(st.booleans(), label="in the snapshot"):
            rid = row["Id"][:15]
            value = snapshot_value(streams.value_hash(data.draw(st.sampled_from(SOURCES))), CURSOR - 900)
            snapshot["leadsource"].setdefault(snapshot_bucket(rid), {})[rid] = value
    k = data.draw(st.integers(0, len(rows)), label="split")
    upper = _upper(rows)

    whole = _run(_state(seen), SNAPSHOT_SUBS, rows, upper, done=True)
    whole_variants = _rows_variants(whole, snapshot)
    whole_ids = _cycle(whole, whole_variants)

    first = _run(_state(seen), SNAPSHOT_SUBS, rows[:k], upper, done=False)
    first_variants = _rows_variants(first, snapshot)
    first_ids = _cycle(first, first_variants)
    held = first_variants[0]
    assert isinstance(held, SnapshotVariant)  # the next cycle loads what this one settled
    rest = _run(first.state, SNAPSHOT_SUBS, rows[k:], upper, done=True)
    rest_variants = _rows_variants(rest, held.buckets)
    rest_ids = _cycle(rest, rest_variants)

    assert first_ids + rest_ids == whole_ids
    after_whole, after_split = whole_variants[0], rest_variants[0]
    assert isinstance(after_whole, SnapshotVariant)
    assert isinstance(after_split, SnapshotVariant)
    assert after_split.buckets == after_whole.buckets
    # The snapshot holds what settled: each record whose field matched change was decided, at
    # its value now (the next change is compared with it).
    decider = whole_variants[1]
    assert isinstance(decider, RowsVariant)
    matched = streams.stream_of(SNAPSHOT_SUBS[0])
    assert matched is not None
    for candidate in decider.candidates:
        rid = candidate.row["Id"][:15]
        if candidate.key == streams.seen_key(rid, matched):
            entry = after_whole.buckets["leadsource"][snapshot_bucket(rid)][rid]
            assert snapshot_parts(entry)[0] == streams.value_hash(candidate.row["LeadSource"])


def _view(members: set[str], run: StreamRun, inside: Sequence[dict[str, Any]]) -> ViewRun:
    state = ListViewState(sobject="Account", list_view_id="00B000000000001", query="SELECT Id FROM Account")
    state.baselined, state.members = True, set(members)
    return ViewRun(state=state, subs=VIEW_SUBS, run=run, rows=list(inside), done=True, started=True)


@settings(max_examples=80)
@given(data=st.data())
def test_list_view_membership_split_at_any_row_fires_the_same_entries_and_keeps_the_same_members(
    data: st.DataObject,
) -> None:
    rows = data.draw(_rows("001"), label="rows")
    inside = [r for r in rows if not r["IsDeleted"] and data.draw(st.booleans(), label="in the list view")]
    members = {r["Id"][:15] for r in rows if data.draw(st.booleans(), label="member before")}
    k = data.draw(st.integers(0, len(rows)), label="split")
    upper = _upper(rows)

    def cycle(members: set[str], part: list[dict[str, Any]], *, done: bool) -> tuple[list[str], set[str]]:
        run = _run(
            StreamState(sobject="Account", cursor=CURSOR, prev_cursor=CURSOR),
            VIEW_SUBS,
            part,
            upper,
            done=done,
        )
        view = _view(members, run, [r for r in inside if r in part])
        ids = _cycle(run, [MembershipVariant(view, _context())])
        return ids, view.state.members

    whole_ids, whole_members = cycle(members, rows, done=True)
    first_ids, between = cycle(members, rows[:k], done=False)
    rest_ids, split_members = cycle(between, rows[k:], done=True)

    assert first_ids + rest_ids == whole_ids
    assert split_members == whole_members
    # Membership means what the list view holds: every row read in it is a member after.
    assert {r["Id"][:15] for r in inside} <= whole_members


@settings(max_examples=80)
@given(data=st.data())
def test_a_checkpoint_settles_what_the_cycle_would_had_it_stopped_at_that_row(data: st.DataObject) -> None:
    """A checkpoint after ``k`` rows (every variant settling a copy) and a cycle cut at ``k`` (out
    of time) then settled at its end leave every variant in the same next state: the record rows
    (the stream item), the field snapshot (its buckets) and list view membership (its members)."""
    rows = data.draw(_rows("006"), label="rows")
    subs = [*ROW_SUBS, *SNAPSHOT_SUBS, *VIEW_SUBS]
    seen = _seen(data, rows, subs)
    inside = [r for r in rows if not r["IsDeleted"] and data.draw(st.booleans(), label="in the list view")]
    members = {r["Id"][:15] for r in rows if data.draw(st.booleans(), label="member before")}
    k = data.draw(st.integers(0, len(rows)), label="stopped after")
    upper = _upper(rows)

    def track() -> Track:
        run = _run(_state(seen), subs, rows, upper, done=True)
        context = _context()
        snapshot = SnapshotVariant(run, context)
        snapshot.buckets = {"leadsource": {}}
        variants: list[Variant] = [
            MembershipVariant(_view(members, run, inside), context),
            snapshot,
            RowsVariant(run, context, snapshot=snapshot.lookup, relayed=None, reconciled=False),
        ]
        out = Track(run, variants)
        for variant in variants:
            out.decided += variant.decide()
        return out

    checkpointed, cut = track(), track()
    sent = {event.id for unit in checkpointed.units if unit.index < k for _sub, event in unit.events}
    checkpointed.settle(k, sent, final=False)
    cut.cut(k)
    cut.settle(len(cut.run.rows), sent, final=True)

    view_a, snap_a, rows_a = checkpointed.variants
    view_b, snap_b, rows_b = cut.variants
    assert isinstance(view_a, MembershipVariant)
    assert isinstance(view_b, MembershipVariant)
    assert view_a.next.state.members == view_b.next.state.members
    assert view_a.next.held == view_b.next.held
    assert isinstance(snap_a, SnapshotVariant)
    assert isinstance(snap_b, SnapshotVariant)
    assert snap_a.next == snap_b.next
    assert isinstance(rows_a, RowsVariant)
    assert isinstance(rows_b, RowsVariant)
    assert rows_a.next.to_item("conn-variants") == rows_b.next.to_item("conn-variants")
    assert checkpointed.run.state.to_item("conn-variants") == _state(seen).to_item("conn-variants")
