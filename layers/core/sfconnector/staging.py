"""Staging of payloads too big for a Lambda response into the payload S3 bucket.

A synchronous Lambda response (and so an API Gateway proxy response) is capped at 6 MB, and binary
content travels as base64, which is 4/3 of the raw size. Content that would not fit is written to
the payload bucket (server-side encrypted, under ``attachments/<connection>/<uuid>``) and the caller
gets a short-lived presigned GET URL instead of the bytes. The bucket's lifecycle rule removes the
objects later; the URL's lifetime is what limits access.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from sfconnector.models.tenancy import tenant_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

__all__ = [
    "DEFAULT_URL_TTL_SECONDS",
    "LAMBDA_RESPONSE_LIMIT",
    "MAX_INLINE_BYTES",
    "PayloadStager",
    "StagedPayload",
    "base64_length",
    "fits_inline",
    "presign_download",
    "sigv4_s3_client",
]

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
"""Synchronous Lambda invocation response limit (bytes), which API Gateway proxy responses inherit."""

# The JSON around the base64 (record fields, headers, the proxy envelope) needs room too.
_ENVELOPE_HEADROOM = 64 * 1024

DEFAULT_URL_TTL_SECONDS = 15 * 60
STREAM_PART_BYTES = 8 * 1024 * 1024
"""The part size of a streamed (multipart) upload: S3's minimum is 5 MiB for every part but the last."""


