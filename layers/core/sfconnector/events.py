"""Publishing connector events on the SNS topic (``TOPIC_ARN``).

A small port: connection lifecycle events (``connection.needs_reauth``, ...) one at a time, and
the trigger engine's record events in batches (:meth:`SnsEventPublisher.publish_batch`: PublishBatch,
10 entries per call, only the failed entries retried, an envelope over SNS's 256 KiB stored in S3
behind a claim check). Messages are CloudEvents-style JSON envelopes, and the attributes
subscribers filter on travel as SNS message attributes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef, PublishBatchRequestEntryTypeDef

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 262_144
"""SNS's limit for one message, and for the sum of the messages of one PublishBatch call."""
MAX_BATCH_ENTRIES = 10


class Event(BaseModel):
    """The envelope: ``{"id", "type", "source", "subject", "time", "connection_id", "data"}``."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    source: str
    subject: str | None = None
    time: str
    connection_id: str
    tenant_id: str | None = None
    """The connection's owner tenant (also the ``tenant_id`` message attribute, for filter policies)."""
    data: dict[str, Any] = Field(default_factory=dict)


class EventPublisher(Protocol):
    """Where connector events go."""

    def publish(self, event: Event, attributes: Mapping[str, str] | None = None) -> str:
        """Publish one event; returns the message id."""
        ...


@dataclass(frozen=True)
class OutboundMessage:
    """One message of a batch: ``id`` is the batch entry id (unique in the batch, letters, digits,
    ``-`` and ``_``, at most 80) and names the S3 object when the body needs a claim check."""

    id: str
    body: Mapping[str, Any]
    attributes: Mapping[str, str] = field(default_factory=dict)
    claim_key: str | None = None
    """Where the whole body goes in the payload bucket if it is too big (default: ``<prefix><id>.json``)."""


@dataclass
class BatchOutcome:
    """What SNS accepted: ``accepted`` ids, ``failed`` id -> reason (after the retries)."""

    accepted: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    """PublishBatch requests sent (retries included)."""
    claim_checked: int = 0


class BatchEventPublisher(EventPublisher, Protocol):
    """An EventPublisher that also publishes many messages at once."""

    def publish_batch(self, messages: Sequence[OutboundMessage]) -> BatchOutcome: ...


def _attribute_bytes(attributes: Mapping[str, str]) -> int:
    # SNS counts attribute names, types and values towards the message size.
    return sum(len(k.encode()) + len(v.encode()) + len("String") for k, v in attributes.items())


