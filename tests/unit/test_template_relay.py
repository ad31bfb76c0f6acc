"""template.yaml's relay side: EventBridge rules on Salesforce partner buses feed RelayQueue (and
nothing else may), failed messages are retried five times then dead-lettered, the relay reports
partial batch failures, and the stack associates a partner event source itself only when told."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from devstack.cfn import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def _template() -> dict[str, Any]:
    template: dict[str, Any] = load_template(TEMPLATE)
    return template


def test_the_relay_reads_batches_of_ten_and_reports_partial_failures() -> None:
    resources = _template()["Resources"]
    (event,) = resources["RelayFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["RelayQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources["RelayQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["RelayDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    # A batch in flight must not become visible to a second invocation before the first ends.
    assert queue["VisibilityTimeout"] >= 6 * resources["RelayFunction"]["Properties"]["Timeout"]
    alarm = resources["RelayDeadLetterQueueAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["RelayDeadLetterQueue", "QueueName"]}


def test_only_rules_on_salesforce_partner_buses_may_send_to_the_queue() -> None:
    policy = _template()["Resources"]["RelayQueuePolicy"]["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    source = statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    assert source.endswith(":rule/aws.partner/salesforce.com/*")


def test_the_stack_associates_a_partner_source_only_when_the_parameter_is_set() -> None:
    template = _template()
    parameter = template["Parameters"]["SalesforcePartnerEventSource"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("aws.partner/salesforce.com/00DHs00000EmuDmMAC/0YLHs000000CDCkOAG")
    assert not pattern.fullmatch("aws.partner/other.com/00DHs00000EmuDmMAC/0YLHs000000CDCkOAG")
    resources = template["Resources"]
    bus, rule = resources["RelayPartnerBus"], resources["RelayRule"]
    assert bus["Condition"] == rule["Condition"] == "AssociatePartnerSource"
    assert bus["Properties"]["Name"] == bus["Properties"]["EventSourceName"]
    assert rule["Properties"]["EventBusName"] == {"Ref": "RelayPartnerBus"}
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["RelayQueue", "Arn"]}
    assert template["Outputs"]["RelayQueueArn"]["Value"] == {"Fn::GetAtt": ["RelayQueue", "Arn"]}


def test_the_relay_reaches_connection_items_and_reads_source_bindings_only() -> None:
    props = _template()["Resources"]["RelayFunction"]["Properties"]
    (inline,) = [p for p in props["Policies"] if "Statement" in p]
    by_sid = {s["Sid"]: s for s in inline["Statement"]}
    keys = {
        sid: s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for sid, s in by_sid.items()
        if s["Action"] == "dynamodb:GetItem" or "dynamodb:GetItem" in s["Action"]
    }
    assert keys == {"ConnectionItems": ["CONNECTION#*"], "RelaySourceBindings": ["RELAYSOURCE#*"]}
    assert "dynamodb:Scan" not in by_sid["ConnectionItems"]["Action"]
    assert by_sid["PublishTriggerEvents"]["Resource"] == {"Ref": "TriggerEventsTopic"}
