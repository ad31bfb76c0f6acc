"""A client generated from ``GET /openapi.json`` by openapi-python-client (a dev dependency; it
generates offline) creates, finds, upserts and deletes an Account through the local API front on
loopback, and makes a server-to-server connection, and gets typed results back: the document is one
a generated client can live on."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from devstack.front import FrontServer
from sfconnector.catalog import DEMO_IDS

from tests.contract.conftest import CONNECTION_ID, ContractEnv, contract_gateway

PACKAGE = "sfconnector_client"


@pytest.fixture
def api_url(contract_env: ContractEnv) -> Iterator[str]:
    contract_env.fresh()
    front = FrontServer("127.0.0.1", 0, contract_gateway())
    front.start()
    try:
        yield f"http://127.0.0.1:{front.port}"
    finally:
        front.stop()


@pytest.fixture
def generated(api_url: str, tmp_path: Path) -> Iterator[Any]:
    """The client package, generated from the document the API serves, imported from tmp_path."""
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{api_url}/openapi.json").raise_for_status().content)
    config = tmp_path / "generator.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: the code is imported, not read
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document), "--meta", "none",
         "--output-path", str(tmp_path / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout  # nothing of the document was left out
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_a_generated_client_creates_finds_upserts_and_deletes_with_typed_results(
    generated: Any, api_url: str, contract_env: ContractEnv
) -> None:
    api = importlib.import_module(f"{PACKAGE}.api.accounts")
    models = importlib.import_module(f"{PACKAGE}.models")
    create, find, upsert, delete, get = (
        importlib.import_module(f"{api.__name__}.accounts_{name}")
        for name in ("create", "find", "upsert", "delete", "get")
    )
    client = generated.Client(base_url=api_url, raise_on_unexpected_status=True)

    created = create.sync(
        CONNECTION_ID,
        client=client,
        body=models.RecordFields.from_dict({"Name": "Generated Co", "Industry": "Energy"}),
    )
    assert isinstance(created, models.RecordResult), created
    assert created.id.startswith("001")
    assert created.record["Name"] == "Generated Co"

    found = find.sync(
        CONNECTION_ID,
        client=client,
        body=models.FindInput(criteria=models.FindInputCriteria.from_dict({"Name": "Generated Co"})),
    )
    assert isinstance(found, models.FindResult), found
    assert (found.found, found.match_count, found.id) == (True, 1, created.id)

    record = {"External_Id__c": "GEN-0001", "Name": "Generated Upsert"}
    body = models.UpsertInput(match_field="External_Id__c", record=models.RecordFields.from_dict(record))
    inserted = upsert.sync_detailed(CONNECTION_ID, client=client, body=body)
    assert inserted.status_code == 201
    assert isinstance(inserted.parsed, models.UpsertResult)
    assert inserted.parsed.created is True
    record["Industry"] = "Energy"
    again = upsert.sync(
        CONNECTION_ID,
        client=client,
        body=models.UpsertInput(match_field="External_Id__c", record=models.RecordFields.from_dict(record)),
    )
    assert isinstance(again, models.UpsertResult)
    assert (again.created, again.id, again.record["Industry"]) == (False, inserted.parsed.id, "Energy")

    deleted = delete.sync(CONNECTION_ID, created.id, client=client)
    assert isinstance(deleted, models.DeleteResult)
    assert (deleted.deleted, deleted.already_deleted, deleted.id) == (True, False, created.id)

    # Errors are typed too: the deleted record is a 404 in the API's error shape.
    gone = get.sync_detailed(CONNECTION_ID, created.id, client=client)
    assert gone.status_code == 404
    assert isinstance(gone.parsed, models.ErrorResponse)
    assert gone.parsed.error.code == "not_found"

    # Find many and batch writes (issue 20): typed per-record results and typed pages.
    batch = importlib.import_module(f"{api.__name__}.accounts_batch")
    query = importlib.import_module(f"{api.__name__}.accounts_query")
    records = [{"Name": f"Generated Batch {n}", "Industry": "Chemicals"} for n in range(3)]
    written = batch.sync(
        CONNECTION_ID,
        client=client,
        body=models.BatchCreate.from_dict({"operation": "create", "records": records}),
    )
    assert isinstance(written, models.BatchResult), written
    assert (written.succeeded, [r.index for r in written.results]) == (3, [0, 1, 2])
    ids = []
    page = query.sync(
        CONNECTION_ID,
        client=client,
        body=models.QueryInput.from_dict({"condition": "Name LIKE 'Generated Batch%'", "limit": 2}),
    )
    while isinstance(page, models.QueryPage):
        ids += [r["Id"] for r in page.records]
        if not isinstance(page.next_, str):
            break
        body = models.QueryInput.from_dict(
            {"condition": "Name LIKE 'Generated Batch%'", "limit": 2, "next": page.next_}
        )
        page = query.sync(CONNECTION_ID, client=client, body=body)
    assert sorted(ids) == sorted(r.id for r in written.results)
    # A server-to-server connection: the request is the flow's model of the union, the answer the
    # connected ConnectionView (not the web-server flow's StartedAuthorization).
    create_connection = importlib.import_module(f"{PACKAGE}.api.default.create_connection_connections_post")
    credentials = contract_env.server_to_server_credentials("client_credentials")
    request = models.ClientCredentialsConnectionRequest.from_dict(
        {"flow": "client_credentials", "name": "Generated integration", **credentials}
    )
    connected = create_connection.sync(client=client, body=request)
    assert isinstance(connected, models.ConnectionView), connected
    assert (connected.status, connected.flow) == ("connected", "client_credentials")


def test_a_generated_client_runs_a_bulk_job_with_typed_results(generated: Any, api_url: str) -> None:
    api = importlib.import_module(f"{PACKAGE}.api.bulk_jobs")
    models = importlib.import_module(f"{PACKAGE}.models")
    create, get, results = (
        importlib.import_module(f"{api.__name__}.bulk_{name}")
        for name in ("create_job", "get_job", "get_results")
    )
    client = generated.Client(base_url=api_url, raise_on_unexpected_status=True)
    body = models.BulkJobInput.from_dict(
        {
            "object": "Lead",
            "operation": "insert",
            "records": [{"LastName": "Generated", "Company": "Bulk Co"}],
        }
    )
    job = create.sync(CONNECTION_ID, client=client, body=body)
    assert isinstance(job, models.BulkJob), job
    assert job.id.startswith("750")
    state = get.sync(CONNECTION_ID, job.id, client=client)
    while not state.finished:
        state = get.sync(CONNECTION_ID, job.id, client=client)
    assert (state.state, state.records_processed, state.records_failed) == ("JobComplete", 1, 0)
    done = results.sync(CONNECTION_ID, job.id, "successful", client=client)
    assert isinstance(done, models.BulkResults)
    assert done.count == 1
    assert done.records[0].fields["LastName"] == "Generated"


def test_a_generated_client_converts_a_lead_and_pages_campaign_members(generated: Any, api_url: str) -> None:
    """Issue 19's routes through the generated client: their models and query parameters are typed."""
    models = importlib.import_module(f"{PACKAGE}.models")
    convert = importlib.import_module(f"{PACKAGE}.api.leads.leads_convert")
    add = importlib.import_module(f"{PACKAGE}.api.campaigns.campaigns_add_member")
    listing = importlib.import_module(f"{PACKAGE}.api.campaigns.campaigns_list_members")
    client = generated.Client(base_url=api_url, raise_on_unexpected_status=True)

    converted = convert.sync(
        CONNECTION_ID,
        DEMO_IDS["Lead"],
        client=client,
        body=models.ConvertLeadInput(
            converted_status="Closed - Converted", opportunity_name="Generated deal"
        ),
    )
    assert isinstance(converted, models.ConvertLeadResult), converted
    assert (converted.account_id[:3], converted.contact_id[:3], converted.opportunity_id[:3]) == (
        "001",
        "003",
        "006",
    )

    added = add.sync_detailed(
        CONNECTION_ID,
        DEMO_IDS["Campaign"],
        client=client,
        # "Exactly one of lead_id / contact_id" is a oneOf: the generator makes one model per branch.
        body=models.AddCampaignMemberInputType1.from_dict(
            {"contact_id": converted.contact_id, "status": "Responded"}
        ),
    )
    assert added.status_code == 201
    assert isinstance(added.parsed, models.CampaignMemberResult)
    assert added.parsed.created is True

    first = listing.sync(CONNECTION_ID, DEMO_IDS["Campaign"], client=client, limit=2)
    assert isinstance(first, models.CampaignMembersPage), first
    assert len(first.members) == 2
    assert isinstance(first.next_page_token, str)
    second = listing.sync(
        CONNECTION_ID, DEMO_IDS["Campaign"], client=client, limit=2, page_token=first.next_page_token
    )
    assert isinstance(second, models.CampaignMembersPage)
    assert {m["Id"] for m in first.members}.isdisjoint(m["Id"] for m in second.members)
