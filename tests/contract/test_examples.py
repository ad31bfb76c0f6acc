"""Every example in the OpenAPI document works against the demo org: each operation's examples
(request bodies, path parameters: records of the emulator's seed) go through the real handlers
and must succeed (2xx), with an answer that matches the documented response."""

from __future__ import annotations

from typing import Any

from schemathesis.specs.openapi.checks import ignored_auth

from tests.contract.conftest import CONNECTION_ID, ContractEnv, examples_schema

schema = examples_schema()
# The browser's landing page of the OAuth flow needs a live authorisation (state and code), which
# tests/integration/connections cover end to end.
schema = schema.exclude(path="/oauth/callback")


@schema.parametrize()
def test_every_example_in_the_document_succeeds_against_the_demo_org(
    case: Any, contract_env: ContractEnv
) -> None:
    contract_env.fresh()  # each example runs on the seed: the delete examples delete seed records
    if "connection_id" in (case.path_parameters or {}):
        case.path_parameters["connection_id"] = CONNECTION_ID  # a deployment's own connection
    flow = case.body.get("flow") if isinstance(case.body, dict) else None
    if case.path == "/connections" and flow in ("jwt_bearer", "client_credentials"):
        case.body = {**case.body, **contract_env.server_to_server_credentials(flow)}  # the org's own app
    response = case.call()
    assert 200 <= response.status_code < 300, (
        case.method,
        case.formatted_path,
        case.body,
        response.text[:800],
    )
    case.validate_response(response, excluded_checks=[ignored_auth])
