"""Publishing connector events on the SNS topic (``TOPIC_ARN``).

A small port: connection lifecycle events (``connection.needs_reauth``, ...) today; the trigger
engine extends it with batched record events. Messages are CloudEvents-style JSON envelopes, and
the attributes subscribers filter on travel as SNS message attributes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef


class Event(BaseModel):
    """The envelope: ``{"id", "type", "source", "subject", "time", "connection_id", "data"}``."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    source: str
    subject: str | None = None
    time: str
    connection_id: str
    data: dict[str, Any] = Field(default_factory=dict)


class EventPublisher(Protocol):
    """Where connector events go."""

    def publish(self, event: Event, attributes: Mapping[str, str] | None = None) -> str:
        """Publish one event; returns the message id."""
        ...


def utc_now_iso(clock: Callable[[], float] = time.time) -> str:
    return datetime.fromtimestamp(clock(), tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SnsEventPublisher:
    """EventPublisher over one SNS topic. ``event_type`` and ``connection_id`` are always message
    attributes (plus any given), so subscribers can filter on them.

    ``sns`` is the client, or a function building it on the first publish: events are rare (a
    connection needing re-authorisation), and building an SNS client costs ~10 ms of a cold start.
    """

    def __init__(self, sns: SNSClient | Callable[[], SNSClient], topic_arn: str) -> None:
        self._sns_source = sns
        self._client: SNSClient | None = None
        self._topic_arn = topic_arn

    @property
    def _sns(self) -> SNSClient:
        if self._client is None:
            source = self._sns_source
            # A boto3 client is not callable; a factory is.
            self._client = source() if callable(source) else source
        return self._client

    def publish(self, event: Event, attributes: Mapping[str, str] | None = None) -> str:
        attrs: dict[str, MessageAttributeValueTypeDef] = {
            "event_type": {"DataType": "String", "StringValue": event.type},
            "connection_id": {"DataType": "String", "StringValue": event.connection_id},
        }
        for name, value in (attributes or {}).items():
            if value:
                attrs[name] = {"DataType": "String", "StringValue": value}
        response = self._sns.publish(
            TopicArn=self._topic_arn,
            Message=json.dumps(event.model_dump(mode="json"), separators=(",", ":")),
            MessageAttributes=attrs,
        )
        return response["MessageId"]
