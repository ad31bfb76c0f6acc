"""The attachments family end to end: the function's Lambda handler, driven by API Gateway events,
talks to the Salesforce emulator over HTTP, with AWS from moto (connection secret, state table,
payload bucket). Every action's Salesforce API calls are counted by the emulator.

URL downloads go to a real HTTP server on 127.0.0.1 with the test-only loopback allowance; the
forbidden-URL tests use the production settings plus a resolver and a transport that record and
refuse, so no packet leaves the machine.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import pytest
import requests
from pydantic import SecretStr
from sfconnector.actions.attachments import ATTACHMENT_FIELDS, AttachmentSettings, decode_base64
from sfconnector.actions.errors import InvalidInputError
from sfconnector.models.tenancy import tenant_key
from sfconnector.runtime import get_runtime, reset_runtime
from sfconnector.salesforce.ids import to_18
from sfconnector.staging import LAMBDA_RESPONSE_LIMIT, MAX_INLINE_BYTES
from sfconnector.stores.connections import ConnectionRecord
from sfconnector.stores.tokens import ConnectionSecret
from sfconnector.urlfetch import PayloadTooLargeError, UrlFetcher, UrlFetchSettings

from tests.fixtures.actions import api_gateway_event, load_function
from tests.fixtures.aws import TEST_TENANT, AwsEnv
from tests.fixtures.emulator import EmulatorHandle

ROOT = Path(__file__).resolve().parents[2]
CONNECTION = "conn-attachments"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF"


# ----------------------------------------------------------------------------------- harness


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: str

    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def error(self) -> dict[str, Any]:
        body: dict[str, Any] = self.json()["error"]
        return body

    @property
    def api_calls(self) -> int | None:
        value = self.headers.get("X-Salesforce-Api-Calls")
        return None if value is None else int(value)


class _Context:
    function_name = "AttachmentsFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AttachmentsFunction"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@dataclass
class AttachmentsApi:
    emulator: EmulatorHandle
    aws: AwsEnv
    handler: Callable[[dict[str, Any], Any], dict[str, Any]]

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
        route = f"/connections/{CONNECTION}/attachments{path}"
        event = api_gateway_event(method, route, body, headers=headers)
        response = self.handler(event, _Context())
        self.last_size = len(json.dumps(response))
        headers_out = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
        for k, values in (response.get("multiValueHeaders") or {}).items():
            headers_out.setdefault(str(k), str(values[-1]))
        return Answer(int(response["statusCode"]), headers_out, str(response.get("body") or ""))

    def feed_comment(self, feed_item_id: str, body: Any) -> Answer:
        return self.call("POST", f"/feed_items/{feed_item_id}/comments", body)

    def insert(self, sobject: str, fields: dict[str, Any]) -> str:
        return str(self.emulator.dml("insert", sobject, fields)["id"])

    def account(self, name: str = "Acme") -> str:
        return self.insert("Account", {"Name": name})

    def attachments_of(self, parent_id: str) -> list[dict[str, Any]]:
        with self.emulator.rest_client() as rest:
            q = f"SELECT Id, Name FROM Attachment WHERE ParentId = '{parent_id}'"  # noqa: S608 - a test id
            return list(rest.get("/query", params={"q": q}).json()["records"])

    def body_of(self, attachment_id: str) -> bytes:
        with self.emulator.rest_client() as rest:
            return rest.get(f"/sobjects/Attachment/{attachment_id}/Body").content


@pytest.fixture
def api(
    aws: AwsEnv, sf_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AttachmentsApi]:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "salesforce-connector")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SalesforceConnector")
    reset_runtime()
    runtime = get_runtime()
    minted = sf_emulator.mint_token()
    runtime.token_store.put(
        CONNECTION,
        ConnectionSecret(
            client_id=sf_emulator.client_id,
            client_secret=SecretStr(sf_emulator.client_secret),
            refresh_token=SecretStr(minted["refresh_token"]),
            access_token=SecretStr(minted["access_token"]),
            instance_url=minted["instance_url"],
            login_url=sf_emulator.login_url,
        ),
        tenant_id=TEST_TENANT,
    )
    runtime.connections.create(
        ConnectionRecord(
            connection_id=CONNECTION,
            name="Attachments test org",
            status="connected",
            login_url=sf_emulator.login_url,
            instance_url=minted["instance_url"],
            org_id=sf_emulator.org_id,
            tenant_id=TEST_TENANT,
        )
    )
    handler = load_function("attachments").lambda_handler
    try:
        yield AttachmentsApi(sf_emulator, aws, handler)
    finally:
        reset_runtime()


def allow_loopback_downloads(**overrides: Any) -> None:
    """The test-only fetcher: http and 127.0.0.1 allowed (never in production)."""
    settings = UrlFetchSettings(allow_http=True, allow_loopback_for_tests=True, total_timeout=10, **overrides)
    get_runtime().install(url_fetcher=UrlFetcher(settings))


class _Files(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        if self.path.startswith("/files/report.pdf"):
            body, headers = (
                PDF,
                {"Content-Type": "application/pdf", "Content-Disposition": 'inline; filename="r.pdf"'},
            )
        elif self.path == "/files/big.bin":
            body, headers = b"B" * 20_000, {"Content-Type": "application/octet-stream"}
        elif self.path == "/redirect-to-metadata":
            body, headers = b"", {"Location": "http://169.254.169.254/latest/meta-data/iam/"}
            self.send_response(302)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        else:
            body, headers = b"missing", {"Content-Type": "text/plain"}
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def file_server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler: type[_Files] = type("Files", (_Files,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ------------------------------------------------------------------------------- happy paths


def test_add_from_base64_list_and_get_content_round_trip(api: AttachmentsApi) -> None:
    account = api.account()
    before = api.emulator.api_calls()

    added = api.call(
        "POST",
        "",
        {
            "parent_id": account,
            "name": "Q3 report.pdf",
            "content_base64": base64.b64encode(PDF).decode(),
            "description": "Quarterly report",
            "store_as": "attachment",
        },
    )

    assert added.status == 201, added.raw
    assert api.emulator.api_calls() - before == 1  # create + read back in one composite
    assert added.api_calls == 1
    result = added.json()
    record = result["record"]
    assert result["id"] == record["Id"]
    assert record["Id"].startswith("00P")
    assert record["ParentId"] == account
    assert record["Name"] == "Q3 report.pdf"
    assert record["ContentType"] == "application/pdf"  # guessed from the name
    assert record["BodyLength"] == len(PDF)
    assert record["Description"] == "Quarterly report"
    assert record["IsPrivate"] is False
    assert "Body" not in record  # never echoed back: it can be 25 MB
    assert set(record) - {"attributes"} == set(ATTACHMENT_FIELDS)
    assert api.body_of(record["Id"]) == PDF

    second = api.call(
        "POST",
        "",
        {"parent_id": account, "name": "notes.txt", "content_base64": "aGk=", "store_as": "attachment"},
    )
    assert second.status == 201

    before = api.emulator.api_calls()
    listed = api.call("GET", f"/parents/{account}")
    assert listed.status == 200, listed.raw
    assert api.emulator.api_calls() - before == 1
    assert listed.json() == {
        "parent_id": account,
        "attachment_ids": [record["Id"], second.json()["id"]],
        "count": 2,
        "file_ids": [],
    }

    before = api.emulator.api_calls()
    content = api.call("GET", f"/{record['Id']}/content")
    assert content.status == 200, content.raw
    assert api.emulator.api_calls() - before == 2  # metadata, then the binary Body (no composite for blobs)
    got = content.json()
    assert base64.b64decode(got["content_base64"]) == PDF
    assert got["name"] == "Q3 report.pdf"
    assert got["content_type"] == "application/pdf"
    assert got["size"] == len(PDF)
    assert got["download_url"] is None


def test_15_character_ids_are_accepted(api: AttachmentsApi) -> None:
    account = api.account()
    body = {"parent_id": account[:15], "name": "a.txt", "content_base64": "YQ==", "store_as": "attachment"}
    added = api.call("POST", "", body)
    assert added.status == 201, added.raw
    assert api.call("GET", f"/parents/{account[:15]}").json()["attachment_ids"] == [added.json()["id"]]
    assert api.call("GET", f"/{added.json()['id'][:15]}/content").json()["content_base64"] == "YQ=="


def test_add_stores_a_salesforce_file_when_the_org_has_files(api: AttachmentsApi) -> None:
    """Issue 19: without store_as, an org with Files gets a file (it shows in the record's Files
    list), detected from ContentVersion's cached describe; "Get Attachment Content" reads it back."""
    from sfconnector.salesforce.client import default_describe_cache

    default_describe_cache().clear()
    account = api.account()
    before = api.emulator.api_calls()
    added = api.call("POST", "", {"parent_id": account, "name": "plan.txt", "content_base64": "cGxhbg=="})
    assert added.status == 201, added.raw
    assert api.emulator.api_calls() - before == 2  # the describe (then cached) and one composite
    record = added.json()["record"]
    assert added.json()["id"].startswith("068")
    assert record["FirstPublishLocationId"] == account
    assert record["ContentDocumentLinkId"].startswith("06A")
    assert api.attachments_of(account) == []
    before = api.emulator.api_calls()
    again = api.call("POST", "", {"parent_id": account, "name": "b.txt", "content_base64": "Yg=="})
    assert again.status == 201, again.raw
    assert api.emulator.api_calls() - before == 1  # the describe came from the cache
    got = api.call("GET", f"/{added.json()['id']}/content")
    assert got.status == 200, got.raw
    assert got.json()["content_base64"] == "cGxhbg=="
    # "Get Attachment IDs" sees the record's files (issue 19), still in one call.
    before = api.emulator.api_calls()
    listed = api.call("GET", f"/parents/{account}").json()
    assert api.emulator.api_calls() - before == 1
    assert listed["attachment_ids"] == []
    assert listed["file_ids"] == [record["ContentDocumentId"], again.json()["record"]["ContentDocumentId"]]
    by_document = api.call("GET", f"/{listed['file_ids'][0]}/content").json()
    assert by_document["content_base64"] == "cGxhbg=="
    assert got.json()["content_type"] == "text/plain"
    # A private attachment has no file equivalent: it stays an Attachment.
    private = api.call(
        "POST", "", {"parent_id": account, "name": "p.txt", "content_base64": "cA==", "is_private": True}
    )
    assert private.json()["id"].startswith("00P")


