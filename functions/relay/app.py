"""Relay: change events from Salesforce's Event Relay (EventBridge partner bus -> rule -> SQS, up
to 10 per batch) published as trigger events; answers SQS's partial batch response, so only the
messages whose changes could not be published or recorded are retried."""

from typing import Any

from sfconnector.api.observability import record_relay, wrap_handler
from sfconnector.runtime import get_runtime


def _relay(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from sfconnector.triggers.relaying import relay_batch

    runtime = get_runtime()
    runtime.lambda_context = context
    records = event.get("Records") or []
    messages = [(str(r.get("messageId") or ""), str(r.get("body") or "")) for r in records]
    report = relay_batch(messages, runtime.relay_ports)
    record_relay(report)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.failed]}


lambda_handler = wrap_handler(_relay, correlation_id_path="Records[0].messageId")
