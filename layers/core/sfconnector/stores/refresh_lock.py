"""A short-lived DynamoDB lock so that concurrent invocations refresh a connection's token once.

``CONNECTION#<cid>`` / ``REFRESH_LOCK`` is written with a condition (absent, or expired); the
item carries a TTL so a crashed holder never blocks refreshes for longer than ``ttl_seconds``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LOCK_SK = "REFRESH_LOCK"


class RefreshLock:
    """Per-connection mutual exclusion across Lambda invocations."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table_name: str,
        *,
        ttl_seconds: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ddb = dynamodb
        self._table = table_name
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def _key(self, connection_id: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"CONNECTION#{connection_id}"}, "sk": {"S": LOCK_SK}}

    def acquire(self, connection_id: str) -> str | None:
        """Take the lock; returns an owner token, or None when another holder has it."""
        owner = secrets.token_hex(16)
        now = self._clock()
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    **self._key(connection_id),
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

    def release(self, connection_id: str, owner: str) -> None:
        """Release the lock if this owner still holds it (a stale holder never frees a new one)."""
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key=self._key(connection_id),
                ConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": {"S": owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