def base64_length(raw_size: int) -> int:
    """Length of the padded base64 text of ``raw_size`` bytes."""
    return 4 * ((raw_size + 2) // 3)


MAX_INLINE_BYTES = ((LAMBDA_RESPONSE_LIMIT - _ENVELOPE_HEADROOM) // 4) * 3
"""The largest raw size whose base64 still fits in a Lambda response with the envelope."""


def fits_inline(raw_size: int, limit: int = MAX_INLINE_BYTES) -> bool:
    """Whether content of ``raw_size`` bytes can be returned inline as base64."""
    return raw_size <= limit


_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_.-]{1,128}")


@dataclass(frozen=True, slots=True)
class StagedPayload:
    """Where staged content lives and how the caller may fetch it (until ``expires_at``)."""

    bucket: str
    key: str
    url: str
    expires_at: dt.datetime
    size: int
    content_type: str
    filename: str


def _content_disposition(filename: str) -> str:
    # RFC 6266: an ASCII fallback plus the exact UTF-8 name.
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace('"', "'").replace("\\", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


class PayloadStager:
    """Writes content to the payload bucket and returns a presigned GET URL.

    The S3 client is the port: pass ``s3`` (a client) or ``s3_factory`` (e.g. the runtime's cached
    client); by default a SigV4 client is built on first use and kept for warm invocations.
    """

    def __init__(
        self,
        bucket: str,
        *,
        s3: S3Client | None = None,
        s3_factory: Callable[[], S3Client] | None = None,
        url_ttl_seconds: int = DEFAULT_URL_TTL_SECONDS,
        kms_key_id: str | None = None,
        prefix: str = "attachments",
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("a payload bucket name is required")
        if not 1 <= url_ttl_seconds <= 7 * 24 * 3600:
            raise ValueError("url_ttl_seconds must be between 1 second and 7 days (SigV4's maximum)")
        self.bucket = bucket
        self.url_ttl_seconds = url_ttl_seconds
        self.kms_key_id = kms_key_id
        self.prefix = prefix.strip("/")
        self._s3: S3Client | None = s3
        self._s3_factory: Callable[[], S3Client] = s3_factory or sigv4_s3_client
        self._lock = threading.Lock()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def _client(self) -> S3Client:
        with self._lock:
            if self._s3 is None:
                self._s3 = self._s3_factory()
            return self._s3

    def key_for(self, connection_id: str, tenant_id: str | None = None) -> str:
        """``[tenants/<tenant>/]<prefix>/<connection>/<uuid>``: a tenant's objects under its own
        prefix (the tenant percent-encoded, so one tenant's prefix never contains another's)."""
        if not _SAFE_SEGMENT.fullmatch(connection_id) or connection_id in {".", ".."}:
            raise ValueError("connection id is not a safe S3 key segment")
        return f"{tenant_prefix(tenant_id)}{self.prefix}/{connection_id}/{uuid.uuid4()}"

    def _encryption(self) -> dict[str, Any]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    def _presign(self, key: str, size: int, content_type: str, filename: str) -> StagedPayload:
        return presign_download(
            self._client(),
            StagedPayload(self.bucket, key, "", self._clock(), size, content_type, filename),
            ttl_seconds=self.url_ttl_seconds,
            disposition=_content_disposition(filename),
        )

    def stage_stream(
        self,
        connection_id: str,
        chunks: Iterable[bytes],
        *,
        filename: str,
        content_type: str = "application/octet-stream",
        tenant_id: str | None = None,
        part_size: int = STREAM_PART_BYTES,
    ) -> StagedPayload:
        """Store a stream of chunks through an S3 multipart upload, one part in memory at a time
        (a 2 GB file costs ``part_size`` of memory), and return a presigned URL to it."""
        s3 = self._client()
        key = self.key_for(connection_id, tenant_id)
        upload = s3.create_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            ContentType=content_type,
            ContentDisposition=_content_disposition(filename),
            **self._encryption(),
        )
        upload_id = upload["UploadId"]
        parts: list[CompletedPartTypeDef] = []
        size = 0
        buffer = bytearray()

        def flush() -> None:
            number = len(parts) + 1
            sent = s3.upload_part(
                # The buffer itself, not a bytes copy of it (botocore reads a bytearray as it reads bytes).
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=cast(bytes, buffer),
            )
            parts.append({"PartNumber": number, "ETag": sent["ETag"]})
            buffer.clear()

        try:
            for chunk in chunks:
                size += len(chunk)
                buffer += chunk
                if len(buffer) >= part_size:
                    flush()
            if buffer or not parts:
                flush()
            s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        return self._presign(key, size, content_type, filename)

    def object_size(self, key: str) -> int | None:
        """The size of an object of the bucket (None: no such object)."""
        from botocore.exceptions import ClientError

        try:
            head = self._client().head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    def read_chunks(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """An object of the bucket, streamed a chunk at a time."""
        body = self._client().get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def stage(
        self,
        connection_id: str,
        content: bytes,
        *,
        filename: str,
        content_type: str = "application/octet-stream",
        tenant_id: str | None = None,
    ) -> StagedPayload:
        """Store ``content`` encrypted and return a presigned URL that downloads it as ``filename``."""
        key = self.key_for(connection_id, tenant_id)
        self._client().put_object(
            Bucket=self.bucket,
            Key=key,
            Body=content,
            ContentType=content_type,
            ContentDisposition=_content_disposition(filename),
            **self._encryption(),
        )
        return self._presign(key, len(content), content_type, filename)


def presign_download(
    s3: S3Client, stored: StagedPayload, *, ttl_seconds: int, disposition: str
) -> StagedPayload:
    """``stored`` (its ``expires_at`` holding the time of issue) with a presigned GET URL that
    downloads it with its content type and ``disposition``, valid ``ttl_seconds``."""
    url = s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": stored.bucket,
            "Key": stored.key,
            "ResponseContentType": stored.content_type,
            "ResponseContentDisposition": disposition,
        },
        ExpiresIn=ttl_seconds,
        HttpMethod="GET",
    )
    return dataclasses.replace(
        stored, url=url, expires_at=stored.expires_at + dt.timedelta(seconds=ttl_seconds)
    )


def sigv4_s3_client(region: str | None = None) -> S3Client:
    """An S3 client that presigns with SigV4 and regional virtual-host URLs."""
    import boto3
    from botocore.config import Config

    # SigV4 always: objects encrypted with KMS can only be fetched through SigV4 presigned URLs,
    # and regional virtual-host addressing keeps the URL valid outside us-east-1.
    config = Config(
        signature_version="s3v4", s3={"addressing_style": "virtual"}, retries={"mode": "standard"}
    )
    return boto3.client("s3", region_name=region, config=config)
