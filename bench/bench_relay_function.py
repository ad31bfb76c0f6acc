"""The relay function per SQS batch: time in the handler and AWS requests per published event.

The real handler (``functions/relay/app.py``) over moto (in-process, so the times are the
function's own work plus moto's, not AWS's latency): a connection with the 30 spec triggers'
worth of Lead subscriptions (``--subs`` per trigger on created / updated / deleted), batches of 10
change events (creations, updates, deletions, merged updates of 5 records), each batch relayed
twice (the second time every change is a duplicate: nothing is published). No Salesforce call is
made by ordinary events; the bench asserts it by giving the relay no Salesforce client.

Printed per scenario: the handler's own ms per batch (median of the batches; the time inside the AWS
calls, i.e. moto's work, left out: moto's SNS fan-out to the subscriber queue costs ~130 ms per
PublishBatch here, AWS's PublishBatch a few ms), DynamoDB and SNS requests per batch and per event.

Usage: python bench/bench_relay_function.py [--batches 10] [--subs 1,10]   (~3 minutes: moto's SNS is slow)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
SOURCE = "aws.partner/salesforce.com/00D000000000001AAA/0YL000000000001AAA"
CONNECTION = "bench-relay"
USER = "005000000000009AAA"
T0 = 1_796_000_000


@contextmanager
def environment() -> Iterator[Counter[tuple[str, str]]]:
    """moto with the state table, topic (an SQS subscriber) and bucket; the AWS requests counted."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "TABLE_NAME": "bench-StateTable",
            "PAYLOAD_BUCKET": "bench-payloads",
            "SECRET_PREFIX": "bench/connections/",
            "POWERTOOLS_SERVICE_NAME": "salesforce-connector",
            "POWERTOOLS_METRICS_NAMESPACE": "SalesforceConnector",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    import boto3
    import botocore.client
    from moto import mock_aws

    counted: Counter[tuple[str, str]] = Counter()
    client_class: Any = botocore.client.BaseClient
    original = client_class._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        counted[(self.meta.service_model.service_name, operation)] += 1
        started = time.perf_counter_ns()
        try:
            return original(self, operation, params)
        finally:
            counted[("aws", "ns")] += time.perf_counter_ns() - started

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=os.environ["TABLE_NAME"],
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=os.environ["PAYLOAD_BUCKET"])
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="bench-events")["TopicArn"]
        os.environ["TOPIC_ARN"] = topic
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="bench-subscriber")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        client_class._make_api_call = counting
        try:
            yield counted
        finally:
            client_class._make_api_call = original


def seed(subs_per_trigger: int) -> None:
    import boto3
    from sfconnector import catalog
    from sfconnector.models.subscriptions import Subscription
    from sfconnector.stores.connections import ConnectionRecord, ConnectionRepository
    from sfconnector.stores.realtime import RelayBindings
    from sfconnector.stores.subscriptions import SubscriptionRepository

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = os.environ["TABLE_NAME"]
    ConnectionRepository(dynamodb, table).put(
        ConnectionRecord(
            connection_id=CONNECTION,
            name="bench",
            status="connected",
            login_url="https://login.salesforce.com",
            org_id="00D000000000001AAA",
            user_id=USER,
        )
    )
    RelayBindings(dynamodb, table).bind(SOURCE, CONNECTION)
    repo = SubscriptionRepository(dynamodb, table)
    for key in ("leads.created", "leads.updated", "leads.deleted"):
        trig = catalog.trigger(key)
        for _ in range(subs_per_trigger):
            repo.put(
                Subscription(
                    subscription_id=uuid.uuid4().hex,
                    connection_id=CONNECTION,
                    trigger=key,
                    kind=trig.kind.value,
                    family=trig.family,
                    sobject="Lead",
                    start_at=datetime.fromtimestamp(T0, UTC),
                )
            )


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _record(n: int) -> str:
    from sfconnector.salesforce.ids import to_18

    return to_18(f"00Q{n:012d}")


