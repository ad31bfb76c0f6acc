"""Logger, Tracer and Metrics of the API functions, and the per-action usage record.

The Powertools objects are created on the first invocation (not at import: the X-Ray SDK behind
the Tracer is not free to import) and wrap the entry point once, for the container's lifetime.
Every action logs and emits, as a CloudWatch EMF metric with an ``action`` dimension, how many
Salesforce API calls it used, so the org's allowance can be watched per action.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics, Tracer

    from sfconnector.catalog import Action
    from sfconnector.salesforce.client import LimitInfo
    from sfconnector.triggers.poller import PollReport
    from sfconnector.triggers.relaying import RelayReport

__all__ = ["logger", "metrics", "record_action", "record_poll", "record_relay", "tracer", "wrap_handler"]

TRACED_MODULES = ("botocore", "httpx")
"""What the Tracer patches: AWS calls (boto3) and Salesforce / URL-fetch calls (httpx)."""

_lock = threading.Lock()
_objects: dict[str, Any] = {}


def logger() -> Logger:
    with _lock:
        if "logger" not in _objects:
            from aws_lambda_powertools import Logger
            from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

            log = Logger()
            # The layer's modules log through the standard library; give them the same JSON format
            # and correlation keys.
            copy_config_to_registered_loggers(source_logger=log, include={"sfconnector"})
            _objects["logger"] = log
        result: Logger = _objects["logger"]
        return result


def tracer() -> Tracer:
    with _lock:
        if "tracer" not in _objects:
            from aws_lambda_powertools import Tracer

            # Only the libraries the connector calls out with: patching all the X-Ray SDK knows
            # imports each one installed (requests, sqlite3, ...) on the first request.
            _objects["tracer"] = Tracer(patch_modules=TRACED_MODULES)
        result: Tracer = _objects["tracer"]
        return result


def metrics() -> Metrics:
    with _lock:
        if "metrics" not in _objects:
            from aws_lambda_powertools import Metrics

            _objects["metrics"] = Metrics()
        result: Metrics = _objects["metrics"]
        return result


def record_action(action: Action, connection_id: str, api_calls: int, limits: LimitInfo | None) -> None:
    """Log and count one action's Salesforce usage (no-op outside an instrumented invocation)."""
    if "metrics" not in _objects:
        return
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    keys: dict[str, Any] = {
        "action": action.key,
        "connection_id": connection_id,
        "salesforce_api_calls": api_calls,
    }
    if limits is not None:
        keys["salesforce_api_usage"] = f"{limits.used}/{limits.max}"
    logger().append_keys(**keys)
    shared = metrics()
    # One EMF document per action, with a dimension set of its own: the container's Metrics object
    # is shared by every invocation (and, with metrics disabled, never cleared), so a dimension added
    # there would collide with the next action's and leak onto any other metric of the invocation.
    single = EphemeralMetrics(namespace=shared.namespace, service=shared.service)
    single.add_dimension(name="action", value=action.key)
    single.add_metric(name="SalesforceApiCalls", unit=MetricUnit.Count, value=api_calls)
    single.flush_metrics()


def record_poll(report: PollReport) -> None:
    """Log and count one poll cycle (the trigger poller's metrics; the lag feeds an alarm)."""
    from aws_lambda_powertools.metrics import MetricUnit

    logger().info(
        "poll cycle",
        extra={k: v for k, v in report.model_dump().items() if k != "streams"}
        | {"streams": len(report.streams)},
    )
    shared = metrics()
    shared.add_metric(name="TriggerPollRecords", unit=MetricUnit.Count, value=report.records_seen)
    shared.add_metric(name="TriggerPollEvents", unit=MetricUnit.Count, value=report.events_published)
    shared.add_metric(name="TriggerPollSalesforceCalls", unit=MetricUnit.Count, value=report.salesforce_calls)
    shared.add_metric(
        name="TriggerPollSkipped", unit=MetricUnit.Count, value=int(report.outcome == "skipped")
    )
    shared.add_metric(
        name="TriggerPollErrors",
        unit=MetricUnit.Count,
        value=int(report.error is not None) + report.events_failed,
    )
    if report.lag_seconds is not None:
        shared.add_metric(name="TriggerPollLagSeconds", unit=MetricUnit.Seconds, value=report.lag_seconds)
    # Events SNS refused wait in the outbox; one refused longer than POLL_OUTBOX_MAX_AGE_SECONDS
    # ago counts here (the TriggerOutboxStale alarm): they are never dropped, only delayed.
    shared.add_metric(name="TriggerOutboxStale", unit=MetricUnit.Count, value=report.outbox_stale)
    if report.outbox_oldest_seconds is not None:
        shared.add_metric(
            name="TriggerOutboxOldestSeconds", unit=MetricUnit.Seconds, value=report.outbox_oldest_seconds
        )


def record_relay(report: RelayReport) -> None:
    """Log and count one relay batch (dropped and rejected events are the ones to look at)."""
    from aws_lambda_powertools.metrics import MetricUnit

    logger().info("relay batch", extra=report.model_dump())
    shared = metrics()
    for name, value in (
        ("RelayEvents", report.events_published),
        ("RelayDuplicates", report.duplicates),
        ("RelayRejected", report.rejected),
        ("RelayDropped", report.dropped),
        ("RelaySalesforceCalls", report.salesforce_calls),
        ("RelayReconcileMarked", report.reconcile_marked),
        ("RelayFailedMessages", len(report.failed)),
    ):
        shared.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if report.max_lag_seconds is not None:
        shared.add_metric(name="RelayLagSeconds", unit=MetricUnit.Seconds, value=report.max_lag_seconds)


def wrap_handler(
    resolve: Callable[[dict[str, Any], Any], dict[str, Any]],
    *,
    correlation_id_path: str | None = None,
) -> Callable[[dict[str, Any], Any], Any]:
    """``resolve`` wrapped once with Logger (correlation id = API Gateway request id, or what
    ``correlation_id_path`` names in the event), Tracer and Metrics decorators; built on the
    first call."""
    wrapped: list[Callable[[dict[str, Any], Any], Any]] = []

    def handler(event: dict[str, Any], context: Any) -> Any:
        if not wrapped:
            from aws_lambda_powertools.logging import correlation_paths

            fn: Callable[[dict[str, Any], Any], Any] = resolve
            fn = metrics().log_metrics(fn, raise_on_empty_metrics=False)
            fn = tracer().capture_lambda_handler(fn, capture_response=False)
            fn = logger().inject_lambda_context(
                fn,
                correlation_id_path=correlation_id_path or correlation_paths.API_GATEWAY_REST,
                clear_state=True,
                log_event=False,
            )
            wrapped.append(fn)
        with warnings.catch_warnings():
            # Requests that call no action (documents, 4xx before Salesforce) emit no metric: expected.
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            return wrapped[0](event, context)

    return handler