def test_store_as_file_explicitly_and_an_org_without_files(api: AttachmentsApi) -> None:
    account = api.account()
    filed = api.call(
        "POST", "", {"parent_id": account, "name": "f.txt", "content_base64": "Zg==", "store_as": "file"}
    )
    assert filed.status == 201, filed.raw
    assert filed.json()["id"].startswith("068")
    bad = api.call(
        "POST", "", {"parent_id": account, "name": "f.txt", "content_base64": "Zg==", "store_as": "doc"}
    )
    assert bad.status == 422
    assert "store_as" in bad.error["fields"][0]


def test_list_ids_of_a_record_without_attachments_is_empty(api: AttachmentsApi) -> None:
    account = api.account()
    listed = api.call("GET", f"/parents/{account}")
    assert listed.status == 200
    assert listed.json() == {"parent_id": account, "attachment_ids": [], "count": 0, "file_ids": []}


def test_list_ids_follows_every_page(api: AttachmentsApi) -> None:
    account = api.account()
    # 2,001 attachments: one more than a query page holds.
    with api.emulator.rest_client() as rest:
        for start in range(0, 2001, 200):
            batch = [
                {
                    "attributes": {"type": "Attachment"},
                    "ParentId": account,
                    "Name": f"f{i}.txt",
                    "Body": "eA==",
                }
                for i in range(start, min(start + 200, 2001))
            ]
            answer = rest.post("/composite/sobjects", json={"allOrNone": True, "records": batch})
            assert answer.status_code == 200, answer.text
    before = api.emulator.api_calls()

    listed = api.call("GET", f"/parents/{account}")

    assert listed.status == 200
    ids = listed.json()["attachment_ids"]
    assert len(ids) == 2001 == len(set(ids))
    assert api.emulator.api_calls() - before == 2  # the composite, then the second page


