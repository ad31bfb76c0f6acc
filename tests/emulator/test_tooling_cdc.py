"""The Tooling API objects of Change Data Capture and Event Relay, and their refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sfemulator.org import Org
from sfemulator.server import EmulatorServer

from tests.emulator.cdc_helpers import channel, create, created_id, member, relay_config, tooling_query, where
from tests.fixtures.emulator import EmulatorHandle


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    errors = response.json()
    assert isinstance(errors, list)
    assert len(errors) == 1
    item: dict[str, Any] = errors[0]
    assert {"errorCode", "message"} <= set(item)
    return item


def test_channel_member_and_relay_objects_round_trip(sf_emulator: EmulatorHandle, api: httpx.Client) -> None:
    before = sf_emulator.api_calls()
    channel_id = channel(api)
    member_id = created_id(member(api, "Account", enrichedFields=[{"name": "Industry"}]))
    config_id = created_id(relay_config(api))
    assert sf_emulator.api_calls() == before + 4  # each Tooling call is an API call

    got = api.get(f"/tooling/sobjects/PlatformEventChannelMember/{member_id}").json()
    assert got["SelectedEntity"] == "AccountChangeEvent"
    assert got["EventChannel"] == channel_id
    assert got["EnrichedFields"] == ["Industry"]

    by_name = tooling_query(
        api, "SELECT Id, FullName FROM PlatformEventChannel WHERE DeveloperName = 'Connector'"
    )
    assert [r["Id"] for r in by_name] == [channel_id]
    by_full = tooling_query(api, "SELECT Id FROM PlatformEventChannel WHERE FullName = 'Connector__chn'")
    assert [r["Id"] for r in by_full] == [channel_id]
    members = tooling_query(
        api,
        where("Id, SelectedEntity", "PlatformEventChannelMember", "EventChannel", channel_id[:15]),
    )
    assert [(r["Id"], r["SelectedEntity"]) for r in members] == [(member_id, "AccountChangeEvent")]

    feedback = tooling_query(
        api,
        where(
            "Id, Status, RemoteResource, ErrorCode, ErrorMessage, ErrorTime",
            "EventRelayFeedback",
            "EventRelayConfigId",
            config_id,
        ),
    )
    assert len(feedback) == 1
    assert feedback[0]["Status"] == "RUNNING"
    assert feedback[0]["RemoteResource"] == f"aws.partner/salesforce.com/{sf_emulator.org_id}/{channel_id}"
    assert feedback[0]["ErrorCode"] is None

    # A real admin pauses the relay through the Tooling API; the feedback follows.
    paused = api.patch(
        f"/tooling/sobjects/EventRelayConfig/{config_id}", json={"Metadata": {"state": "PAUSE"}}
    )
    assert paused.status_code == 204, paused.text
    config = api.get(f"/tooling/sobjects/EventRelayConfig/{config_id}").json()
    assert config["State"] == "PAUSE"
    status = tooling_query(api, where("Status", "EventRelayFeedback", "EventRelayConfigId", config_id))
    assert status[0]["Status"] == "PAUSED"

    assert api.delete(f"/tooling/sobjects/EventRelayConfig/{config_id}").status_code == 204
    assert tooling_query(api, "SELECT Id FROM EventRelayFeedback") == []
    assert api.get(f"/tooling/sobjects/EventRelayConfig/{config_id}").status_code == 404


def test_only_state_and_relay_option_of_a_relay_change(
    sf_emulator: EmulatorHandle, api: httpx.Client
) -> None:
    channel(api)
    config_id = created_id(relay_config(api))
    moved = api.patch(
        f"/tooling/sobjects/EventRelayConfig/{config_id}",
        json={"Metadata": {"destinationResourceName": "callout:Elsewhere"}},
    )
    assert error_of(moved, 400)["fields"] == ["destinationResourceName"]


def test_members_beyond_the_cdc_allocation_are_refused(
    sf_emulator: EmulatorHandle, api: httpx.Client
) -> None:
    channel(api)
    channel(api, "Other__chn")
    for entity in ("Account", "Contact", "Lead", "Opportunity"):
        created_id(member(api, entity))
    created_id(member(api, "Case", chn="Other__chn"))  # the allocation spans all channels
    # The same entity on a second channel takes no more of it.
    again = {"eventChannel": "Other__chn", "selectedEntity": "AccountChangeEvent"}
    created_id(create(api, "PlatformEventChannelMember", "Other_chn_Account", again))
    refused = error_of(member(api, "Task"), 400)
    assert refused["errorCode"] == "LIMIT_EXCEEDED"
    assert refused["fields"] == ["selectedEntity"]

    sf_emulator.configure(cdc_entity_limit=6)  # an add-on lifts it
    created_id(member(api, "Task"))


def test_unsupported_entity_is_refused(sf_emulator: EmulatorHandle, api: httpx.Client) -> None:
    channel(api)
    refused = error_of(member(api, "CaseComment"), 400)
    assert refused["errorCode"] == "INVALID_INPUT"
    assert refused["fields"] == ["selectedEntity"]
    unknown = error_of(member(api, "Nonexistent"), 400)
    assert unknown["errorCode"] == "INVALID_INPUT"
    bad_field = error_of(member(api, "Account", enrichedFields=[{"name": "NoSuchField"}]), 400)
    assert bad_field["fields"] == ["enrichedFields"]


def test_without_customize_application_writes_are_refused(
    sf_emulator: EmulatorHandle, api: httpx.Client
) -> None:
    channel_id = channel(api)
    sf_emulator.configure(customize_application=False)
    refused = error_of(
        create(api, "PlatformEventChannel", "Third__chn", {"channelType": "data", "label": "x"}), 403
    )
    assert refused["errorCode"] == "INSUFFICIENT_ACCESS"
    # Reading stays allowed.
    assert api.get(f"/tooling/sobjects/PlatformEventChannel/{channel_id}").status_code == 200


def test_org_without_event_relay_refuses_a_relay_config(
    sf_emulator: EmulatorHandle, api: httpx.Client
) -> None:
    channel(api)
    sf_emulator.configure(event_relay_enabled=False)
    refused = error_of(relay_config(api), 400)
    assert refused["errorCode"] == "FEATURE_NOT_ENABLED"


def test_bad_input_names_the_field(sf_emulator: EmulatorHandle, api: httpx.Client) -> None:
    bad_channel = create(api, "PlatformEventChannel", "NoSuffix", {"channelType": "data", "label": "x"})
    assert error_of(bad_channel, 400)["fields"] == ["FullName"]
    channel(api)
    bad_endpoint = create(api, "NamedCredential", "Aws", {"endpoint": "https://example.com", "label": "x"})
    assert error_of(bad_endpoint, 400)["fields"] == ["endpoint"]
    no_credential = create(
        api,
        "EventRelayConfig",
        "Relay",
        {"eventChannel": "Connector__chn", "destinationResourceName": "callout:Missing", "label": "x"},
    )
    assert error_of(no_credential, 400)["fields"] == ["destinationResourceName"]
    duplicate = create(api, "PlatformEventChannel", "Connector__chn", {"channelType": "data", "label": "x"})
    assert error_of(duplicate, 400)["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    bad_query = api.get("/tooling/query", params={"q": "SELECT Nope FROM PlatformEventChannel"})
    assert error_of(bad_query, 400)["errorCode"] == "INVALID_FIELD"
    channel(api, "Second__chn")
    # As on Salesforce, Metadata and FullName come back for one row at a time only.
    many = api.get("/tooling/query", params={"q": "SELECT Id, FullName FROM PlatformEventChannel"})
    assert error_of(many, 400)["errorCode"] == "MALFORMED_QUERY"
    one = "SELECT Metadata FROM PlatformEventChannel WHERE FullName = 'Second__chn'"
    assert tooling_query(api, one)[0]["Metadata"] == {"channelType": "data", "label": "Connector"}


def test_the_cdc_setup_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "org.json"
    first = EmulatorServer(Org(), state_file=state).start()
    try:
        token = httpx.post(f"{first.base_url}/__emulator__/tokens", json={}).json()["access_token"]
        with httpx.Client(
            base_url=f"{first.base_url}/services/data/{first.org.version}",
            headers={"Authorization": f"Bearer {token}"},
        ) as api:
            channel(api)
            member_id = created_id(member(api, "Account"))
            config_id = created_id(relay_config(api, state="PAUSE"))
    finally:
        first.stop()
    second = EmulatorServer(Org(), state_file=state).start()
    try:
        with httpx.Client(
            base_url=f"{second.base_url}/services/data/{second.org.version}",
            headers={"Authorization": f"Bearer {token}"},
        ) as api:
            assert [r["Id"] for r in tooling_query(api, "SELECT Id FROM PlatformEventChannelMember")] == [
                member_id
            ]
            status = tooling_query(
                api, where("Status", "EventRelayFeedback", "EventRelayConfigId", config_id)
            )
            assert status[0]["Status"] == "PAUSED"
            # The restored member still captures changes (stored while the relay is paused).
            assert api.post("/sobjects/Account", json={"Name": "After restart"}).status_code == 201
        relay = httpx.get(f"{second.base_url}/__emulator__/relay").json()
        assert relay["counts"]["stored"] == 1
        assert relay["relays"][0]["state"] == "PAUSE"
    finally:
        second.stop()
