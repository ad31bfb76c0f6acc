"""Properties of the trigger engine's pure decision core (``triggers/decide.py``,
``triggers/position.py``), driven directly: no emulator, no AWS.

A page of rows of one sObject (created, modified, deleted, with History rows of a watched field)
is decided for the created / updated / deleted / field matched subscriptions on it, from a
reachable stream position (its ``drain_low`` at most its horizon, as ``Position.advance`` leaves
it) and a seen-set holding some of the page's changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sfconnector.catalog import STREAMS, Stream, TriggerKind
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.cursors import StreamState
from sfconnector.triggers import streams
from sfconnector.triggers.decide import Candidate, Progress, decide, settle
from sfconnector.triggers.position import Position

LOOKBACK = 300
T0 = 1_800_000_000
OWN_USER = "005000000000001AAA"
OTHER_USER = "005000000000002AAA"
STAGES = ["Prospecting", "Closed Won", "Closed Lost"]


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _sub(n: int, kind: TriggerKind, **extra: Any) -> Subscription:
    return Subscription(
        subscription_id=f"{n:032x}",
        connection_id="conn-core",
        trigger=f"opportunities.{kind.value}",
        kind=kind.value,
        family="opportunities",
        sobject="Opportunity",
        start_at=dt.datetime.fromtimestamp(T0, dt.UTC),
        **extra,
    )


SUBSCRIPTIONS = [
    _sub(1, TriggerKind.CREATED),
    _sub(2, TriggerKind.UPDATED, ignore_own_changes=True),
    _sub(3, TriggerKind.DELETED),
    _sub(4, TriggerKind.FIELD_MATCHED, params={"field": "StageName", "value": "Closed Won"}),
    _sub(5, TriggerKind.UPDATED, fields=["StageName"]),
]


def _kinds() -> dict[Stream, list[Subscription]]:
    kinds: dict[Stream, list[Subscription]] = {}
    for sub in SUBSCRIPTIONS:
        stream = STREAMS[TriggerKind(sub.kind)]
        kinds.setdefault(stream, []).append(sub)
    return kinds


KINDS = _kinds()


@st.composite
def _rows(draw: st.DrawFn, cursor: int) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 10))
    rows = []
    history_n = 0
    for n in range(count):
        stamp = draw(st.integers(cursor - LOOKBACK - 200, cursor + 200))
        created = stamp - draw(st.sampled_from([0, 0, 1, 30, 400, 2000]))
        modified = draw(st.integers(created, stamp))
        histories = []
        for _ in range(draw(st.integers(0, 2))):
            history_n += 1
            old, new = draw(st.sampled_from(STAGES)), draw(st.sampled_from(STAGES))
            histories.append(
                {
                    "Id": f"017{history_n:012d}AAA",
                    "Field": draw(st.sampled_from(["StageName", "StageName", "created"])),
                    "OldValue": old,
                    "NewValue": new,
                    "CreatedDate": _iso(draw(st.integers(created, stamp))),
                    "CreatedById": draw(st.sampled_from([OWN_USER, OTHER_USER])),
                }
            )
        histories.sort(key=lambda h: (h["CreatedDate"], h["Id"]))
        actor = draw(st.sampled_from([OWN_USER, OTHER_USER]))
        rows.append(
            {
                "attributes": {"type": "Opportunity"},
                "Id": f"006{n:012d}AAA",
                "StageName": draw(st.sampled_from(STAGES)),
                "CreatedDate": _iso(created),
                "CreatedById": actor,
                "LastModifiedDate": _iso(modified),
                "LastModifiedById": actor,
                "SystemModstamp": _iso(stamp),
                "IsDeleted": draw(st.booleans()),
                "Histories": {"totalSize": len(histories), "done": True, "records": histories}
                if histories
                else None,
            }
        )
    rows.sort(key=lambda r: (streams.parse_stamp(r["SystemModstamp"]), r["Id"]))
    return rows


@st.composite
def _pages(draw: st.DrawFn) -> tuple[Progress, list[dict[str, Any]], int]:
    """A reachable progress, a page of its window (sorted as the query returns it) and the
    window's upper bound."""
    cursor = T0 + draw(st.integers(600, 3000))
    prev = cursor - draw(st.integers(0, 900))
    horizon = min(cursor, prev) - LOOKBACK
    drain_low = draw(st.one_of(st.none(), st.integers(horizon - 600, horizon)))
    rows = draw(_rows(cursor))
    seen: dict[str, int] = {}
    for row in rows:
        for stream in KINDS:
            for change in streams.row_changes(row, stream):
                if draw(st.sampled_from(["unseen", "unseen", "seen", "older"])) == "seen":
                    seen[change.key] = change.version
                elif draw(st.booleans()):
                    seen[change.key] = change.version - 7  # an earlier version of the same change
    floor = draw(st.sampled_from([0, 0, horizon - 100, horizon + 60]))
    upper = max(cursor, max(streams.parse_stamp(r["SystemModstamp"]) or 0 for r in rows) + 1)
    return Progress(Position(cursor, prev, None, drain_low, max(0, floor)), seen), rows, upper


