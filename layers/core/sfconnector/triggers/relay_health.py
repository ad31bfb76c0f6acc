"""Is real time working? The relay's lag and counts, and what reconciliation found the relay had
missed, as ``GET /connections/{cid}/realtime`` shows them under ``relay`` (docs/realtime.md).

The figures are written by the relay function (:func:`sfconnector.triggers.relaying.relay_batch`,
once per batch and connection) and by the poller (:func:`record_reconciliation`, once per cycle
that reconciled a relayed object), in :class:`~sfconnector.stores.relay_stats.RelayStats`; the
view is built here, purely, from what that store reads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sfconnector.models.realtime_api import (
    RelayHealth,
    RelayLag,
    RelayLastChange,
    RelayObjectHealth,
    RelayReconciliation,
)
from sfconnector.stores.relay_stats import LAG_WINDOW, ReconciliationFigures, lags_of
from sfconnector.triggers import relay

if TYPE_CHECKING:
    from sfconnector.stores.relay_stats import RelayStats
    from sfconnector.triggers.decide import Candidate

__all__ = ["health_view", "missed_by_relay", "percentile", "record_reconciliation"]

logger = logging.getLogger(__name__)


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest rank (no interpolation: every figure shown is a lag that happened)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def missed_by_relay(
    runs: Iterable[tuple[str, Sequence[Candidate]]], reconciled: Collection[str], accepted: Collection[str]
) -> dict[str, int]:
    """Per reconciled sObject, the changes the poll sent that the relay would have sent: a change
    with an event SNS accepted for a subscription change events serve (``relay.relayable``: not
    entered list view, not ``changed_to``, which only polling serves). A change the relay had
    delivered is a candidate without events (``decide``'s relayed check)."""
    out = dict.fromkeys(reconciled, 0)
    counted: set[tuple[str, str, int]] = set()
    for sobject, candidates in runs:
        if sobject not in out:
            continue
        for c in candidates:
            if (sobject, c.key, c.version) in counted:
                continue
            if any(relay.relayable(sub) and event.id in accepted for sub, event in c.events):
                counted.add((sobject, c.key, c.version))
                out[sobject] += 1
    return out


def record_reconciliation(
    stats: RelayStats,
    connection_id: str,
    now: float,
    runs: Iterable[tuple[str, Sequence[Candidate]]],
    reconciled: Collection[str],
    accepted: Collection[str],
    known: int,
) -> int:
    """Store the cycle's findings (one write; a failure is logged, never fails the cycle).
    Returns the writes made."""
    missed = missed_by_relay(runs, reconciled, accepted)
    findings = ReconciliationFigures(at=int(now), objects=sorted(reconciled), known=known, missed=missed)
    try:
        stats.record_reconciliation(connection_id, findings)
    except Exception:
        logger.exception("reconciliation findings not recorded", extra={"connection_id": connection_id})
        return 0
    if any(missed.values()):
        logger.info(
            "reconciliation delivered %d changes the relay had missed",
            sum(missed.values()),
            extra={"connection_id": connection_id, "missed": missed},
        )
    return 1


def _at_ms(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None


def health_view(
    relayed: Mapping[str, Any] | None, reconciled: Mapping[str, Any] | None
) -> RelayHealth | None:
    """The ``relay`` block from the stored items (``RelayStats.read``); None when both are absent."""
    if relayed is None and reconciled is None:
        return None
    item = relayed or {}
    lags = [v / 1000 for v in lags_of(item)]
    last = item.get("last") or None
    last_change = None
    if last:
        committed, relayed_at = int(last["commit_ms"]), int(last["relayed_ms"])
        last_change = RelayLastChange(
            sobject=str(last["sobject"]),
            committed_at=datetime.fromtimestamp(committed / 1000, UTC),
            relayed_at=datetime.fromtimestamp(relayed_at / 1000, UTC),
            lag_seconds=max(relayed_at - committed, 0) / 1000,
        )
    objects = [
        RelayObjectHealth(
            sobject=name,
            changes_relayed=int(o.get("changes", 0)),
            last_committed_at=_at_ms(o.get("commit_ms")),
            last_relayed_at=_at_ms(o.get("relayed_ms")),
        )
        for name, o in sorted((item.get("objects") or {}).items())
    ]
    reconciliation = None
    if reconciled is not None:
        missed = {str(k): int(v) for k, v in (reconciled.get("missed") or {}).items()}
        reconciliation = RelayReconciliation(
            at=datetime.fromtimestamp(int(reconciled["at"]), UTC),
            objects=[str(o) for o in reconciled.get("objects") or []],
            relayed_known=int(reconciled.get("known", 0)),
            missed_by_relay=sum(missed.values()),
            missed_by_object=missed,
            missed_total=int(reconciled.get("missed_total", 0)),
            reconciliations=int(reconciled.get("reconciliations", 0)),
        )
    return RelayHealth(
        changes_relayed=int(item.get("changes", 0)),
        events_published=int(item.get("events", 0)),
        duplicates_skipped=int(item.get("duplicates", 0)),
        since=_at_ms(item.get("since_ms")),
        last_change=last_change,
        lag=RelayLag(
            last_seconds=lags[-1] if lags else None,
            p50_seconds=percentile(lags, 0.5),
            p95_seconds=percentile(lags, 0.95),
            max_seconds=max(lags) if lags else None,
            samples=len(lags),
            window=LAG_WINDOW,
        ),
        objects=objects,
        reconciliation=reconciliation,
    )
