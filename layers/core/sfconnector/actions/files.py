"""The files family: Salesforce Files (ContentVersion / ContentDocument / ContentDocumentLink).

Add a file to a record (from base64, a public URL or an object of the payload bucket), list a
record's files, get a file's content, add a new version. Salesforce API calls per action:

===================  ===========================================================================
add, base64          1 (a composite: create the version published to the record, read it back,
                     find the record's link [, set its share type / visibility])
add, url / s3_key    2 (the multipart upload, then that composite without the create)
new version          1 (base64) or 2 (url / s3_key), the same way
list                 1 (a composite: the parent's existence and the first page of links),
                     plus 1 per further page of 2,000
get content          2 (the version's metadata, then its body)
===================  ===========================================================================

Large files never sit whole in the function's memory: a URL is streamed into the payload bucket
(an S3 multipart upload, one 8 MiB part at a time), a bucket object is streamed into Salesforce's
multipart blob insert (a request body read from S3 a chunk at a time, its length declared), and
content too big for a Lambda response is streamed from Salesforce into the bucket and returned as a
presigned URL. Base64 travels inside the JSON composite (Salesforce's limit there is 37.5 MB of
base64; API Gateway's 10 MB request limit comes first).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sfconnector.actions.attachments import ContentPorts, decode_base64, rows_of_parent
from sfconnector.actions.errors import InvalidInputError, RecordNotFoundError
from sfconnector.models.files import (
    AddFileInput,
    FileContentResult,
    FileInfo,
    FileListResult,
    FileResult,
    NewFileVersionInput,
)
from sfconnector.models.tenancy import tenant_prefix
from sfconnector.salesforce import soql
from sfconnector.salesforce.client import SalesforceClient
from sfconnector.salesforce.composite import CompositeRequest, CompositeResponse, reference
from sfconnector.salesforce.errors import SalesforceError
from sfconnector.salesforce.validation import check_record_id

if TYPE_CHECKING:
    from sfconnector.staging import PayloadStager

__all__ = ["MAX_FILE_BYTES", "VERSION_FIELDS", "FileService", "files_enabled"]

MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024
"""Salesforce's limit for a ContentVersion uploaded through a multipart request (2 GB)."""
MAX_BASE64_BYTES = 37_500_000 // 4 * 3
"""Salesforce's limit for blob data inside a JSON body: 37.5 MB of base64."""
VERSION_PREFIX = "068"
DOCUMENT_PREFIX = "069"
VERSION_FIELDS = (
    "Id",
    "ContentDocumentId",
    "Title",
    "PathOnClient",
    "Description",
    "ReasonForChange",
    "VersionNumber",
    "IsLatest",
    "FileType",
    "FileExtension",
    "ContentSize",
    "Checksum",
    "FirstPublishLocationId",
    "OwnerId",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "SystemModstamp",
)
"""Read back after a write (VersionData, the body, is left out: the caller just sent it)."""
_CONTENT_FIELDS = ["Id", "ContentDocumentId", "Title", "PathOnClient", "FileExtension", "ContentSize",
                   "VersionNumber", "Checksum"]  # fmt: skip
_LIST_FIELDS = [
    "Id",
    "ContentDocumentId",
    "ShareType",
    "Visibility",
    "ContentDocument.Title",
    "ContentDocument.FileType",
    "ContentDocument.FileExtension",
    "ContentDocument.ContentSize",
    "ContentDocument.LatestPublishedVersionId",
    "ContentDocument.LatestPublishedVersion.VersionNumber",
    "ContentDocument.ContentModifiedDate",
]
_DEFAULT_SHARE, _DEFAULT_VISIBILITY = "V", "AllUsers"
_READABLE_AREAS = ("uploads", "attachments")
"""Where an ``s3_key`` may point, under the tenant's prefix: what the platform uploads, and what this
connector staged (a file read from one record can be added to another)."""
# Salesforce's errors for a publish location / document that names no record the user can see.
_BAD_REFERENCE_CODES = frozenset(
    {"INVALID_CROSS_REFERENCE_KEY", "FIELD_INTEGRITY_EXCEPTION", "MALFORMED_ID", "ENTITY_IS_DELETED"}
)
# A composite query whose value is a reference to an earlier subrequest: the SOQL is built with
# this stand-in id, then the quoted stand-in becomes the (unencoded) reference in the URL.
_STAND_IN = "069000000000000AAA"


