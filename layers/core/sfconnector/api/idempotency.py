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

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from sfconnector.errors import ConnectorError, Fault

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from sfconnector.stores.idempotency import StateTablePersistence

__all__ = [
    "IDEMPOTENCY_TTL_SECONDS",
    "MAX_KEY_LENGTH",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "IdempotencyStoreUnavailableError",
    "run_idempotent",
]

IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255


class IdempotencyInProgressError(ConnectorError):
    code = "idempotency_in_progress"
    fault = Fault.CONFLICT
    retry_after = 2

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still running; retry after it finishes.",
            fields=["Idempotency-Key"],
        )


class IdempotencyKeyReusedError(ConnectorError):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request body; use a new key.",
            fields=["Idempotency-Key"],
        )


class IdempotencyStoreUnavailableError(ConnectorError):
    code = "idempotency_store_unavailable"
    fault = Fault.UNAVAILABLE
    retry_after = 2

    def __init__(self) -> None:
        super().__init__("The idempotency store is unavailable; retry shortly.")


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
    # Powertools' own exceptions become the connector's, answered by the one error mapping.
    try:
        result = guarded(
            request={"connection_id": connection_id, "action": action_key, "key": key, "body": body}
        )
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyInProgressError() from None
    except IdempotencyValidationError:
        raise IdempotencyKeyReusedError() from None
    except IdempotencyPersistenceLayerError:
        raise IdempotencyStoreUnavailableError() from None
    return dict(result), replayed