def change_event(change_type: str, ids: list[str], at: int) -> str:
    body: dict[str, Any] = {}
    if change_type == "CREATE":
        body = {"LastName": "Ng", "Company": "Northwind", "CreatedDate": _iso(at),
                "CreatedById": "005000000000002AAA", "LastModifiedDate": _iso(at)}  # fmt: skip
    elif change_type == "UPDATE":
        body = {"Title": "CTO", "LastModifiedDate": _iso(at)}
    changed = ["Title"] if change_type == "UPDATE" else []
    header = {"entityName": "Lead", "recordIds": ids, "changeType": change_type, "commitTimestamp": at * 1000,
              "commitUser": "005000000000002AAA", "changedFields": changed}  # fmt: skip
    detail = {"payload": {"ChangeEventHeader": header, **body}}
    envelope = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "LeadChangeEvent", "source": SOURCE}
    return json.dumps({**envelope, "detail": detail})


def batches(kind: str, count: int, start: int) -> list[list[str]]:
    out = []
    n = start
    for b in range(count):
        bodies = []
        for i in range(10):
            at = T0 + 60 + b * 10 + i
            if kind == "merged":
                bodies.append(change_event("UPDATE", [_record(n + k) for k in range(5)], at))
                n += 5
            else:
                bodies.append(change_event(kind, [_record(n)], at))
                n += 1
        out.append(bodies)
    return out


def run(batches_of: list[list[str]], counted: Counter[tuple[str, str]]) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "functions" / "relay"))
    import app  # type: ignore[import-not-found]
    from sfconnector.api.observability import metrics
    from sfconnector.runtime import get_runtime

    ports = get_runtime().relay_ports
    ports.salesforce = _no_salesforce  # ordinary events never call Salesforce
    times: list[float] = []
    before = Counter(counted)
    for bodies in batches_of:
        event = {"Records": [{"messageId": str(uuid.uuid4()), "body": b} for b in bodies]}
        in_aws = counted[("aws", "ns")]
        started = time.perf_counter_ns()
        answer = app.lambda_handler(event, _Context())
        metrics().clear_metrics()  # Powertools prints a metric's 100th value even when disabled
        own = time.perf_counter_ns() - started - (counted[("aws", "ns")] - in_aws)
        times.append(own / 1e6)
        assert answer == {"batchItemFailures": []}, answer
    spent = counted - before
    dynamodb = sum(v for (service, _), v in spent.items() if service == "dynamodb")
    published = spent[("sns", "PublishBatch")]
    return {
        "ms_per_batch": statistics.median(times),
        "dynamodb": dynamodb / len(batches_of),
        "sns": published / len(batches_of),
    }


def _no_salesforce(cid: str) -> Any:
    raise AssertionError("an ordinary change event called Salesforce")


class _Context:
    function_name = "bench-relay"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-relay"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--subs", default="1,10")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    for subs in [int(s) for s in args.subs.split(",")]:
        from sfconnector.runtime import reset_runtime

        reset_runtime()
        with environment() as counted:
            seed(subs)
            print(f"== {subs} subscription(s) per trigger (leads.created / updated / deleted)")
            start = 0
            for kind, events_per_batch in (("CREATE", 10), ("UPDATE", 10), ("DELETE", 10), ("merged", 50)):
                made = batches(kind, args.batches, start)
                start += args.batches * events_per_batch
                first = run(made, counted)
                again = run(made, counted)
                per_event = events_per_batch * subs
                print(
                    f"  {kind:7} {events_per_batch} changes/batch -> {per_event} events: "
                    f"{first['ms_per_batch']:.1f} ms/batch own, {first['dynamodb']:.1f} DynamoDB and "
                    f"{first['sns']:.1f} SNS requests/batch ({first['dynamodb'] / per_event:.3f} and "
                    f"{first['sns'] / per_event:.3f} per event)"
                )
                print(
                    f"  {'':7} redelivered: {again['ms_per_batch']:.1f} ms/batch own, "
                    f"{again['dynamodb']:.1f} DynamoDB and {again['sns']:.1f} SNS requests/batch"
                )
        reset_runtime()


if __name__ == "__main__":
    main()
