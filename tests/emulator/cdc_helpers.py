"""Tooling API calls the CDC and Event Relay tests share: a channel, members, a relay config."""

from __future__ import annotations

from typing import Any

import httpx

ENDPOINT = "arn:aws:us-east-1:123456789012"


def create(api: httpx.Client, kind: str, full_name: str, metadata: dict[str, Any]) -> httpx.Response:
    return api.post(f"/tooling/sobjects/{kind}", json={"FullName": full_name, "Metadata": metadata})


def created_id(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert body["errors"] == []
    return str(body["id"])


def tooling_query(api: httpx.Client, soql: str) -> list[dict[str, Any]]:
    response = api.get("/tooling/query", params={"q": soql})
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


def where(select: str, kind: str, field: str, value: str) -> str:
    return f"SELECT {select} FROM {kind} WHERE {field} = '{value}'"  # noqa: S608 - a test's own ids


def channel(api: httpx.Client, name: str = "Connector__chn") -> str:
    return created_id(
        create(api, "PlatformEventChannel", name, {"channelType": "data", "label": "Connector"})
    )


def member(api: httpx.Client, entity: str, chn: str = "Connector__chn", **extra: Any) -> httpx.Response:
    return create(
        api,
        "PlatformEventChannelMember",
        f"Connector_chn_{entity}",
        {"eventChannel": chn, "selectedEntity": f"{entity}ChangeEvent", **extra},
    )


def relay_config(api: httpx.Client, state: str = "RUN", chn: str = "Connector__chn") -> httpx.Response:
    created_id(
        create(
            api,
            "NamedCredential",
            "ConnectorAws",
            {
                "endpoint": ENDPOINT,
                "label": "AWS",
                "principalType": "Anonymous",
                "protocol": "NoAuthentication",
            },
        )
    )
    return create(
        api,
        "EventRelayConfig",
        "ConnectorRelay",
        {
            "eventChannel": chn,
            "destinationResourceName": "callout:ConnectorAws",
            "label": "Connector relay",
            "state": state,
            "relayOption": '{"ReplayRecovery":"LATEST"}',
        },
    )
