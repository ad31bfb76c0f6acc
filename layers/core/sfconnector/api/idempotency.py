"""``Idempotency-Key`` for create-type actions, through Powertools idempotency on the state table.

A retried request with the same key (same connection, same action, same body) gets the first
result back and creates nothing twice; the same key with a different body is a 422; a retry while
the first is still running is a 409 with ``Retry-After``. Records live in the one state table:

    pk = IDEMPOTENCY#<action key>#<hash of connection, action and key>   sk = IDEMPOTENCY

with the table's TTL attribute ``expires_at`` (24 hours by default). Failures are not stored: a
request that failed can be retried with the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["IDEMPOTENCY_TTL_SECONDS", "MAX_KEY_LENGTH", "StateTablePersistence", "run_idempotent"]

IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255
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


def run_idempotent(
    store: StateTablePersistence,
    *,
    action_key: str,
    connection_id: str,
    key: str,
    body: Any,
    work: Callable[[], dict[str, Any]],
    lambda_context: LambdaContext | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run ``work`` once per (connection, action, key); returns (result, replayed).

    ``work`` returns a JSON-serialisable dict (the stored result). ``body`` is hashed to detect a
    key reused with a different request.
    """
    replayed = False

    def _hook(response: Any, record: DataRecord) -> Any:
        nonlocal replayed
        replayed = True
        return response

    config = IdempotencyConfig(
        event_key_jmespath="[connection_id, action, key]",
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
        response_hook=cast(Any, _hook),
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    def _once(request: dict[str, Any]) -> dict[str, Any]:
        return work()

    guarded: Callable[..., dict[str, Any]] = idempotent_function(
        _once,
        data_keyword_argument="request",
        persistence_store=store,
        config=config,
        key_prefix=action_key,
    )
    result = guarded(request={"connection_id": connection_id, "action": action_key, "key": key, "body": body})
    return dict(result), replayed
