"""The relay's side of a test: a partner event source bound to the connection, a relay queue
(moto SQS) whose batches go through the real handler (functions/relay) as Lambda's SQS event
source mapping sends them, and change events built in Salesforce's shape from the emulator's rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import boto3
from sfconnector.stores.realtime import RelayBindings
from sfconnector.stores.relayed import RelayedSeen

from tests.fixtures.actions import FakeLambdaContext, SeededConnection, load_function
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller

SYSTEM_ONLY = {"SystemModstamp", "IsDeleted", "attributes"}


def ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


class Relay:
    """The relay's side of a test: the source binding, the relay queue, the handler."""

    def __init__(self, aws: AwsEnv, emulator: EmulatorHandle, connection: SeededConnection) -> None:
        self.aws, self.emulator, self.connection = aws, emulator, connection
        self.source = f"aws.partner/salesforce.com/{emulator.org_id}/0YL{uuid.uuid4().hex[:15]}"
        dynamodb = boto3.client("dynamodb", region_name=aws.region)
        RelayBindings(dynamodb, aws.table_name).bind(self.source, connection.connection_id)
        self.seen = RelayedSeen(dynamodb, aws.table_name)
        self.sqs = boto3.client("sqs", region_name=aws.region)
        self.queue = self.sqs.create_queue(QueueName=f"relay-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    def event(self, change_type: str, sobject: str, ids: list[str], row: dict[str, Any],
              changed: Sequence[str] = ()) -> str:  # fmt: skip
        """A change event of the row's version in Salesforce's shape (EventBridge's JSON)."""
        if change_type == "CREATE":
            body = {k: v for k, v in row.items() if k not in SYSTEM_ONLY and v is not None and k != "Id"}
            commit, user = ms(row["CreatedDate"]), row["CreatedById"]
        elif change_type == "DELETE":
            body, commit, user = {}, ms(row["SystemModstamp"]), row["LastModifiedById"]
        elif change_type.startswith("GAP_"):
            body, commit, user = {}, ms(row["SystemModstamp"]), row.get("LastModifiedById", "")
        else:
            body = {k: row[k] for k in changed}
            body |= {"LastModifiedDate": row["LastModifiedDate"], "LastModifiedById": row["LastModifiedById"]}
            commit, user = ms(row["LastModifiedDate"]), row["LastModifiedById"]
        header = {
            "entityName": sobject, "recordIds": ids, "changeType": change_type,
            "changeOrigin": "com/salesforce/api/rest/62.0", "transactionKey": uuid.uuid4().hex,
            "sequenceNumber": 1, "commitTimestamp": commit, "commitUser": user, "commitNumber": 1,
            "changedFields": list(changed), "nulledFields": [], "diffFields": [],
        }  # fmt: skip
        return json.dumps(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": f"{sobject}ChangeEvent",
                "source": self.source,
                "account": "123456789012",
                "time": "2026-12-07T00:00:00Z",
                "region": self.aws.region,
                "resources": [],
                "detail": {
                    "payload": {"ChangeEventHeader": header, **body},
                    "schema": "s",
                    "event": {"replayId": 1},
                },
            },
            separators=(",", ":"),
        )

    def deliver(self, bodies: Sequence[str]) -> tuple[list[str], list[str]]:
        """Send the bodies to the relay queue and run what is queued through the handler."""
        for body in bodies:
            self.sqs.send_message(QueueUrl=self.queue, MessageBody=body)
        return run_queue(self.sqs, self.queue)


def run_queue(sqs: Any, queue_url: str) -> tuple[list[str], list[str]]:
    """Receive the queue's messages as Lambda's event source mapping does (batches of up to 10),
    invoke the relay's handler and apply its partial batch response; returns (message ids, failed
    ids). A failed message is hidden for an hour (its retry is the test's to make)."""
    sent, failed = [], []
    while got := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        records = [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}}
            for m in got
        ]  # fmt: skip
        answer = load_function("relay").lambda_handler(
            {"Records": records}, FakeLambdaContext(function_name="relay")
        )
        failures = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for m in got:  # what Lambda does with a partial batch response: the rest is deleted
            sent.append(m["MessageId"])
            if m["MessageId"] not in failures:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            else:
                failed.append(m["MessageId"])
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=3600
                )
    return sent, failed


def row_of(poller: Poller, sobject: str, record_id: str, fields: str = "FIELDS(ALL)") -> dict[str, Any]:
    rows = poller.emulator.rest_client().get(
        "/queryAll",
        params={"q": f"SELECT {fields} FROM {sobject} WHERE Id = '{record_id}' LIMIT 1"},  # noqa: S608
    )
    return dict(rows.json()["records"][0])
