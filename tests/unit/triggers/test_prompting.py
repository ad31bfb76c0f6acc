"""``prompting.next_kick``: the prompt polls a stream of relayed changes asks for (pure). Run over
any sequence of changes (each needing a poll at its commit second + the delay, decided when the
relay gets it, a little later): no poll earlier than the change needing it, no two polls closer
than the spacing, every change covered by a poll at or after its need, no pending poll moved (it
runs at the time it was claimed), and the ring's schedule names never reused while pending."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st
from sfconnector.stores.relayed import KickClaim
from sfconnector.stores.schedules import KICK_RING
from sfconnector.triggers import prompting

T0 = 1_796_000_000
DELAY = 125  # the grace (120) + 5: the relay's kick_delay


def _run(
    gaps: list[int], lags: list[int], spacing: int
) -> tuple[list[tuple[int, int]], list[tuple[KickClaim, int]]]:
    """(need, decided at) per change, and the claims made with when each was decided, in order."""
    last: KickClaim | None = None
    claims: list[tuple[KickClaim, int]] = []
    changes: list[tuple[int, int]] = []
    commit = T0
    for gap, lag in zip(gaps, lags, strict=False):
        commit += gap
        need, now = commit + DELAY, commit + lag
        changes.append((need, now))
        claim = prompting.next_kick(last, need, now, spacing)
        if claim is not None:
            claims.append((claim, now))
            last = claim
    return changes, claims


@given(
    gaps=st.lists(st.integers(0, 400), min_size=1, max_size=60),
    lags=st.lists(st.integers(0, 20), min_size=60, max_size=60),
    minutes=st.integers(1, 60),
)
def test_prompt_polls_are_never_early_never_closer_than_the_spacing_and_cover_every_change(
    gaps: list[int], lags: list[int], minutes: int
) -> None:
    spacing = 60 * minutes
    changes, claims = _run(gaps, lags, spacing)
    times = [c.at for c, _ in claims]
    assert [c.seq for c, _ in claims] == list(range(len(claims)))
    assert all(t % prompting.KICK_SLOT_SECONDS == 0 for t in times)
    assert all(b - a >= spacing for a, b in itertools.pairwise(times))
    for need, now in changes:
        covering = [t for t in times if t >= need]
        assert covering, (need, times)
        # The first poll covering it: no earlier than the change needs, and at the latest one
        # spacing (and a slot) after its need.
        first = min(covering)
        assert (
            now
            < first
            <= max(need, now + prompting.KICK_LEAD_SECONDS) + spacing + prompting.KICK_SLOT_SECONDS
        )
    # A schedule name comes back (claim n uses claim n - KICK_RING's) only after that poll ran.
    for (old, _), (claim, decided) in zip(claims, claims[KICK_RING:], strict=False):
        assert prompting.kick_index(old) == prompting.kick_index(claim)
        assert old.at <= decided, "a ring name reused while its poll was pending"


def test_a_burst_shares_one_poll_and_a_steady_stream_is_polled_once_per_spacing() -> None:
    burst = prompting.next_kick(None, T0 + DELAY, T0 + 1, 120)
    assert burst is not None
    assert (burst.seq, T0 + DELAY <= burst.at < T0 + DELAY + prompting.KICK_SLOT_SECONDS) == (0, True)
    assert prompting.next_kick(burst, burst.at, T0 + 9, 120) is None  # a change inside its window
    # A change a minute for an hour: polls every 2 minutes (spacing 2), none of them moved.
    _, claims = _run([60] * 60, [1] * 60, 120)
    assert 28 <= len(claims) <= 31
    _, claims = _run([60] * 60, [1] * 60, 300)
    assert 11 <= len(claims) <= 13
