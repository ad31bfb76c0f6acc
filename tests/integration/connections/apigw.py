"""API Gateway REST (payload 1.0) proxy events for the connections handler, as a deployed stage
sends them: ``path`` without the stage, ``requestContext.path`` with it, the execute-api domain."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fixtures.actions import FakeLambdaContext
from tests.fixtures.aws import TEST_TENANT

DOMAIN = "abc123defg.execute-api.us-east-1.amazonaws.com"
STAGE = "v1"
ROUTES = [
    ("POST", "/connections"),
    ("GET", "/connections"),
    ("GET", "/connections/{connection_id}"),
    ("DELETE", "/connections/{connection_id}"),
    ("POST", "/connections/{connection_id}/reauthorize"),
    ("GET", "/connections/{connection_id}/objects/{sobject}/fields"),
    ("GET", "/oauth/callback"),
    ("POST", "/connections/{connection_id}/subscriptions"),
    ("GET", "/connections/{connection_id}/subscriptions"),
    ("GET", "/connections/{connection_id}/subscriptions/{subscription_id}"),
    ("PATCH", "/connections/{connection_id}/subscriptions/{subscription_id}"),
    ("DELETE", "/connections/{connection_id}/subscriptions/{subscription_id}"),
    ("POST", "/connections/{connection_id}/subscriptions/{subscription_id}/sample"),
    ("GET", "/connections/{connection_id}/polling"),
    ("PUT", "/connections/{connection_id}/polling"),
]


def lambda_context() -> FakeLambdaContext:
    """What the Lambda runtime passes the connections function as ``context``."""
    return FakeLambdaContext(
        function_name="ConnectionsFunction",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:ConnectionsFunction",
        log_group_name="/aws/lambda/ConnectionsFunction",
        log_stream_name="2025/01/01/[$LATEST]0123456789abcdef",
    )


def _match(method: str, path: str) -> tuple[str, dict[str, str]]:
    parts = [p for p in path.split("/") if p]
    for route_method, template in ROUTES:
        tparts = [p for p in template.split("/") if p]
        if route_method != method or len(tparts) != len(parts):
            continue
        params: dict[str, str] = {}
        for t, p in zip(tparts, parts, strict=True):
            if t.startswith("{"):
                params[t[1:-1]] = p
            elif t != p:
                break
        else:
            return template, params
    return path, {}


def api_event(
    method: str,
    path_and_query: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    domain: str = DOMAIN,
    stage: str = STAGE,
    scheme: str = "https",
    iam: bool = True,
    user_arn: str = TEST_TENANT,
) -> dict[str, Any]:
    """The proxy event for ``method path?query`` (``path`` relative to the stage)."""
    split = urlsplit(path_and_query)
    path = split.path
    query = dict(parse_qsl(split.query, keep_blank_values=True)) or None
    resource, params = _match(method, path)
    all_headers = {
        "Host": domain,
        "X-Forwarded-Proto": scheme,
        "X-Forwarded-Port": "443" if scheme == "https" else "80",
        "User-Agent": "workflow-engine/1.0",
        **({"Content-Type": "application/json"} if body is not None else {}),
        **(headers or {}),
    }
    identity: dict[str, Any] = {"sourceIp": "127.0.0.1", "userAgent": "workflow-engine/1.0"}
    if iam:
        identity.update(
            accountId="123456789012",
            caller="AIDAEXAMPLE",
            userArn=user_arn,
            accessKey="AKIAEXAMPLE",
        )
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "requestId": str(uuid.uuid4()),
            "accountId": "123456789012",
            "apiId": domain.split(".", 1)[0],
            "identity": identity,
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": 0,
        },
        "body": json.dumps(body) if body is not None and not isinstance(body, str) else body,
        "isBase64Encoded": False,
    }