def test_add_from_a_url(api: AttachmentsApi, file_server: tuple[str, list[str]]) -> None:
    base, seen = file_server
    allow_loopback_downloads()
    account = api.account()
    before = api.emulator.api_calls()

    added = api.call(
        "POST",
        "",
        {
            "parent_id": account,
            "name": "report.pdf",
            "url": f"{base}/files/report.pdf?sig=abc",
            "store_as": "attachment",
        },
    )

    assert added.status == 201, added.raw
    assert api.emulator.api_calls() - before == 1
    record = added.json()["record"]
    assert record["Name"] == "report.pdf"  # the caller's name wins over the server's
    assert record["ContentType"] == "application/pdf"  # from the response header
    assert record["BodyLength"] == len(PDF)
    assert api.body_of(record["Id"]) == PDF
    assert seen == ["/files/report.pdf?sig=abc"]


def test_add_honours_an_explicit_content_type_and_privacy(api: AttachmentsApi) -> None:
    account = api.account()
    added = api.call(
        "POST",
        "",
        {
            "parent_id": account,
            "name": "data",
            "content_base64": "data:text/csv;base64,YSxiCjEsMgo=",
            "content_type": "text/csv",
            "is_private": True,
        },
    )
    assert added.status == 201, added.raw
    record = added.json()["record"]
    assert record["ContentType"] == "text/csv"
    assert record["IsPrivate"] is True
    assert api.body_of(record["Id"]) == b"a,b\n1,2\n"


