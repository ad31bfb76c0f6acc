"""The SNS event printer: a moto SQS queue subscribed to the topic, messages printed readably."""

from __future__ import annotations

import json
import uuid

import boto3
from devstack.events import EventPrinter, format_event, parse_notification

ENVELOPE = {
    "Type": "Notification",
    "MessageId": "m-1",
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:stk-trigger-events",
    "Message": json.dumps(
        {
            "id": "evt-1",
            "type": "salesforce.lead.created",
            "subject": "00Q000000000001AAA",
            "data": {
                "attributes": {"type": "Lead"},
                "Id": "00Q000000000001AAA",
                "LastName": "Ng",
                "Company": "Acme Energy " * 10,
                "Address": {"city": "Paris"},
                "Email": None,
            },
        }
    ),
    "MessageAttributes": {
        "trigger": {"Type": "String", "Value": "leads.created"},
        "connection_id": {"Type": "String", "Value": "c-1"},
    },
}


def test_notification_is_parsed_and_formatted_for_people() -> None:
    event = parse_notification(json.dumps(ENVELOPE))
    assert event.attributes == {"trigger": "leads.created", "connection_id": "c-1"}
    text = format_event(event)
    head, context, fields = text.splitlines()
    assert "salesforce.lead.created" in head
    assert "00Q000000000001AAA" in head
    assert "stk-trigger-events" in head
    assert context.strip() == "connection_id=c-1"
    assert "LastName=Ng" in fields
    assert "…" in fields  # long values are shortened
    assert "attributes" not in fields
    assert "Address" not in fields  # nested values are left out of the one-line summary
    assert "Email" not in fields


def test_non_json_message_is_printed_as_text() -> None:
    envelope = dict(ENVELOPE, Message="plain words", Subject="hello")
    text = format_event(parse_notification(json.dumps(envelope)))
    assert text.endswith("hello (topic stk-trigger-events): plain words")


def test_printer_receives_what_is_published(moto_url: str, session: boto3.session.Session) -> None:
    sns = session.client("sns", endpoint_url=moto_url, region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=moto_url, region_name="us-east-1")
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    printed: list[str] = []
    printer = EventPrinter(
        sqs=sqs,
        sns=sns,
        queue_name=f"q-{uuid.uuid4().hex[:8]}",
        topic_arns=[topic],
        region="us-east-1",
        account_id="123456789012",
        log=printed.append,
    )
    printer.setup()
    sns.publish(
        TopicArn=topic,
        Message=json.dumps(
            {"type": "salesforce.account.updated", "subject": "001X", "data": {"Name": "Acme"}}
        ),
        MessageAttributes={"trigger": {"DataType": "String", "StringValue": "accounts.updated"}},
    )
    received = 0
    for _ in range(5):
        received += printer.poll_once(wait_seconds=1)
        if received:
            break
    assert received == 1
    assert "salesforce.account.updated" in printed[0]
    assert "Name=Acme" in printed[0]
    recent = printer.recent()
    assert recent[0]["attributes"] == {"trigger": "accounts.updated"}
    assert recent[0]["message"]["subject"] == "001X"
    assert printer.poll_once(wait_seconds=0) == 0  # deleted once printed
