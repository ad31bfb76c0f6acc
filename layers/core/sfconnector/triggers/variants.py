"""A planned stream's variants, in the order they decide, settle and commit (flow: plan -> fetch
-> **decide** -> publish -> **settle** -> **commit**): the list view groups riding on it
(``membership.py``: they narrow the page to what every part read), the field snapshot
(``snapshots.py``: it loads what the rows are compared with), the record rows (``rows.py``: they
read the snapshot and write the stream item last). :class:`Track` runs them the same way for the
cycle (``cycle.py``), which knows no variant by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sfconnector.triggers.decide import Settlement, Unit, Variant
from sfconnector.triggers.membership import MembershipVariant
from sfconnector.triggers.plan import CycleContext, Plan, StreamRun
from sfconnector.triggers.reconcile import RelayedCheck
from sfconnector.triggers.rows import RowsVariant
from sfconnector.triggers.snapshots import SnapshotVariant

if TYPE_CHECKING:
    from sfconnector.stores.cursors import CursorStore

__all__ = ["Track", "tracks"]


@dataclass
class Track:
    """One stream of the cycle: its run (the fetched page) and its variants."""

    run: StreamRun
    variants: Sequence[Variant]
    decided: list[Unit] = field(default_factory=list)
    """Every unit its variants decided, in their order."""

    def decide(self, store: CursorStore) -> int:
        """Each variant loads what it needs and decides, in order; returns the reads."""
        reads = 0
        for variant in self.variants:
            reads += variant.load(store)
            self.decided += variant.decide()
        return reads

    @property
    def units(self) -> list[Unit]:
        """The units in publish order: by row, a row's own changes first."""
        return sorted(self.decided, key=lambda unit: (unit.index, unit.rank))

    @property
    def load(self) -> int:
        return sum(len(unit.events) for unit in self.decided)

    def settle(self, keep: int, accepted: set[str], *, final: bool) -> None:
        settlement = Settlement(keep, accepted, self.decided)
        for variant in self.variants:
            variant.settle(settlement, final=final)

    def commit(self, store: CursorStore, owner: str | None, *, final: bool) -> int:
        return sum(variant.commit(store, owner, final=final) for variant in self.variants)

    def checkpoint(self, keep: int, sent: set[str], store: CursorStore, owner: str | None) -> int:
        """Commit, mid-cycle, what the cycle would commit had it stopped after the first ``keep``
        rows (all of whose events are sent): the same decisions as at its end, on copies; the
        live state is untouched (the cycle's final commit covers at least as much)."""
        self.settle(keep, sent, final=False)
        return self.commit(store, owner, final=False)

    def cut(self, keep: int) -> None:
        """The stream processes only its first ``keep`` rows this cycle (a keyset resume after
        them next cycle): every variant forgets what it decided about the rest."""
        run = self.run
        if keep >= len(run.rows):
            return
        for variant in self.variants:
            variant.cut(keep)
        self.decided = [unit for unit in self.decided if unit.index < keep]
        run.rows, run.done = run.rows[:keep], False


def tracks(
    plan: Plan,
    context: CycleContext,
    *,
    relayed: dict[str, RelayedCheck],
) -> list[Track]:
    """The cycle's streams with their variants (after the fetch: it may hold subscriptions out).
    ``relayed``: per reconciled sObject, what the relay already delivered."""
    out = []
    for run in plan.runs:
        snapshot = SnapshotVariant(run, context)
        variants: list[Variant] = [MembershipVariant(view, context) for view in plan.views if view.run is run]
        variants += [
            snapshot,
            RowsVariant(
                run,
                context,
                snapshot=snapshot.lookup,
                relayed=relayed.get(run.state.sobject),
                reconciled=run.state.sobject in relayed,
            ),
        ]
        out.append(Track(run, variants))
    return out
