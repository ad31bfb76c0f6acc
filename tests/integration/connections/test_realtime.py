"""Real-time setup through the connections function's handler: the Salesforce emulator over HTTP
(its Tooling API objects and Event Relay, which creates the partner event source in moto) and moto
(DynamoDB, Secrets Manager, EventBridge, SQS).

What a user sees: PUT relays what the org allows and says per object why the rest stays on
polling, spending a known number of Salesforce calls; the bus, its rule into the relay queue and
the binding exist; GET shows the relay's status and the delivery usage; a second PUT changes
nothing; DELETE leaves nothing on either side; the org's refusals leave nothing behind either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from sfconnector.models.subscriptions import Subscription
from sfconnector.stores.realtime import RelayBindings
from sfconnector.stores.subscriptions import SubscriptionRepository

from tests.fixtures.actions import load_function, seed_connection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.connections.apigw import lambda_context
from tests.integration.connections.harness import ConnectionsApi, Result

OTHER_TENANT = "arn:aws:iam::222222222222:user/someone-else"
SIX = ["Account", "Lead", "CaseComment", "Contact", "Opportunity", "Case"]
TOOLING_TYPES = ("PlatformEventChannel", "PlatformEventChannelMember", "NamedCredential", "EventRelayConfig")


@pytest.fixture
def queue_arn(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> str:
    sqs = boto3.client("sqs", region_name=aws.region)
    url = sqs.create_queue(QueueName="sfconnector-test-relay")["QueueUrl"]
    arn = str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    monkeypatch.setenv("RELAY_QUEUE_ARN", arn)
    monkeypatch.setenv("REALTIME_SOURCE_WAIT_SECONDS", "5")
    return arn


@pytest.fixture
def cid(connections: ConnectionsApi, queue_arn: str) -> Iterator[str]:
    # The emulator's relay reaches this process's moto (it creates the partner event source there).
    connections.emulator.configure(aws_endpoint_url="default")
    yield seed_connection(connections.aws, connections.emulator, "conn-rt").connection_id
    # Its deliveries (and source deletions) finish while moto is still this test's.
    connections.emulator.flush_relay()


def _put(api: ConnectionsApi, cid: str, body: dict[str, Any], **kwargs: Any) -> Result:
    return api.call("PUT", f"/connections/{cid}/realtime", body, **kwargs)


def _ok(result: Result) -> dict[str, Any]:
    assert result.status == 200, result.body
    data: dict[str, Any] = result.json()
    return data


def _calls(emulator: EmulatorHandle, before: int) -> int:
    return emulator.api_calls() - before


def _org_objects(emulator: EmulatorHandle) -> dict[str, list[dict[str, Any]]]:
    """What the org holds, read with the emulator's admin token (not counted against the test)."""
    found: dict[str, list[dict[str, Any]]] = {}
    with emulator.rest_client() as rest:
        for kind in TOOLING_TYPES:
            fields = "Id, DeveloperName" + (
                ", SelectedEntity, EnrichedFields" if kind.endswith("Member") else ""
            )
            soql = f"SELECT {fields} FROM {kind}"  # noqa: S608 - the test's own names
            response = rest.get("/tooling/query", params={"q": soql})
            assert response.status_code == 200, response.text
            found[kind] = response.json()["records"]
    return found


def _bus_names(aws: AwsEnv) -> list[str]:
    events = boto3.client("events", region_name=aws.region)
    return [b["Name"] for b in events.list_event_buses()["EventBuses"] if b["Name"] != "default"]


def _by_object(realtime: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["sobject"]: o for o in realtime["objects"]}


def _subscribe(aws: AwsEnv, cid: str, sid: str, trigger: str, kind: str, sobject: str, **extra: Any) -> None:
    repo = SubscriptionRepository(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)
    repo.put(
        Subscription(
            subscription_id=sid * 32,
            connection_id=cid,
            trigger=trigger,
            kind=kind,
            family=trigger.split(".")[0],
            sobject=sobject,
            start_at=datetime.now(UTC),
            **extra,
        )
    )