def _decide(progress: Progress, rows: Sequence[Mapping[str, Any]], start: int = 0) -> list[Candidate]:
    return decide(progress, rows, KINDS, lookback=LOOKBACK, user_id=OWN_USER, org_id="00D", start=start)


def _ids(candidates: Sequence[Candidate]) -> list[str]:
    return [event.id for c in candidates for _sub, event in c.events]


def _out(candidates: Sequence[Candidate]) -> set[str]:
    """Every event of the candidates went out (SNS accepted it, or the outbox keeps it)."""
    return set(_ids(candidates))


def _settle(
    progress: Progress,
    candidates: Sequence[Candidate],
    rows: Sequence[Mapping[str, Any]],
    upper: int,
    *,
    complete: bool,
) -> Progress:
    after, _settled = settle(
        progress,
        candidates,
        _out(candidates),
        lookback=LOOKBACK,
        upper=upper,
        complete=complete,
        last=rows[-1] if rows else None,
    )
    return after


@settings(max_examples=150)
@given(page=_pages(), data=st.data())
def test_a_page_decided_whole_or_split_at_any_row_gives_the_same_events_and_state(
    page: tuple[Progress, list[dict[str, Any]], int], data: st.DataObject
) -> None:
    """A checkpoint (or a cycle stopped by a bound) splits a page: the rest, decided from the
    state the first part left, fires exactly what deciding the page at once fires; and after the
    next complete window both streams are in the same state."""
    progress, rows, upper = page
    k = data.draw(st.integers(0, len(rows)), label="split")
    whole = _decide(progress, rows)
    after_whole = _settle(progress, whole, rows, upper, complete=True)

    first = _decide(progress, rows[:k])
    middle = _settle(progress, first, rows[:k], upper, complete=False)
    rest = _decide(middle, rows[k:], start=k)
    after_split = _settle(middle, rest, rows, upper, complete=True)

    assert _ids(first) + _ids(rest) == _ids(whole)
    assert [c.index for c in first + rest] == [c.index for c in whole]
    assert after_split.position.cursor == after_whole.position.cursor == upper
    # The split stream never owes less: its horizon stays at the drain's start for one more window.
    assert after_split.position.horizon(LOOKBACK) <= after_whole.position.horizon(LOOKBACK)

    later = upper + data.draw(st.integers(1, 400), label="next window")
    next_whole = _settle(after_whole, [], [], later, complete=True)
    next_split = _settle(after_split, [], [], later, complete=True)
    assert next_split == next_whole


@settings(max_examples=150)
@given(page=_pages(), data=st.data())
def test_re_deciding_a_page_after_a_crash_gives_the_same_ids_and_nothing_twice(
    page: tuple[Progress, list[dict[str, Any]], int], data: st.DataObject
) -> None:
    """A cycle killed after committing the first ``k`` rows: the next one re-reads the page (the
    lookback re-reads it whole; the keyset only its rest) and fires exactly the events of the
    rows after ``k``, with the ids the killed cycle gave them; a cycle killed before any commit
    re-decides the page with the same ids."""
    progress, rows, upper = page
    k = data.draw(st.integers(0, len(rows)), label="committed rows")
    whole = _decide(progress, rows)
    assert _ids(_decide(progress, rows)) == _ids(whole)

    committed = _settle(progress, [c for c in whole if c.index < k], rows[:k], upper, complete=False)
    owed = [event_id for c in whole if c.index >= k for _s, e in c.events for event_id in [e.id]]
    assert _ids(_decide(committed, rows)) == owed
    assert _ids(_decide(committed, rows[k:], start=k)) == owed


@settings(max_examples=150)
@given(page=_pages(), data=st.data())
def test_nothing_the_stream_owes_falls_below_its_horizon(
    page: tuple[Progress, list[dict[str, Any]], int], data: st.DataObject
) -> None:
    """Every change of the page owed before a window stopped part-way (a version at or above
    the horizon, not seen) is still owed after it for the rows left to the next window, however
    far the stopped window moved the cursor; and a change the seen-set held before keeps being
    recognised while the stream may re-read it."""
    progress, rows, upper = page
    k = data.draw(st.integers(0, len(rows)), label="stopped after")
    before = _decide(progress, rows)
    stopped = _settle(progress, [c for c in before if c.index < k], rows[:k], upper, complete=False)
    for candidate in before:
        if candidate.index >= k:
            assert stopped.position.owes(candidate.version, LOOKBACK)
            assert stopped.seen.get(candidate.key) != candidate.version
    horizon = stopped.position.horizon(LOOKBACK)
    replaced = {c.key for c in before if c.index < k}  # seen again, at the row's version now
    for key, version in progress.seen.items():
        if version >= horizon and key not in replaced:
            assert stopped.seen.get(key) == version


