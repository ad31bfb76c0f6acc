"""Harness of the poller tests: the real poller handler against the emulator (HTTP) and moto.

Events are delivered for real: moto's SNS topic fans out to a moto SQS queue (raw delivery), and
:meth:`Poller.drain` reads what arrived. Subscriptions are stored through the subscriptions
repository (the API's validation is the subs helper's and has its own tests). The poller's "now"
is the emulator's org clock (``Runtime.poller_clock``), so tests move time with
``advance_clock`` instead of sleeping past the safety margin.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
from sfconnector import catalog
from sfconnector.models.subscriptions import Subscription
from sfconnector.runtime import get_runtime
from sfconnector.stores.subscriptions import SubscriptionRepository

from tests.fixtures.actions import FakeLambdaContext, SeededConnection, load_function
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle

SELLER = "sam.seller@acme-emulator.example"
"""A Salesforce user other than the connection's own (the admin): a person changing records."""

MARGIN = 15


@dataclass
class Poller:
    aws: AwsEnv
    emulator: EmulatorHandle
    connection: SeededConnection
    queue_url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every delivered message: {"body": envelope, "attributes": {...}}."""

    def __post_init__(self) -> None:
        sqs = boto3.client("sqs", region_name=self.aws.region)
        self.queue_url = sqs.create_queue(QueueName=f"subscriber-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        boto3.client("sns", region_name=self.aws.region).subscribe(
            TopicArn=self.aws.topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        get_runtime().poller_clock = lambda: self.emulator.now().timestamp()
        self.repo = SubscriptionRepository(
            lambda: boto3.client("dynamodb", region_name=self.aws.region), self.aws.table_name
        )

    # ---- subscriptions -------------------------------------------------------------------------

    def subscribe(
        self,
        trigger_key: str,
        *,
        start_at: datetime | None = None,
        fields: list[str] | None = None,
        ignore_own_changes: bool = False,
        sobject: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Subscription:
        trig = catalog.trigger(trigger_key)
        resolved = trig.sobject or sobject or "Invoice__c"
        sub = Subscription(
            subscription_id=uuid.uuid4().hex,
            connection_id=self.connection.connection_id,
            trigger=trig.key,
            kind=trig.kind.value,
            family=trig.family,
            sobject=resolved,
            params=params if params is not None else ({"sobject": resolved} if trig.sobject is None else {}),
            fields=fields,
            ignore_own_changes=ignore_own_changes,
            start_at=start_at or self.emulator.now(),
        )
        self.repo.put(sub)
        return sub

    # ---- polling -------------------------------------------------------------------------------

    def poll(self, *, settle: bool = True) -> dict[str, Any]:
        """One cycle through the real handler; ``settle`` first moves the org clock past the
        safety margin so the changes just made are inside the window."""
        if settle:
            self.emulator.advance_clock(MARGIN + 2)
        report: dict[str, Any] = load_function("poller").lambda_handler(
            {"connection_id": self.connection.connection_id}, FakeLambdaContext(function_name="poller")
        )
        return report

    def drain(self) -> list[dict[str, Any]]:
        """Messages delivered since the last drain (envelopes with their SNS attributes)."""
        sqs = boto3.client("sqs", region_name=self.aws.region)
        out: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not got:
                break
            for message in got:
                attrs = {k: v["StringValue"] for k, v in (message.get("MessageAttributes") or {}).items()}
                out.append({"body": json.loads(message["Body"]), "attributes": attrs})
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.received.extend(out)
        return out

    # ---- Salesforce side -----------------------------------------------------------------------

    def write(
        self,
        operation: str,
        sobject: str,
        fields: dict[str, Any] | None = None,
        *,
        id: str | None = None,
        username: str | None = SELLER,
        seconds_ago: float = 0,
    ) -> str:
        result = self.emulator.dml(
            operation, sobject, fields, id=id, username=username, seconds_ago=seconds_ago
        )
        return str(result.get("id") or result.get("Id") or id)

    def query(self, soql: str) -> list[dict[str, Any]]:
        """Setup reads through the REST API (they count calls: measure around polls only)."""
        with self.emulator.rest_client() as http:
            body = http.get("/query", params={"q": soql}).json()
        return list(body["records"])

    def minutes_ago(self, minutes: float) -> datetime:
        return self.emulator.now() - timedelta(minutes=minutes)


def by_subscription(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        out.setdefault(message["body"]["subscription_id"], []).append(message["body"])
    return out
