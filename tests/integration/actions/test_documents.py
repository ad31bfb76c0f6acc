"""GET /catalog, GET /openapi.json and GET /docs through the meta function; the sample events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from devstack.cfn import load_template
from openapi_spec_validator import validate
from sfconnector import catalog

from tests.fixtures.actions import ActionApi, FakeLambdaContext, load_function

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"


@pytest.fixture
def meta(fresh_runtime: None) -> ActionApi:
    # The documents need no connection, no AWS and no Salesforce.
    return ActionApi("unused")


def test_catalog_lists_every_action_and_trigger_with_input_schemas(meta: ActionApi) -> None:
    response = meta.get("/catalog")
    assert response.status == 200, response
    document = response.body
    assert document["counts"] == {
        "families": 15,  # the spec's 12, files and campaigns (issue 19), any object (issue 20)
        "actions": 54,
        # 9 gets by id, 4 file actions, the bulk jobs, convert lead and 3 campaign member actions,
        # find many and batch writes of the 11 record families, 7 any-object actions
        "supplementary_actions": 9 + 4 + len(catalog.actions_of("bulk")) + 4 + 11 * 2 + 7,
        "triggers": 30,
        "supplementary_triggers": 13,  # 11 deleted + files.created + campaign_members.created
    }
    actions = {a["key"]: a for a in document["actions"]}
    assert {k for k, a in actions.items() if a["in_spec"]} == {a.key for a in catalog.spec_actions()}
    assert {t["key"] for t in document["triggers"]} == {t.key for t in catalog.TRIGGERS}

    create = actions["accounts.create"]
    assert (create["method"], create["route"], create["sobject"]) == (
        "POST",
        "/connections/{connection_id}/accounts",
        "Account",
    )
    schema = create["input_schema"]
    assert schema["required"] == ["path", "body"]
    assert schema["properties"]["path"]["required"] == ["connection_id"]
    assert schema["properties"]["headers"]["properties"]["Idempotency-Key"]
    assert schema["properties"]["body"]["minProperties"] == 1

    custom = actions["custom_objects.update"]["input_schema"]["properties"]["path"]
    assert custom["required"] == ["connection_id", "sobject", "record_id"]
    find_all = actions["associations.find_all"]["input_schema"]["properties"]["body"]
    assert find_all["required"] == ["condition"]
    matched = next(t for t in document["triggers"] if t["key"] == "accounts.field_matched")
    assert set(matched["params_schema"]["properties"]) == {"field", "value", "mode"}
    assert matched["params_schema"]["required"] == ["field", "value"]


def test_openapi_document_is_valid_openapi_3_and_covers_the_api(meta: ActionApi) -> None:
    response = meta.get("/openapi.json")
    assert response.status == 200, response
    document: dict[str, Any] = response.body
    validate(document)  # raises on any violation of the OpenAPI 3.x schema
    assert document["openapi"].startswith("3.")
    operations = {
        op["operationId"]
        for path in document["paths"].values()
        for method, op in path.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert {a.key for a in catalog.ACTIONS} <= operations
    # The connections function's routes and the documents themselves are in the one document.
    assert "/connections" in document["paths"]
    assert "/catalog" in document["paths"]
    create = document["paths"]["/connections/{connection_id}/accounts"]["post"]
    assert create["requestBody"]["content"]["application/json"]["examples"]["example"]["value"]["Name"]
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorResponse"
    )


def test_only_the_routes_the_template_leaves_public_are_unsigned(meta: ActionApi) -> None:
    document: dict[str, Any] = meta.get("/openapi.json").body
    validate(document)
    unsigned = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == []
    }
    public = set()
    for resource in load_template(ROOT / "template.yaml")["Resources"].values():
        for event in (resource.get("Properties") or {}).get("Events", {}).values():
            props = event.get("Properties") or {}
            if event.get("Type") == "Api" and (props.get("Auth") or {}).get("Authorizer") == "NONE":
                public.add((str(props["Method"]).upper(), str(props["Path"])))
    assert unsigned == public == {("GET", "/oauth/callback")}
    assert document["security"] == [{"sigv4": []}]  # every other operation: SigV4


def test_swagger_ui_is_served_without_external_assets(meta: ActionApi) -> None:
    response = meta.get("/docs")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle" in response.text
    assert "unpkg.com" not in response.text
    assert "cdn.jsdelivr" not in response.text


NON_FAMILY = ("connections", "poller-", "sqs-", "relay-")
"""events/ files that are not a family's: the connections function's (tests/integration/connections),
the poller's scheduler events and the SQS events a trigger subscriber receives (below), the relay's
(tests/integration/triggers/test_relay.py)."""


@pytest.mark.parametrize(
    "path", sorted(p.name for p in EVENTS.glob("*.json") if not p.name.startswith(NON_FAMILY))
)
def test_sample_events_reach_their_action(path: str, aws: Any, fresh_runtime: None) -> None:
    """Each events/<family>-<action>.json is a valid API Gateway event for `sam local invoke`: it
    passes routing and request validation and reaches the action, which (no such connection in this
    empty account) answers 404 connection_not_found."""
    event = json.loads((EVENTS / path).read_text())
    family = event["resource"].split("/")[3]
    raw = load_function(family).lambda_handler(event, FakeLambdaContext())
    body = json.loads(raw["body"])
    assert raw["statusCode"] == 404, body
    assert body["error"]["code"] == "connection_not_found"


def test_every_family_has_a_sample_event() -> None:
    families = {
        json.loads(p.read_text())["resource"].split("/")[3]
        for p in EVENTS.glob("*.json")
        if not p.name.startswith(NON_FAMILY)
    }
    assert {f.key for f in catalog.FAMILIES} <= families


@pytest.mark.parametrize("path", sorted(p.name for p in EVENTS.glob("poller-*.json")))
def test_scheduler_events_run_the_poller(path: str, aws: Any, fresh_runtime: None) -> None:
    """events/poller-*.json is what EventBridge Scheduler invokes the poller with (the schedule's
    input); for a connection this empty account does not have, the cycle is skipped."""
    event = json.loads((EVENTS / path).read_text())
    report = load_function("poller").lambda_handler(event, FakeLambdaContext(function_name="PollerFunction"))
    assert report["connection_id"] == event["connection_id"]
    assert report["outcome"] == "skipped"
    assert report["reason"] == "unknown_connection"


@pytest.mark.parametrize("path", sorted(p.name for p in EVENTS.glob("sqs-*.json")))
def test_sqs_events_carry_a_trigger_event(path: str) -> None:
    """events/sqs-*.json is what a subscriber's queue delivers (SNS notification, not raw): the
    message is a trigger event envelope and the attributes a filter policy reads match it."""
    from sfconnector.models.trigger_events import TriggerEvent

    records = json.loads((EVENTS / path).read_text())["Records"]
    assert records
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        notification = json.loads(record["body"])
        assert notification["Type"] == "Notification"
        envelope = TriggerEvent.model_validate(json.loads(notification["Message"]))
        catalog.trigger(envelope.type)  # a catalog trigger key
        attributes = {k: v["Value"] for k, v in notification["MessageAttributes"].items()}
        assert attributes == {
            "trigger": envelope.type,
            "connection_id": envelope.connection_id,
            "subscription_id": envelope.subscription_id,
            "sobject": envelope.sobject,
            "event_type": envelope.event_type,
        }


def test_docs_list_every_route() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "api.md").read_text(encoding="utf-8")
    for action in catalog.ACTIONS:
        path = action.route.replace("/connections/{connection_id}", "")
        assert f"| `{action.method}` | `{path}` | `{action.key}` |" in docs, action.key