def test_idempotency_key_makes_add_safe_to_retry(api: AttachmentsApi) -> None:
    account = api.account()
    body = {"parent_id": account, "name": "once.txt", "content_base64": "b25jZQ==", "store_as": "attachment"}
    first = api.call("POST", "", body, {"Idempotency-Key": "add-once-1"})
    second = api.call("POST", "", body, {"Idempotency-Key": "add-once-1"})
    assert first.status == second.status == 201
    assert first.json()["id"] == second.json()["id"]
    assert len(api.attachments_of(account)) == 1


def test_big_content_is_staged_in_s3_with_a_presigned_url(api: AttachmentsApi) -> None:
    get_runtime().install(attachment_inline_limit=1024)
    account = api.account()
    content = bytes(range(256)) * 20  # 5,120 bytes: over the (lowered) inline limit
    attachment = api.insert(
        "Attachment",
        {
            "ParentId": account,
            "Name": "big.bin",
            "ContentType": "application/zip",
            "Body": base64.b64encode(content).decode(),
        },
    )

    answer = api.call("GET", f"/{attachment}/content")

    assert answer.status == 200, answer.raw
    got = answer.json()
    assert got["content_base64"] is None
    assert got["size"] == len(content)
    assert got["name"] == "big.bin"
    assert got["content_type"] == "application/zip"
    assert got["download_url_expires_at"].endswith("Z")
    assert "X-Amz-Expires=900" in got["download_url"]
    # Under the connection's tenant's prefix (percent-encoded; the URL encodes the % again).
    assert (
        f"/tenants/{quote(tenant_key(TEST_TENANT), safe='')}/attachments/{CONNECTION}/" in got["download_url"]
    )
    # The URL downloads the bytes (moto answers presigned URLs inside mock_aws).
    download = requests.get(got["download_url"], timeout=10)
    assert download.status_code == 200
    assert download.content == content
    objects = boto3.client("s3", region_name=api.aws.region).list_objects_v2(Bucket=api.aws.bucket)
    [obj] = objects["Contents"]
    head = boto3.client("s3", region_name=api.aws.region).head_object(Bucket=api.aws.bucket, Key=obj["Key"])
    assert head["ServerSideEncryption"] == "AES256"


def test_content_just_over_the_real_response_limit_is_staged_and_just_under_is_inline(
    api: AttachmentsApi,
) -> None:
    account = api.account()
    at_limit = b"\x89" * MAX_INLINE_BYTES
    over = at_limit + b"!"
    inline_id = api.insert(
        "Attachment", {"ParentId": account, "Name": "a.bin", "Body": base64.b64encode(at_limit).decode()}
    )
    staged_id = api.insert(
        "Attachment", {"ParentId": account, "Name": "b.bin", "Body": base64.b64encode(over).decode()}
    )

    inline = api.call("GET", f"/{inline_id}/content")
    assert inline.status == 200
    assert base64.b64decode(inline.json()["content_base64"]) == at_limit
    assert api.last_size <= LAMBDA_RESPONSE_LIMIT  # the whole proxy response fits Lambda's 6 MB

    staged = api.call("GET", f"/{staged_id}/content")
    assert staged.status == 200
    assert staged.json()["download_url"]
    assert requests.get(staged.json()["download_url"], timeout=30).content == over


