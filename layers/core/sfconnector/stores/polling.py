"""A connection's polling settings in the state table (``pk = CONNECTION#<cid>``, ``sk = POLLING``).

Kept apart from the schedule itself so the interval can be chosen before the first subscription
creates the schedule, and survives the last one deleting it. Deleted with the connection.
"""

from __future__ import annotations

from sfconnector.models import validate_connection_id
from sfconnector.models.subscriptions import MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES
from sfconnector.stores.dynamo import DynamoStore

__all__ = ["DEFAULT_INTERVAL_MINUTES", "POLLING", "PollingRepository"]

POLLING = "POLLING"
DEFAULT_INTERVAL_MINUTES = 1


class PollingRepository(DynamoStore):
    """``interval_minutes`` per connection (the default when never set)."""

    @staticmethod
    def _key(connection_id: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"CONNECTION#{validate_connection_id(connection_id)}"}, "sk": {"S": POLLING}}

    def interval_minutes(self, connection_id: str) -> int:
        item = self.client.get_item(
            TableName=self.table_name, Key=self._key(connection_id), ConsistentRead=True
        ).get("Item")
        if item is None or "interval_minutes" not in item:
            return DEFAULT_INTERVAL_MINUTES
        return int(item["interval_minutes"]["N"])

    def set_interval_minutes(self, connection_id: str, minutes: int) -> int:
        if not MIN_INTERVAL_MINUTES <= minutes <= MAX_INTERVAL_MINUTES:
            raise ValueError(f"interval_minutes must be {MIN_INTERVAL_MINUTES}-{MAX_INTERVAL_MINUTES}")
        self.client.put_item(
            TableName=self.table_name,
            Item={**self._key(connection_id), "interval_minutes": {"N": str(minutes)}},
        )
        return minutes
