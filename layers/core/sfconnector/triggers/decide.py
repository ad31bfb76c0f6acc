"""The trigger engine's decision core (pure, no I/O): a stream's progress and a fetched page of
rows in, the events to publish and the next progress out. In the flow: plan -> fetch -> **decide**
-> publish -> settle -> commit.

:func:`decide` turns rows into :class:`Candidate` changes (each with the events it fires);
:func:`settle` takes what SNS accepted (or the outbox kept) and returns the next
:class:`Progress`. A second row source (Salesforce change events relayed in real time) can drive
the same two functions with rows it synthesises.

A stream's page is decided by its **variants** (:class:`Variant`, built by ``variants.py``), each
with the same shape: its state and the page -> units (a row index and its events) and, given what
SNS accepted (:class:`Settlement`), its next state. The record rows (``rows.py``, around the two
functions here), list view membership (``membership.py``) and the field snapshot
(``snapshots.py``) are the three; the poll cycle (``cycle.py``) runs them all the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sfconnector.catalog import REPLICATION_KEY, ChangeEvent, Stream
from sfconnector.models.subscriptions import Subscription
from sfconnector.models.trigger_events import TriggerEvent
from sfconnector.triggers import relay, streams
from sfconnector.triggers.position import Position

if TYPE_CHECKING:
    from sfconnector.stores.cursors import CursorStore

__all__ = [
    "Candidate",
    "Fire",
    "Progress",
    "Settlement",
    "SnapshotLookup",
    "Unit",
    "Variant",
    "decide",
    "row_key",
    "settle",
    "unseen",
]

Fire = tuple[Subscription, TriggerEvent]
"""One event for one subscription."""

SnapshotLookup = Callable[[str], Mapping[str, tuple[str, int | None] | None]]
"""15-character record id -> per watched field (lower case), the entry the snapshot holds: the
value hash and the record version it was recorded at (None: unknown); None: the record is not in
the snapshot."""


@dataclass(frozen=True)
class Candidate:
    """A change of a row not emitted yet, with the events it fires (possibly none: it is still
    recorded as seen)."""

    key: str
    """The seen-set key (15-character record id + change code)."""
    version: int
    index: int
    """The row's position in the page (the stream stops between rows, never inside one)."""
    row: Mapping[str, Any]
    events: tuple[Fire, ...]
    rank: ClassVar[int] = 0
    """A row's own changes publish before what other variants decided about it."""

    @property
    def stamp(self) -> int | None:
        return streams.parse_stamp(self.row.get(REPLICATION_KEY))