def test_feed_comment_on_a_feed_item(api: AttachmentsApi) -> None:
    account = api.account()
    item = api.insert("FeedItem", {"ParentId": account, "Body": "Renewal is coming up", "Type": "TextPost"})
    first = api.feed_comment(item, {"CommentBody": "Looking."})  # a cold container also reads the describe
    assert first.status == 201, first.raw
    before = api.emulator.api_calls()

    answer = api.feed_comment(item, {"CommentBody": "On it."})

    assert answer.status == 201, answer.raw
    assert api.emulator.api_calls() - before == 1  # create + read back in one composite
    record = answer.json()["record"]
    assert record["FeedItemId"] == item
    assert record["CommentBody"] == "On it."
    assert record["Id"].startswith("0D7")


# -------------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not base64!", "character '!' at position 11"),
        ("aGVsbG8=x", "base64"),
        ("a", "length is impossible"),
        ("", "empty"),
        ("====", "empty"),
        ("aGVs*G8=", "character '*'"),
        ("aGVsbG8é", "character 'é' at position 8"),
        ("aGVsbG8==", "padding is wrong"),
        ("ab+-", "mixes the standard"),
    ],
)
def test_bad_base64_is_a_422_before_salesforce(api: AttachmentsApi, content: str, problem: str) -> None:
    account = api.account()
    before = api.emulator.api_calls()

    answer = api.call("POST", "", {"parent_id": account, "name": "x.bin", "content_base64": content})

    assert answer.status == 422, answer.raw
    assert answer.error["code"] == "invalid_input"
    assert answer.error["fields"] == ["content_base64"]
    assert problem in answer.error["message"]
    assert api.emulator.api_calls() == before
    assert api.attachments_of(account) == []


def test_oversized_base64_is_a_413_before_salesforce(api: AttachmentsApi) -> None:
    get_runtime().install(
        attachment_settings=AttachmentSettings.model_validate({"ATTACHMENT_MAX_BYTES": 1000})
    )
    account = api.account()
    before = api.emulator.api_calls()

    answer = api.call(
        "POST",
        "",
        {"parent_id": account, "name": "x.bin", "content_base64": base64.b64encode(b"x" * 1001).decode()},
    )

    assert answer.status == 413, answer.raw
    assert answer.error["code"] == "payload_too_large"
    assert answer.error["fields"] == ["content_base64"]
    assert "1000 bytes" in answer.error["message"]
    assert api.emulator.api_calls() == before
    ok = api.call(
        "POST",
        "",
        {"parent_id": account, "name": "x.bin", "content_base64": base64.b64encode(b"x" * 1000).decode()},
    )
    assert ok.status == 201


def test_oversized_download_is_a_413(api: AttachmentsApi, file_server: tuple[str, list[str]]) -> None:
    base, _ = file_server
    allow_loopback_downloads(max_bytes=10_000)
    account = api.account()
    before = api.emulator.api_calls()

    answer = api.call("POST", "", {"parent_id": account, "name": "big.bin", "url": f"{base}/files/big.bin"})

    assert answer.status == 413, answer.raw
    assert answer.error["code"] == "payload_too_large"
    assert answer.error["fields"] == ["url"]
    assert api.emulator.api_calls() == before


class _RefusingTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raise httpx.ConnectError("refusing transport: nothing is sent", request=request)


