"""One-time OAuth ``state`` values, stored in DynamoDB with a short TTL.

A state is created with the authorize URL and consumed by the callback with a conditional delete,
so two callbacks racing with the same state cannot both succeed. DynamoDB's TTL sweep is lazy
(items can outlive ``expires_at`` by hours), so expiry is also checked on consumption.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, SecretStr

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATE_SK = "STATE"
DEFAULT_STATE_TTL_SECONDS = 600


def state_pk(state: str) -> str:
    return f"OAUTHSTATE#{state}"


class PendingAuthorization(BaseModel):
    """What the callback needs to finish one authorisation attempt."""

    model_config = ConfigDict(frozen=True)

    state: str
    connection_id: str
    code_verifier: SecretStr
    redirect_uri: str
    created_at: int
    expires_at: int


class StateNotFoundError(Exception):
    """The state is unknown, or was already used (states are deleted on first use)."""


class StateExpiredError(Exception):
    """The state existed but its lifetime had passed; it is now consumed."""

    def __init__(self, pending: PendingAuthorization) -> None:
        self.connection_id = pending.connection_id
        super().__init__("authorization state expired")


class OAuthStateStore:
    """DynamoDB-backed ``OAUTHSTATE#<state>`` / ``STATE`` items."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table_name: str,
        *,
        ttl_seconds: int = DEFAULT_STATE_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ddb = dynamodb
        self._table = table_name
        self._ttl = ttl_seconds
        self._clock = clock

    def put(
        self, *, state: str, connection_id: str, code_verifier: SecretStr, redirect_uri: str
    ) -> PendingAuthorization:
        now = int(self._clock())
        pending = PendingAuthorization(
            state=state,
            connection_id=connection_id,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
            created_at=now,
            expires_at=now + self._ttl,
        )
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": state_pk(state)},
                "sk": {"S": STATE_SK},
                "connection_id": {"S": connection_id},
                "code_verifier": {"S": code_verifier.get_secret_value()},
                "redirect_uri": {"S": redirect_uri},
                "created_at": {"N": str(now)},
                "expires_at": {"N": str(pending.expires_at)},
            },
            # 256-bit random states never collide; the condition makes a collision loud, not silent.
            ConditionExpression="attribute_not_exists(pk)",
        )
        return pending

    def consume(self, state: str) -> PendingAuthorization:
        """Delete the state and return it; raises StateNotFoundError or StateExpiredError."""
        try:
            response = self._ddb.delete_item(
                TableName=self._table,
                Key={"pk": {"S": state_pk(state)}, "sk": {"S": STATE_SK}},
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise StateNotFoundError("unknown or already used authorization state") from None
            raise
        item = response.get("Attributes") or {}
        pending = PendingAuthorization(
            state=state,
            connection_id=item["connection_id"]["S"],
            code_verifier=SecretStr(item["code_verifier"]["S"]),
            redirect_uri=item["redirect_uri"]["S"],
            created_at=int(item["created_at"]["N"]),
            expires_at=int(item["expires_at"]["N"]),
        )
        if pending.expires_at <= self._clock():
            raise StateExpiredError(pending)
        return pending
