"""Powertools idempotency records in the state table (the ``Idempotency-Key`` of create-type actions):

    pk = IDEMPOTENCY#<action key>#<hash of connection, action and key>   sk = IDEMPOTENCY

with the table's TTL attribute ``expires_at``. :func:`sfconnector.api.idempotency.run_idempotent`
runs a request through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["StateTablePersistence"]

_PK_PREFIX = "IDEMPOTENCY#"
_SK = "IDEMPOTENCY"


class StateTablePersistence(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer with the state table's key layout (see the module doc)."""

    def __init__(self, table_name: str, *, boto3_client: DynamoDBClient | None = None) -> None:
        super().__init__(
            table_name=table_name,
            key_attr="pk",
            expiry_attr="expires_at",
            boto3_client=boto3_client,
        )

    def _get_key(self, idempotency_key: str) -> dict[str, Any]:
        return {"pk": {"S": f"{_PK_PREFIX}{idempotency_key}"}, "sk": {"S": _SK}}

    def _item_to_data_record(self, item: dict[str, Any]) -> DataRecord:
        record = super()._item_to_data_record(item)
        if record.idempotency_key.startswith(_PK_PREFIX):
            record.idempotency_key = record.idempotency_key[len(_PK_PREFIX) :]
        return record
