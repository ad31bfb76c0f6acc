"""The whole API in-process, as a deployed client sees it: the real template's routes, the devstack
gateway (API Gateway's routing, events and own answers) and the real function handlers, against
the emulator's demo org and moto.

* ``contract_gateway()``: the gateway (built once: reading the template and importing the 14
  functions is a cold start we pay once, like warm Lambda containers);
* ``API_APP``: that gateway as a WSGI app (what the fuzzer and the examples test call);
* ``contract_env`` (module fixture): moto and the emulator's demo org with a connection seeded
  (``CONNECTION_ID``), shared by a module's cases (a fresh moto per case would cost more than the
  case); ``contract_env.fresh()`` puts the demo org back to its seed and the connection back.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import boto3
import httpx
import pytest
import schemathesis
from devstack.apigw import ApiContext, RouteTable
from devstack.front import Gateway, WsgiApp, wsgi_app
from devstack.lambdas import FunctionRuntime
from devstack.resources import local_api_id
from devstack.template import read_template
from sfconnector.api.meta import openapi_document
from sfconnector.models.bulk import DEMO_BULK_JOB_ID
from sfconnector.models.subscriptions import DEMO_SUBSCRIPTION_ID, Subscription
from sfconnector.runtime import Runtime, reset_runtime, set_runtime
from sfconnector.stores.bulk_jobs import BulkJobRecord, BulkJobRepository
from sfconnector.stores.subscriptions import SubscriptionRepository

from tests.fixtures.actions import seed_connection
from tests.fixtures.aws import AwsEnv, aws_environment, scheduler_environment
from tests.fixtures.emulator import EmulatorHandle, allow_emulator_origins
from tests.fixtures.keys import key_pair

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
CONNECTION_ID = "conn-test"

RULES_BEYOND_THE_SCHEMA: dict[str, str] = {
    "validation_failed": "the org's describe: the field exists, is writable, the value has its type, "
    "length and picklist value; required fields; an 18-character id's checksum",
    "rejected_by_salesforce": "Salesforce's own rules (validation rules, references to records that "
    "must exist, duplicate rules...)",
    "invalid_input": "a value the service decodes (base64 content, upsert match field value, a find-many "
    "next token, a batch upsert's external_id_field)",
    "invalid_condition": "the find-all SOQL condition's grammar and its guard",
    "invalid_query": "the find-all query Salesforce refused",
    "forbidden_url": "an attachment URL must be a public https URL",
    "url_fetch_failed": "an attachment URL must answer",
    "idempotency_key_reused": "an Idempotency-Key is for one request body",
    "payload_too_large": "an attachment's size once decoded or fetched",
    "start_out_of_window": "a subscription's backfill start: at most 30 days back, not in the future",
    "sample_unavailable": "a subscription's trigger has no sample events yet",
    "invalid_private_key": "a JWT bearer connection's private key: a PEM RSA key of 2048 bits or more",
    "salesforce_grant_refused": "Salesforce's checks of a server-to-server grant (the Connected App, "
    "its certificate, the user's pre-authorisation, the Run As user)",
    "conversion_refused": "lead conversion: Salesforce's checks (records that exist, a contact of the "
    "given account)",
}
"""Error codes of schema-valid requests refused by a rule OpenAPI cannot express (docs/api.md)."""


@cache
def contract_gateway() -> Gateway:
    template = read_template(
        ROOT / "template.yaml", stack_name="sfconnector-test", region=REGION, account_id=ACCOUNT_ID
    )
    runtime = FunctionRuntime(
        functions=template.functions,
        # The functions read the process environment the ``aws`` fixture sets (moto's resources).
        base_environment=lambda spec: {},
        region=REGION,
        account_id=ACCOUNT_ID,
        on_error=lambda text: print(text),
    )
    apis = {
        api_id: ApiContext(api=api, api_id=local_api_id(api_id), account_id=ACCOUNT_ID)
        for api_id, api in template.apis.items()
    }
    return Gateway(routes=RouteTable(template.routes), runtime=runtime, apis=apis, log=lambda _: None)


API_APP: WsgiApp = wsgi_app(contract_gateway())


class SalesforceIsTheEmulator(httpx.HTTPTransport):
    """Every request to a host that is not loopback goes to the emulator instead. The fuzzer
    names any My Domain the document allows (``https://x.my.salesforce.com``), and a
    server-to-server connection's grant is sent at once: tests talk only to loopback."""

    def __init__(self, emulator_url: str) -> None:
        super().__init__()
        self._target = httpx.URL(emulator_url)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host not in ("127.0.0.1", "localhost", "::1"):
            request.url = request.url.copy_with(
                scheme=self._target.scheme, host=self._target.host, port=self._target.port
            )
            request.headers["Host"] = self._target.netloc.decode("ascii")
        return super().handle_request(request)


@cache
def _loopback_http(emulator_url: str) -> httpx.Client:
    return httpx.Client(transport=SalesforceIsTheEmulator(emulator_url), timeout=30)


@dataclass(frozen=True)
class ContractEnv:
    aws: AwsEnv
    emulator: EmulatorHandle

    def fresh(self) -> None:
        """The demo org back to its seed (its tokens too), the connection seeded again, no cached
        client or describe."""
        self.emulator.reset()
        reset_runtime()
        set_runtime(Runtime(http=_loopback_http(self.emulator.base_url)))
        seed_connection(self.aws, self.emulator, CONNECTION_ID)
        seed_demo_subscription(self.aws)
        seed_demo_bulk_job(self.aws, self.emulator)

    def server_to_server_credentials(self, flow: str) -> dict[str, str]:
        """What a POST /connections example of a server-to-server ``flow`` needs to succeed against
        the demo org (as a deployment fills in its own): the demo Connected App's key (and secret),
        its certificate uploaded with the integration user pre-authorised, the emulator as the
        login host."""
        app = self.emulator.server.org.connected_app
        users = {u["id"]: u["username"] for u in self.emulator.users()}
        integration = str(users[self.emulator.integration_user_id])
        credentials = {"client_id": app.client_id, "environment": self.emulator.base_url}
        if flow == "client_credentials":
            return {**credentials, "client_secret": app.client_secret}
        keys = key_pair()
        self.emulator.admin(
            "PATCH",
            f"apps/{app.client_id}",
            {"certificate": keys.certificate, "jwt_usernames": [integration]},
        )
        return {**credentials, "username": integration, "private_key": keys.private_key}


def examples_schema() -> schemathesis.schemas.BaseSchema:
    """The API's OpenAPI document as schemathesis runs it on its documented examples only
    (positive), against the contract gateway."""
    config = schemathesis.Config.from_dict(
        {
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": False},
                "fuzzing": {"enabled": False},
                "stateful": {"enabled": False},
            },
            "generation": {"mode": "positive"},
        }
    )
    schema = schemathesis.openapi.from_dict(openapi_document(), config=config)
    schema.app = API_APP
    return schema


