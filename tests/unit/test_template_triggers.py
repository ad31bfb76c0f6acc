"""template.yaml's trigger side: what API Gateway routes to the connections function is what it
serves, and the poller's schedules can do only what they need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from devstack.cfn import load_template
from sfconnector import catalog
from sfconnector.api.meta import openapi_document
from sfconnector.stores.schedules import PollSchedules, ScheduleSettings, schedule_name

from tests.fixtures.aws import SchedulerEnv

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def _resources() -> dict[str, Any]:
    resources: dict[str, Any] = load_template(TEMPLATE)["Resources"]
    return resources


def _routes(function: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (str(e["Properties"]["Method"]).upper(), str(e["Properties"]["Path"]))
        for e in function["Properties"]["Events"].values()
        if e["Type"] == "Api"
    }


def test_the_connections_function_gets_exactly_the_routes_it_serves() -> None:
    family_prefixes = tuple(
        f.base_route if f.any_object else f"/connections/{{connection_id}}/{f.segment}"
        for f in (*catalog.FAMILIES, *catalog.SERVICE_FAMILIES)
    )
    served = {
        (method.upper(), path)
        for path, operations in openapi_document()["paths"].items()
        if (path.startswith("/connections") or path.startswith("/oauth"))
        and not path.startswith(family_prefixes)
        for method in operations
    }
    assert ("POST", "/connections/{connection_id}/subscriptions/{subscription_id}/sample") in served
    resources = _resources()
    # The public callback is its own function (reserved concurrency, narrower role), same code.
    assert _routes(resources["OAuthCallbackFunction"]) == {("GET", "/oauth/callback")}
    assert resources["OAuthCallbackFunction"]["Properties"]["CodeUri"] == "functions/connections/"
    assert _routes(resources["ConnectionsFunction"]) | _routes(resources["OAuthCallbackFunction"]) == served


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def test_the_scheduler_role_only_invokes_the_poller() -> None:
    resources = _resources()
    role = resources["PollSchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    (policy,) = role["Policies"]
    statement, dead_letter = _statements(policy)
    # ... and dead-letters a firing it could not deliver, to the poller's failure queue only.
    assert dead_letter["Action"] == "sqs:SendMessage"
    assert dead_letter["Resource"] == {"Fn::GetAtt": ["PollerFailureQueue", "Arn"]}
    assert statement["Action"] == "lambda:InvokeFunction"
    poller_name = resources["PollerFunction"]["Properties"]["FunctionName"]
    assert statement["Resource"]["Fn::Sub"].endswith(":function:" + poller_name["Fn::Sub"])


def test_schedules_are_managed_in_the_group_with_the_role_only() -> None:
    resources = _resources()
    statements = _statements(resources["PollSchedulesPolicy"]["Properties"])
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["PollSchedulesOfTheGroup"]["Resource"]["Fn::Sub"].endswith(
        "schedule/${PollScheduleGroup}/*"
    )
    assert by_sid["PassTheSchedulerRole"]["Resource"] == {"Fn::GetAtt": ["PollSchedulerRole", "Arn"]}
    assert by_sid["PassTheSchedulerRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}
    }
    for name in ("ConnectionsFunction", "PollerFunction"):
        props = resources[name]["Properties"]
        assert {"Ref": "PollSchedulesPolicy"} in props["Policies"]
        assert set(props["Environment"]["Variables"]) >= {
            "SCHEDULE_GROUP_NAME",
            "POLLER_FUNCTION_ARN",
            "SCHEDULER_ROLE_ARN",
        }


def test_the_poller_reaches_connection_items_only() -> None:
    props = _resources()["PollerFunction"]["Properties"]
    (inline,) = [p for p in props["Policies"] if "Statement" in p]
    by_sid = {s["Sid"]: s for s in inline["Statement"]}
    assert by_sid["ConnectionItemsOnly"]["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONNECTION#*"]}
    }
    assert "dynamodb:Scan" not in by_sid["ConnectionItemsOnly"]["Action"]
    assert by_sid["ClaimChecksForLargeEvents"]["Action"] == "s3:PutObject"
    resources = [r["Fn::Sub"] for r in by_sid["ClaimChecksForLargeEvents"]["Resource"]]
    assert [r.split("}", 1)[1] for r in resources] == ["/tenants/*/trigger-events/*", "/trigger-events/*"]


def test_a_failed_poll_cycle_is_not_retried_and_lands_in_an_alarmed_queue() -> None:
    resources = _resources()
    poller = resources["PollerFunction"]["Properties"]
    invoke = poller["EventInvokeConfig"]
    # Lambda's asynchronous retries would run a crashed cycle twice more; the next schedule
    # firing is the retry.
    assert invoke["MaximumRetryAttempts"] == 0
    on_failure = invoke["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert on_failure["Destination"] == {"Fn::GetAtt": ["PollerFailureQueue", "Arn"]}
    assert resources["PollerFailureQueue"]["Type"] == "AWS::SQS::Queue"
    sends = [
        s
        for policy in poller["Policies"]
        if isinstance(policy, dict)
        for s in policy.get("Statement", [])
        if s.get("Action") == "sqs:SendMessage"
    ]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": ["PollerFailureQueue", "Arn"]}]
    alarms = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and "PollerFailureQueue" in str(r["Properties"]["Dimensions"])  # (the relay's DLQ has its own)
    ]
    assert len(alarms) == 1
    (dimension,) = alarms[0]["Dimensions"]
    assert dimension["Value"] == {"Fn::GetAtt": ["PollerFailureQueue", "QueueName"]}
    assert alarms[0]["Threshold"] == 1


def test_the_schedules_do_not_retry_either_and_dead_letter_to_the_failure_queue(
    scheduler: SchedulerEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EventBridge Scheduler's own retries (185 by default) would re-invoke a poll it could not
    deliver; the next firing is the retry, and the undelivered one is recorded in the failure
    queue (a schedule as the connections function creates it, read back from moto)."""
    for function in ("ConnectionsFunction", "PollerFunction"):  # both manage schedules
        variables = _resources()[function]["Properties"]["Environment"]["Variables"]
        assert variables["POLL_FAILURE_QUEUE_ARN"] == {"Fn::GetAtt": ["PollerFailureQueue", "Arn"]}
    client = scheduler.client()
    existing = PollSchedules(scheduler.client, ScheduleSettings.from_env())
    existing.put("conn-1", interval_minutes=1, state="ENABLED")  # made before the queue existed
    queue = "arn:aws:sqs:us-east-1:123456789012:stk-PollerFailureQueue"
    monkeypatch.setenv("POLL_FAILURE_QUEUE_ARN", queue)
    schedules = PollSchedules(scheduler.client, ScheduleSettings.from_env())
    assert schedules.put("conn-1", interval_minutes=1, state="ENABLED")[1] == "updated"
    target = client.get_schedule(Name=schedule_name("conn-1"), GroupName=scheduler.group_name)["Target"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert target["DeadLetterConfig"] == {"Arn": queue}
    assert schedules.put("conn-1", interval_minutes=1, state="ENABLED")[1] == "unchanged"
