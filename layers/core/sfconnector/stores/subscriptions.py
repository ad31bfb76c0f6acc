"""DynamoDB adapter for trigger subscriptions (``pk = CONNECTION#<cid>``, ``sk = SUBSCRIPTION#<sid>``).

Living under the connection's partition key, a connection's subscriptions are one Query away (what
the poller reads every cycle) and go when the connection is deleted (it deletes every
``CONNECTION#<cid>`` item).

Counts: ``CONNECTION#<cid>`` / ``COUNTS#SUBSCRIPTIONS`` holds how many subscriptions the
connection has (``total``), how many are active (``active``) and how many per trigger
(``t:<trigger key>``). Every write that changes them (add, delete, a status change) updates the
counter in the same DynamoDB transaction as the subscription, so the counts are exact without
reading the subscriptions: the limits are checked by the transaction's condition (two concurrent
creates cannot both take the last place), and the poll schedule is decided from one GetItem.
A counter is built once from the subscriptions (one Query) for a connection that has none yet
(subscriptions stored before it existed); every write requires it (``attribute_exists(v)``).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from sfconnector.errors import ConnectorError, Fault
from sfconnector.models import validate_connection_id
from sfconnector.models.subscriptions import (
    SUBSCRIPTION_PREFIX,
    Subscription,
    subscription_key,
    validate_subscription_id,
)

# The DynamoDB wire codec of the state table's items, shared with the connection repository.
from sfconnector.stores.connections import _is_conditional_failure, _unwire, _wire
from sfconnector.stores.dynamo import DynamoStore

__all__ = [
    "COUNTS_SK",
    "InvalidPageTokenError",
    "SubscriptionCounts",
    "SubscriptionLimitError",
    "SubscriptionNotFoundError",
    "SubscriptionPage",
    "SubscriptionRepository",
]

COUNTS_SK = "COUNTS#SUBSCRIPTIONS"
_TRIGGER_PREFIX = "t:"
_RETRIES = 5
"""Attempts of a write whose subscription or counter changed under it (then a 503 to retry)."""

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


class SubscriptionLimitError(ConnectorError):
    """The connection (or one of its triggers) has as many subscriptions as allowed."""

    code = "subscription_limit_reached"
    fault = Fault.CONFLICT

    def __init__(self, limit: str, maximum: int, *, connection_id: str, trigger: str | None = None) -> None:
        self.limit = limit
        self.maximum = maximum
        if trigger is None:
            message = (
                f"Connection {connection_id!r} has {maximum} subscriptions, the most allowed per connection "
                f"({limit}={maximum}); delete one first."
            )
            fields = ["connection_id"]
        else:
            message = (
                f"Connection {connection_id!r} has {maximum} subscriptions to {trigger}, the most allowed "
                f"per trigger ({limit}={maximum}); delete one, or watch with fewer subscriptions."
            )
            fields = ["trigger"]
        super().__init__(message, fields=fields, details={"limit": limit, "maximum": maximum})


class InvalidPageTokenError(ConnectorError):
    code = "invalid_next_token"
    fault = Fault.INVALID

    def __init__(self) -> None:
        super().__init__(
            "next_token is not a page of this list; send the next_token of the previous answer",
            fields=["next_token"],
        )


@dataclass(frozen=True)
class SubscriptionCounts:
    """A connection's subscriptions, counted (from its counter item)."""

    total: int = 0
    active: int = 0
    by_trigger: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SubscriptionPage:
    subscriptions: list[Subscription]
    next_token: str | None


