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


def _trigger_notification(**changes: object) -> str:
    """An SNS notification carrying a connector trigger event (the envelope of docs/triggers.md)."""
    event: dict[str, object] = {
        "specversion": "1.0",
        "id": "6f0c1d0e2b6e4b5f9b0c2a7e5d4c3b21",
        "type": "accounts.updated",
        "source": "salesforce/00DHs00000EmuDmMAC",
        "subject": "001Hs08To0000CRIEY",
        "time": "2026-12-02T16:14:31Z",
        "datacontenttype": "application/json",
        "connection_id": "8003e226c50b4fa68767e136063dfe88",
        "subscription_id": "01a237893780562c5599699137eddeda",
        "sobject": "Account",
        "event_type": "updated",
        "data": {
            "Id": "001Hs08To0000CRIEY",
            "LastModifiedById": "005Hs08To00000OIEQ",
            "SystemModstamp": "2026-12-02T16:14:31.000+0000",
            "Name": "  globex solar  ",
            "Industry": "energy",
            "Website": None,
            "IsPartner": False,
            "BillingAddress": {"country": "usa"},
        },
    }
    event.update(changes)
    return json.dumps(dict(ENVELOPE, Message=json.dumps(event)))


def test_trigger_event_names_trigger_record_subscription_and_fields() -> None:
    head, change, fields = format_event(parse_notification(_trigger_notification())).splitlines()
    assert "accounts.updated" in head
    assert "Account 001Hs08To0000CRIEY" in head
    assert "subscription 01a237893780562c5599699137eddeda" in head
    # Who changed it and when, and the ids a subscriber filters or deduplicates on.
    assert "updated 2026-12-02T16:14:31Z by 005Hs08To00000OIEQ" in change
    assert "connection 8003e226c50b4fa68767e136063dfe88" in change
    assert "id 6f0c1d0e2b6e4b5f9b0c2a7e5d4c3b21" in change
    # The record's own fields: edge spaces visible, system fields, empty and nested values left out.
    assert fields.strip() == 'Name="  globex solar  "  Industry=energy'
    for hidden in ("SystemModstamp", "LastModifiedById", "Website", "IsPartner", "BillingAddress", "Id="):
        assert hidden not in fields


def test_field_matched_event_shows_the_transition() -> None:
    message = _trigger_notification(
        type="accounts.field_matched", event_type="matched", old_value="Warm", new_value="Hot",
        changed_by="005Hs08To00000MIEQ",
    )  # fmt: skip
    change = format_event(parse_notification(message)).splitlines()[1]
    assert "matched 2026-12-02T16:14:31Z by 005Hs08To00000MIEQ" in change
    assert "Warm -> Hot" in change


def test_claim_checked_event_points_at_its_payload() -> None:
    message = _trigger_notification(data=None, dataref="s3://payloads/trigger-events/c/6f0c.json")
    lines = format_event(parse_notification(message)).splitlines()
    assert lines[-1].strip() == "data (over SNS's 256 KiB) at s3://payloads/trigger-events/c/6f0c.json"
