"""The relay's figures (``RelayStats``, moto's DynamoDB) and the view GET builds from them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.relay_stats import LAG_WINDOW, BatchFigures, RelayStats
from sfconnector.triggers.decide import Candidate
from sfconnector.triggers.relay_health import health_view, missed_by_relay, percentile

from tests.fixtures.aws import AwsEnv


@pytest.fixture
def stats(aws: AwsEnv) -> RelayStats:
    return RelayStats(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)


def _batch(relayed_ms: int, commits_ms: list[int], sobject: str = "Lead") -> BatchFigures:
    batch = BatchFigures(relayed_ms=relayed_ms)
    for commit in commits_ms:
        batch.add(sobject, commit, 1)
    return batch


def test_percentiles_are_lags_that_happened() -> None:
    assert percentile([], 0.5) is None
    assert (percentile([7.0, 1.0, 3.0], 0.5), percentile([7.0, 1.0, 3.0], 0.95)) == (3.0, 7.0)
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0


def test_the_lag_window_keeps_the_latest_changes_and_the_counts_add_up(stats: RelayStats) -> None:
    base = 1_800_000_000_000
    assert stats.record_batch("conn-1", _batch(base + 60_000, [base] * 80)) == 1  # lag 60 s
    assert stats.record_batch("conn-1", _batch(base + 90_000, [base + 88_000] * 40, "Account")) == 1  # 2 s
    view = health_view(*stats.read("conn-1"))
    assert view is not None
    assert (view.changes_relayed, view.events_published, view.lag.samples) == (120, 120, LAG_WINDOW)
    # The oldest 20 of the 60 s lags fell out of the window: 60 of 60 s and 40 of 2 s remain.
    assert (view.lag.p50_seconds, view.lag.p95_seconds, view.lag.last_seconds) == (60.0, 60.0, 2.0)
    assert view.last_change is not None
    assert (view.last_change.sobject, view.last_change.lag_seconds) == ("Account", 2.0)
    assert [(o.sobject, o.changes_relayed) for o in view.objects] == [("Account", 40), ("Lead", 80)]
    assert health_view(*stats.read("conn-2")) is None  # another connection: nothing


def test_a_concurrent_batch_is_read_again_not_overwritten(stats: RelayStats, aws: AwsEnv) -> None:
    """Two relay invocations of one connection at once: the second write sees the first's."""
    base = 1_800_000_000_000
    real_get = stats.client.get_item
    raced: list[bool] = []

    def get_then_race(**kwargs: Any) -> Any:
        answer = real_get(**kwargs)
        if not raced:  # another invocation writes between this read and this write
            raced.append(True)
            RelayStats(boto3.client("dynamodb", region_name=aws.region), aws.table_name).record_batch(
                "conn-1", _batch(base + 1_000, [base])
            )
        return answer

    stats.client.get_item = get_then_race  # type: ignore[method-assign]
    assert stats.record_batch("conn-1", _batch(base + 5_000, [base, base])) == 1
    view = health_view(*stats.read("conn-1"))
    assert view is not None
    assert (view.changes_relayed, view.lag.samples) == (3, 3)


def _sub(trigger: str, kind: str, **params: Any) -> Subscription:
    return Subscription(
        subscription_id=hashlib.md5(trigger.encode()).hexdigest(),  # noqa: S324 - an id, not a secret
        connection_id="conn-1",
        trigger=trigger,
        kind=kind,
        family=trigger.split(".")[0],
        sobject="Account",
        params=params,
        start_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_missed_by_the_relay_counts_only_what_the_relay_serves() -> None:
    """A change_to field match (History) is sent by the poll whatever the relay does: not a miss."""
    created = _sub("accounts.created", "created")
    matched = _sub("accounts.field_matched", "field_matched", field="Rating", value="Hot", mode="changed_to")

    class Event:
        def __init__(self, event_id: str) -> None:
            self.id = event_id

    def candidate(key: str, *fires: tuple[Subscription, str]) -> Candidate:
        return Candidate(key, 1, 0, {}, tuple((s, Event(i)) for s, i in fires))  # type: ignore[misc]

    runs = [
        ("Account", [candidate("a:c", (created, "e1")), candidate("b:m", (matched, "e2")), candidate("c:c")]),
        ("Account", [candidate("a:c", (created, "e1"))]),  # the same change in another stream: once
        ("Contact", [candidate("d:c", (created, "e3"))]),  # not reconciled
    ]
    assert missed_by_relay(runs, ["Account"], {"e1", "e2", "e3"}) == {"Account": 1}
    assert missed_by_relay(runs, ["Account"], {"e2"}) == {"Account": 0}  # e1 refused by SNS: not sent
