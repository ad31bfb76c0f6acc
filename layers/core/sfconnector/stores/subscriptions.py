"""DynamoDB adapter for trigger subscriptions (``pk = CONNECTION#<cid>``, ``sk = SUBSCRIPTION#<sid>``).

Living under the connection's partition key, a connection's subscriptions are one Query away (what
the poller reads every cycle) and go when the connection is deleted (it deletes every
``CONNECTION#<cid>`` item).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from sfconnector.models import validate_connection_id
from sfconnector.models.subscriptions import (
    SUBSCRIPTION_PREFIX,
    Subscription,
    subscription_key,
)

# The DynamoDB wire codec of the state table's items, shared with the connection repository.
from sfconnector.stores.connections import _is_conditional_failure, _unwire, _wire
from sfconnector.stores.dynamo import DynamoStore

__all__ = ["SubscriptionNotFoundError", "SubscriptionRepository"]

_UPDATABLE = frozenset(
    {
        "sobject",
        "params",
        "fields",
        "ignore_own_changes",
        "status",
        "last_error",
        "last_error_at",
        "resumed_at",
    }
)
MAX_ERROR_LENGTH = 500


class SubscriptionNotFoundError(LookupError):
    def __init__(self, connection_id: str, subscription_id: str) -> None:
        self.connection_id = connection_id
        self.subscription_id = subscription_id
        super().__init__(
            f"subscription {subscription_id[:40]!r} of connection {connection_id[:64]!r} does not exist"
        )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class SubscriptionRepository(DynamoStore):
    """Subscriptions in the state table. ``dynamodb`` is the low-level client or a factory
    returning it (called once, on the first call that needs it)."""

    # ---- write -------------------------------------------------------------------------------

    def put(self, subscription: Subscription) -> Subscription:
        """Store (create or replace) a subscription."""
        self.client.put_item(TableName=self.table_name, Item=_wire(subscription.to_item()))
        return subscription

    def update(self, connection_id: str, subscription_id: str, /, **fields: Any) -> Subscription:
        """Set some fields (None removes one; ``fields=None`` means every field) and stamp
        ``updated_at``; returns the stored subscription. :class:`SubscriptionNotFoundError` when
        it does not exist (no item is created)."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update subscription field(s): {', '.join(sorted(unknown))}")
        current = {name: value for name, value in fields.items() if value is not None}
        # Validated as the stored model would be, then turned into item values by the model itself.
        probe = Subscription.model_validate(
            {**_PROBE, **current, "connection_id": connection_id, "subscription_id": subscription_id}
        ).to_item()
        names = {"#updated_at": "updated_at"}
        values: dict[str, Any] = {":updated_at": _iso(_now())}
        sets = ["#updated_at = :updated_at"]
        removes: list[str] = []
        for i, name in enumerate(sorted(fields)):
            names[f"#f{i}"] = name
            if fields[name] is None:
                removes.append(f"#f{i}")
            else:
                values[f":v{i}"] = probe[name]
                sets.append(f"#f{i} = :v{i}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            result = self.client.update_item(
                TableName=self.table_name,
                Key=_wire(subscription_key(connection_id, subscription_id)),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_wire(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise SubscriptionNotFoundError(connection_id, subscription_id) from None
            raise
        return Subscription.from_item(_unwire(result["Attributes"]))

    def record_error(self, connection_id: str, subscription_id: str, message: str | None) -> bool:
        """The poller's last problem with a subscription (None clears it). False when the
        subscription was deleted meanwhile (nothing to record it on)."""
        try:
            if message is None:
                self.update(connection_id, subscription_id, last_error=None, last_error_at=None)
            else:
                self.update(
                    connection_id,
                    subscription_id,
                    last_error=message[:MAX_ERROR_LENGTH],
                    last_error_at=_now(),
                )
        except SubscriptionNotFoundError:
            return False
        return True

    def delete(self, connection_id: str, subscription_id: str) -> bool:
        """Delete one subscription; False if there was none."""
        result = self.client.delete_item(
            TableName=self.table_name,
            Key=_wire(subscription_key(connection_id, subscription_id)),
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in result

    # ---- read --------------------------------------------------------------------------------

    def get(self, connection_id: str, subscription_id: str) -> Subscription:
        """The subscription; :class:`SubscriptionNotFoundError` when absent (or the id is malformed)."""
        try:
            key = subscription_key(connection_id, subscription_id)
        except ValueError:
            raise SubscriptionNotFoundError(connection_id, subscription_id) from None
        item = self.client.get_item(TableName=self.table_name, Key=_wire(key), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            raise SubscriptionNotFoundError(connection_id, subscription_id)
        return Subscription.from_item(_unwire(item))

    def list(self, connection_id: str) -> list[Subscription]:
        """Every subscription of the connection, oldest first (one Query, all its pages)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _wire(
                {":pk": f"CONNECTION#{validate_connection_id(connection_id)}", ":prefix": SUBSCRIPTION_PREFIX}
            ),
            "ConsistentRead": True,
        }
        out: list[Subscription] = []
        while True:
            page = self.client.query(**kwargs)
            out.extend(Subscription.from_item(_unwire(item)) for item in page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        return sorted(out, key=lambda s: (s.created_at, s.subscription_id))


# Placeholder values completing a Subscription so update() can reuse the model's validation and
# item encoding for the fields it sets (only those fields' encoded values are used).
_PROBE: dict[str, Any] = {
    "trigger": "-",
    "kind": "-",
    "family": "-",
    "sobject": "-",
    "start_at": datetime(2000, 1, 1, tzinfo=UTC),
}
