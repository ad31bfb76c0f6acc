"""The list view membership variant of a stream (flow: plan -> fetch -> **decide** -> publish ->
**settle** -> **commit**): entered list view. Its state is a list view group's members (its item,
``CURSOR#<sObject>#LISTVIEW#<id>``), its units the rows of the window that entered the list view
(they fire), its next state the membership once the entries' events went out, written before the
stream's item. The decisions are pure; the variant's ``commit`` is its thin I/O.

The group's query (the list view's own SOQL restricted to the stream's window) and the stream's
rows of the same window are read side by side: a row in the list view's results and not a member
entered (it fires); a row of the stream (it changed) that is a member and no longer in the results
left (no event; entering again fires again, with a new id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sfconnector.catalog import REPLICATION_KEY
from sfconnector.stores.cursors import MEMBER_BYTES, ListViewState
from sfconnector.triggers import streams
from sfconnector.triggers.decide import Settlement, Unit, row_key
from sfconnector.triggers.plan import CycleContext, Entry, ViewRun

if TYPE_CHECKING:
    from sfconnector.stores.cursors import CursorStore

__all__ = ["MEMBERS_MAX_BYTES", "Membership", "MembershipVariant", "decide_entries", "record_membership"]

MEMBERS_MAX_BYTES = 380_000
"""A list view group's members in one item (DynamoDB's 400 KB, less the query and keys)."""


def decide_entries(view: ViewRun, *, user_id: str | None, org_id: str | None) -> None:
    """Decide entries and exits of a list view group from its query's rows and the sObject's
    rows of the same window: in the results and not a member: entered; changed in the window
    (in the sObject's rows) and not in the results: left."""
    run = view.run
    if view.error is not None or run.error is not None or not view.started:
        return
    if not view.done:
        if view.baseline:
            return  # the membership was not read whole: read it again next cycle
        # Rows after the list view's last answered row are undecided: the stream stops there
        # this cycle and resumes right after it (a keyset) next cycle.
        position = row_key(view.rows[-1])
        run.rows = [r for r in run.rows if row_key(r) <= position]
        run.done = False
    inside = {str(r.get("Id") or "")[:15] for r in view.rows}
    stream = streams.stream_of(view.subs[0])
    assert stream is not None
    members, newcomers = view.state.members, view.state.newcomers
    if view.baseline:
        # A member changed after the window (stamped past its end) has no row in the sObject's
        # rows yet: it cannot be told from an entry now, so it is decided when its row is read.
        view.newcomers = {
            str(r.get("Id") or "")[:15] for r in view.rows
            if (streams.parse_stamp(r.get(REPLICATION_KEY)) or 0) > run.upper
        }  # fmt: skip
        members, newcomers = inside - view.newcomers, view.newcomers
    for index, row in enumerate(run.rows):
        rid = str(row.get("Id") or "")[:15]
        if not rid:
            continue
        if rid not in inside or row.get("IsDeleted"):
            if rid in members or rid in newcomers:
                view.exits.add(rid)
            continue
        version = streams.parse_stamp(row.get(REPLICATION_KEY))
        if version is None or (rid in members and not view.baseline):
            continue
        first_read = view.baseline or rid in newcomers
        created = streams.parse_stamp(row.get("CreatedDate")) or 0
        change = streams.Change("", version, str(version))
        events = tuple(
            (sub, streams.build_event(sub, stream, row, change, org_id))
            for sub in view.subs
            if streams.subscriber_fires(sub, stream, row, change, user_id)
            # The first read of the membership cannot tell who entered since the start:
            # only records created since then did for sure.
            and (not first_read or created >= streams.receives_from(sub))
        )
        if events or not view.baseline or rid in newcomers:
            view.entries.append(Entry(index, rid, row, events))


@dataclass(frozen=True)
class Membership:
    """What a list view group records after its entries' events went out."""

    state: ListViewState
    held: list[int]
    """Stamps of entries whose events did not all go out: the stream stays before them."""
    error: str | None = None


def record_membership(view: ViewRun, accepted: set[str], keep: int | None = None) -> Membership:
    """The membership SNS allows, had the stream stopped after its first ``keep`` rows (None:
    all of them): an entry whose event did not go out stays out of the members (it fires again
    next cycle, same id) and holds the stream before its row. The view's state is not changed
    (a copy is returned), so a checkpoint and the cycle's end decide alike."""
    run = view.run
    keep = len(run.rows) if keep is None else keep
    cut = keep < len(run.rows)
    if view.error is not None or run.error is not None or not view.started:
        return Membership(view.state, [])
    if view.baseline and (not view.done or cut):
        return Membership(view.state, [])  # a baseline is recorded whole or not at all
    state = view.state.model_copy(deep=True)
    exits = view.exits - {str(row.get("Id") or "")[:15] for row in run.rows[keep:]}
    held: list[int] = []
    if view.baseline:
        state.members = {str(r.get("Id") or "")[:15] for r in view.rows} - view.newcomers
        state.newcomers = set(view.newcomers)
        state.baselined = True
    state.members -= exits
    state.newcomers -= exits
    for entry in view.entries:
        if entry.index >= keep:
            continue
        if all(event.id in accepted for _sub, event in entry.events):
            state.members.add(entry.record_id)
            state.newcomers.discard(entry.record_id)
        else:  # not a member yet (a newcomer whose entry SNS refused stays one)
            state.members.discard(entry.record_id)
            held.append(streams.parse_stamp(entry.row.get(REPLICATION_KEY)) or run.state.cursor)
    error = None
    if len(state.members) * MEMBER_BYTES > MEMBERS_MAX_BYTES:
        error = f"the list view has more than {MEMBERS_MAX_BYTES // MEMBER_BYTES} members"
    return Membership(state, held, error)


class MembershipVariant:
    """One list view group riding on its sObject's shared stream. First of the stream's variants:
    rows past the list view's last answered row are undecided, so it narrows the page."""

    def __init__(self, view: ViewRun, context: CycleContext) -> None:
        self.view, self.context = view, context
        self.next = Membership(view.state, [])

    def load(self, store: CursorStore) -> int:
        return 0

    def decide(self) -> Sequence[Unit]:
        decide_entries(self.view, user_id=self.context.user_id, org_id=self.context.org_id)
        return self.view.entries

    def cut(self, keep: int) -> None:
        """Forget what was decided about the rows after ``keep`` (the stream's page is cut after
        every variant did)."""
        view = self.view
        gone = {str(row.get("Id") or "")[:15] for row in view.run.rows[keep:]}
        view.entries = [e for e in view.entries if e.index < keep]
        view.exits -= gone
        if view.baseline:
            view.done = False  # a baseline is recorded whole or not at all

    def settle(self, settlement: Settlement, *, final: bool) -> None:
        self.next = record_membership(self.view, settlement.accepted, settlement.keep)
        settlement.held.extend(self.next.held)
        if final:
            view = self.view
            view.state, view.error = self.next.state, view.error or self.next.error

    def errors(self) -> dict[str, str]:
        view = self.view
        if view.error is None:
            return {}
        return {sub.subscription_id: f"{view.label}: {view.error}" for sub in view.subs}

    def commit(self, store: CursorStore, owner: str | None, *, final: bool) -> int:
        """Before the stream's item, as the snapshots: a cycle killed between them re-decides
        its entries (same ids) instead of moving past them undecided. At the cycle's end only a
        changed membership is written (its time alone is no change)."""
        view, state = self.view, self.next.state
        state.updated_at = int(self.context.now)
        item = state.to_item(self.context.connection_id)
        if final:
            if view.error is not None and len(state.members) * MEMBER_BYTES > MEMBERS_MAX_BYTES:
                return 0  # too big to store: the group reports its error instead
            if _timeless(item) == _timeless(view.original):
                return 0
        elif item == view.original:
            return 0
        store.save(self.context.connection_id, state, lease_owner=owner)
        if not final:
            view.original = item
        return 1


def _timeless(item: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in item.items() if k != "updated_at"}
