"""template.yaml's trigger side: what API Gateway routes to the connections function is what it
serves, and the poller's schedules can do only what they need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devstack.cfn import load_template
from sfconnector import catalog
from sfconnector.api.meta import openapi_document

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
    family_prefixes = tuple(f"/connections/{{connection_id}}/{f.segment}" for f in catalog.FAMILIES)
    served = {
        (method.upper(), path)
        for path, operations in openapi_document()["paths"].items()
        if (path.startswith("/connections") or path.startswith("/oauth"))
        and not path.startswith(family_prefixes)
        for method in operations
    }
    assert ("POST", "/connections/{connection_id}/subscriptions/{subscription_id}/sample") in served
    assert _routes(_resources()["ConnectionsFunction"]) == served


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def test_the_scheduler_role_only_invokes_the_poller() -> None:
    resources = _resources()
    role = resources["PollSchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    (policy,) = role["Policies"]
    (statement,) = _statements(policy)
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
