"""Tenant isolation on every route of the OpenAPI document: the demo connection owned by another
tenant is invisible to the caller, on each operation with a connection in its path (a route added
later is covered without touching this test), and answers exactly like a connection that does not
exist. The requests are the document's own examples, which succeed on the caller's own
connection (tests/contract/test_examples.py), through the devstack gateway and real handlers."""

from __future__ import annotations

from typing import Any

from sfconnector.api.meta import openapi_document
from sfconnector.runtime import reset_runtime

from tests.contract.conftest import API_APP, CONNECTION_ID, ContractEnv, examples_schema
from tests.fixtures.actions import seed_connection

OTHER_TENANT = "arn:aws:iam::210987654321:role/another-workflow-tenant"

schema = examples_schema()
schema = schema.include(path_regex=r"\{connection_id\}")


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    error: dict[str, Any] = body["error"]
    return {k: v for k, v in error.items() if k not in ("request_id", "message")}


@schema.parametrize()
def test_another_tenants_connection_answers_like_a_missing_one(case: Any, contract_env: ContractEnv) -> None:
    contract_env.fresh()
    seed_connection(contract_env.aws, contract_env.emulator, CONNECTION_ID, tenant_id=OTHER_TENANT)
    reset_runtime()
    calls_before = contract_env.emulator.api_calls()
    case.path_parameters["connection_id"] = CONNECTION_ID
    foreign = case.call()
    case.path_parameters["connection_id"] = "no-such-connection"
    missing = case.call()
    assert foreign.status_code == 404, (case.method, case.formatted_path, foreign.text[:500])
    assert _error(foreign) == _error(missing), (case.method, case.formatted_path)
    assert _error(foreign)["code"] == "connection_not_found"
    # Nothing of the other tenant's org was read or written.
    assert contract_env.emulator.api_calls() == calls_before


# The operations whose request the document gives no example of (schemathesis generates none for
# them above): a valid request each, so the ownership check, not the validation, answers.
_BODIES: dict[str, Any] = {
    "ReauthorizeRequest": {"redirect_uri": "https://workflows.example.com/oauth/callback"},
    "SubscriptionCreate": {"trigger": "leads.created"},
    "SubscriptionPatch": {"status": "paused"},
    "PollingSettingsInput": {"interval_minutes": 5},
    "RealtimeInput": {"enabled": True, "objects": ["Account"]},
}
_PATH_VALUES = {"sobject": "Account", "subscription_id": "DEMO"}


def _without_examples() -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, body) of every operation with a connection in its path that lacks an example."""
    from sfconnector.models.subscriptions import DEMO_SUBSCRIPTION_ID

    document = openapi_document()
    found: list[tuple[str, str, dict[str, Any] | None]] = []
    for path, operations in document["paths"].items():
        if "{connection_id}" not in path:
            continue
        for method, operation in operations.items():
            params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            unnamed = [
                p["name"]
                for p in params
                if p["name"] != "connection_id" and not p.get("schema", {}).get("examples")
            ]
            content = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
            body: dict[str, Any] | None = None
            if content is not None and not content.get("examples"):
                name = content["schema"]["$ref"].rsplit("/", 1)[-1]
                body = _BODIES[name]  # a KeyError: give the new operation's body an example or an entry
            elif (content is None and not unnamed) or content is not None:
                continue
            values = {**_PATH_VALUES, "subscription_id": DEMO_SUBSCRIPTION_ID}
            for param in params:
                name = param["name"]
                if name != "connection_id":
                    example = (param.get("schema", {}).get("examples") or [values.get(name)])[0]
                    path = path.replace("{" + name + "}", str(example))
            found.append((method.upper(), path, body))
    return found


def test_operations_without_examples_are_isolated_too(contract_env: ContractEnv) -> None:

    import httpx  # the gateway as a WSGI app, as a client sees it

    operations = _without_examples()
    assert operations, "every operation has examples: this test has nothing left to cover"
    client = httpx.Client(transport=httpx.WSGITransport(app=API_APP), base_url="http://api")
    for method, path, body in operations:
        contract_env.fresh()
        own = client.request(method, path.replace("{connection_id}", CONNECTION_ID), json=body)
        assert own.status_code < 400, (method, path, own.text[:300])  # the request itself is valid
        contract_env.fresh()
        seed_connection(contract_env.aws, contract_env.emulator, CONNECTION_ID, tenant_id=OTHER_TENANT)
        reset_runtime()
        foreign = client.request(method, path.replace("{connection_id}", CONNECTION_ID), json=body)
        missing = client.request(method, path.replace("{connection_id}", "no-such-connection"), json=body)
        assert foreign.status_code == 404, (method, path, foreign.text[:300])
        assert _error(foreign) == _error(missing), (method, path)


def _signed(tenant: Any, method: str, url: str, body: Any = None, *, secret: str | None = None) -> Any:
    """A request signed for ``execute-api`` with the tenant's key (as a SigV4 client sends it)."""
    import json

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = AWSRequest(method=method, url=url, data=data, headers=headers)
    credentials = Credentials(tenant.access_key_id, secret or tenant.secret_access_key)
    SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(request)
    return request.prepare()


def test_the_local_front_verifies_signatures_against_moto_iam_users(contract_env: ContractEnv) -> None:
    import boto3
    import httpx  # the gateway as a WSGI app, as a client sees it
    from devstack.sigv4 import KeyRing, SigV4Verifier, create_demo_tenants

    from tests.contract.conftest import contract_gateway

    contract_env.fresh()
    iam = boto3.client("iam", region_name=contract_env.aws.region)
    keys = KeyRing()
    alice, bob = create_demo_tenants(iam, keys)
    gateway = contract_gateway()
    gateway.verifier = SigV4Verifier(iam=iam, keys=keys, account_id="123456789012")
    client = httpx.Client(transport=httpx.WSGITransport(app=API_APP))
    base = "http://127.0.0.1:3000"

    def send(prepared: Any) -> httpx.Response:
        return client.request(
            prepared.method, prepared.url, headers=dict(prepared.headers), content=prepared.body
        )

    try:
        body = {
            "name": "Alice's org",
            "client_id": contract_env.emulator.client_id,
            "client_secret": "s3cr3t",
        }
        body["redirect_uri"] = "https://workflows.example.com/oauth/callback"
        created = send(_signed(alice, "POST", f"{base}/connections", body))
        assert created.status_code == 201, created.text
        cid = created.json()["connection_id"]

        def listed(tenant: Any) -> set[str]:
            answer = send(_signed(tenant, "GET", f"{base}/connections"))
            assert answer.status_code == 200, answer.text
            return {c["connection_id"] for c in answer.json()["connections"]}

        assert cid in listed(alice)
        assert cid not in listed(bob)
        assert CONNECTION_ID not in listed(alice)  # the unsigned (local developer) tenant's
        assert send(_signed(bob, "GET", f"{base}/connections/{cid}")).status_code == 404
        own = send(_signed(alice, "GET", f"{base}/connections/{cid}"))
        assert own.json()["tenant_id"] == alice.user_arn

        # A wrong secret: API Gateway's 403, in the API's error shape.
        forged = send(_signed(alice, "GET", f"{base}/connections", secret="not-the-secret"))
        assert forged.status_code == 403
        assert forged.json()["error"]["code"] == "INVALID_SIGNATURE"
        # Unsigned: the local developer, the default tenant.
        unsigned = client.get(f"{base}/connections")
        assert unsigned.status_code == 200
        assert cid not in {c["connection_id"] for c in unsigned.json()["connections"]}
    finally:
        gateway.verifier = None
