"""Poller: one trigger poll cycle of a connection, invoked by its EventBridge Scheduler schedule
with ``{"connection_id": "..."}``; returns the cycle's report."""

from typing import Any

from sfconnector.api.observability import record_poll, wrap_handler
from sfconnector.runtime import get_runtime


def _poll(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from sfconnector.triggers.poller import poll_connection

    runtime = get_runtime()
    runtime.lambda_context = context
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    report = poll_connection(
        str(event["connection_id"]),
        ports=runtime.poller_ports,
        settings=runtime.poller_settings,
        remaining_ms=remaining if callable(remaining) else None,
    )
    record_poll(report)
    return report.model_dump(mode="json")


lambda_handler = wrap_handler(_poll, correlation_id_path="connection_id")
