"""The HTTP front over real sockets: routing to functions, API Gateway's own answers, limits."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from devstack.apigw import ApiContext, RouteTable
from devstack.front import FrontServer, Gateway, loggable_target
from devstack.lambdas import FunctionRuntime
from devstack.template import ApiSpec, RouteSpec

from tests.unit.devstack.conftest import write_function

ECHO = """
    import base64, json

    def lambda_handler(event, context):
        if event["queryStringParameters"] and "binary" in event["queryStringParameters"]:
            return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                    "body": base64.b64encode(b"\\x00\\x01\\xff").decode(), "isBase64Encoded": True}
        return {"statusCode": 200, "multiValueHeaders": {"X-Seen": ["a", "b"]}, "body": json.dumps(event)}
"""

BROKEN = """
    def lambda_handler(event, context):
        if event["httpMethod"] == "DELETE":
            return {"statusCode": 200, "body": {"not": "a string"}}
        raise RuntimeError("kaboom")
"""

SLOW = """
    import time
    def lambda_handler(event, context):
        time.sleep(1.5)
        return {"statusCode": 200, "body": "late"}
"""


def _route(method: str, path: str, function: str) -> RouteSpec:
    return RouteSpec(
        api_id="Api", path=path, method=method, function_id=function, event_name="E", auth="AWS_IAM"
    )


@pytest.fixture
def front(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    specs = [
        write_function(tmp_path, "Echo", ECHO),
        write_function(tmp_path, "Broken", BROKEN),
        write_function(tmp_path, "Slow", SLOW, timeout=0.3),
        write_function(tmp_path, "SlowButLong", SLOW, timeout=60),
    ]
    runtime = FunctionRuntime(
        functions={s.logical_id: s for s in specs},
        base_environment=lambda spec: {},
        region="us-east-1",
        account_id="123456789012",
        on_error=lambda _: None,
    )
    api = ApiSpec(logical_id="Api", stage_name="v1", binary_media_types=("application/octet-stream",))
    lines: list[str] = []
    gateway = Gateway(
        routes=RouteTable(
            [
                _route("ANY", "/echo/{proxy+}", "Echo"),
                _route("ANY", "/broken", "Broken"),
                _route("GET", "/slow", "Slow"),
                _route("GET", "/slow-long", "SlowButLong"),
            ]
        ),
        runtime=runtime,
        apis={"Api": ApiContext(api=api, api_id="abcdefghij", account_id="123456789012")},
        log=lines.append,
        integration_timeout_s=0.5,  # stands in for API Gateway's 29 s
    )
    gateway.admin["health"] = lambda _: {"status": "ready"}
    server = FrontServer("127.0.0.1", 0, gateway)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", lines
    finally:
        server.stop()


def test_request_reaches_the_function_as_a_proxy_event(front: tuple[str, list[str]]) -> None:
    url, lines = front
    response = httpx.post(f"{url}/echo/a/b?x=1", json={"k": "v"}, headers={"X-Trace": "t"})
    assert response.status_code == 200
    event = response.json()
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["body"] == '{"k":"v"}'
    assert event["headers"]["X-Trace"] == "t"
    assert event["requestContext"]["path"] == "/v1/echo/a/b"
    assert response.headers.get_list("X-Seen") == ["a", "b"]
    assert response.headers["x-amzn-RequestId"] == event["requestContext"]["requestId"]
    assert "POST /echo/a/b?x=1 -> Echo 200" in lines[-1]


def test_stage_prefixed_url_works_like_the_deployed_one(front: tuple[str, list[str]]) -> None:
    url, _ = front
    event = httpx.get(f"{url}/v1/echo/z").json()
    assert event["path"] == "/echo/z"
    assert event["requestContext"]["path"] == "/v1/echo/z"


def test_binary_request_and_response(front: tuple[str, list[str]]) -> None:
    url, _ = front
    blob = bytes(range(256))
    event = httpx.post(
        f"{url}/echo/blob", content=blob, headers={"Content-Type": "application/octet-stream"}
    ).json()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == blob
    binary = httpx.get(f"{url}/echo/file?binary=1", headers={"Accept": "application/octet-stream"})
    assert binary.content == b"\x00\x01\xff"


def test_chunked_request_body_is_read(front: tuple[str, list[str]]) -> None:
    url, _ = front

    def chunks() -> Iterator[bytes]:
        yield b'{"part": '
        yield b'"one"}'

    event = httpx.post(
        f"{url}/echo/chunked", content=chunks(), headers={"Content-Type": "application/json"}
    ).json()
    assert event["body"] == '{"part": "one"}'


def test_gateway_answers_like_api_gateway(front: tuple[str, list[str]]) -> None:
    url, _ = front
    missing = httpx.get(f"{url}/nowhere")
    assert missing.status_code == 403
    # In the API's error shape, as template.yaml's GatewayResponses make API Gateway answer.
    assert missing.json() == _gateway_error("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
    assert missing.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    crashed = httpx.get(f"{url}/broken")
    assert (crashed.status_code, crashed.json()) == (
        502,
        _gateway_error("INTEGRATION_FAILURE", "Internal server error"),
    )
    malformed = httpx.delete(f"{url}/broken")
    assert malformed.status_code == 502
    # Function Timeout below the integration timeout: Lambda fails, API Gateway says 502.
    assert httpx.get(f"{url}/slow").status_code == 502
    # Function Timeout above it: API Gateway gives up first with 504.
    late = httpx.get(f"{url}/slow-long")
    assert (late.status_code, late.json()["error"]["message"]) == (504, "Endpoint request timed out")


def _gateway_error(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "fields": [], "salesforce": []}}


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW"])
def test_methods_api_gateway_does_not_route_get_the_json_error_never_html(
    front: tuple[str, list[str]], method: str
) -> None:
    url, _ = front
    # /echo/{proxy+} is an ANY route: ANY is API Gateway's seven methods, never TRACE & co.
    response = httpx.request(method, f"{url}/echo/a")
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == _gateway_error("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")


def test_over_long_urls_are_a_json_414(front: tuple[str, list[str]]) -> None:
    url, _ = front
    assert httpx.get(f"{url}/echo/a?q={'x' * 9_000}").status_code == 200  # within API Gateway's limit
    # The signed method ARN of an IAM route (the path, not the query) is limited to 1,600 bytes.
    assert httpx.get(f"{url}/echo/{'a' * 1_500}").status_code == 200
    assert httpx.get(f"{url}/echo/{'a' * 1_600}").status_code == 414
    long_query = httpx.get(f"{url}/echo/a?q={'x' * 10_300}")
    assert long_query.status_code == 414
    assert long_query.json() == _gateway_error("REQUEST_URI_TOO_LONG", "Request-URI Too Long")
    # Beyond what http.server reads (64 KiB request line): still JSON, not its HTML page.
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", f"/echo/a?q={'x' * 70_000}")
        huge = connection.getresponse()
        assert (huge.status, huge.getheader("Content-Type")) == (414, "application/json")
        assert json.loads(huge.read())["error"]["code"] == "REQUEST_URI_TOO_LONG"
    finally:
        connection.close()


def test_oversized_request_is_refused(front: tuple[str, list[str]]) -> None:
    url, _ = front
    response = httpx.post(f"{url}/echo/big", content=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413


def test_admin_endpoints_and_keep_alive(front: tuple[str, list[str]]) -> None:
    url, _ = front
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        for _ in range(2):  # two requests on one connection
            connection.request("GET", "/__devstack__/health")
            response = connection.getresponse()
            assert json.loads(response.read()) == {"status": "ready"}
        connection.request("GET", "/__devstack__/nothing")
        assert connection.getresponse().status == 404
    finally:
        connection.close()


def test_access_log_masks_secrets_in_query_strings() -> None:
    assert loggable_target("/oauth/callback?code=abc&state=xyz&lang=en") == (
        "/oauth/callback?code=***&state=***&lang=en"
    )
    assert (
        loggable_target("/x?access_token=t&X-Amz-Signature=s&flag")
        == "/x?access_token=***&X-Amz-Signature=***&flag"
    )
    assert loggable_target("/plain") == "/plain"
