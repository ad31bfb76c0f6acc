"""The subscriptions' counter item against moto's DynamoDB (its conditional writes made atomic, as
DynamoDB's are): exact counts through adds, replaces, status changes and deletes; limits that hold
under concurrent creates; counts for subscriptions stored before the counter existed; pages."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.subscriptions import (
    InvalidPageTokenError,
    SubscriptionCounts,
    SubscriptionLimitError,
    SubscriptionRepository,
)

from tests.fixtures.aws import AwsEnv

CID = "conn-1"


def _ddb(aws: AwsEnv) -> Any:
    return boto3.client("dynamodb", region_name=aws.region)


@pytest.fixture
def repo(aws: AwsEnv) -> SubscriptionRepository:
    return SubscriptionRepository(lambda: _ddb(aws), aws.table_name)


def _sub(n: int, trigger: str = "leads.created", status: str = "active") -> Subscription:
    return Subscription.model_validate(
        {
            "subscription_id": f"{n:032x}",
            "connection_id": CID,
            "trigger": trigger,
            "kind": "created",
            "family": trigger.split(".")[0],
            "sobject": "Lead",
            "status": status,
            "start_at": "2026-11-30T10:00:00Z",
        }
    )


def test_counts_follow_every_write(repo: SubscriptionRepository) -> None:
    assert repo.counts(CID) == SubscriptionCounts()
    repo.add(_sub(1))
    repo.add(_sub(2, "accounts.updated"))
    repo.put(_sub(3, status="paused"))
    assert repo.counts(CID) == SubscriptionCounts(3, 2, {"leads.created": 2, "accounts.updated": 1})
    repo.update(CID, _sub(1).subscription_id, status="paused")
    repo.update(CID, _sub(1).subscription_id, status="paused")  # no change, counted once
    repo.update(CID, _sub(3).subscription_id, status="active", ignore_own_changes=True)
    assert repo.counts(CID).active == 2
    repo.put(_sub(2, "contacts.created", status="paused"))  # replaced: another trigger, paused
    assert repo.counts(CID) == SubscriptionCounts(3, 1, {"leads.created": 2, "contacts.created": 1})
    assert repo.delete(CID, _sub(2).subscription_id)
    assert not repo.delete(CID, _sub(2).subscription_id)
    assert repo.counts(CID) == SubscriptionCounts(2, 1, {"leads.created": 2})
    assert repo.counts(CID) == _recount(repo)


def _recount(repo: SubscriptionRepository) -> SubscriptionCounts:
    subs = repo.list(CID)
    by_trigger: dict[str, int] = {}
    for s in subs:
        by_trigger[s.trigger] = by_trigger.get(s.trigger, 0) + 1
    return SubscriptionCounts(len(subs), sum(s.status == "active" for s in subs), by_trigger)


def test_limits_name_themselves_and_store_nothing(repo: SubscriptionRepository) -> None:
    for n in range(2):
        repo.add(_sub(n), max_per_connection=3, max_per_trigger=2)
    with pytest.raises(SubscriptionLimitError) as per_trigger:
        repo.add(_sub(10), max_per_connection=3, max_per_trigger=2)
    assert per_trigger.value.fields == ["trigger"]
    assert per_trigger.value.details == {"limit": "MAX_SUBSCRIPTIONS_PER_TRIGGER", "maximum": 2}
    assert per_trigger.value.status == 409
    repo.add(_sub(11, "accounts.updated"), max_per_connection=3, max_per_trigger=2)
    with pytest.raises(SubscriptionLimitError) as per_connection:
        repo.add(_sub(12, "cases.created"), max_per_connection=3, max_per_trigger=2)
    assert per_connection.value.fields == ["connection_id"]
    assert "MAX_SUBSCRIPTIONS_PER_CONNECTION=3" in per_connection.value.message
    assert len(repo.list(CID)) == 3
    repo.delete(CID, _sub(0).subscription_id)
    repo.add(_sub(12, "cases.created"), max_per_connection=3, max_per_trigger=2)


def test_concurrent_creates_never_pass_the_limit(repo: SubscriptionRepository) -> None:
    """12 creates at once for 5 places: exactly 5 are stored, the others refused."""
    barrier = threading.Barrier(12)
    outcomes: list[str] = []

    def create(n: int) -> None:
        barrier.wait()
        try:
            repo.add(_sub(100 + n), max_per_connection=5, max_per_trigger=50)
            outcomes.append("stored")
        except SubscriptionLimitError:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["refused"] * 7 + ["stored"] * 5
    assert len(repo.list(CID)) == 5
    assert repo.counts(CID) == SubscriptionCounts(5, 5, {"leads.created": 5})


def test_subscriptions_stored_before_the_counter_are_counted(
    repo: SubscriptionRepository, aws: AwsEnv
) -> None:
    from sfconnector.stores.connections import _wire

    for n in range(3):  # written as the previous version did: no counter
        _ddb(aws).put_item(TableName=aws.table_name, Item=_wire(_sub(n).to_item()))
    assert repo.counts(CID) == SubscriptionCounts(3, 3, {"leads.created": 3})
    with pytest.raises(SubscriptionLimitError):
        repo.add(_sub(9), max_per_connection=3)
    repo.delete(CID, _sub(0).subscription_id)
    repo.add(_sub(9), max_per_connection=3)
    assert repo.counts(CID) == SubscriptionCounts(3, 3, {"leads.created": 3})


def test_pages_in_creation_order_with_an_opaque_token(repo: SubscriptionRepository) -> None:
    for n in range(7):
        repo.add(_sub(n))
    seen: list[str] = []
    token: str | None = None
    sizes = []
    while True:
        page = repo.page(CID, 3, token)
        sizes.append(len(page.subscriptions))
        seen.extend(s.subscription_id for s in page.subscriptions)
        token = page.next_token
        if token is None:
            break
        assert _sub(0).subscription_id not in token  # opaque, not the id itself
    assert sizes == [3, 3, 1]
    assert seen == [_sub(n).subscription_id for n in range(7)]
    assert repo.page(CID, 7).next_token is None  # exactly one full page: no empty page after it
    for bad in ("nope", "YWZ0ZXI6eHl6", "%%%"):
        with pytest.raises(InvalidPageTokenError):
            repo.page(CID, 3, bad)


def test_a_transaction_conflict_on_the_counter_is_retried(aws: AwsEnv) -> None:
    """DynamoDB cancels a transaction that meets another one on the same item (the counter)
    instead of waiting; the write tries again."""
    from botocore.exceptions import ClientError

    real = _ddb(aws)
    conflicts = [1]

    class Conflicting:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def transact_write_items(self, **kwargs: Any) -> Any:
            if conflicts:
                conflicts.pop()
                error = {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
                }
                raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]
            return real.transact_write_items(**kwargs)

    repo = SubscriptionRepository(lambda: Conflicting(), aws.table_name)  # type: ignore[arg-type,return-value]
    repo.add(_sub(1), max_per_connection=5)
    assert conflicts == []
    assert repo.counts(CID) == SubscriptionCounts(1, 1, {"leads.created": 1})
