"""A relay set up by hand in Salesforce (docs/realtime.md, "By hand"), bound to a connection with
``PUT /connections/{cid}/realtime {"manual": {"source": ...}}``: the channel, its member, the Named
Credential and the EventRelayConfig are made here through the emulator's Tooling API, as a user
would; the connector creates nothing in the org (read-only checks, counted), binds the source,
delivers with the poller's ids, and DELETE leaves the hand-made objects in place."""

from __future__ import annotations

from typing import Any

import boto3
from sfconnector.stores.realtime import RelayBindings

from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.connections.conftest import connections  # noqa: F401 - the fixture
from tests.integration.connections.test_realtime import (
    _bus_names,
    _org_objects,
    queue_arn,  # noqa: F401 - the fixture
)
from tests.integration.triggers.test_reconcile import INTERVAL, Relayed, rt  # noqa: F401

ACCOUNT = "123456789012"  # moto's


def hand_made_relay(emulator: EmulatorHandle, aws: AwsEnv, entities: list[str]) -> str:
    """docs/realtime.md's steps 1-5, through the Tooling API; returns the partner event source."""
    with emulator.rest_client() as http:

        def create(kind: str, full_name: str, metadata: dict[str, Any]) -> str:
            body = {"FullName": full_name, "Metadata": metadata}
            answer = http.post(f"/tooling/sobjects/{kind}", json=body)
            assert answer.status_code == 201, answer.text
            return str(answer.json()["id"])

        create("PlatformEventChannel", "MyRelay__chn", {"channelType": "data", "label": "My relay"})
        for entity in entities:
            create(
                "PlatformEventChannelMember",
                f"MyRelay_chn_{entity}",
                {"eventChannel": "MyRelay__chn", "selectedEntity": entity},
            )
        create(
            "NamedCredential", "MyAws",
            {"endpoint": f"arn:aws:{aws.region}:{ACCOUNT}", "label": "AWS", "principalType": "Anonymous",
             "protocol": "NoAuthentication"},
        )  # fmt: skip
        create(
            "EventRelayConfig", "MyRelay",
            {"eventChannel": "MyRelay__chn", "destinationResourceName": "callout:MyAws", "label": "My relay",
             "state": "RUN", "relayOption": '{"ReplayRecovery":"LATEST"}'},
        )  # fmt: skip
        rows = http.get("/tooling/query", params={"q": "SELECT RemoteResource FROM EventRelayFeedback"})
    emulator.flush_relay()  # Salesforce's creation of the partner event source (in moto) is done
    return str(rows.json()["records"][0]["RemoteResource"])


def _put(rt: Relayed, body: dict[str, Any]) -> tuple[int, dict[str, Any], int]:  # noqa: F811
    before = rt.emulator.api_calls()
    answer = rt.connections.call("PUT", "/connections/conn-rt/realtime", body)
    return answer.status, answer.json(), rt.emulator.api_calls() - before


def _relayed_seen_items(aws: AwsEnv) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", region_name=aws.region)
    items = dynamodb.query(
        TableName=aws.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": "CONNECTION#conn-rt"}, ":p": {"S": "RELAYED#"}},
    )["Items"]
    return list(items)


def test_a_relay_set_up_by_hand_is_bound_and_delivers_with_the_pollers_ids(
    rt: Relayed,  # noqa: F811
    aws: AwsEnv,
) -> None:
    created = rt.poller.subscribe("leads.created")
    source = hand_made_relay(rt.emulator, aws, ["LeadChangeEvent"])
    made_by_hand = _org_objects(rt.emulator)

    status, answer, calls = _put(
        rt, {"enabled": True, "objects": ["Lead", "Account"], "manual": {"source": source}}
    )
    assert status == 200, answer
    assert calls == 3  # the channel, its members, the relay's feedback: read-only
    assert _org_objects(rt.emulator) == made_by_hand  # nothing created in the org
    state = answer["realtime"]
    assert (state["managed"], state["association"], state["source_name"]) == (False, "associated", source)
    objects = {o["sobject"]: o for o in state["objects"]}
    assert objects["Lead"]["mode"] == "relayed"
    assert objects["Lead"]["member_id"] == made_by_hand["PlatformEventChannelMember"][0]["Id"]
    assert (objects["Account"]["mode"], objects["Account"]["reason"]) == ("polling", "not_in_channel")
    bindings = RelayBindings(boto3.client("dynamodb", region_name=aws.region), aws.table_name)
    assert bindings.lookup(source) == "conn-rt"
    assert _bus_names(aws) == [source]

    rt.poll(1)  # never polled: sets the cursor
    rt.emulator.advance_clock(5)
    lead = rt.poller.write("insert", "Lead", {"LastName": "ByHand", "Company": "C"})
    rt.deliver()
    relayed = rt.poller.drain()
    assert [(m["body"]["subscription_id"], m["body"]["subject"]) for m in relayed] == [
        (created.subscription_id, lead)
    ]
    # The poller's id for the same change: with the relayed-seen set emptied, reconciliation sends it.
    for item in _relayed_seen_items(aws):
        boto3.client("dynamodb", region_name=aws.region).delete_item(
            TableName=aws.table_name, Key={"pk": item["pk"], "sk": item["sk"]}
        )
    report, _ = rt.poll(INTERVAL)
    assert report["reconciled"] == ["Lead"]
    assert [m["body"]["id"] for m in rt.poller.drain()] == [relayed[0]["body"]["id"]]

    before = rt.emulator.api_calls()
    gone = rt.connections.call("DELETE", "/connections/conn-rt/realtime")
    assert gone.status == 200, gone.body
    assert rt.emulator.api_calls() == before  # no Salesforce object is the connector's
    steps = {s["name"]: s["status"] for s in gone.json()["steps"]}
    assert steps == {"channel": "skipped", "rule": "deleted", "event_bus": "deleted", "binding": "deleted"}
    assert _org_objects(rt.emulator) == made_by_hand
    assert bindings.lookup(source) is None
    assert _bus_names(aws) == []