@pytest.mark.parametrize(
    ("url", "answers", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data/iam/security-credentials/", {}, "metadata"),
        ("http://files.example.com/a.pdf", {}, "scheme 'http'"),
        ("https://localhost/a.pdf", {}, "internal"),
        ("https://intranet.example.com/a.pdf", {"intranet.example.com": ["10.1.2.3"]}, "private"),
        (
            "https://rebind.example.com/a.pdf",
            {"rebind.example.com": ["93.184.216.34", "127.0.0.1"]},
            "loopback",
        ),
        ("https://[::ffff:169.254.169.254]/", {}, "metadata"),
        ("file:///etc/passwd", {}, "scheme 'file'"),
    ],
)
def test_forbidden_urls_are_refused_without_sending_anything(
    api: AttachmentsApi, url: str, answers: dict[str, list[str]], reason: str
) -> None:
    transport = _RefusingTransport()
    lookups: list[str] = []

    def resolver(host: str, port: int) -> Sequence[str]:
        lookups.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, host)
        return answers[host]

    # Production settings (https only, no loopback), with the network replaced by recorders.
    get_runtime().install(url_fetcher=UrlFetcher(UrlFetchSettings(), resolver=resolver, transport=transport))
    account = api.account()
    before = api.emulator.api_calls()

    answer = api.call("POST", "", {"parent_id": account, "name": "x.pdf", "url": url})

    assert answer.status == 422, answer.raw
    assert answer.error["code"] == "forbidden_url"
    assert answer.error["fields"] == ["url"]
    assert reason in answer.error["message"]
    assert transport.requests == []
    assert set(lookups) <= set(answers)
    assert api.emulator.api_calls() == before


def test_loopback_is_refused_by_the_production_fetcher(
    api: AttachmentsApi, file_server: tuple[str, list[str]]
) -> None:
    base, seen = file_server
    get_runtime().install(url_fetcher=UrlFetcher(UrlFetchSettings(allow_http=True)))
    answer = api.call(
        "POST", "", {"parent_id": api.account(), "name": "r.pdf", "url": f"{base}/files/report.pdf"}
    )
    assert answer.status == 422
    assert answer.error["code"] == "forbidden_url"
    assert seen == []


def test_a_redirect_to_the_metadata_address_is_refused(
    api: AttachmentsApi, file_server: tuple[str, list[str]]
) -> None:
    base, seen = file_server
    allow_loopback_downloads()
    answer = api.call(
        "POST", "", {"parent_id": api.account(), "name": "r.pdf", "url": f"{base}/redirect-to-metadata"}
    )
    assert answer.status == 422
    assert answer.error["code"] == "forbidden_url"
    assert "metadata" in answer.error["message"]
    assert seen == ["/redirect-to-metadata"]


def test_a_url_answering_404_is_a_422_without_the_query_string(
    api: AttachmentsApi, file_server: tuple[str, list[str]]
) -> None:
    base, _ = file_server
    allow_loopback_downloads()
    answer = api.call(
        "POST", "", {"parent_id": api.account(), "name": "r.pdf", "url": f"{base}/nothing?token=s3cr3t"}
    )
    assert answer.status == 422
    assert answer.error["code"] == "url_fetch_failed"
    assert "HTTP 404" in answer.error["message"]
    assert "s3cr3t" not in answer.raw


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parent_id": "001000000000001AAA", "name": "x"}, "body"),
        (
            {
                "parent_id": "001000000000001AAA",
                "name": "x",
                "content_base64": "YQ==",
                "url": "https://a.example.com/x",
            },
            "body",
        ),
        ({"parent_id": "001000000000001AAA", "content_base64": "YQ=="}, "name"),
        ({"parent_id": "001000000000001AAA", "name": "", "content_base64": "YQ=="}, "name"),
        ({"parent_id": "not-an-id", "name": "x", "content_base64": "YQ=="}, "parent_id"),
        (
            {"parent_id": "001000000000001AAA", "name": "x", "content_base64": "YQ==", "colour": "red"},
            "colour",
        ),
    ],
)
def test_malformed_add_requests_are_422_naming_the_field(
    api: AttachmentsApi, body: dict[str, Any], field: str
) -> None:
    before = api.emulator.api_calls()
    answer = api.call("POST", "", body)
    assert answer.status == 422, answer.raw
    assert field in answer.error["fields"] or (field == "body" and answer.error["fields"])
    assert api.emulator.api_calls() == before


