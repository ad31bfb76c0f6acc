"""The floor of a cold start on this stack: a hand-written Powertools function doing the same
first request as a family function's create, with nothing of the connector.

It imports only the bare stack (boto3, httpx, pydantic, Powertools), wraps the handler with the
same Logger, Tracer (same patched modules) and Metrics, validates the body with a pydantic model
(``enable_validation=True``), and makes the same calls: the connection's secret from Secrets
Manager, the sObject's describe and a Composite (create + read back) on Salesforce over one httpx
client, the org's API usage written to DynamoDB, one metric. It skips what a production connector
must do (field checks against the describe, token refresh, error mapping, idempotency), so it is
a lower bound, not a competitor. ``bench/bench_cold_import.py`` measures it beside the functions.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import httpx
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, RootModel

API_VERSION = "v62.0"

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "httpx"))
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)
_clients: dict[str, Any] = {}


class Fields(RootModel[dict[str, str | bool | int | float | None]]):
    pass


class Created(BaseModel):
    id: str
    record: dict[str, Any]


def _client(name: str) -> Any:
    if name not in _clients:
        factory: Any = boto3.client
        _clients[name] = httpx.Client(timeout=20) if name == "http" else factory(name)
    return _clients[name]


@app.post("/connections/<connection_id>/accounts")
def create(connection_id: str, body: Fields) -> Response[Created]:
    secret_id = os.environ["SECRET_PREFIX"] + connection_id
    secret = json.loads(_client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    http: httpx.Client = _client("http")
    headers = {"Authorization": f"Bearer {secret['access_token']}"}
    path = f"/services/data/{API_VERSION}"
    base = f"{secret['instance_url']}{path}"
    describe = http.get(f"{base}/sobjects/Account/describe", headers=headers)
    describe.raise_for_status()
    known = {field["name"] for field in describe.json()["fields"]}
    record = {name: value for name, value in body.root.items() if name in known}
    composite = http.post(
        f"{base}/composite",
        headers=headers,
        json={
            "allOrNone": True,
            "compositeRequest": [
                {"method": "POST", "url": f"{path}/sobjects/Account", "referenceId": "w", "body": record},
                {"method": "GET", "url": f"{path}/sobjects/Account/@{{w.id}}", "referenceId": "r"},
            ],
        },
    )
    composite.raise_for_status()
    read = composite.json()["compositeResponse"][1]["body"]
    _client("dynamodb").update_item(
        TableName=os.environ["TABLE_NAME"],
        Key={"pk": {"S": f"CONNECTION#{connection_id}"}, "sk": {"S": "META"}},
        UpdateExpression="SET api_usage = :u",
        ExpressionAttributeValues={":u": {"S": composite.headers.get("Sforce-Limit-Info", "")}},
    )
    metrics.add_metric(name="SalesforceApiCalls", unit=MetricUnit.Count, value=2)
    return Response(201, "application/json", Created(id=read["Id"], record=read))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
