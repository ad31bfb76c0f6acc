"""The files family end to end: the function's Lambda handler, driven by API Gateway events, talks
to the Salesforce emulator over HTTP, with AWS from moto (payload bucket, state table, secret).
Every action's Salesforce API calls are counted by the emulator.

Large content uses a lowered inline limit (a few hundred KB stand for the 4.5 MB of a real
response), so the streamed paths run on small data and ``make test`` stays fast.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests
from sfconnector.models.tenancy import tenant_prefix
from sfconnector.runtime import get_runtime
from sfconnector.urlfetch import UrlFetcher, UrlFetchSettings

from tests.fixtures.actions import ActionApi, SeededConnection
from tests.fixtures.aws import TEST_TENANT, AwsEnv
from tests.fixtures.emulator import EmulatorHandle

BIG = bytes(range(256)) * 1024 * 3  # 768 KiB: above the lowered inline limit, several S3 parts small
SMALL = b"Quarterly figures: all green.\n"


@pytest.fixture
def files(action_api: ActionApi) -> ActionApi:
    runtime = get_runtime()
    # A response holds 4.5 MB of content in production; 64 KiB here makes BIG take the staged path.
    runtime.install(
        url_fetcher=UrlFetcher(UrlFetchSettings(allow_http=True, allow_loopback_for_tests=True)),
        attachment_inline_limit=64 * 1024,
    )
    return action_api


def account(sf_emulator: EmulatorHandle, name: str = "Files Co") -> str:
    return str(sf_emulator.dml("insert", "Account", {"Name": name})["id"])


def calls(sf_emulator: EmulatorHandle) -> int:
    return sf_emulator.api_calls()


def version_body(sf_emulator: EmulatorHandle, version_id: str) -> bytes:
    with sf_emulator.rest_client() as rest:
        return rest.get(f"/sobjects/ContentVersion/{version_id}/VersionData").content


def upload(aws: AwsEnv, key: str, data: bytes) -> None:
    boto3.client("s3", region_name=aws.region).put_object(Bucket=aws.bucket, Key=key, Body=data)


@pytest.fixture
def file_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = BIG if self.path == "/big.bin" else b"missing"
            self.send_response(200 if self.path == "/big.bin" else 404)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_add_base64_list_and_read_back_in_few_calls(files: ActionApi, sf_emulator: EmulatorHandle) -> None:
    parent = account(sf_emulator)
    before = calls(sf_emulator)
    added = files.post(
        "files",
        {"parent_id": parent, "name": "figures.txt", "content_base64": base64.b64encode(SMALL).decode()},
    )
    assert added.status == 201, added
    assert calls(sf_emulator) - before == 1  # create, read back, link: one composite
    body = added.body
    assert body["id"].startswith("068")
    assert body["document_id"].startswith("069")
    assert body["link_id"].startswith("06A")
    assert body["record"]["Title"] == "figures"
    assert body["record"]["ContentSize"] == len(SMALL)

    before = calls(sf_emulator)
    listed = files.get(f"files/parents/{parent}")
    assert listed.status == 200, listed
    assert calls(sf_emulator) - before == 1
    (only,) = listed.body["files"]
    assert only["document_id"] == body["document_id"]
    assert only["version_number"] == "1"
    assert only["size"] == len(SMALL)
    assert only["share_type"] == "V"

    before = calls(sf_emulator)
    content = files.get(f"files/{body['document_id']}/content")
    assert content.status == 200, content
    assert calls(sf_emulator) - before == 2
    assert base64.b64decode(content.body["content_base64"]) == SMALL
    assert content.body["content_type"] == "text/plain"
    assert content.body["checksum"] == hashlib.md5(SMALL).hexdigest()  # noqa: S324 - Salesforce's checksum


def test_chosen_share_type_and_visibility(files: ActionApi, sf_emulator: EmulatorHandle) -> None:
    parent = account(sf_emulator)
    added = files.post(
        "files",
        {
            "parent_id": parent,
            "name": "a.txt",
            "content_base64": base64.b64encode(SMALL).decode(),
            "share_type": "C",
            "visibility": "InternalUsers",
        },
    )
    assert added.status == 201, added
    (listed,) = files.get(f"files/parents/{parent}").body["files"]
    assert (listed["share_type"], listed["visibility"]) == ("C", "InternalUsers")


def test_large_file_from_the_bucket_streams_both_ways(
    files: ActionApi, sf_emulator: EmulatorHandle, aws: AwsEnv, seeded_connection: SeededConnection
) -> None:
    parent = account(sf_emulator)
    key = f"{tenant_prefix(TEST_TENANT)}uploads/big.bin"
    upload(aws, key, BIG)
    before = calls(sf_emulator)
    added = files.post("files", {"parent_id": parent, "name": "big.bin", "s3_key": key})
    assert added.status == 201, added
    assert calls(sf_emulator) - before == 2  # the multipart upload, then the read-back composite
    assert version_body(sf_emulator, added.body["id"]) == BIG

    content = files.get(f"files/{added.body['id']}/content")
    assert content.status == 200, content
    assert content.body["content_base64"] is None
    assert content.body["size"] == len(BIG)
    staged = requests.get(content.body["download_url"], timeout=30)  # moto answers presigned URLs
    assert hashlib.sha256(staged.content).hexdigest() == hashlib.sha256(BIG).hexdigest()


def test_add_from_a_url_and_a_new_version(
    files: ActionApi, sf_emulator: EmulatorHandle, file_server: str
) -> None:
    parent = account(sf_emulator)
    added = files.post("files", {"parent_id": parent, "name": "big.bin", "url": f"{file_server}/big.bin"})
    assert added.status == 201, added
    assert version_body(sf_emulator, added.body["id"]) == BIG
    document = added.body["document_id"]

    before = calls(sf_emulator)
    second = files.post(
        f"files/{document}/versions",
        {
            "name": "big-v2.txt",
            "content_base64": base64.b64encode(SMALL).decode(),
            "reason_for_change": "fix",
        },
    )
    assert second.status == 201, second
    assert calls(sf_emulator) - before == 1
    assert second.body["record"]["VersionNumber"] == "2"
    assert second.body["document_id"] == document
    latest = files.get(f"files/{document}/content").body
    assert base64.b64decode(latest["content_base64"]) == SMALL
    (listed,) = files.get(f"files/parents/{parent}").body["files"]
    assert listed["version_number"] == "2"


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"name": "a.txt", "content_base64": "!!"}, "content_base64", 422),
        ({"name": "a.txt"}, "body", 422),
        ({"name": "a.txt", "content_base64": "QQ==", "url": "https://example.com/a"}, "body", 422),
        ({"name": "a.txt", "content_base64": "QQ==", "share_type": "X"}, "share_type", 422),
        ({"name": "a.txt", "s3_key": "tenants/someone-else/uploads/a.bin"}, "s3_key", 422),
        ({"name": "a.txt", "s3_key": "uploads/../attachments/x"}, "s3_key", 422),
        ({"name": "a.txt", "url": "http://169.254.169.254/latest/meta-data/"}, "url", 422),
    ],
)
def test_bad_inputs_name_the_field(
    files: ActionApi, sf_emulator: EmulatorHandle, body: dict[str, Any], field: str, status: int
) -> None:
    parent = account(sf_emulator)
    before = calls(sf_emulator)
    answer = files.post("files", {"parent_id": parent, **body})
    assert answer.status == status, answer
    assert any(field in f for f in answer.error["fields"]), answer.error
    assert calls(sf_emulator) == before  # refused before Salesforce


def test_missing_things_are_404s_naming_the_field(files: ActionApi, sf_emulator: EmulatorHandle) -> None:
    gone = account(sf_emulator)
    sf_emulator.dml("delete", "Account", id=gone)
    small = base64.b64encode(SMALL).decode()
    answer = files.post("files", {"parent_id": gone, "name": "a.txt", "content_base64": small})
    assert answer.status == 404, answer
    assert answer.error["fields"] == ["parent_id"]
    missing = files.post(
        "files", {"parent_id": account(sf_emulator), "name": "a.txt", "s3_key": "uploads/none.bin"}
    )
    assert missing.status in (404, 422), missing
    listed = files.get(f"files/parents/{gone}")
    assert listed.status == 404, listed
    content = files.get("files/069Hs08To0000ZZZZZ/content")
    assert content.status in (400, 404, 422), content
    assert content.error["fields"] == ["file_id"]
    version = files.post("files/069000000000000AAA/versions", {"name": "a.txt", "content_base64": small})
    assert version.status == 404, version
    assert version.error["fields"] == ["document_id"]


def test_an_expired_session_mid_upload_refreshes_and_resends_the_whole_stream(
    files: ActionApi, sf_emulator: EmulatorHandle, aws: AwsEnv
) -> None:
    """The multipart body is a stream from S3: the refresh-once retry opens it again from the start
    (a half-sent stream would store a truncated file)."""
    parent = account(sf_emulator)
    key = f"{tenant_prefix(TEST_TENANT)}uploads/again.bin"
    upload(aws, key, BIG)
    sf_emulator.expire_sessions()
    added = files.post("files", {"parent_id": parent, "name": "again.bin", "s3_key": key})
    assert added.status == 201, added
    assert version_body(sf_emulator, added.body["id"]) == BIG
    assert added.body["record"]["ContentSize"] == len(BIG)


def test_the_emulator_streams_the_body_back_without_holding_a_copy(sf_emulator: EmulatorHandle) -> None:
    """A multipart upload's body stays in the spooled request file (a slice of it), not in memory."""
    from sfemulator.store import FileBlob

    parent = account(sf_emulator)
    boundary = "xyz"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="entity_content"\r\n'
            "Content-Type: application/json\r\n\r\n"
            f'{{"PathOnClient": "s.bin", "FirstPublishLocationId": "{parent}"}}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="VersionData"; filename="s.bin"\r\n\r\n'
        ).encode()
        + BIG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    with sf_emulator.rest_client() as rest:
        created = rest.post(
            "/sobjects/ContentVersion",
            content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert created.status_code == 201, created.text
        version_id = created.json()["id"]
        stored = sf_emulator.server.org.data.blobs[version_id]
        assert isinstance(stored, FileBlob)
        assert stored.length == len(BIG)
        assert rest.get(f"/sobjects/ContentVersion/{version_id}/VersionData").content == BIG


def test_an_idempotency_key_adds_one_file(files: ActionApi, sf_emulator: EmulatorHandle) -> None:
    parent = account(sf_emulator)
    body = {"parent_id": parent, "name": "once.txt", "content_base64": base64.b64encode(SMALL).decode()}
    first = files.post("files", body, headers={"Idempotency-Key": "file-once-1"})
    before = calls(sf_emulator)
    second = files.post("files", body, headers={"Idempotency-Key": "file-once-1"})
    assert first.status == second.status == 201
    assert second.body["id"] == first.body["id"]
    assert calls(sf_emulator) == before  # answered from the state table
    assert files.get(f"files/parents/{parent}").body["count"] == 1