def seed_demo_subscription(aws: AwsEnv) -> None:
    """The subscription the document's examples name (``DEMO_SUBSCRIPTION_ID``), on the demo
    connection, as the subscriptions API stores one."""
    SubscriptionRepository(boto3.client("dynamodb", region_name=aws.region), aws.table_name).put(
        Subscription(
            subscription_id=DEMO_SUBSCRIPTION_ID,
            connection_id=CONNECTION_ID,
            trigger="leads.created",
            kind="created",
            family="leads",
            sobject="Lead",
            fields=["Id", "Name", "Email"],
            start_at=datetime.now(UTC).replace(microsecond=0),
        )
    )


def seed_demo_bulk_job(aws: AwsEnv, emulator: EmulatorHandle) -> None:
    """The bulk job the document's examples name (``DEMO_BULK_JOB_ID``: the first job the reset org
    mints), finished, and remembered for the demo connection as the bulk function stores one."""
    with emulator.rest_client() as sf:
        job = sf.post("/jobs/ingest", json={"object": "Lead", "operation": "insert"}).json()
        assert job["id"] == DEMO_BULK_JOB_ID, job
        sf.put(f"/jobs/ingest/{job['id']}/batches", content=b"LastName,Company\nDemo,Bulk Co\n")
        sf.patch(f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
        while sf.get(f"/jobs/ingest/{job['id']}").json()["state"] != "JobComplete":
            time.sleep(0.005)
    BulkJobRepository(boto3.client("dynamodb", region_name=aws.region), aws.table_name).put(
        BulkJobRecord(
            CONNECTION_ID, DEMO_BULK_JOB_ID, "ingest", "Lead", "insert", created_at=job["createdDate"]
        )
    )


@pytest.fixture(scope="module")
def contract_env(sf_emulator_server: EmulatorHandle) -> Iterator[ContractEnv]:
    with pytest.MonkeyPatch.context() as monkeypatch, aws_environment(monkeypatch) as aws:
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        # The connections function manages poll schedules (the subscriptions routes need them).
        scheduler_environment(aws, monkeypatch)
        allow_emulator_origins(monkeypatch, sf_emulator_server)
        # The emulator plays login.salesforce.com (a JWT bearer assertion's audience).
        monkeypatch.setenv("SF_LOGIN_URL_PRODUCTION", sf_emulator_server.base_url)
        # /connections/{id}/realtime: a relay queue; the demo org's relay reaches no AWS here, so a
        # PUT answers at once with the association pending (tests/integration cover the rest).
        monkeypatch.setenv("RELAY_QUEUE_ARN", f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:sfconnector-test-relay")
        monkeypatch.setenv("REALTIME_SOURCE_WAIT_SECONDS", "0")
        env = ContractEnv(aws, sf_emulator_server)
        env.fresh()
        try:
            yield env
        finally:
            reset_runtime()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fuzz run's figures (cases, statuses, failures by check), when it ran."""
    fuzz = sys.modules.get("tests.contract.test_fuzz")
    tally = getattr(fuzz, "TALLY", None)
    if tally is not None and tally.cases:
        terminalreporter.write_line(tally.summary())