def test_put_relays_what_the_org_allows_and_says_why_the_rest_polls(
    connections: ConnectionsApi, cid: str, queue_arn: str, aws: AwsEnv
) -> None:
    emulator = connections.emulator
    emulator.configure(cdc_entity_limit=4)
    _subscribe(aws, cid, "a", "accounts.created", "created", "Account", fields=["Id", "Name", "Industry"])
    _subscribe(
        aws, cid, "b", "leads.entered_list_view", "entered_list_view", "Lead", params={"list_view": "x"}
    )
    before = emulator.api_calls()

    answer = _ok(_put(connections, cid, {"enabled": True, "objects": SIX, "reconcile_minutes": 10}))

    # channel + 5 member creates (the 5th refused: allocation) + named credential + relay config +
    # feedback; CaseComment costs nothing (CDC never covers it).
    assert _calls(emulator, before) == 9
    realtime = answer["realtime"]
    objects = _by_object(realtime)
    assert [o["sobject"] for o in realtime["objects"]] == SIX
    assert {o for o, v in objects.items() if v["mode"] == "relayed"} == {
        "Account",
        "Lead",
        "Contact",
        "Opportunity",
    }
    assert objects["CaseComment"]["reason"] == "unsupported"
    assert objects["Case"]["reason"] == "allocation"
    assert "LIMIT_EXCEEDED" in objects["Case"]["error"]
    assert objects["Account"]["enriched_fields"] == ["Industry", "Name"]
    assert objects["Lead"]["polled_triggers"] == ["leads.entered_list_view"]
    assert realtime["reconcile_seconds"] == 600
    assert realtime["association"] == "associated"
    source = realtime["source_name"]
    assert source == f"aws.partner/salesforce.com/{emulator.org_id}/{realtime['channel_id']}"
    steps = [(s["name"], s["status"]) for s in answer["steps"]]
    assert ("relay_config", "created") in steps
    assert ("event_bus", "created") in steps
    assert ("rule", "created") in steps

    # The org: one channel with the four members (Account's enriched), the credential, the relay.
    org = _org_objects(emulator)
    assert (
        len(org["PlatformEventChannel"]) == len(org["NamedCredential"]) == len(org["EventRelayConfig"]) == 1
    )
    members = {m["SelectedEntity"]: m for m in org["PlatformEventChannelMember"]}
    assert set(members) == {
        "AccountChangeEvent",
        "LeadChangeEvent",
        "ContactChangeEvent",
        "OpportunityChangeEvent",
    }
    assert sorted(members["AccountChangeEvent"]["EnrichedFields"]) == ["Industry", "Name"]

    # AWS: the partner bus, its rule into the relay queue, the binding the relay function reads.
    events = boto3.client("events", region_name=aws.region)
    assert _bus_names(aws) == [source]
    rules = events.list_rules(EventBusName=source)["Rules"]
    assert len(rules) == 1
    assert json.loads(rules[0]["EventPattern"]) == {"source": [source]}
    targets = events.list_targets_by_rule(Rule=rules[0]["Name"], EventBusName=source)["Targets"]
    assert [t["Arn"] for t in targets] == [queue_arn]
    bindings = RelayBindings(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)
    assert bindings.lookup(source) == cid

    # GET: the stored state, the relay running, the org's delivery allocation: two counted calls.
    before = emulator.api_calls()
    view = _ok(connections.call("GET", f"/connections/{cid}/realtime"))
    assert _calls(emulator, before) == 2
    assert view["realtime"] == realtime
    assert view["feedback"]["status"] == "RUNNING"
    assert view["feedback"]["remote_resource"] == source
    assert view["delivery"]["max"] == 10000
    assert view["delivery"]["used"] + view["delivery"]["remaining"] == view["delivery"]["max"]