def utc_now_iso(clock: Callable[[], float] = time.time) -> str:
    return datetime.fromtimestamp(clock(), tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SnsEventPublisher:
    """EventPublisher over one SNS topic. ``event_type`` and ``connection_id`` are always message
    attributes (plus any given), so subscribers can filter on them.

    ``sns`` is the client, or a function building it on the first publish: events are rare (a
    connection needing re-authorisation), and building an SNS client costs ~10 ms of a cold start.
    """

    def __init__(
        self,
        sns: SNSClient | Callable[[], SNSClient],
        topic_arn: str,
        *,
        s3: S3Client | Callable[[], S3Client] | None = None,
        bucket: str | None = None,
        claim_prefix: str = "trigger-events/",
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sns_source = sns
        self._client: SNSClient | None = None
        self._topic_arn = topic_arn
        self._s3_source = s3
        self._s3_client: S3Client | None = None
        self._bucket = bucket
        self.claim_prefix = claim_prefix
        self.max_attempts = max_attempts
        self._sleep = sleep

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
        if event.tenant_id:
            attrs["tenant_id"] = {"DataType": "String", "StringValue": event.tenant_id}
        for name, value in (attributes or {}).items():
            if value:
                attrs[name] = {"DataType": "String", "StringValue": value}
        response = self._sns.publish(
            TopicArn=self._topic_arn,
            Message=json.dumps(event.model_dump(mode="json"), separators=(",", ":")),
            MessageAttributes=attrs,
        )
        return response["MessageId"]

    # ---- batches -------------------------------------------------------------------------------

    @property
    def _s3(self) -> S3Client | None:
        if self._s3_client is None and self._s3_source is not None:
            source = self._s3_source
            self._s3_client = source() if callable(source) else source
        return self._s3_client

    def _encode(self, message: OutboundMessage, outcome: BatchOutcome) -> tuple[str, int] | None:
        """The message text and its size for SNS; too big: the body goes to S3, the message keeps
        the envelope's attributes and a ``dataref`` (None when it cannot be sent at all)."""
        text = json.dumps(message.body, separators=(",", ":"), default=str)
        size = len(text.encode()) + _attribute_bytes(message.attributes)
        if size <= MAX_MESSAGE_BYTES:
            return text, size
        s3 = self._s3
        if s3 is None or not self._bucket:
            outcome.failed[message.id] = (
                f"message of {size} bytes exceeds SNS's limit and no payload bucket is set"
            )
            return None
        key = message.claim_key or f"{self.claim_prefix}{message.id}.json"
        s3.put_object(Bucket=self._bucket, Key=key, Body=text.encode(), ContentType="application/json")
        outcome.claim_checked += 1
        stub = {k: v for k, v in message.body.items() if k != "data"}
        stub["dataref"] = f"s3://{self._bucket}/{key}"
        text = json.dumps(stub, separators=(",", ":"), default=str)
        return text, len(text.encode()) + _attribute_bytes(message.attributes)

    def publish_batch(self, messages: Sequence[OutboundMessage]) -> BatchOutcome:
        """Publish with PublishBatch: at most 10 entries and 256 KiB per call; entries SNS fails
        are retried (only those, with backoff) unless SNS blames the sender; what still fails is
        in ``failed``. The caller advances its cursor only past ``accepted`` ids."""
        outcome = BatchOutcome()
        chunks: list[list[PublishBatchRequestEntryTypeDef]] = [[]]
        chunk_bytes = 0
        for message in messages:
            encoded = self._encode(message, outcome)
            if encoded is None:
                continue
            text, size = encoded
            if len(chunks[-1]) >= MAX_BATCH_ENTRIES or (
                chunks[-1] and chunk_bytes + size > MAX_MESSAGE_BYTES
            ):
                chunks.append([])
                chunk_bytes = 0
            attrs: dict[str, MessageAttributeValueTypeDef] = {
                name: {"DataType": "String", "StringValue": value}
                for name, value in message.attributes.items()
                if value
            }
            chunks[-1].append({"Id": message.id, "Message": text, "MessageAttributes": attrs})
            chunk_bytes += size
        for chunk in chunks:
            if chunk:
                self._send_chunk(chunk, outcome)
        return outcome

    def _send_chunk(self, entries: list[PublishBatchRequestEntryTypeDef], outcome: BatchOutcome) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = entries
        for attempt in range(1, self.max_attempts + 1):
            outcome.calls += 1
            retry: list[PublishBatchRequestEntryTypeDef] = []
            try:
                response = self._sns.publish_batch(
                    TopicArn=self._topic_arn, PublishBatchRequestEntries=pending
                )
            except (ClientError, BotoCoreError) as exc:
                # The whole call failed (botocore already retried throttling): every entry again.
                retry, reason = pending, f"PublishBatch failed: {type(exc).__name__}"
            else:
                outcome.accepted.update(entry["Id"] for entry in response.get("Successful", []))
                by_id = {entry["Id"]: entry for entry in pending}
                reason = ""
                for failure in response.get("Failed", []):
                    reason = f"{failure.get('Code')}: {failure.get('Message', '')}"[:300]
                    if failure.get("SenderFault"):
                        outcome.failed[failure["Id"]] = reason
                    elif failure["Id"] in by_id:
                        retry.append(by_id[failure["Id"]])
            if not retry:
                return
            if attempt == self.max_attempts:
                for entry in retry:
                    outcome.failed[entry["Id"]] = reason
                return
            logger.warning("SNS did not accept %d of %d entries; retrying them", len(retry), len(pending))
            self._sleep(min(2.0, 0.1 * 2 ** (attempt - 1)))
            pending = retry
