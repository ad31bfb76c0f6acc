"""SQS event sources (Lambda's event source mappings) for the local stack: one thread per SQS event
of the template reads its moto queue and invokes the function with Lambda's SQS event.

As Lambda does: up to ``BatchSize`` messages per invocation; a successful invocation deletes the
batch, or, with ``ReportBatchItemFailures``, every message but those its answer names; a failed
invocation deletes nothing (the messages come back after the visibility timeout, and the queue's
redrive policy, which moto applies on receive, dead-letters them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.lambdas import InvocationResult
from devstack.template import FunctionSpec, SqsEventSpec

__all__ = ["SqsEventSource", "sqs_event"]


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS event of received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes") or {},
                "messageAttributes": m.get("MessageAttributes") or {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def _failures(spec: SqsEventSpec, result: InvocationResult) -> set[str] | None:
    """The message ids to keep (None: the whole batch, the invocation failed)."""
    if not result.ok:
        return None
    if not spec.report_failures or not isinstance(result.value, dict):
        return set()
    items = result.value.get("batchItemFailures") or []
    return {str(i.get("itemIdentifier")) for i in items if isinstance(i, dict)}


@dataclass
class SqsEventSource:
    """One SQS event of a function, polled on its own thread until stopped."""

    spec: SqsEventSpec
    function: FunctionSpec
    sqs: Any
    queue_url: str
    queue_arn: str
    region: str
    invoke: Callable[[FunctionSpec, Any], InvocationResult]
    log: Callable[[str], None] = print
    wait_seconds: int = 1
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def label(self) -> str:
        return f"{self.spec.function_id}.{self.spec.event_name}"

    def poll_once(self) -> int:
        """Receive one batch and invoke the function with it; returns the messages received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.spec.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        result = self.invoke(self.function, sqs_event(messages, self.queue_arn, self.region))
        keep = _failures(self.spec, result)
        for message in messages:
            if keep is not None and message["MessageId"] not in keep:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        if keep is None:
            status = f"{result.error_type}: {result.error_message}"
        else:
            status = f"ok, {len(messages) - len(keep)} done" + (f", {len(keep)} to retry" if keep else "")
        self.log(f"[sqs] {self.label}: {len(messages)} messages ({result.duration_ms:.0f} ms, {status})")
        return len(messages)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # moto stopping, a broken message: the thread goes on
                if self._stop.is_set():
                    return
                self.log(f"[sqs] {self.label}: {exc}")
                self._stop.wait(1.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"sqs-{self.label}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.wait_seconds + 5)
