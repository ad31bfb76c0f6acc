"""Short-lived DynamoDB locks: one item per lock, written with a condition (absent, or expired).

The item carries ``expires_at`` (the table's TTL attribute), so a holder that died (a Lambda
timeout, a crash) blocks nobody for longer than ``ttl_seconds``; each holder has an owner token,
and only that owner's release deletes the item (a stale holder never frees a newer one).

Users: the token refresh (:mod:`sfconnector.stores.refresh_lock`, one lock per connection) and the
upsert by a field that is not an External ID (:class:`MatchLock`, one lock per connection, object,
field and match value), which would otherwise race between its lookup and its create.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from sfconnector.errors import ConnectorError, Fault
from sfconnector.stores.dynamo import DynamoStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["ItemLock", "LockBusyError", "MatchLock"]

logger = logging.getLogger(__name__)

Key = tuple[str, str]
"""(pk, sk) of a lock item."""


class LockBusyError(ConnectorError):
    """Another request held the lock for longer than this one could wait: retry shortly."""

    code = "busy"
    fault = Fault.UNAVAILABLE
    retry_after = 1


class ItemLock(DynamoStore):
    """Mutual exclusion across Lambda invocations on any (pk, sk) of the state table."""

    def __init__(
        self,
        dynamodb: DynamoDBClient | Callable[[], DynamoDBClient],
        table_name: str,
        *,
        ttl_seconds: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(dynamodb, table_name)
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    @staticmethod
    def _item_key(key: Key) -> dict[str, dict[str, str]]:
        return {"pk": {"S": key[0]}, "sk": {"S": key[1]}}

    def take(self, key: Key) -> str | None:
        """Take the lock; returns an owner token, or None when another holder has it."""
        owner = secrets.token_hex(16)
        now = self._clock()
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    **self._item_key(key),
                    "owner": {"S": owner},
                    # Whole seconds for DynamoDB's TTL sweep; the condition below compares the
                    # same attribute, so a lock is free again at most one second late.
                    "expires_at": {"N": str(int(now + self.ttl_seconds) + 1)},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return owner

    def give_back(self, key: Key, owner: str) -> None:
        """Release the lock if this owner still holds it."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=self._item_key(key),
                ConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": {"S": owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


def match_value_key(sobject: str, field: str, value: object) -> str:
    """What a match lock serialises on: object, field and the value as Salesforce compares it.

    Salesforce's ``=`` on text (and e-mail) ignores case, so the value is case-folded and
    stripped: two spellings of one address are one lock. A digest, so the value itself (an
    e-mail address) is never stored in the lock item."""
    normalised = str(value).strip().casefold()
    text = f"{sobject.lower()}\x1f{field.lower()}\x1f{normalised}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


class MatchLock(ItemLock):
    """``CONNECTION#<cid>`` / ``MATCH_LOCK#<digest>``: serialises the upserts of one match value.

    Waiting is bounded: backoff from ``first_delay`` doubling to ``max_delay``, at most
    ``wait_seconds`` in all, then :class:`LockBusyError` (503, retry). The lock costs DynamoDB
    writes only, never a Salesforce call; upserts of different values never wait for each other.
    """

    def __init__(
        self,
        dynamodb: DynamoDBClient | Callable[[], DynamoDBClient],
        table_name: str,
        *,
        ttl_seconds: int = 20,
        wait_seconds: float = 10.0,
        first_delay: float = 0.02,
        max_delay: float = 0.4,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(dynamodb, table_name, ttl_seconds=ttl_seconds, clock=clock)
        self.wait_seconds = wait_seconds
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._monotonic = monotonic
        self._sleep = sleep

    @contextmanager
    def held(self, connection_id: str, match_key: str) -> Iterator[None]:
        """Hold the lock of ``match_key`` (see :func:`match_value_key`) for the ``with`` block."""
        key = (f"CONNECTION#{connection_id}", f"MATCH_LOCK#{match_key}")
        deadline = self._monotonic() + self.wait_seconds
        delay = self._first_delay
        while (owner := self.take(key)) is None:
            if self._monotonic() >= deadline:
                raise LockBusyError(
                    "Another upsert of this match value is still running; retry shortly.",
                    fields=["match_field"],
                )
            # Full jitter: waiters spread out instead of retrying in lockstep.
            self._sleep(delay * (0.5 + secrets.randbelow(1000) / 2000))
            delay = min(delay * 2, self._max_delay)
        try:
            yield
        finally:
            try:
                self.give_back(key, owner)
            except Exception:  # it expires by itself; the upsert's outcome matters more
                logger.warning("Connection %s: could not release a match lock", connection_id, exc_info=True)