@dataclass(frozen=True)
class Progress:
    """What a stream has processed: its position and the changes inside its horizon it saw."""

    position: Position
    seen: Mapping[str, int]
    pending: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Written by older versions only (refused events now go to the outbox): seen keys whose
    event is still owed to these subscriptions; re-sent once, never written again."""


def unseen(progress: Progress, key: str, version: int) -> bool:
    return progress.seen.get(key) != version or key in progress.pending


def row_key(row: Mapping[str, Any]) -> tuple[int, str]:
    """A row's place in the query's order (SystemModstamp, Id)."""
    return streams.parse_stamp(row.get(REPLICATION_KEY)) or 0, str(row.get("Id") or "")


def decide(
    progress: Progress,
    rows: Sequence[Mapping[str, Any]],
    kinds: Mapping[Stream, Sequence[Subscription]],
    *,
    lookback: int,
    user_id: str | None,
    org_id: str | None,
    snapshot: SnapshotLookup | None = None,
    start: int = 0,
    relayed: Callable[[str, int, bool], bool] | None = None,
) -> list[Candidate]:
    """Every change of ``rows`` the stream still owes (the position's horizon, the seen-set),
    with the events each fires for the subscriptions of its stream kind. ``start``: the index
    of ``rows[0]`` in the whole page (a page decided in pieces numbers its rows the same).
    ``relayed``: (seen key, version, is a delete) -> the relay already delivered the change (a
    reconciliation poll): it is recorded as seen with no event."""
    position = progress.position
    out: list[Candidate] = []
    for index, row in enumerate(rows, start):
        for stream, subs in kinds.items():
            for change in streams.row_changes(row, stream):
                if not position.owes(change.version, lookback):
                    continue
                if change.field is None and snapshot is not None and stream.event is ChangeEvent.MATCHED:
                    held = snapshot(str(row.get("Id") or "")[:15])
                    change = dataclasses.replace(
                        change,
                        snapshot={name: None if entry is None else entry[0] for name, entry in held.items()},
                        snapshot_at={
                            name: None if entry is None else entry[1] for name, entry in held.items()
                        },
                    )
                owed: tuple[str, ...] | None = None
                if progress.seen.get(change.key) == change.version:
                    if change.key not in progress.pending:
                        continue
                    owed = progress.pending[change.key]
                elif relayed is not None and relayed(
                    change.key, change.version, stream.event is ChangeEvent.DELETED
                ):
                    # The relay sent it to the subscriptions it serves; one it cannot serve on the
                    # same row change (changed_to from the snapshot beside a relayed equals) is owed.
                    owed = tuple(s.subscription_id for s in subs if not relay.relayable(s))
                events = tuple(
                    (sub, streams.build_event(sub, stream, row, change, org_id))
                    for sub in subs
                    if (owed is None or sub.subscription_id in owed)
                    and streams.subscriber_fires(sub, stream, row, change, user_id)
                )
                out.append(Candidate(change.key, change.version, index, row, events))
    return out


def settle(
    progress: Progress,
    candidates: Sequence[Candidate],
    accepted: set[str],
    *,
    lookback: int,
    upper: int,
    complete: bool,
    last: Mapping[str, Any] | None,
    held: Sequence[int] = (),
) -> tuple[Progress, list[Candidate]]:
    """The progress after the window's rows up to ``last`` (None: none read) were decided into
    ``candidates`` and the events in ``accepted`` went out (SNS took them or the outbox keeps
    them). Returns it with the candidates whose events all went out (their rows are settled:
    the field snapshot may take their values). ``held``: stamps of rows whose decision is not
    out yet (a list view entry): the position does not move past them."""
    seen, pending = dict(progress.seen), dict(progress.pending)
    stamps, settled = list(held), []
    for candidate in candidates:
        owed = tuple(
            sorted(sub.subscription_id for sub, event in candidate.events if event.id not in accepted)
        )
        seen[candidate.key] = candidate.version
        if owed:
            pending[candidate.key] = owed
            stamps.append(candidate.stamp or progress.position.cursor)
        else:
            pending.pop(candidate.key, None)
            settled.append(candidate)
    position = progress.position.advance(
        lookback=lookback,
        upper=upper,
        complete=complete,
        last=None if last is None else row_key(last),
        held=stamps,
    )
    floor = position.horizon(lookback)  # what the next window may re-read
    kept = {k: v for k, v in seen.items() if v >= floor or k in pending}
    return Progress(position, kept, pending), settled


class Unit(Protocol):
    """What a variant decided about one row of the page: the events it fires (possibly none).
    ``rank`` orders units of one row across variants (the publish order, not a priority)."""

    @property
    def index(self) -> int: ...

    @property
    def events(self) -> tuple[Fire, ...]: ...

    @property
    def rank(self) -> int: ...


@dataclass
class Settlement:
    """What one stream settles had it stopped after its first ``keep`` rows, all of whose events
    went out (``accepted``: SNS took them, or the outbox keeps them). Its variants settle in
    order and pass on what the later ones need."""

    keep: int
    accepted: set[str]
    decided: Sequence[Unit]
    """Every unit the stream's variants decided, in their order (those before ``keep`` count)."""
    held: list[int] = dataclasses.field(default_factory=list)
    """Stamps of rows whose decision is not out yet (a list view entry not accepted): the
    stream's position stays before them."""

    @property
    def settled(self) -> list[Candidate]:
        """The row changes before ``keep`` whose events all went out: what the field snapshot
        may take the values of."""
        return [
            unit for unit in self.decided
            if isinstance(unit, Candidate) and unit.index < self.keep
            and all(event.id in self.accepted for _sub, event in unit.events)
        ]  # fmt: skip


class Variant(Protocol):
    """One part of a stream's decision over the same page (module doc). The cycle calls, for each
    variant in its stream's order: :meth:`load` then :meth:`decide`; while publishing,
    :meth:`settle` and :meth:`commit` (``final=False``) at each checkpoint, :meth:`cut` when the
    stream stops part-way; at the cycle's end :meth:`settle` and :meth:`commit` (``final=True``)."""

    def load(self, store: CursorStore) -> int:
        """Read what :meth:`decide` needs beyond the page (thin I/O); returns the read requests."""
        ...

    def decide(self) -> Sequence[Unit]:
        """The page's units (pure; may narrow the page the later variants see)."""
        ...

    def settle(self, settlement: Settlement, *, final: bool) -> None:
        """The next state given ``settlement`` (pure): a copy for a checkpoint, the live state
        at the cycle's end."""
        ...

    def commit(self, store: CursorStore, owner: str | None, *, final: bool) -> int:
        """Write the settled state (the items a crash must not leave half-moved are conditional
        on the lease ``owner``); returns the writes."""
        ...

    def cut(self, keep: int) -> None:
        """The stream processes only its first ``keep`` rows this cycle: forget the rest."""
        ...

    def errors(self) -> Mapping[str, str]:
        """Subscription id -> why this variant could not serve it this cycle (its
        ``last_error``; the stream's own failure takes precedence)."""
        ...
