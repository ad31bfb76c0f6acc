"""Bulk job watcher: every minute (EventBridge schedule), each unfinished bulk job's state, and a
``bulk_job.finished`` event on the topic for each job that finished; returns the run's report."""

from dataclasses import asdict
from typing import Any

from sfconnector.api.observability import wrap_handler
from sfconnector.runtime import get_runtime


def _watch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from sfconnector.actions.bulk import watch_jobs

    runtime = get_runtime()
    runtime.lambda_context = context
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    report = watch_jobs(
        runtime.bulk_jobs,
        runtime.salesforce,
        runtime.publisher,
        remaining_ms=remaining if callable(remaining) else None,
    )
    return asdict(report)


lambda_handler = wrap_handler(_watch)