def encode_page_token(subscription_id: str) -> str:
    return base64.urlsafe_b64encode(f"after:{subscription_id}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    """The subscription id a page token continues after (:class:`InvalidPageTokenError` if none)."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        prefix, _, subscription_id = text.partition(":")
        if prefix != "after":
            raise ValueError(prefix)
        return validate_subscription_id(subscription_id)
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidPageTokenError() from None


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class SubscriptionRepository(DynamoStore):
    """Subscriptions in the state table. ``dynamodb`` is the low-level client or a factory
    returning it (called once, on the first call that needs it)."""

    # ---- write -------------------------------------------------------------------------------

    def add(
        self,
        subscription: Subscription,
        *,
        max_per_connection: int | None = None,
        max_per_trigger: int | None = None,
    ) -> Subscription:
        """Store a new subscription and count it, in one transaction; :class:`SubscriptionLimitError`
        when the connection or its trigger already has the most allowed (nothing is stored)."""
        limits = _Limits(max_per_connection, max_per_trigger)
        if not self._write(subscription.connection_id, None, subscription, limits):
            raise ValueError(f"subscription {subscription.subscription_id} exists already")
        return subscription

    def put(self, subscription: Subscription) -> Subscription:
        """Store (create or replace) a subscription, without limits (the counts follow)."""
        for _ in range(_RETRIES):
            try:
                old: Subscription | None = self.get(subscription.connection_id, subscription.subscription_id)
            except SubscriptionNotFoundError:
                old = None
            if self._write(subscription.connection_id, old, subscription, _Limits()):
                return subscription
        raise _Contended(subscription.connection_id)

    def update(self, connection_id: str, subscription_id: str, /, **fields: Any) -> Subscription:
        """Set some fields (None removes one; ``fields=None`` means every field) and stamp
        ``updated_at``; returns the stored subscription. :class:`SubscriptionNotFoundError` when
        it does not exist (no item is created). A status change is counted in the same transaction."""
        args = self._update_args(connection_id, subscription_id, fields)
        if "status" in fields and fields["status"] is not None:
            return self._update_status(connection_id, subscription_id, str(fields["status"]), args)
        try:
            result = self.client.update_item(**args, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise SubscriptionNotFoundError(connection_id, subscription_id) from None
            raise
        return Subscription.from_item(_unwire(result["Attributes"]))

    def _update_args(
        self, connection_id: str, subscription_id: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
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
        return {
            "TableName": self.table_name,
            "Key": _wire(subscription_key(connection_id, subscription_id)),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _wire(values),
        }

    def _update_status(
        self, connection_id: str, subscription_id: str, status: str, args: dict[str, Any]
    ) -> Subscription:
        for _ in range(_RETRIES):
            old = self.get(connection_id, subscription_id)
            delta = int(status == "active") - int(old.status == "active")
            update = {
                **args,
                "ConditionExpression": "attribute_exists(pk) AND #st = :old_status",
                "ExpressionAttributeNames": {**args["ExpressionAttributeNames"], "#st": "status"},
                "ExpressionAttributeValues": {
                    **args["ExpressionAttributeValues"],
                    ":old_status": {"S": old.status},
                },
            }
            counter = self._counter_update(connection_id, {"active": delta}, {})
            if self._transact(connection_id, [{"Update": counter}, {"Update": update}]):
                return self.get(connection_id, subscription_id)
        raise _Contended(connection_id)

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
        """Delete one subscription (and count it out); False if there was none."""
        subscription_key(connection_id, subscription_id)  # ValueError for an id that could never exist
        for _ in range(_RETRIES):
            try:
                old = self.get(connection_id, subscription_id)
            except SubscriptionNotFoundError:
                return False
            if self._write(connection_id, old, None, _Limits()):
                return True
        raise _Contended(connection_id)

    # ---- the counter ---------------------------------------------------------------------------

    def _counts_key(self, connection_id: str) -> dict[str, Any]:
        return _wire({"pk": f"CONNECTION#{validate_connection_id(connection_id)}", "sk": COUNTS_SK})

    def counts(self, connection_id: str) -> SubscriptionCounts:
        """The connection's counts: one GetItem (a Query of its subscriptions only while it has
        no counter yet)."""
        item = self.client.get_item(
            TableName=self.table_name, Key=self._counts_key(connection_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            return _counted(self.list(connection_id))
        values = _unwire(item)
        return SubscriptionCounts(
            total=int(values.get("total", 0)),
            active=int(values.get("active", 0)),
            by_trigger={
                name.removeprefix(_TRIGGER_PREFIX): int(n)
                for name, n in values.items()
                if name.startswith(_TRIGGER_PREFIX) and int(n) > 0
            },
        )

    def _start_counter(self, connection_id: str) -> None:
        """Count the subscriptions stored before the connection had a counter (once)."""
        counted = _counted(self.list(connection_id))
        item = {
            **_unwire(self._counts_key(connection_id)),
            "v": 1,
            "total": counted.total,
            "active": counted.active,
            **{f"{_TRIGGER_PREFIX}{key}": n for key, n in counted.by_trigger.items()},
        }
        try:
            self.client.put_item(
                TableName=self.table_name, Item=_wire(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise  # otherwise started concurrently: that one counts

    def _counter_update(
        self, connection_id: str, deltas: dict[str, int], maxima: dict[str, int]
    ) -> dict[str, Any]:
        """The counter's part of a transaction: ADD the deltas, on the condition that the counter
        exists and each attribute in ``maxima`` is below its maximum."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds: list[str] = []
        conditions = ["attribute_exists(v)"]
        for i, (attribute, delta) in enumerate(sorted(deltas.items())):
            names[f"#c{i}"] = attribute
            values[f":d{i}"] = {"N": str(delta)}
            adds.append(f"#c{i} :d{i}")
            if attribute in maxima:
                values[f":m{i}"] = {"N": str(maxima[attribute])}
                conditions.append(f"(attribute_not_exists(#c{i}) OR #c{i} < :m{i})")
        return {
            "TableName": self.table_name,
            "Key": self._counts_key(connection_id),
            "UpdateExpression": "ADD " + ", ".join(adds),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _write(
        self,
        connection_id: str,
        old: Subscription | None,
        new: Subscription | None,
        limits: _Limits,
    ) -> bool:
        """Replace ``old`` (None: absent) with ``new`` (None: delete) and move the counts with
        it, in one transaction. False when the stored subscription is no longer ``old`` (changed
        meanwhile: the caller reads it again)."""
        deltas: dict[str, int] = {"total": int(new is not None) - int(old is not None)}
        deltas["active"] = int(new is not None and new.status == "active") - int(
            old is not None and old.status == "active"
        )
        for sub, sign in ((old, -1), (new, 1)):
            if sub is not None:
                name = f"{_TRIGGER_PREFIX}{sub.trigger}"
                deltas[name] = deltas.get(name, 0) + sign
        maxima: dict[str, int] = {}
        if new is not None and old is None:
            if limits.per_connection is not None:
                maxima["total"] = limits.per_connection
            if limits.per_trigger is not None:
                maxima[f"{_TRIGGER_PREFIX}{new.trigger}"] = limits.per_trigger
        counter = self._counter_update(connection_id, deltas, maxima)
        either = new or old
        assert either is not None
        key = _wire(subscription_key(connection_id, either.subscription_id))
        if old is None:
            guard: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            guard = {
                "ConditionExpression": "#st = :st AND #tr = :tr",
                "ExpressionAttributeNames": {"#st": "status", "#tr": "trigger"},
                "ExpressionAttributeValues": {":st": {"S": old.status}, ":tr": {"S": old.trigger}},
            }
        if new is not None:
            write: dict[str, Any] = {
                "Put": {"TableName": self.table_name, "Item": _wire(new.to_item()), **guard}
            }
        else:
            write = {"Delete": {"TableName": self.table_name, "Key": key, **guard}}
        return self._transact(connection_id, [{"Update": counter}, write], maxima=maxima, new=new)

    def _transact(
        self,
        connection_id: str,
        items: list[dict[str, Any]],
        *,
        maxima: dict[str, int] | None = None,
        new: Subscription | None = None,
    ) -> bool:
        """Run the transaction (items[0]: the counter's part). False when the subscription's own
        condition failed; the counter started first when missing; a limit reached raises."""
        for attempt in range(_RETRIES):
            try:
                self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
                return True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                return False
            if "TransactionConflict" in reasons:
                # Another write of this connection's counter in flight (DynamoDB cancels rather
                # than waits): back off briefly, with jitter, and try again.
                time.sleep(0.02 * (attempt + 1) * (0.5 + secrets.randbelow(1000) / 1000))
                continue
            counts_item = self.client.get_item(
                TableName=self.table_name, Key=self._counts_key(connection_id), ConsistentRead=True
            ).get("Item")
            if counts_item is None:
                self._start_counter(connection_id)
                continue
            self._raise_limit(connection_id, _unwire(counts_item), maxima or {}, new)
            # Below the limits again (a subscription deleted meanwhile): try once more.
        raise _Contended(connection_id)

    @staticmethod
    def _raise_limit(
        connection_id: str, counts: dict[str, Any], maxima: dict[str, int], new: Subscription | None
    ) -> None:
        for attribute, maximum in maxima.items():
            if int(counts.get(attribute, 0)) >= maximum:
                if attribute == "total":
                    raise SubscriptionLimitError(
                        "MAX_SUBSCRIPTIONS_PER_CONNECTION", maximum, connection_id=connection_id
                    )
                raise SubscriptionLimitError(
                    "MAX_SUBSCRIPTIONS_PER_TRIGGER",
                    maximum,
                    connection_id=connection_id,
                    trigger=new.trigger if new is not None else attribute.removeprefix(_TRIGGER_PREFIX),
                )

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

    def _query_args(self, connection_id: str) -> dict[str, Any]:
        return {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _wire(
                {":pk": f"CONNECTION#{validate_connection_id(connection_id)}", ":prefix": SUBSCRIPTION_PREFIX}
            ),
            "ConsistentRead": True,
        }

    def list(self, connection_id: str) -> list[Subscription]:
        """Every subscription of the connection, oldest first (one Query, all its pages)."""
        kwargs = self._query_args(connection_id)
        out: list[Subscription] = []
        while True:
            page = self.client.query(**kwargs)
            out.extend(Subscription.from_item(_unwire(item)) for item in page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        return sorted(out, key=lambda s: (s.created_at, s.subscription_id))

    def page(self, connection_id: str, limit: int, next_token: str | None = None) -> SubscriptionPage:
        """Up to ``limit`` subscriptions in id order (creation order), from after ``next_token``;
        one Query of ``limit + 1`` items at most (the one more tells whether a page follows)."""
        kwargs = {**self._query_args(connection_id), "Limit": limit + 1}
        if next_token is not None:
            after = decode_page_token(next_token)
            kwargs["ExclusiveStartKey"] = _wire(subscription_key(connection_id, after))
        items = self.client.query(**kwargs).get("Items", [])
        subscriptions = [Subscription.from_item(_unwire(item)) for item in items[:limit]]
        more = len(items) > limit and subscriptions
        return SubscriptionPage(
            subscriptions, encode_page_token(subscriptions[-1].subscription_id) if more else None
        )


@dataclass(frozen=True)
class _Limits:
    per_connection: int | None = None
    per_trigger: int | None = None


class _Contended(ConnectorError):
    """A subscription kept changing under a write (it is retried a few times first)."""

    code = "busy"
    fault = Fault.UNAVAILABLE
    retry_after = 1

    def __init__(self, connection_id: str) -> None:
        super().__init__(
            f"The subscriptions of connection {connection_id!r} are being changed concurrently; retry."
        )


def _counted(subscriptions: list[Subscription]) -> SubscriptionCounts:
    by_trigger: dict[str, int] = {}
    for subscription in subscriptions:
        by_trigger[subscription.trigger] = by_trigger.get(subscription.trigger, 0) + 1
    return SubscriptionCounts(
        total=len(subscriptions),
        active=sum(1 for s in subscriptions if s.status == "active"),
        by_trigger=by_trigger,
    )


# Placeholder values completing a Subscription so update() can reuse the model's validation and
# item encoding for the fields it sets (only those fields' encoded values are used).
_PROBE: dict[str, Any] = {
    "trigger": "-",
    "kind": "-",
    "family": "-",
    "sobject": "-",
    "start_at": datetime(2000, 1, 1, tzinfo=UTC),
}
