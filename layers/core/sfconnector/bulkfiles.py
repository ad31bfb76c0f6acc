"""The bulk jobs' files in the payload bucket: CSV inputs read as a stream (never whole in memory) and
results written as a stream (S3 multipart upload, 8 MiB parts) behind a short-lived presigned URL.

Keys live under the tenant's prefix (``tenants/<tenant>/``): inputs under ``bulk-inputs/`` (the
caller puts them there), results under ``bulk-results/<connection>/``.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sfconnector.models.tenancy import tenant_prefix
from sfconnector.staging import DEFAULT_URL_TTL_SECONDS, StagedPayload, presign_download, sigv4_s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["INPUT_PREFIX", "PART_BYTES", "BulkFiles", "InputObject"]

INPUT_PREFIX = "bulk-inputs/"
RESULT_PREFIX = "bulk-results"
PART_BYTES = 8 * 1024 * 1024
"""Multipart part size (S3's minimum is 5 MiB, the last part excepted): the most a stream holds."""
READ_CHUNK = 1024 * 1024


class InputObject:
    """A CSV object of the payload bucket as an iterable of chunks; each iteration opens a new
    stream, so a request that is sent again (a refreshed token) sends the whole object again."""

    def __init__(self, files: BulkFiles, key: str, size: int) -> None:
        self._files = files
        self.key = key
        self.size = size

    def __iter__(self) -> Iterator[bytes]:
        body = self._files.client().get_object(Bucket=self._files.bucket, Key=self.key)["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()


class BulkFiles:
    def __init__(
        self,
        bucket: str,
        *,
        s3_factory: Callable[[], S3Client] | None = None,
        url_ttl_seconds: int = DEFAULT_URL_TTL_SECONDS,
        kms_key_id: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("a payload bucket name is required")
        self.bucket = bucket
        self.url_ttl_seconds = url_ttl_seconds
        self.kms_key_id = kms_key_id
        self._factory: Callable[[], S3Client] = s3_factory or sigv4_s3_client
        self._s3: S3Client | None = None
        self._lock = threading.Lock()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def client(self) -> S3Client:
        with self._lock:
            if self._s3 is None:
                self._s3 = self._factory()
            return self._s3

    # ---- inputs ----------------------------------------------------------------------------------

    @staticmethod
    def input_prefix(tenant_id: str | None) -> str:
        return f"{tenant_prefix(tenant_id)}{INPUT_PREFIX}"

    def open_input(self, key: str, head_bytes: int = 64 * 1024) -> tuple[InputObject, bytes] | None:
        """The object and its first bytes (the header row), or None when there is no such object."""
        s3 = self.client()
        try:
            got = s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{head_bytes - 1}")
        except s3.exceptions.NoSuchKey:
            return None
        except Exception as exc:  # moto and S3 answer an empty object's range with InvalidRange
            if "InvalidRange" in str(exc):
                return InputObject(self, key, 0), b""
            raise
        head = got["Body"].read()
        total = got.get("ContentRange", "").rpartition("/")[2]
        size = int(total) if total.isdigit() else len(head)
        return InputObject(self, key, size), head

    # ---- results ---------------------------------------------------------------------------------

    def _encryption(self) -> dict[str, Any]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    def write(
        self, connection_id: str, tenant_id: str | None, chunks: Iterable[bytes], *, filename: str
    ) -> StagedPayload:
        """Stream ``chunks`` into a new object (multipart: at most one part in memory) and presign it."""
        s3 = self.client()
        key = f"{tenant_prefix(tenant_id)}{RESULT_PREFIX}/{connection_id}/{uuid.uuid4()}.csv"
        disposition = f'attachment; filename="{filename}"'
        upload = s3.create_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            ContentType="text/csv",
            ContentDisposition=disposition,
            **self._encryption(),
        )
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        size = 0
        buffer = bytearray()

        def flush() -> None:
            number = len(parts) + 1
            sent = s3.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(buffer)
            )
            parts.append({"ETag": sent["ETag"], "PartNumber": number})
            buffer.clear()

        try:
            for chunk in chunks:
                buffer.extend(chunk)
                size += len(chunk)
                if len(buffer) >= PART_BYTES:
                    flush()
            if buffer or not parts:
                flush()
            s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        except BaseException:
            s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        stored = StagedPayload(self.bucket, key, "", self._clock(), size, "text/csv", filename)
        return presign_download(s3, stored, ttl_seconds=self.url_ttl_seconds, disposition=disposition)
