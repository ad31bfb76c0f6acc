"""Where a stream is: the one position type of the trigger engine (pure, no I/O).

The invariant, stated once: **every change whose version is at or above** :meth:`Position.horizon`
**and not in the seen-set (nor at or below** ``seen_floor``) **is still owed**, and every row
stamped before ``cursor`` (or, while a window resumes, at or before the keyset ``resume``) has
been read. A window therefore reads ``[cursor - lookback, upper)`` (or from right after
``resume``), and fires only changes at or above the horizon that the seen-set does not hold.

Why the horizon is not simply ``cursor - lookback``:
* ``prev_cursor``: a record created (or whose watched field changed) before the cursor but
  modified again inside the last poll's safety margin was absent from that window (its row is
  stamped after the window's end); the next window reads it at its new stamp, and its change is at
  most a lookback before the *previous* cursor.
* ``drain_low``: while a backlog drains over several cycles (keyset resumes) and for one complete
  cycle after, a record changed before the backlog and modified again after it is read only when
  the drain reaches its new stamp, possibly many lookbacks later: the horizon stays at the drain's
  first stopped cycle.
* ``seen_floor``: versions at or below it count as seen (the seen-set overflowed its bound and
  dropped its oldest entries); always below :attr:`Position.read_before`, so a change not read
  yet is never taken for seen.

The stored item (``stores.cursors.StreamState``) keeps these as its ``cursor``, ``prev_cursor``,
``resume_at``/``cursor_id``, ``drain_low`` and ``seen_floor`` attributes: the format deployed
connections already have.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sfconnector.stores.cursors import StreamState

__all__ = ["Position"]


@dataclass(frozen=True)
class Position:
    cursor: int
    prev_cursor: int
    resume: tuple[int, str] | None = None
    """(SystemModstamp, Id) of the last row processed when a window stopped part-way: the next
    window starts right after it (a keyset, never OFFSET)."""
    drain_low: int | None = None
    seen_floor: int = 0

    @classmethod
    def of(cls, state: StreamState) -> Position:
        resume = (
            (state.resume_at, state.cursor_id) if state.resume_at is not None and state.cursor_id else None
        )
        return cls(state.cursor, state.prev_cursor, resume, state.drain_low, state.seen_floor)

    def store(self, state: StreamState) -> None:
        """Write the position into the stored state (its item format)."""
        state.cursor, state.prev_cursor, state.drain_low = self.cursor, self.prev_cursor, self.drain_low
        state.resume_at, state.cursor_id = self.resume if self.resume is not None else (None, None)
        state.seen_floor = self.seen_floor

    @property
    def read_before(self) -> int:
        """Every row stamped before this has been read: the cursor, or the keyset's stamp while a
        window resumes (the rows after the keyset, from that very second on, are not read yet).
        Nothing at or after it may count as seen through ``seen_floor``."""
        return self.cursor if self.resume is None else min(self.cursor, self.resume[0])

    def low(self, lookback: int) -> int:
        """The window's lower bound: a transaction committing late is stamped when it started."""
        return max(0, self.cursor - lookback)

    def horizon(self, lookback: int) -> int:
        """The oldest change this stream may still owe (the module doc says why)."""
        horizon = max(0, min(self.cursor, self.prev_cursor) - lookback)
        return horizon if self.drain_low is None else min(horizon, self.drain_low)

    def owes(self, version: int, lookback: int) -> bool:
        """Whether a change of this version may still fire (the seen-set decides the rest)."""
        return version >= self.horizon(lookback) and version > self.seen_floor

    def advance(
        self,
        *,
        lookback: int,
        upper: int,
        complete: bool,
        last: tuple[int, str] | None,
        held: list[int],
    ) -> Position:
        """The position after a window: ``complete`` (read to its end: the cursor moves to
        ``upper``), or stopped after the row ``last`` ((stamp, Id); None: nothing read), never past
        a ``held`` stamp (a change whose event did not go out: the next window re-reads its
        lookback, no keyset)."""
        old, resumed = self.cursor, self.resume is not None
        drain_low, resume = self.drain_low, self.resume
        if complete:
            new, resume = upper, None
        elif last is not None:
            # Stopped part-way: resume right after the last row processed, and keep the horizon
            # where this drain started until one complete cycle after it.
            if drain_low is None:
                drain_low = self.horizon(lookback)
            stamp = last[0] or old
            new = max(old, stamp)
            resume = (stamp, last[1]) if last[1] else None
        else:
            new = old
        if held:
            new, resume = max(old, min(new, min(held))), None
        elif complete and not resumed:
            drain_low = None  # a complete cycle after the drain's last
        moved = replace(self, resume=resume, drain_low=drain_low)
        return replace(moved, prev_cursor=old, cursor=new) if new > old else moved
