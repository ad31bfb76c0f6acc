"""A subscriber for the template's SNS topics: an SQS queue in moto whose messages are printed.

This is what a workflow engine does in production (SNS -> SQS with a filter policy), so what is
printed is exactly what a subscriber would receive. The last events are also kept in memory for
``GET /__devstack__/events`` (used by the end-to-end test and handy for scripts).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_SUMMARY_FIELDS = 8
_VALUE_WIDTH = 48


@dataclass(frozen=True)
class ReceivedEvent:
    """One SNS notification as the local subscriber received it."""

    received_at: str
    topic_arn: str
    message_id: str
    subject: str | None
    attributes: dict[str, str]
    message: Any  # the decoded JSON message, or the raw string

    def as_json(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at,
            "topic_arn": self.topic_arn,
            "message_id": self.message_id,
            "subject": self.subject,
            "attributes": self.attributes,
            "message": self.message,
        }


def parse_notification(body: str) -> ReceivedEvent:
    """Read the SNS envelope SQS delivers (non-raw delivery) into a :class:`ReceivedEvent`."""
    envelope = json.loads(body)
    raw = envelope.get("Message", "")
    try:
        message: Any = json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        message = raw
    attributes = {
        name: str(value.get("Value"))
        for name, value in (envelope.get("MessageAttributes") or {}).items()
        if isinstance(value, dict)
    }
    return ReceivedEvent(
        received_at=datetime.now(UTC).isoformat(timespec="seconds"),
        topic_arn=str(envelope.get("TopicArn", "")),
        message_id=str(envelope.get("MessageId", "")),
        subject=envelope.get("Subject"),
        attributes=attributes,
        message=message,
    )


def _short(value: Any) -> str:
    # A string with edge spaces is quoted, so "  acme " reads as what Salesforce holds.
    plain = isinstance(value, str) and value == value.strip()
    text = value if plain else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"


# Fields every record carries: the trigger line already says who changed what and when.
_RECORD_SYSTEM_FIELDS = frozenset(
    {
        "attributes", "Id", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
        "SystemModstamp", "IsDeleted", "LastViewedDate", "LastReferencedDate", "LastActivityDate",
    }
)  # fmt: skip


def _is_trigger_event(message: Any) -> bool:
    """A connector trigger event: the CloudEvents envelope the poller publishes (docs/triggers.md)."""
    return (
        isinstance(message, dict)
        and message.get("specversion") == "1.0"
        and isinstance(message.get("type"), str)
        and "subscription_id" in message
    )


def _record_fields(data: dict[str, Any]) -> str:
    fields = [
        f"{k}={_short(v)}"
        for k, v in data.items()
        if k not in _RECORD_SYSTEM_FIELDS and not isinstance(v, dict | list) and v not in (None, "", False)
    ]
    more = len(fields) - _SUMMARY_FIELDS
    return "  ".join(fields[:_SUMMARY_FIELDS]) + (f"  (+{more} more)" if more > 0 else "")


def format_trigger_event(event: ReceivedEvent) -> str:
    """A trigger event on three lines: which trigger fired for which record and subscription;
    who changed it and when; the record's own fields (system fields and empty values left out)."""
    message: dict[str, Any] = event.message
    data = message.get("data") if isinstance(message.get("data"), dict) else {}
    assert isinstance(data, dict)
    when = event.received_at[11:19]
    head = (
        f"[trigger {when}] {message['type']}  {message.get('sobject') or '?'} {message.get('subject') or '?'}"
        f"  subscription {message.get('subscription_id')}"
    )
    kind = message.get("event_type")
    actor = message.get("changed_by") or (
        data.get("CreatedById") if kind == "created" else data.get("LastModifiedById")
    )
    change = [f"{kind or 'change'} {message.get('time') or '?'}" + (f" by {actor}" if actor else "")]
    if "new_value" in message:
        change.append(f"{_short(message.get('old_value'))} -> {_short(message.get('new_value'))}")
    change.append(f"connection {message.get('connection_id')}")
    change.append(f"id {message.get('id')}")
    lines = [head, "    " + "  ".join(change)]
    if message.get("dataref"):
        lines.append(f"    data (over SNS's 256 KiB) at {message['dataref']}")
    elif data:
        fields = _record_fields(data)
        if fields:
            lines.append("    " + fields)
    return "\n".join(lines)


