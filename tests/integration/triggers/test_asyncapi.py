"""GET /asyncapi.json: an AsyncAPI 3.0 document the official parser accepts, whose messages
describe the events the poller really delivers (envelopes and SNS message attributes).

The parser is npm's ``@asyncapi/parser`` (pinned in tests/asyncapi/package-lock.json, installed by
``make asyncapi-parser``, which ``make pytest`` depends on) run by tests/asyncapi/validate.mjs. The
delivered events come from the real poller through moto's SNS topic into a raw-delivery SQS queue
(tests/integration/triggers/harness.py), and are validated with ``jsonschema`` against the
message's payload and headers schemas of the served document.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker
from sfconnector import catalog

from tests.fixtures.actions import ActionApi, SeededConnection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller, by_subscription

ROOT = Path(__file__).resolve().parents[3]
PARSER_DIR = ROOT / "tests" / "asyncapi"
ATTRIBUTES = ["trigger", "connection_id", "subscription_id", "sobject", "event_type"]


@pytest.fixture
def meta(fresh_runtime: None) -> ActionApi:
    return ActionApi("unused")  # the documents need no connection


@pytest.fixture
def document(meta: ActionApi) -> dict[str, Any]:
    response = meta.get("/asyncapi.json")
    assert response.status == 200, response
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.body
    return body


def _validator(schema: dict[str, Any]) -> Draft7Validator:
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=FormatChecker())


def _errors(schema: dict[str, Any], instance: Any) -> list[str]:
    found = _validator(schema).iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def _message(document: dict[str, Any], trigger_key: str) -> dict[str, Any]:
    message: dict[str, Any] = document["components"]["messages"][trigger_key]
    return message


def _parser_command() -> list[str]:
    node = shutil.which("node")
    installed = (PARSER_DIR / "node_modules" / "@asyncapi" / "parser").is_dir()
    if node and installed:
        return [node, str(PARSER_DIR / "validate.mjs")]
    missing = "node (Node 20) is not on PATH" if not node else "run `make asyncapi-parser` (npm ci)"
    reason = f"the AsyncAPI parser cannot run: {missing}"
    if os.environ.get("CI") or os.environ.get("HYPOTHESIS_PROFILE") == "ci":
        pytest.fail(reason)  # CI must validate the document, never skip it
    pytest.skip(reason)


def _parse(document: dict[str, Any], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    """(exit code, the script's summary) of the official parser run over ``document``."""
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    run = subprocess.run(
        [*_parser_command(), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.stdout, run.stderr
    summary: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return run.returncode, summary


def test_the_official_parser_validates_the_document_with_no_error(
    document: dict[str, Any], tmp_path: Path
) -> None:
    code, result = _parse(document, tmp_path)
    assert result["errors"] == [], result["errors"]
    assert code == 0
    assert result["parsed"] is True
    # The triggers' channel and the connector's own events (bulk_job.finished) on the same topic.
    assert (result["messages"], result["channels"], result["operations"]) == (len(catalog.TRIGGERS) + 1, 2, 2)


def test_the_parser_reports_a_broken_document(document: dict[str, Any], tmp_path: Path) -> None:
    """The validation can fail: a consumer binding without its required field is an error."""
    consumer = document["operations"]["publishTriggerEvents"]["bindings"]["sns"]["consumers"][0]
    del consumer["rawMessageDelivery"]
    code, result = _parse(document, tmp_path)
    assert code == 1
    assert any("rawMessageDelivery" in e["message"] for e in result["errors"]), result


def test_one_message_per_trigger_on_the_topic_with_filterable_headers(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    channel = document["channels"]["triggerEvents"]
    assert channel["address"] == "{stack_name}-trigger-events"
    assert channel["bindings"]["sns"]["name"] == channel["address"]
    keys = [t.key for t in catalog.TRIGGERS]
    assert list(channel["messages"]) == keys  # spec and supplementary triggers
    operation = document["operations"]["publishTriggerEvents"]
    assert operation["action"] == "send"
    assert len(operation["messages"]) == len(keys)
    consumer = operation["bindings"]["sns"]["consumers"][0]
    assert consumer["rawMessageDelivery"] is True
    assert set(consumer["filterPolicy"]) <= set(ATTRIBUTES)
    for trigger in catalog.TRIGGERS:
        message = _message(document, trigger.key)
        headers, payload = message["headers"], message["payload"]
        assert headers["required"] == ATTRIBUTES, trigger.key
        assert headers["properties"]["trigger"]["const"] == trigger.key
        assert payload["properties"]["type"]["const"] == trigger.key
        if trigger.stream is not None:
            assert payload["properties"]["event_type"]["const"] == trigger.stream.event.value
        # Each example the document gives is an envelope its own schemas accept.
        for example in message["examples"]:
            assert _errors(payload, example["payload"]) == [], trigger.key
            assert _errors(headers, example["headers"]) == [], trigger.key
        # ... and an envelope of another trigger is not.
        other = next(t for t in catalog.TRIGGERS if t.key != trigger.key)
        foreign = _message(document, other.key)["examples"][0]["payload"]
        assert _errors(payload, foreign), (trigger.key, other.key)
    matched = _message(document, "opportunities.field_matched")["payload"]["properties"]
    assert {"old_value", "new_value", "changed_by", "changed_at"} <= set(matched)
    created = _message(document, "opportunities.created")["payload"]["properties"]
    assert "old_value" not in created
    assert created["subject"]["pattern"].startswith("^006")


def test_the_catalog_carries_each_triggers_event_schema(meta: ActionApi, document: dict[str, Any]) -> None:
    triggers = meta.get("/catalog").body["triggers"]
    assert [t["key"] for t in triggers] == [t.key for t in catalog.TRIGGERS]
    for entry in triggers:
        assert entry["params_schema"]["type"] == "object"  # the existing fields stay
        assert entry["event_schema"] == _message(document, entry["key"])["payload"], entry["key"]


def test_the_openapi_document_lists_the_asyncapi_route(meta: ActionApi) -> None:
    assert "get" in meta.get("/openapi.json").body["paths"]["/asyncapi.json"]


@pytest.mark.parametrize("path", sorted(p.name for p in (ROOT / "events").glob("sqs-*.json")))
def test_the_sample_sqs_events_match_the_document(path: str, document: dict[str, Any]) -> None:
    for record in json.loads((ROOT / "events" / path).read_text())["Records"]:
        notification = json.loads(record["body"])
        envelope = json.loads(notification["Message"])
        attributes = {k: v["Value"] for k, v in notification["MessageAttributes"].items()}
        message = _message(document, envelope["type"])
        assert _errors(message["payload"], envelope) == []
        assert _errors(message["headers"], attributes) == []


# ------------------------------------------------------------------------------ delivered events


@pytest.fixture
def poller(aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def test_delivered_events_match_their_triggers_messages(poller: Poller, document: dict[str, Any]) -> None:
    """Created, updated, deleted and field matched events (all fields, a field subset, a custom
    object) as the poller publishes them: each envelope validates against its trigger's payload
    schema and its SNS attributes against the message's headers."""
    subs = [
        poller.subscribe("accounts.created"),
        poller.subscribe("accounts.updated", fields=["Name", "Description"]),
        poller.subscribe("accounts.deleted"),
        poller.subscribe("accounts.field_matched", params={"field": "Rating", "value": "Hot"}),
        poller.subscribe(
            "opportunities.field_matched",
            params={"field": "StageName", "value": "Closed Won", "mode": "equals"},
        ),
        poller.subscribe("cases.comment_created"),
        poller.subscribe("custom_objects.record_created", sobject="Invoice__c"),
        # LeadSource is not history-tracked: the snapshot decides (old_value_from).
        poller.subscribe("contacts.field_matched", params={"field": "LeadSource", "value": "Web"}),
    ]
    assert poller.poll()["outcome"] == "polled"
    account = poller.query("SELECT Id FROM Account ORDER BY CreatedDate LIMIT 1")[0]["Id"]
    opportunity = poller.query("SELECT Id FROM Opportunity ORDER BY CreatedDate LIMIT 1")[0]["Id"]
    case = poller.query("SELECT Id FROM Case ORDER BY CreatedDate LIMIT 1")[0]["Id"]
    poller.write("update", "Account", {"Rating": "Cold"}, id=account)
    poller.write("update", "Opportunity", {"StageName": "Prospecting"}, id=opportunity)
    contact = poller.query("SELECT Id FROM Contact ORDER BY CreatedDate LIMIT 1")[0]["Id"]
    poller.write("update", "Contact", {"LeadSource": "Other"}, id=contact)
    poller.poll()
    poller.drain()

    poller.write("insert", "Account", {"Name": "AsyncAPI Test"})
    poller.write("update", "Account", {"Rating": "Hot", "Description": "now hot"}, id=account)
    doomed = poller.write("insert", "Account", {"Name": "AsyncAPI Doomed"})
    poller.write("delete", "Account", id=doomed)
    poller.write("update", "Opportunity", {"StageName": "Closed Won"}, id=opportunity)
    poller.write("insert", "CaseComment", {"ParentId": case, "CommentBody": "documented"})
    poller.write("insert", "Invoice__c", {"Name": "INV-ASYNC", "Invoice_Number__c": "ASYNC-1"})
    poller.write("update", "Contact", {"LeadSource": "Web"}, id=contact)
    report = poller.poll()
    assert report["error"] is None, report
    messages = poller.drain()

    got = by_subscription(messages)
    assert {sub.subscription_id for sub in subs} == set(got), report  # every kind delivered
    kinds = {m["body"]["event_type"] for m in messages}
    assert kinds == {"created", "updated", "deleted", "matched"}
    for delivered in messages:
        envelope, attributes = delivered["body"], delivered["attributes"]
        message = _message(document, attributes["trigger"])
        assert _errors(message["payload"], envelope) == [], (attributes["trigger"], envelope)
        assert _errors(message["headers"], attributes) == [], attributes
    matched = next(m["body"] for m in messages if m["body"]["type"] == "accounts.field_matched")
    assert (matched["old_value"], matched["new_value"]) == ("Cold", "Hot")
    from_snapshot = next(m["body"] for m in messages if m["body"]["type"] == "contacts.field_matched")
    assert (from_snapshot["old_value_from"], from_snapshot["new_value"]) == ("snapshot", "Web")
    trimmed = next(m["body"] for m in messages if m["body"]["type"] == "accounts.updated")
    assert set(trimmed["data"]) == {"Id", "Name", "Description"}