@settings(max_examples=100)
@given(
    cursor=st.integers(T0, T0 + 5000),
    behind=st.integers(0, 900),
    steps=st.lists(
        st.tuples(st.booleans(), st.integers(0, 600), st.integers(1, 600)), min_size=1, max_size=8
    ),
)
def test_the_position_invariant_holds_through_any_run_of_windows(
    cursor: int, behind: int, steps: list[tuple[bool, int, int]]
) -> None:
    """Complete windows and windows stopped part-way, in any order: the cursor never goes back,
    the drain's horizon is never above the plain one, and it is forgotten only after a complete
    window that did not resume a drain."""
    position = Position(cursor, cursor - behind)
    now = cursor
    for complete, into, step in steps:
        now += step
        last = None if complete else (min(now, position.cursor + into), "006000000000001AAA")
        after = position.advance(lookback=LOOKBACK, upper=now, complete=complete, last=last, held=[])
        assert after.cursor >= position.cursor
        assert after.prev_cursor <= after.cursor
        if after.drain_low is not None:
            assert after.drain_low <= max(0, min(after.cursor, after.prev_cursor) - LOOKBACK)
            assert after.horizon(LOOKBACK) <= position.horizon(LOOKBACK)
        if complete and position.resume is None:
            assert after.drain_low is None
        if not complete:
            assert after.resume is not None
            assert after.drain_low is not None
        position = after


def test_a_snapshot_transition_is_identified_by_the_entry_it_replaces_not_the_rows_version() -> None:
    """An untracked field's move into the value, decided from the snapshot: re-decided after the
    record moved on (a crash kept the snapshot from taking the value), it has the same id; a
    later transition, from the entry recorded after the first, has another."""
    sub = _sub(6, TriggerKind.FIELD_MATCHED, params={"field": "LeadSource", "value": "Web"})
    kinds = {STREAMS[TriggerKind.FIELD_MATCHED]: [sub]}
    progress = Progress(Position(T0 + 1000, T0 + 1000), {})
    created = T0 + 10

    def row(version: int) -> dict[str, Any]:
        return {
            "Id": "006000000000001AAA",
            "LeadSource": "Web",
            "CreatedDate": _iso(created),
            "CreatedById": OTHER_USER,
            "LastModifiedDate": _iso(version),
            "LastModifiedById": OTHER_USER,
            "SystemModstamp": _iso(version),
            "IsDeleted": False,
        }

    def ids(version: int, held: tuple[str, int | None]) -> list[str]:
        return _ids(
            decide(
                progress,
                [row(version)],
                kinds,
                lookback=LOOKBACK,
                user_id=OWN_USER,
                org_id="00D",
                snapshot=lambda _rid: {"leadsource": held},
            )
        )

    other = (streams.value_hash("Other"), T0 + 900)
    first = ids(T0 + 1010, other)
    assert len(first) == 1
    assert ids(T0 + 1060, other) == first
    assert ids(T0 + 1060, (streams.value_hash("Other"), T0 + 1030)) != first
    # An entry written before versions were kept: the row's version identifies it, as before.
    assert ids(T0 + 1010, (other[0], None)) != ids(T0 + 1060, (other[0], None))


@settings(max_examples=60)
@given(
    count=st.integers(4, 40),
    data=st.data(),
)
def test_a_seen_set_past_its_bound_never_counts_a_row_not_read_yet_as_seen(
    count: int, data: st.DataObject
) -> None:
    """A bulk load stamps thousands of records in the same second; a backlog drain stops in the
    middle of it. When the seen-set then overflows its bound, the versions it drops count as seen
    (``seen_floor``), but never those of rows the drain has not read: they all still fire. (The
    backlog bench lost 4,000 of 20,000 Leads this way before the floor was bounded.)"""
    cursor = T0 + 1000
    second = cursor + 30
    rows = [
        {
            "Id": f"00Q{n:012d}AAA",
            "CreatedDate": _iso(second),
            "CreatedById": OTHER_USER,
            "LastModifiedDate": _iso(second),
            "LastModifiedById": OTHER_USER,
            "SystemModstamp": _iso(second),
            "IsDeleted": False,
        }
        for n in range(count)
    ]
    k = data.draw(st.integers(1, count - 1), label="drained")
    seen_max = data.draw(st.integers(1, k), label="seen bound")
    progress = Progress(Position(cursor, cursor), {})
    kinds = {STREAMS[TriggerKind.CREATED]: [SUBSCRIPTIONS[0]]}

    def decided(progress: Progress, rows: list[dict[str, Any]], start: int = 0) -> list[Candidate]:
        return decide(progress, rows, kinds, lookback=LOOKBACK, user_id=OWN_USER, org_id="00D", start=start)

    whole = decided(progress, rows)
    stopped = _settle(progress, [c for c in whole if c.index < k], rows[:k], second + 60, complete=False)
    state = StreamState(sobject="Lead", cursor=cursor, prev_cursor=cursor)
    stopped.position.store(state)
    state.seen = dict(stopped.seen)
    assert state.fit("conn-core", seen_max, read_before=stopped.position.read_before) == k - seen_max
    resumed = Progress(Position.of(state), state.seen)
    assert _ids(decided(resumed, rows[k:], start=k)) == _ids([c for c in whole if c.index >= k])