def format_event(event: ReceivedEvent) -> str:
    """A few lines a person can read at a glance: what happened, to what, and the main fields."""
    message = event.message
    if _is_trigger_event(message):
        return format_trigger_event(event)
    topic = event.topic_arn.rsplit(":", 1)[-1]
    when = event.received_at[11:19]
    if isinstance(message, dict):
        kind = message.get("type") or event.attributes.get("trigger") or event.subject or "message"
        subject = message.get("subject")
        head = f"[event {when}] {kind}" + (f"  {subject}" if subject else "") + f"  (topic {topic})"
        context = [f"{k}={v}" for k, v in event.attributes.items() if k not in {"trigger"}]
        data = (
            message.get("data")
            if isinstance(message.get("data"), dict)
            else {k: v for k, v in message.items() if k not in {"type", "subject"}}
        )
        assert isinstance(data, dict)
        fields = [
            f"{k}={_short(v)}"
            for k, v in data.items()
            if k != "attributes" and not isinstance(v, dict | list) and v is not None
        ]
        lines = [head]
        if context:
            lines.append("    " + "  ".join(context))
        if fields:
            more = len(fields) - _SUMMARY_FIELDS
            lines.append(
                "    " + "  ".join(fields[:_SUMMARY_FIELDS]) + (f"  (+{more} more)" if more > 0 else "")
            )
        return "\n".join(lines)
    return f"[event {when}] {event.subject or 'message'} (topic {topic}): {_short(message)}"


def sns_delivery_policy(queue_arn: str, topic_arns: list[str]) -> str:
    """The queue policy that lets the topics deliver to the queue (what a subscriber sets up)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}},
            }
        ],
    }
    return json.dumps(policy)


def subscriber_queue(sqs: Any, sns: Any, topic_arn: str, name: str, subscription_ids: list[str]) -> str:
    """A queue subscribed to the trigger-events topic for the given subscriptions only, as a
    customer's subscriber makes it (raw delivery: the body is the envelope); its URL."""
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": sns_delivery_policy(arn, [topic_arn])})
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "FilterPolicy": json.dumps({"subscription_id": subscription_ids}),
            "RawMessageDelivery": "true",
        },
    )
    return url


@dataclass
class EventPrinter:
    """Subscribes a local SQS queue to the topics and prints what arrives until stopped."""

    sqs: Any
    sns: Any
    queue_name: str
    topic_arns: list[str]
    region: str
    account_id: str
    log: Callable[[str], None] = print
    keep: int = 200
    events: deque[ReceivedEvent] = field(default_factory=deque)
    _queue_url: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def setup(self) -> str:
        """Create the queue and subscribe it to every topic; returns the queue URL."""
        url: str = self.sqs.create_queue(QueueName=self.queue_name)["QueueUrl"]
        queue_arn = f"arn:aws:sqs:{self.region}:{self.account_id}:{self.queue_name}"
        self.sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": sns_delivery_policy(queue_arn, self.topic_arns)}
        )
        for topic in self.topic_arns:
            self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        self._queue_url = url
        return url

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e.as_json() for e in self.events]

    def poll_once(self, wait_seconds: int = 1) -> int:
        if self._queue_url is None:
            return 0
        response = self.sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        messages = response.get("Messages", [])
        for message in messages:
            try:
                event = parse_notification(message["Body"])
            except (ValueError, KeyError) as exc:
                self.log(f"[event] unreadable message {message.get('MessageId')}: {exc}")
            else:
                with self._lock:
                    self.events.append(event)
                    while len(self.events) > self.keep:
                        self.events.popleft()
                self.log(format_event(event))
            self.sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # moto stopping under us during shutdown, mostly
                if self._stop.is_set():
                    return
                self.log(f"[event] cannot read the events queue: {exc}")
                self._stop.wait(1)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
