"""The base of the state table's adapters: a low-level DynamoDB client (or a factory called on the
first call that needs it: building a boto3 client costs part of a cold start) and the table name."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoStore"]


class DynamoStore:
    def __init__(self, dynamodb: DynamoDBClient | Callable[[], DynamoDBClient], table_name: str) -> None:
        self._source = dynamodb
        self._client: DynamoDBClient | None = None
        self._lock = threading.Lock()
        self.table_name = table_name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table_name={self.table_name!r})"

    @property
    def client(self) -> DynamoDBClient:
        with self._lock:
            if self._client is None:
                # boto3 clients are not callable: a callable is the factory.
                source = self._source
                self._client = source() if callable(source) else source
            return self._client

    def batch_write(self, requests: list[dict[str, Any]]) -> int:
        """BatchWriteItem of put/delete requests, 25 per call, unprocessed ones sent again;
        returns the calls made."""
        calls = 0
        while requests:
            chunk, requests = requests[:25], requests[25:]
            ask: dict[str, Any] = {self.table_name: chunk}
            while ask:
                answer = self.client.batch_write_item(RequestItems=ask)
                calls += 1
                ask = dict(answer.get("UnprocessedItems") or {})
        return calls
