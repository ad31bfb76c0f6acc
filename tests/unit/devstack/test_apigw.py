"""API Gateway emulation: route choice, the proxy event's shape, and response conversion."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from devstack.apigw import (
    ApiContext,
    HttpRequest,
    MalformedResponseError,
    RouteTable,
    build_event,
    convert_response,
    media_type_matches,
)
from devstack.template import ApiSpec, AuthKind, RouteSpec


def _route(method: str, path: str, function: str = "Fn", auth: AuthKind = "AWS_IAM") -> RouteSpec:
    return RouteSpec(api_id="Api", path=path, method=method, function_id=function, event_name="E", auth=auth)


API = ApiSpec(logical_id="Api", stage_name="v1", binary_media_types=("application/octet-stream", "image/*"))
CONTEXT = ApiContext(api=API, api_id="abc123defg", account_id="123456789012")

TABLE = RouteTable(
    [
        _route("POST", "/connections/{cid}/{family}", "Create"),
        _route("GET", "/connections/{cid}/{family}/{id}", "Get"),
        _route("POST", "/connections/{cid}/leads/find", "FindLeads"),
        _route("POST", "/connections/{cid}/{family}/find", "Find"),
        _route("ANY", "/connections/{cid}/{family}/{id}", "AnyRecord"),
        _route("ANY", "/files/{proxy+}", "Files"),
        _route("GET", "/files/special", "Special"),
        _route("GET", "/", "Root"),
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "function", "params"),
    [
        ("POST", "/connections/c1/leads", "Create", {"cid": "c1", "family": "leads"}),
        ("POST", "/connections/c1/leads/find", "FindLeads", {"cid": "c1"}),  # static beats {family}
        ("POST", "/connections/c1/accounts/find", "Find", {"cid": "c1", "family": "accounts"}),
        ("GET", "/connections/c1/leads/00Q1", "Get", {"cid": "c1", "family": "leads", "id": "00Q1"}),
        ("PATCH", "/connections/c1/leads/00Q1", "AnyRecord", {"cid": "c1", "family": "leads", "id": "00Q1"}),
        ("GET", "/files/a/b/c.txt", "Files", {"proxy": "a/b/c.txt"}),
        ("GET", "/files/special", "Special", {}),  # static beats greedy
        ("POST", "/connections/c1/leads/", "Create", {"cid": "c1", "family": "leads"}),  # trailing slash
        ("GET", "/connections/c1/leads", "Create", None),  # GET on a POST-only resource
        ("GET", "/", "Root", {}),
    ],
)
def test_route_precedence(method: str, path: str, function: str, params: dict[str, str] | None) -> None:
    match = TABLE.match(method, path)
    if params is None:
        assert match is None  # GET on a POST-only resource
        return
    assert match is not None
    assert match.route.function_id == function
    assert match.path_parameters == params


def test_no_match_cases() -> None:
    assert TABLE.match("GET", "/nothing") is None
    assert TABLE.match("GET", "/files") is None  # {proxy+} needs at least one segment
    assert TABLE.match("DELETE", "/connections/c1/leads") is None


def test_conflicting_routes_are_reported() -> None:
    table = RouteTable(
        [_route("GET", "/a/{x}", "One"), _route("GET", "/a/{y}", "Two"), _route("POST", "/a/{x}")]
    )
    assert table.conflicts() == ["GET /a/{y}: One and Two"]


def _request(**overrides: object) -> HttpRequest:
    values: dict[str, object] = {
        "method": "POST",
        "target": "/connections/c%201/leads?fields=Id&fields=Name&flag&q=a%20b+c",
        "headers": [
            ("Host", "127.0.0.1:3000"),
            ("Content-Type", "application/json"),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
            ("User-Agent", "pytest"),
        ],
        "body": b'{"LastName": "Ng"}',
        "port": 3000,
    }
    values.update(overrides)
    return HttpRequest(**values)  # type: ignore[arg-type]


def test_event_has_api_gateway_rest_shape() -> None:
    request = _request()
    match = TABLE.match("POST", request.raw_path)
    assert match is not None
    now = datetime(2026, 3, 2, 8, 0, 1, tzinfo=UTC)
    event = build_event(request, match, CONTEXT, request_id="req-1", now=now)
    assert event["resource"] == "/connections/{cid}/{family}"
    # REST APIs pass the path and its parameters still percent-encoded.
    assert event["path"] == "/connections/c%201/leads"
    assert event["pathParameters"] == {"cid": "c%201", "family": "leads"}
    assert event["httpMethod"] == "POST"
    # Query values are decoded; a repeated key keeps its last value, multiValue... keeps all.
    assert event["queryStringParameters"] == {"fields": "Name", "flag": "", "q": "a b+c"}
    assert event["multiValueQueryStringParameters"] == {
        "fields": ["Id", "Name"],
        "flag": [""],
        "q": ["a b+c"],
    }
    assert event["headers"]["X-Multi"] == "two"
    assert event["multiValueHeaders"]["X-Multi"] == ["one", "two"]
    assert event["headers"]["X-Forwarded-Port"] == "3000"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert event["body"] == '{"LastName": "Ng"}'
    assert event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    ctx = event["requestContext"]
    assert ctx["stage"] == "v1"
    assert ctx["path"] == "/v1/connections/c%201/leads"  # the stage prefix, as on execute-api
    assert ctx["resourcePath"] == "/connections/{cid}/{family}"
    assert ctx["requestId"] == "req-1"
    assert ctx["apiId"] == "abc123defg"
    assert ctx["domainName"] == "127.0.0.1:3000"
    assert ctx["requestTimeEpoch"] == int(now.timestamp() * 1000)
    assert ctx["requestTime"] == "02/Mar/2026:08:00:01 +0000"
    # An IAM route reports the (unverified) local caller, as a signed request would.
    assert ctx["identity"]["userArn"].startswith("arn:aws:iam::")
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["identity"]["userAgent"] == "pytest"
    json.dumps(event)  # it is plain JSON


def test_event_for_public_route_and_stage_path() -> None:
    table = RouteTable([_route("GET", "/oauth/callback", "Cb", auth="NONE")])
    request = _request(method="GET", target="/v1/oauth/callback?code=x", body=b"")
    match = table.match("GET", "/oauth/callback")
    assert match is not None
    event = build_event(request, match, CONTEXT, request_id="r", path="/oauth/callback")
    assert event["path"] == "/oauth/callback"
    assert event["requestContext"]["path"] == "/v1/oauth/callback"
    assert event["pathParameters"] is None
    assert event["body"] is None
    assert event["requestContext"]["identity"]["userArn"] is None


def test_binary_bodies_are_base64_only_for_binary_media_types() -> None:
    blob = bytes(range(256))
    match = TABLE.match("POST", "/connections/c/leads")
    assert match is not None
    binary = build_event(
        _request(headers=[("Content-Type", "application/octet-stream")], body=blob),
        match,
        CONTEXT,
        request_id="r",
    )
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == blob
    image = build_event(
        _request(headers=[("Content-Type", "image/png")], body=blob), match, CONTEXT, request_id="r"
    )
    assert image["isBase64Encoded"] is True
    text = build_event(
        _request(headers=[("Content-Type", "text/plain")], body="héllo".encode()),
        match,
        CONTEXT,
        request_id="r",
    )
    assert text == {**text, "isBase64Encoded": False, "body": "héllo"}


def test_media_type_matching() -> None:
    assert media_type_matches("application/octet-stream; charset=x", ["application/octet-stream"])
    assert media_type_matches("image/jpeg", ["image/*"])
    assert media_type_matches("anything/else", ["*/*"])
    assert not media_type_matches("application/json", ["image/*"])
    assert not media_type_matches(None, ["*/*"])


def test_response_headers_merge_and_defaults() -> None:
    response = convert_response(
        {
            "statusCode": 201,
            "headers": {"X-One": "1", "Set-Cookie": "a=1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": '{"ok": true}',
        },
        request=_request(),
        api=API,
        request_id="req",
    )
    assert response.status == 201
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert response.header("X-One") == "1"
    assert response.header("Content-Type") == "application/json"  # API Gateway's default
    assert response.header("x-amzn-RequestId") == "req"
    assert response.body == b'{"ok": true}'


def test_base64_response_decoded_for_binary_types() -> None:
    payload = bytes(range(10))
    encoded = base64.b64encode(payload).decode()
    result = {
        "statusCode": 200,
        "headers": {"Content-Type": "application/octet-stream"},
        "body": encoded,
        "isBase64Encoded": True,
    }
    assert convert_response(result, request=_request(), api=API, request_id="r").body == payload
    # Without a binary media type configured, API Gateway passes the base64 text through.
    plain = ApiSpec(logical_id="Api", stage_name="v1")
    assert convert_response(result, request=_request(), api=plain, request_id="r").body == encoded.encode()


@pytest.mark.parametrize(
    "result",
    [
        None,
        "text",
        {"statusCode": "abc"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "unexpected": 1},
        {"statusCode": 200, "multiValueHeaders": {"A": "not-a-list"}},
    ],
)
def test_malformed_results_are_rejected(result: object) -> None:
    with pytest.raises(MalformedResponseError):
        convert_response(result, request=_request(), api=API, request_id="r")