def test_a_hand_made_relay_that_cannot_be_bound_is_a_clear_4xx_naming_the_field(
    rt: Relayed,  # noqa: F811
    aws: AwsEnv,
) -> None:
    source = hand_made_relay(rt.emulator, aws, ["LeadChangeEvent"])
    org, channel = source.rsplit("/", 2)[1:]
    cases = [
        ("aws.partner/salesforce.com/not-an-org", 422, "invalid_request", "manual.source"),
        (source.replace(org, "00D000000000001AAA"), 409, "realtime_unavailable", "manual.source"),
        (source.replace(channel, "0YL000000000001AAA"), 409, "realtime_unavailable", "manual.source"),
    ]
    for bad, status, code, field in cases:
        got, answer, _ = _put(rt, {"enabled": True, "objects": ["Lead"], "manual": {"source": bad}})
        assert (got, answer["error"]["code"]) == (status, code), answer
        assert field in answer["error"]["fields"], answer
    # The bus not associated yet, and the connector asked not to: it says what to do.
    got, answer, _ = _put(rt, {"enabled": True, "manual": {"source": source, "associate": False}})
    assert (got, answer["error"]["fields"]) == (409, ["manual.associate"]), answer
    assert _bus_names(aws) == []
    assert rt.connections.call("GET", "/connections/conn-rt/realtime").json()["realtime"] is None

    # A connection relaying the connector's own channel is not silently switched to a hand-made one.
    status, _, _ = _put(rt, {"enabled": True, "objects": ["Account"]})
    assert status == 200
    got, answer, _ = _put(rt, {"enabled": True, "manual": {"source": source}})
    assert (got, answer["error"]["fields"]) == (409, ["manual"]), answer


def test_a_hand_made_bus_and_rule_are_used_as_they_are_and_outlive_delete(
    rt: Relayed,  # noqa: F811
    aws: AwsEnv,
    queue_arn: str,  # noqa: F811
) -> None:
    """The stack's SalesforcePartnerEventSource parameter (or the console) made the bus and a rule
    into the relay queue: ``associate: false`` finds them, adds no second rule (each event would
    arrive twice), and DELETE leaves both."""
    rt.poller.subscribe("leads.created")
    source = hand_made_relay(rt.emulator, aws, ["LeadChangeEvent"])
    events = boto3.client("events", region_name=aws.region)
    events.create_event_bus(Name=source, EventSourceName=source)
    events.put_rule(Name="stack-RelayRule", EventBusName=source, EventPattern='{"source": [{"prefix": ""}]}')
    events.put_targets(Rule="stack-RelayRule", EventBusName=source, Targets=[{"Id": "q", "Arn": queue_arn}])

    status, answer, _ = _put(rt, {"enabled": True, "manual": {"source": source, "associate": False}})
    assert status == 200, answer
    assert [o["sobject"] for o in answer["realtime"]["objects"]] == ["Lead"]  # the channel's members
    steps = {s["name"]: (s["status"], s.get("id")) for s in answer["steps"]}
    assert steps["rule"] == ("exists", "stack-RelayRule")
    assert steps["event_bus"][0] == "exists"
    assert [r["Name"] for r in events.list_rules(EventBusName=source)["Rules"]] == ["stack-RelayRule"]
    rt.emulator.advance_clock(5)
    lead = rt.poller.write("insert", "Lead", {"LastName": "StackRule", "Company": "C"})
    rt.deliver()
    assert [m["body"]["subject"] for m in rt.poller.drain()] == [lead]

    gone = rt.connections.call("DELETE", "/connections/conn-rt/realtime")
    assert {s["name"]: s["status"] for s in gone.json()["steps"]} == {
        "channel": "skipped", "rule": "absent", "event_bus": "skipped", "binding": "deleted",
    }  # fmt: skip
    assert _bus_names(aws) == [source]
    assert [r["Name"] for r in events.list_rules(EventBusName=source)["Rules"]] == ["stack-RelayRule"]


def test_deleting_the_connection_leaves_a_hand_made_relay_in_the_org(rt: Relayed, aws: AwsEnv) -> None:  # noqa: F811
    source = hand_made_relay(rt.emulator, aws, ["LeadChangeEvent", "AccountChangeEvent"])
    made_by_hand = _org_objects(rt.emulator)
    status, answer, _ = _put(rt, {"enabled": True, "manual": {"source": source}})
    assert status == 200, answer
    assert sorted(o["sobject"] for o in answer["realtime"]["objects"]) == ["Account", "Lead"]

    assert rt.connections.call("DELETE", "/connections/conn-rt").status == 200
    assert _org_objects(rt.emulator) == made_by_hand
    assert _bus_names(aws) == []  # the bus this connector associated goes with it
    bindings = RelayBindings(boto3.client("dynamodb", region_name=aws.region), aws.table_name)
    assert bindings.lookup(source) is None
