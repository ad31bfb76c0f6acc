"""Bad requests get a clear 4xx naming the field; the sample events in events/ work as documented."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.actions import load_function
from tests.integration.connections.apigw import lambda_context
from tests.integration.connections.harness import ROOT, ConnectionsApi

VALID = {"name": "Acme", "environment": "production", "client_id": "3MVG9abc", "client_secret": "s3cr3t"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client_secret": None}, "client_secret"),
        ({"client_id": ""}, "client_id"),
        ({"name": "x" * 201}, "name"),
        ({"environment": "staging"}, "environment"),
        ({"environment": "http://acme.my.salesforce.com"}, "environment"),
        ({"redirect_uri": "http://platform.example.com/cb"}, "redirect_uri"),
        ({"redirect_uri": "https://platform.example.com/cb#frag"}, "redirect_uri"),
        ({"scope": "api; DROP"}, "scope"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_create_rejects_bad_fields_by_name(
    connections: ConnectionsApi, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    result = connections.call("POST", "/connections", body)
    assert result.status == 422, result.body
    error = result.json()["error"]
    assert field in error["fields"]
    assert field in error["message"]
    assert "s3cr3t" not in result.body
    assert connections.call("GET", "/connections").json() == {"connections": []}


def test_malformed_bodies_and_unknown_things(connections: ConnectionsApi) -> None:
    not_json = connections.call("POST", "/connections", "{not json")
    assert not_json.status == 422
    assert "error" in not_json.json()

    unknown = connections.call("GET", "/connections/0123456789abcdef")
    assert unknown.status == 404
    assert unknown.json()["error"]["code"] == "connection_not_found"
    assert connections.call("DELETE", "/connections/0123456789abcdef").status == 404
    assert connections.call("POST", "/connections/0123456789abcdef/reauthorize", {}).status == 404
    assert connections.call("GET", "/connections/0123456789abcdef/objects/Account/fields").status == 404
    assert connections.call("GET", "/connections/bad%20id!").status == 404


def test_fields_need_a_connected_connection_and_a_valid_object(connections: ConnectionsApi) -> None:
    pending = connections.create()["connection_id"]
    result = connections.call("GET", f"/connections/{pending}/objects/Account/fields")
    assert result.status == 409
    assert result.json()["error"]["code"] == "connection_not_authorized"

    cid = connections.connect()
    bad_name = connections.call("GET", f"/connections/{cid}/objects/Account;DROP/fields")
    assert bad_name.status == 422
    assert bad_name.json()["error"]["fields"] == ["sobject"]
    missing = connections.call("GET", f"/connections/{cid}/objects/NoSuchThing__c/fields")
    assert missing.status == 404, missing.body


def _event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    return data


def test_sample_events_are_real_requests(connections: ConnectionsApi) -> None:
    handler = load_function("connections").lambda_handler
    names = sorted(p.stem for p in Path(ROOT / "events").glob("connections-*.json"))
    assert "connections-create" in names
    assert "connections-callback" in names

    created = handler(_event("connections-create"), lambda_context())
    assert created["statusCode"] == 201, created["body"]
    body = json.loads(created["body"])
    assert body["redirect_uri"] == "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1/oauth/callback"

    listed = handler(_event("connections-list"), lambda_context())
    assert listed["statusCode"] == 200
    assert [c["connection_id"] for c in json.loads(listed["body"])["connections"]] == [body["connection_id"]]

    for name in ("connections-get", "connections-delete", "connections-fields", "connections-reauthorize"):
        answer = handler(_event(name), lambda_context())
        assert answer["statusCode"] == 404, (name, answer["body"])
        assert json.loads(answer["body"])["error"]["code"] == "connection_not_found"

    for name in ("connections-callback", "connections-callback-denied"):
        page = handler(_event(name), lambda_context())
        assert page["statusCode"] == 400
        headers = {
            **(page.get("headers") or {}),
            **{k: v[-1] for k, v in (page.get("multiValueHeaders") or {}).items()},
        }
        assert headers["Content-Type"].startswith("text/html")
        assert 'data-outcome="state_invalid"' in page["body"]

    with_domain = handler(_event("connections-create-mydomain"), lambda_context())
    assert with_domain["statusCode"] == 201
    assert json.loads(with_domain["body"])["environment"] == "my_domain"