def test_a_second_put_keeps_what_exists_and_reconciles_members(
    connections: ConnectionsApi, cid: str, aws: AwsEnv
) -> None:
    emulator = connections.emulator
    first = _ok(_put(connections, cid, {"enabled": True, "objects": ["Account", "Lead", "Contact"]}))[
        "realtime"
    ]

    before = emulator.api_calls()
    again = _ok(_put(connections, cid, {"enabled": True, "objects": ["Account", "Lead", "Contact"]}))
    # channel, members, named credential, relay config (GET each / one query) + feedback.
    assert _calls(emulator, before) == 5
    assert {s["status"] for s in again["steps"]} == {"exists"}
    ids = ("channel_id", "named_credential_id", "relay_config_id", "source_name", "event_bus_arn")
    assert {k: again["realtime"][k] for k in ids} == {k: first[k] for k in ids}
    assert _by_object(again["realtime"])["Lead"]["member_id"] == _by_object(first)["Lead"]["member_id"]

    changed = _ok(_put(connections, cid, {"enabled": True, "objects": ["Account", "Opportunity"]}))
    members = {m["SelectedEntity"] for m in _org_objects(emulator)["PlatformEventChannelMember"]}
    assert members == {"AccountChangeEvent", "OpportunityChangeEvent"}
    assert [(s["status"], s.get("target")) for s in changed["steps"] if s["name"] == "member"] == [
        ("deleted", "Lead"),
        ("deleted", "Contact"),
        ("exists", "Account"),
        ("created", "Opportunity"),
    ]
    assert _bus_names(aws) == [first["source_name"]]


def test_delete_leaves_nothing_on_either_side_and_is_idempotent(
    connections: ConnectionsApi, cid: str, aws: AwsEnv
) -> None:
    emulator = connections.emulator
    source = _ok(_put(connections, cid, {"enabled": True, "objects": ["Account", "Lead"]}))["realtime"][
        "source_name"
    ]

    before = emulator.api_calls()
    gone = _ok(connections.call("DELETE", f"/connections/{cid}/realtime"))
    # relay config, named credential, the channel (GET) and its members (query), 2 members, channel.
    assert _calls(emulator, before) == 7
    assert gone["deleted"] is True
    assert [s["name"] for s in gone["steps"]] == [
        "relay_config", "named_credential", "member", "member", "channel", "rule", "event_bus", "binding",
    ]  # fmt: skip
    assert {s["status"] for s in gone["steps"]} == {"deleted"}
    assert all(not rows for rows in _org_objects(emulator).values())
    assert _bus_names(aws) == []
    bindings = RelayBindings(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)
    assert bindings.lookup(source) is None
    assert _ok(connections.call("GET", f"/connections/{cid}/realtime"))["realtime"] is None

    before = emulator.api_calls()
    again = _ok(connections.call("DELETE", f"/connections/{cid}/realtime"))
    assert again == {"connection_id": cid, "deleted": False, "steps": []}
    assert _calls(emulator, before) == 0


@pytest.mark.parametrize(
    ("setting", "code"),
    [
        ({"event_relay_enabled": False}, "FEATURE_NOT_ENABLED"),
        ({"customize_application": False}, "INSUFFICIENT_ACCESS"),
    ],
)
def test_the_orgs_refusal_is_a_409_naming_it_and_leaves_nothing_behind(
    connections: ConnectionsApi, cid: str, aws: AwsEnv, setting: dict[str, bool], code: str
) -> None:
    connections.emulator.configure(**setting)
    result = _put(connections, cid, {"enabled": True, "objects": ["Account", "Lead"]})

    assert result.status == 409, result.body
    error = result.json()["error"]
    assert error["code"] == "realtime_unavailable"
    assert code in error["message"]
    assert error["details"]["salesforce_error_code"] == code
    made = [s for s in error["details"]["steps"] if s["status"] == "created"]
    undone = [s for s in error["details"]["steps"] if s["status"] == "rolled_back"]
    assert len(made) == len(undone)
    assert all(not rows for rows in _org_objects(connections.emulator).values())
    assert _bus_names(aws) == []
    assert _ok(connections.call("GET", f"/connections/{cid}/realtime"))["realtime"] is None