@pytest.mark.parametrize("state", ["deleted", "never existed"])
def test_unknown_parent_is_a_404_for_add_and_list(api: AttachmentsApi, state: str) -> None:
    if state == "deleted":
        ghost = api.account("Ghost")
        api.emulator.dml("delete", "Account", id=ghost)
    else:
        ghost = to_18("001Zz00000Gh0st")

    added = api.call("POST", "", {"parent_id": ghost, "name": "x.txt", "content_base64": "eA=="})
    assert added.status == 404, added.raw
    assert added.error["fields"] == ["parent_id"], added.raw
    assert ghost in added.error["message"]

    listed = api.call("GET", f"/parents/{ghost}")
    assert listed.status == 404, listed.raw
    assert listed.error["fields"] == ["parent_id"]


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/parents/12345", 422, "parent_id"),
        ("/not-an-id/content", 422, "record_id"),
        ("/001000000000001AAA/content", 422, "record_id"),  # an Account id is not an Attachment id
    ],
)
def test_malformed_ids_are_422(api: AttachmentsApi, path: str, status: int, field: str) -> None:
    before = api.emulator.api_calls()
    answer = api.call("GET", path)
    assert answer.status == status, answer.raw
    assert field in answer.error["fields"]
    assert api.emulator.api_calls() == before


def test_unknown_attachment_is_a_404(api: AttachmentsApi) -> None:
    account = api.account()
    gone = api.insert("Attachment", {"ParentId": account, "Name": "gone.txt", "Body": "eA=="})
    api.emulator.dml("delete", "Attachment", id=gone)
    answer = api.call("GET", f"/{gone}/content")
    assert answer.status == 404, answer.raw
    assert answer.error["fields"] == ["record_id"]


def test_feed_comment_bad_inputs(api: AttachmentsApi) -> None:
    account = api.account()
    item = api.insert("FeedItem", {"ParentId": account, "Body": "Post", "Type": "TextPost"})
    before = api.emulator.api_calls()

    too_long = api.feed_comment(item, {"CommentBody": "x" * 10_001})
    assert too_long.status == 422, too_long.raw
    assert "CommentBody" in too_long.error["fields"]

    missing = api.feed_comment(item, {"IsRichText": False})
    assert missing.status == 422, missing.raw
    assert "CommentBody" in missing.error["fields"]

    wrong_parent = api.feed_comment(account, {"CommentBody": "hi"})
    assert wrong_parent.status == 422, wrong_parent.raw
    assert "record_id" in wrong_parent.error["fields"]
    assert api.emulator.api_calls() - before <= 1  # at most the describe of FeedComment

    exactly = api.feed_comment(item, {"CommentBody": "y" * 10_000})
    assert exactly.status == 201, exactly.raw


# ---------------------------------------------------------------------- base64 decoding rules


@pytest.mark.parametrize(
    ("text", "expected", "media"),
    [
        ("aGVsbG8=", b"hello", None),
        ("aGVsbG8", b"hello", None),  # missing padding
        ("aGVs\r\nbG8=\n", b"hello", None),  # MIME line breaks
        ("_-8=", b"\xff\xef", None),  # URL-safe alphabet
        ("data:image/png;base64,iVBORw==", b"\x89PNG", "image/png"),
    ],
)
def test_decode_base64_accepts_the_usual_forms(text: str, expected: bytes, media: str | None) -> None:
    assert decode_base64(text, max_bytes=100) == (expected, media)


def test_decode_base64_checks_the_size_before_decoding() -> None:
    with pytest.raises(PayloadTooLargeError):
        decode_base64("A" * 4_000_000, max_bytes=1000)
    with pytest.raises(InvalidInputError, match="mixes"):
        decode_base64("ab+-", max_bytes=100)


def test_a_stored_content_type_unfit_for_a_header_does_not_break_a_staged_download(
    api: AttachmentsApi,
) -> None:
    """An Attachment stored in Salesforce (by anyone) with CR/LF in its ContentType: the staged
    download's Content-Type is guessed from the name instead of failing as a 503."""
    get_runtime().install(attachment_inline_limit=1024)
    content = b"%PDF" + bytes(5000)
    attachment = api.insert(
        "Attachment",
        {
            "ParentId": api.account(),
            "Name": "invoice.pdf",
            "ContentType": "text/html\r\nX-Injected: 1",
            "Body": base64.b64encode(content).decode(),
        },
    )

    answer = api.call("GET", f"/{attachment}/content")

    assert answer.status == 200, answer.raw
    got = answer.json()
    assert got["content_type"] == "application/pdf"
    download = requests.get(got["download_url"], timeout=10)
    assert download.content == content
    assert download.headers["Content-Type"] == "application/pdf"
