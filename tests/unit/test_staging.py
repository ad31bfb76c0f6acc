"""Staging of big payloads into the payload bucket (moto S3, the ``aws`` fixture)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from mypy_boto3_s3 import S3Client
from sfconnector.staging import (
    DEFAULT_URL_TTL_SECONDS,
    LAMBDA_RESPONSE_LIMIT,
    MAX_INLINE_BYTES,
    PayloadStager,
    base64_length,
    fits_inline,
)

from tests.fixtures.aws import AwsEnv

FIXED_NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def s3_client(aws: AwsEnv) -> S3Client:
    # The connector's clients sign with SigV4 (KMS-encrypted objects need it).
    return boto3.client("s3", region_name=aws.region, config=Config(signature_version="s3v4"))


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 6, 1000, 4_718_592, 4_718_593])
def test_base64_length_matches_the_encoder(size: int) -> None:
    assert base64_length(size) == len(base64.b64encode(b"\0" * size))


def test_largest_inline_payload_fits_a_lambda_response_with_its_envelope() -> None:
    body = json.dumps({"content_base64": base64.b64encode(b"\xff" * MAX_INLINE_BYTES).decode(), "name": "x"})
    proxy_response = json.dumps({"statusCode": 200, "headers": {}, "body": body})
    assert len(proxy_response) <= LAMBDA_RESPONSE_LIMIT
    assert fits_inline(MAX_INLINE_BYTES)
    assert not fits_inline(MAX_INLINE_BYTES + 1)
    # Not needlessly small either: within 100 KB of the real limit.
    assert LAMBDA_RESPONSE_LIMIT - base64_length(MAX_INLINE_BYTES) < 100_000


def test_stage_writes_an_encrypted_object_and_returns_a_working_presigned_url(aws: AwsEnv) -> None:
    s3 = s3_client(aws)
    stager = PayloadStager(aws.bucket, s3=s3, clock=lambda: FIXED_NOW)
    content = bytes(range(256)) * 40

    staged = stager.stage("conn-1", content, filename="Q3 résumé.pdf", content_type="application/pdf")

    assert staged.key.startswith("attachments/conn-1/")
    assert len(staged.key.rsplit("/", 1)[1]) == 36  # a uuid
    assert staged.size == len(content)
    assert staged.expires_at == FIXED_NOW + dt.timedelta(minutes=15)
    head = s3.head_object(Bucket=aws.bucket, Key=staged.key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/pdf"
    assert "filename*=UTF-8''Q3%20r%C3%A9sum%C3%A9.pdf" in head["ContentDisposition"]
    assert s3.get_object(Bucket=aws.bucket, Key=staged.key)["Body"].read() == content

    query = parse_qs(urlsplit(staged.url).query)
    assert query["X-Amz-Expires"] == [str(DEFAULT_URL_TTL_SECONDS)]
    assert "X-Amz-Signature" in query
    # moto serves presigned URLs to `requests` inside mock_aws: the URL really downloads the bytes.
    got = requests.get(staged.url, timeout=10)
    assert got.status_code == 200
    assert got.content == content
    assert got.headers["Content-Type"] == "application/pdf"


def test_every_stage_gets_its_own_key(aws: AwsEnv) -> None:
    stager = PayloadStager(aws.bucket, s3=s3_client(aws))
    a = stager.stage("c1", b"a", filename="a.txt")
    b = stager.stage("c1", b"a", filename="a.txt")
    assert a.key != b.key


def test_kms_key_is_used_when_configured(aws: AwsEnv) -> None:
    key_id = boto3.client("kms", region_name=aws.region).create_key()["KeyMetadata"]["KeyId"]
    s3 = s3_client(aws)
    staged = PayloadStager(aws.bucket, s3=s3, kms_key_id=key_id).stage("c1", b"secret", filename="s.bin")
    head = s3.head_object(Bucket=aws.bucket, Key=staged.key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]


def test_ttl_is_configurable_and_bounded(aws: AwsEnv) -> None:
    staged = PayloadStager(aws.bucket, s3=s3_client(aws), url_ttl_seconds=60).stage("c1", b"x", filename="x")
    assert parse_qs(urlsplit(staged.url).query)["X-Amz-Expires"] == ["60"]
    with pytest.raises(ValueError, match="7 days"):
        PayloadStager(aws.bucket, url_ttl_seconds=8 * 24 * 3600)


@pytest.mark.parametrize("bad", ["", "..", "a/b", "a b", "x" * 200, "../../etc"])
def test_connection_id_must_be_a_safe_key_segment(aws: AwsEnv, bad: str) -> None:
    stager = PayloadStager(aws.bucket, s3=s3_client(aws))
    with pytest.raises(ValueError, match="safe S3 key segment"):
        stager.stage(bad, b"x", filename="x")


def test_the_client_is_built_lazily_once(aws: AwsEnv) -> None:
    built: list[int] = []

    def factory() -> object:
        built.append(1)
        return s3_client(aws)

    stager = PayloadStager(aws.bucket, s3_factory=factory)  # type: ignore[arg-type]
    assert built == []
    stager.stage("c1", b"1", filename="1")
    stager.stage("c1", b"2", filename="2")
    assert built == [1]


def test_default_client_signs_with_sigv4(aws: AwsEnv) -> None:
    staged = PayloadStager(aws.bucket).stage("c1", b"v4", filename="v4.txt", content_type="text/plain")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in staged.url
    assert requests.get(staged.url, timeout=10).content == b"v4"


def test_stage_stream_uploads_in_parts_and_reads_back(aws: AwsEnv) -> None:
    s3 = s3_client(aws)
    stager = PayloadStager(aws.bucket, s3=s3)
    chunks = [bytes([i]) * 1_500_000 for i in range(5)]  # 7.5 MB in 1.5 MB reads
    staged = stager.stage_stream("conn-1", iter(chunks), filename="big.bin", part_size=5 * 1024 * 1024)
    assert staged.size == sum(map(len, chunks))
    head = s3.head_object(Bucket=aws.bucket, Key=staged.key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentLength"] == staged.size
    assert head["ETag"].strip('"').endswith("-2")  # two parts: 5 MiB + the rest
    assert stager.object_size(staged.key) == staged.size
    assert b"".join(stager.read_chunks(staged.key, 1024 * 1024)) == b"".join(chunks)
    assert stager.object_size("attachments/none") is None


def test_a_stream_that_breaks_leaves_no_upload_behind(aws: AwsEnv) -> None:
    s3 = s3_client(aws)
    stager = PayloadStager(aws.bucket, s3=s3)

    def broken() -> Iterator[bytes]:
        yield b"x" * 6 * 1024 * 1024
        raise OSError("the source broke off")

    with pytest.raises(OSError, match="broke off"):
        stager.stage_stream("conn-1", broken(), filename="b.bin", part_size=5 * 1024 * 1024)
    assert s3.list_multipart_uploads(Bucket=aws.bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=aws.bucket).get("KeyCount") == 0