def files_enabled(client: SalesforceClient) -> bool:
    """Whether the org takes Salesforce Files from this user: ContentVersion's describe says it is
    createable. The describe is cached per org (:class:`sfconnector.salesforce.client.DescribeCache`),
    so this costs one call per container and TTL, and none on a warm one."""
    try:
        describe = client.describe("ContentVersion")
    except SalesforceError as exc:
        if exc.status in (400, 403, 404):
            return False  # not an object this org or user has
        raise
    return bool(describe.get("createable"))


def _guess_type(name: str) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


class _Source:
    """The bytes to store: inline (small) or a re-openable stream of known size (large)."""

    def __init__(
        self,
        *,
        content: bytes | None = None,
        size: int = 0,
        chunks: Callable[[], Iterator[bytes]] | None = None,
    ) -> None:
        self.content = content
        self.size = len(content) if content is not None else size
        self.chunks = chunks


class FileService(ContentPorts):
    """The file actions of one connection (ports: :class:`ContentPorts`)."""

    default_max_bytes = MAX_FILE_BYTES

    def _bucket(self, field: str) -> PayloadStager:
        stager = self._get_stager()
        if stager is None:
            from sfconnector.urlfetch import PayloadTooLargeError

            # No payload bucket configured: only what fits a request or a response works.
            raise PayloadTooLargeError(self.inline_limit, field=field, what="the file")
        return stager

    # ---- sources ----------------------------------------------------------------------------------

    def _source(self, data: AddFileInput | NewFileVersionInput) -> _Source:
        if data.content_base64 is not None:
            content, _ = decode_base64(data.content_base64, max_bytes=min(self.max_bytes, MAX_BASE64_BYTES))
            return _Source(content=content)
        if data.s3_key is not None:
            return self._bucket_source(data.s3_key, "s3_key")
        assert data.url is not None  # the model guarantees exactly one source
        return self._url_source(data.url)

    def _bucket_source(self, key: str, field: str) -> _Source:
        own = tenant_prefix(self.tenant_id)
        allowed = tuple(f"{own}{area}/" for area in _READABLE_AREAS)
        if not key.startswith(allowed) or any(s in ("", ".", "..") for s in key.split("/")):
            # Another tenant's objects are refused without a lookup: no existence oracle.
            raise InvalidInputError(
                f"s3_key must name an object under {' or '.join(allowed)} of the payload bucket",
                fields=[field],
            )
        stager = self._bucket(field)
        size = stager.object_size(key)
        if size is None:
            raise RecordNotFoundError(f"the payload bucket has no object {key!r}", fields=[field])
        if size == 0:
            raise InvalidInputError("the object is empty: a file needs at least one byte", fields=[field])
        if size > self.max_bytes:
            from sfconnector.urlfetch import PayloadTooLargeError

            raise PayloadTooLargeError(self.max_bytes, field=field, what="the file")
        return _Source(size=size, chunks=lambda: stager.read_chunks(key))

    def _url_source(self, url: str) -> _Source:
        # Streamed into the payload bucket first: Salesforce's multipart insert needs the length up
        # front, and a chunked download does not tell it. The staged copy expires with the bucket's
        # lifecycle rule.
        stager = self._bucket("url")
        with self._get_fetcher().open(url, max_bytes=self.max_bytes) as stream:
            staged = stager.stage_stream(
                self.connection_id,
                stream.chunks(),
                filename=stream.filename,
                content_type=stream.content_type,
                tenant_id=self.tenant_id,
            )
        if staged.size == 0:
            raise InvalidInputError("the URL returned an empty file", fields=["url"])
        return _Source(size=staged.size, chunks=lambda: stager.read_chunks(staged.key))

    # ---- add / new version ------------------------------------------------------------------------

    def add(self, data: AddFileInput) -> FileResult:
        """Store a file as a ContentVersion published to the record (Salesforce links it: V,
        AllUsers); a chosen share type or visibility updates that link in the same composite."""
        parent = check_record_id(data.parent_id, expected="parent record", key_prefix=None, param="parent_id")
        fields = self._version_fields(data)
        fields["FirstPublishLocationId"] = parent
        share = data.share_type or _DEFAULT_SHARE
        visibility = data.visibility or _DEFAULT_VISIBILITY
        custom = (share, visibility) != (_DEFAULT_SHARE, _DEFAULT_VISIBILITY)
        return self._store(data, fields, parent=parent, link_update=(share, visibility) if custom else None)

    def add_content(
        self, parent_id: str, name: str, content: bytes, *, description: str | None = None
    ) -> FileResult:
        """Store bytes already in hand (what "Add Attachment" read) as a file published to the record."""
        parent = check_record_id(parent_id, expected="parent record", key_prefix=None, param="parent_id")
        fields: dict[str, Any] = {"PathOnClient": name, "FirstPublishLocationId": parent}
        if description is not None:
            fields["Description"] = description[:1000]
        return self._store_source(_Source(content=content), name, fields, parent=parent, link_update=None)

    def new_version(self, document_id: str, data: NewFileVersionInput) -> FileResult:
        """Upload a new version of a file: the document's latest version becomes this one."""
        document = check_record_id(
            document_id, expected="ContentDocument", key_prefix=DOCUMENT_PREFIX, param="document_id"
        )
        fields = self._version_fields(data)
        fields["ContentDocumentId"] = document
        if data.reason_for_change is not None:
            fields["ReasonForChange"] = data.reason_for_change
        return self._store(data, fields, parent=None, link_update=None)

    @staticmethod
    def _version_fields(data: AddFileInput | NewFileVersionInput) -> dict[str, Any]:
        fields: dict[str, Any] = {"PathOnClient": data.name}
        if data.title is not None:
            fields["Title"] = data.title
        if data.description is not None:
            fields["Description"] = data.description
        return fields

    def _store(
        self,
        data: AddFileInput | NewFileVersionInput,
        fields: dict[str, Any],
        *,
        parent: str | None,
        link_update: tuple[str, str] | None,
    ) -> FileResult:
        return self._store_source(
            self._source(data), data.name, fields, parent=parent, link_update=link_update
        )

    def _store_source(
        self,
        source: _Source,
        name: str,
        fields: dict[str, Any],
        *,
        parent: str | None,
        link_update: tuple[str, str] | None,
    ) -> FileResult:
        request = CompositeRequest(all_or_none=True, api_version=self.client.api_version)
        if source.content is not None:
            payload = {**fields, "VersionData": base64.b64encode(source.content).decode("ascii")}
            request.create("ContentVersion", payload, "write")
            version_ref = reference("write")
        else:
            assert source.chunks is not None
            try:
                version_id = self.client.create_with_blob(
                    "ContentVersion",
                    fields,
                    blob_field="VersionData",
                    filename=name,
                    size=source.size,
                    chunks=source.chunks,
                )
            except SalesforceError as exc:
                raise self._reference_error(exc, parent) from None
            version_ref = version_id
        request.get("ContentVersion", version_ref, "record", fields=list(VERSION_FIELDS))
        if parent is not None:
            self._link_requests(request, parent, link_update)
        response = self.client.composite(request)
        if source.content is not None:
            try:
                response.raise_for_ref("write")
            except SalesforceError as exc:
                raise self._reference_error(exc, parent) from None
        record = response.raise_for_ref("record").body
        if not isinstance(record, Mapping):
            raise SalesforceError(502, message="Salesforce returned no record in the read-back")
        link_id = self._link_id(response) if parent is not None else None
        record = {k: v for k, v in record.items() if k != "VersionData"}
        return FileResult(
            id=str(record.get("Id")),
            document_id=str(record.get("ContentDocumentId")),
            link_id=link_id,
            record=record,
        )

    def _link_requests(self, request: CompositeRequest, parent: str, update: tuple[str, str] | None) -> None:
        listing = soql.select(
            "ContentDocumentLink",
            ["Id", "ShareType", "Visibility"],
            soql.And([soql.Eq("LinkedEntityId", parent), soql.Eq("ContentDocumentId", _STAND_IN)]),
            limit=1,
        )
        # The link's document is known only once the version is stored: a reference in the URL.
        encoded = quote(listing, safe="").replace(
            quote(f"'{_STAND_IN}'", safe=""), "'" + reference("record", "ContentDocumentId") + "'"
        )
        request.add("GET", f"query?q={encoded}", "link")
        if update is not None:
            share, visibility = update
            request.update(
                "ContentDocumentLink",
                reference("link", "records[0].Id"),
                {"ShareType": share, "Visibility": visibility},
                "share",
            )

    @staticmethod
    def _link_id(response: CompositeResponse) -> str | None:
        page = response.raise_for_ref("link").body
        rows = page.get("records") if isinstance(page, Mapping) else None
        return str(rows[0]["Id"]) if rows else None

    @staticmethod
    def _reference_error(exc: SalesforceError, parent: str | None) -> Exception:
        field = "FirstPublishLocationId" if parent is not None else "ContentDocumentId"
        if exc.error_code in _BAD_REFERENCE_CODES or field in exc.fields:
            state = "is deleted" if exc.error_code == "ENTITY_IS_DELETED" else "does not exist"
            if parent is not None:
                return RecordNotFoundError(
                    f"The record {parent} {state}, or the connected user cannot add files to it "
                    f"(Salesforce: {exc.message})",
                    fields=["parent_id"],
                )
            return RecordNotFoundError(
                f"The file {state}, or the connected user cannot add versions to it "
                f"(Salesforce: {exc.message})",
                fields=["document_id"],
            )
        return exc

    # ---- list -------------------------------------------------------------------------------------

    def list(self, parent_id: str) -> FileListResult:
        """A record's files, newest content first. One call: a composite with the first page of links
        and (for a parent whose type the id tells) a check that the parent exists."""
        parent = check_record_id(parent_id, expected="parent record", key_prefix=None, param="parent_id")
        listing = soql.select(
            "ContentDocumentLink",
            _LIST_FIELDS,
            soql.Eq("LinkedEntityId", parent),
            order_by=["ContentDocument.ContentModifiedDate DESC", "ContentDocumentId DESC"],
        )
        (rows,) = rows_of_parent(self.client, parent, listing)
        files = [_file_info(row) for row in rows]
        return FileListResult(parent_id=parent, files=files, count=len(files))

    # ---- content ----------------------------------------------------------------------------------

    def get_content(self, file_id: str) -> FileContentResult:
        """A file's bytes (its latest version for a document id, or the version named): base64
        when they fit a response, else streamed into the payload bucket behind a presigned URL."""
        checked = check_record_id(file_id, expected="ContentDocument or ContentVersion", key_prefix=None,
                                  param="file_id")  # fmt: skip
        if checked.startswith(DOCUMENT_PREFIX):
            where: soql.Condition = soql.And(
                [soql.Eq("ContentDocumentId", checked), soql.Eq("IsLatest", True)]
            )
        elif checked.startswith(VERSION_PREFIX):
            where = soql.Eq("Id", checked)
        else:
            raise InvalidInputError(
                "file_id must be a ContentDocument (069...) or ContentVersion (068...) id", fields=["file_id"]
            )
        rows = self.client.query_page(soql.select("ContentVersion", _CONTENT_FIELDS, where, limit=1)).records
        if not rows:
            raise RecordNotFoundError(
                f"File {checked} does not exist, or the connected user cannot see it.", fields=["file_id"]
            )
        meta = rows[0]
        version_id = str(meta["Id"])
        name = str(meta.get("PathOnClient") or meta.get("Title") or version_id)
        content_type = _guess_type(name)
        size = int(meta.get("ContentSize") or 0)
        common: dict[str, Any] = {
            "id": version_id,
            "document_id": str(meta.get("ContentDocumentId")),
            "name": name,
            "content_type": content_type,
            "version_number": meta.get("VersionNumber"),
            "checksum": meta.get("Checksum"),
        }
        path = f"sobjects/ContentVersion/{version_id}/VersionData"
        if size <= self.inline_limit:
            body = self.client.get_blob(path)
            if len(body) <= self.inline_limit:
                return FileContentResult(
                    **common, size=len(body), content_base64=base64.b64encode(body).decode("ascii")
                )
        stager = self._bucket("file_id")
        with self.client.open_blob(path) as chunks:
            staged = stager.stage_stream(
                self.connection_id,
                chunks,
                filename=name,
                content_type=content_type,
                tenant_id=self.tenant_id,
            )
        return FileContentResult(
            **common,
            size=staged.size,
            download_url=staged.url,
            download_url_expires_at=staged.expires_at.isoformat().replace("+00:00", "Z"),
        )


def _file_info(row: Mapping[str, Any]) -> FileInfo:
    doc = row.get("ContentDocument") or {}
    latest = doc.get("LatestPublishedVersion") or {}
    return FileInfo(
        document_id=str(row.get("ContentDocumentId")),
        version_id=doc.get("LatestPublishedVersionId"),
        title=doc.get("Title"),
        file_type=doc.get("FileType"),
        file_extension=doc.get("FileExtension"),
        size=doc.get("ContentSize"),
        version_number=latest.get("VersionNumber"),
        modified_at=doc.get("ContentModifiedDate"),
        share_type=row.get("ShareType"),
        visibility=row.get("Visibility"),
        link_id=row.get("Id"),
    )