def test_another_tenant_gets_404_and_bad_input_names_the_field(connections: ConnectionsApi, cid: str) -> None:
    body = {"enabled": True, "objects": ["Account"]}
    for method, payload in (("PUT", body), ("GET", None), ("DELETE", None)):
        result = connections.call(method, f"/connections/{cid}/realtime", payload, user_arn=OTHER_TENANT)
        assert result.status == 404, result.body
        assert result.json()["error"]["code"] == "connection_not_found"

    for bad, field in (
        ({"enabled": True, "objects": ["Account; DROP"]}, "objects.0"),
        ({"enabled": True, "objects": ["Account"], "reconcile_minutes": 0}, "reconcile_minutes"),
        ({"objects": ["Account"]}, "enabled"),
    ):
        result = _put(connections, cid, bad)
        assert result.status == 422, result.body
        assert result.json()["error"]["code"] == "invalid_request"
        assert field in result.json()["error"]["fields"], result.body


def test_without_a_relay_queue_the_stack_says_so(
    connections: ConnectionsApi, cid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RELAY_QUEUE_ARN")
    before = connections.emulator.api_calls()
    result = _put(connections, cid, {"enabled": True, "objects": ["Account"]})
    assert result.status == 409, result.body
    assert "RELAY_QUEUE_ARN" in result.json()["error"]["message"]
    assert _calls(connections.emulator, before) == 0


def test_a_bus_associated_before_the_setup_outlives_its_teardown(
    connections: ConnectionsApi, cid: str, aws: AwsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partner bus the user (or the stack's SalesforcePartnerEventSource parameter) associated is
    reused and kept by DELETE; only the setup's own rule and binding go."""
    connections.emulator.configure(aws_endpoint_url="")  # no AWS: Salesforce's AWS side played by the test
    monkeypatch.setenv("REALTIME_SOURCE_WAIT_SECONDS", "0")
    first = _ok(_put(connections, cid, {"enabled": True, "objects": ["Account"]}))["realtime"]
    assert first["association"] == "pending"
    source = first["source_name"]
    events = boto3.client("events", region_name=aws.region)
    account = boto3.client("sts", region_name=aws.region).get_caller_identity()["Account"]
    events.create_partner_event_source(Name=source, Account=account)
    events.create_event_bus(Name=source, EventSourceName=source)

    second = _ok(_put(connections, cid, {"enabled": True, "objects": ["Account"]}))["realtime"]
    assert (second["association"], second["event_bus_owned"]) == ("associated", False)
    gone = _ok(connections.call("DELETE", f"/connections/{cid}/realtime"))
    assert {s["name"]: s["status"] for s in gone["steps"]}["event_bus"] == "skipped"
    assert _bus_names(aws) == [source]
    assert events.list_rules(EventBusName=source)["Rules"] == []


def test_nothing_relayable_makes_nothing_and_enabled_false_tears_down(
    connections: ConnectionsApi, cid: str, aws: AwsEnv
) -> None:
    emulator = connections.emulator
    before = emulator.api_calls()
    only = _ok(_put(connections, cid, {"enabled": True, "objects": ["CaseComment"]}))["realtime"]
    assert _calls(emulator, before) == 0
    assert [(o["sobject"], o["mode"], o["reason"]) for o in only["objects"]] == [
        ("CaseComment", "polling", "unsupported")
    ]
    assert (only["channel_id"], only["association"]) == (None, "none")

    _ok(_put(connections, cid, {"enabled": True, "objects": ["Account"]}))
    off = _ok(_put(connections, cid, {"enabled": False}))
    assert off["realtime"]["enabled"] is False
    assert "channel" in [s["name"] for s in off["steps"] if s["status"] == "deleted"]
    assert all(not rows for rows in _org_objects(emulator).values())
    assert _bus_names(aws) == []
    assert _ok(connections.call("GET", f"/connections/{cid}/realtime"))["realtime"] is None


def test_the_sample_events_of_the_realtime_routes_work(connections: ConnectionsApi, queue_arn: str) -> None:
    """events/connections-realtime-*.json, as `sam local invoke` sends them, against a connection
    with the events' id owned by their caller."""
    events_dir = Path(__file__).resolve().parents[3] / "events"
    events = {
        p.stem: json.loads(p.read_text()) for p in sorted(events_dir.glob("connections-realtime-*.json"))
    }
    assert sorted(events) == [
        "connections-realtime-delete",
        "connections-realtime-get",
        "connections-realtime-put",
    ]
    sample = events["connections-realtime-put"]
    owner = sample["requestContext"]["identity"]["userArn"]
    connections.emulator.configure(aws_endpoint_url="default")
    seed_connection(
        connections.aws, connections.emulator, sample["pathParameters"]["connection_id"], tenant_id=owner
    )
    handler = load_function("connections").lambda_handler

    def run(name: str) -> Any:
        answer = handler(events[name], lambda_context())
        assert answer["statusCode"] == 200, answer["body"]
        return json.loads(answer["body"])

    assert run("connections-realtime-put")["realtime"]["association"] == "associated"
    assert run("connections-realtime-get")["feedback"]["status"] == "RUNNING"
    assert run("connections-realtime-delete")["deleted"] is True
    connections.emulator.flush_relay()


def test_an_aws_failure_midway_leaves_nothing_behind(
    connections: ConnectionsApi, cid: str, aws: AwsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EventBridge failing after the bus was made (an outage cannot happen in moto: PutRule is made
    to fail, the one stand-in of this file): the bus and the org side this PUT made are removed."""
    from botocore.exceptions import ClientError
    from sfconnector.stores.partner_bus import PartnerBus

    def unavailable(self: PartnerBus, source: str, queue_arn: str) -> tuple[str, bool]:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "PutRule")

    monkeypatch.setattr(PartnerBus, "route", unavailable)
    result = _put(connections, cid, {"enabled": True, "objects": ["Account"]})
    assert result.status == 503, result.body
    assert all(not rows for rows in _org_objects(connections.emulator).values())
    assert _bus_names(aws) == []
    assert _ok(connections.call("GET", f"/connections/{cid}/realtime"))["realtime"] is None


def test_deleting_the_connection_tears_its_relay_down(
    connections: ConnectionsApi, cid: str, aws: AwsEnv
) -> None:
    """Else the org would keep a channel (holding CDC allocation) and a relay to a bus nobody reads."""
    source = _ok(_put(connections, cid, {"enabled": True, "objects": ["Account", "Lead"]}))["realtime"][
        "source_name"
    ]
    assert connections.call("DELETE", f"/connections/{cid}").status == 200
    assert all(not rows for rows in _org_objects(connections.emulator).values())
    assert _bus_names(aws) == []
    bindings = RelayBindings(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)
    assert bindings.lookup(source) is None


def test_a_revoked_org_does_not_keep_the_connection_from_being_deleted(
    connections: ConnectionsApi, cid: str, aws: AwsEnv
) -> None:
    """Salesforce refusing the teardown (here: the user lost Customize Application) is logged; the
    AWS side, the binding and the connection still go."""
    _ok(_put(connections, cid, {"enabled": True, "objects": ["Account"]}))
    connections.emulator.configure(customize_application=False)
    assert connections.call("DELETE", f"/connections/{cid}").status == 200
    assert _bus_names(aws) == []
    assert connections.call("GET", f"/connections/{cid}").status == 404
