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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import boto3
import pytest
import schemathesis
from devstack.apigw import ApiContext, RouteTable
from devstack.front import Gateway, WsgiApp, wsgi_app
from devstack.lambdas import FunctionRuntime
from devstack.resources import local_api_id
from devstack.template import read_template
from sfconnector.api.meta import openapi_document
from sfconnector.models.subscriptions import DEMO_SUBSCRIPTION_ID, Subscription
from sfconnector.runtime import reset_runtime
from sfconnector.stores.subscriptions import SubscriptionRepository

from tests.fixtures.actions import seed_connection
from tests.fixtures.aws import AwsEnv, aws_environment, scheduler_environment
from tests.fixtures.emulator import EmulatorHandle, allow_emulator_origins

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


@dataclass(frozen=True)
class ContractEnv:
    aws: AwsEnv
    emulator: EmulatorHandle

    def fresh(self) -> None:
        """The demo org back to its seed (its tokens too), the connection seeded again, no cached
        client or describe."""
        self.emulator.reset()
        reset_runtime()
        seed_connection(self.aws, self.emulator, CONNECTION_ID)
        seed_demo_subscription(self.aws)


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


@pytest.fixture(scope="module")
def contract_env(sf_emulator_server: EmulatorHandle) -> Iterator[ContractEnv]:
    with pytest.MonkeyPatch.context() as monkeypatch, aws_environment(monkeypatch) as aws:
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        # The connections function manages poll schedules (the subscriptions routes need them).
        scheduler_environment(aws, monkeypatch)
        allow_emulator_origins(monkeypatch, sf_emulator_server)
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
