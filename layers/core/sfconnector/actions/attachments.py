"""The attachments family: list a record's attachment ids, get an attachment's content, add one
(from base64 or from a URL). Feed comments are created by the generic create-under-a-parent
service (:meth:`sfconnector.actions.records.RecordService.create_child`).

Salesforce API calls per action:

==========================  =====================================================================
list ids                    1 (a composite: the parent's existence and the first page of ids),
                            plus 1 per further page of 2,000 ids
get content                 2 (the attachment's metadata, then its binary Body: a blob cannot
                            travel inside a composite)
add                         1 (a composite: create + read back by reference, without the Body)
==========================  =====================================================================

Content too big for a Lambda response (6 MB, and base64 adds a third) is staged in the payload
bucket and returned as a short-lived presigned URL (:mod:`sfconnector.staging`). Files are fetched
from URLs through the SSRF guard of :mod:`sfconnector.urlfetch`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from sfconnector.actions.errors import InvalidInputError, RecordNotFoundError
from sfconnector.models import AddAttachmentInput, AttachmentContentResult, AttachmentIdsResult, RecordResult
from sfconnector.models.attachments import header_safe_content_type
from sfconnector.salesforce import ids, soql
from sfconnector.salesforce.client import SalesforceClient
from sfconnector.salesforce.composite import CompositeRequest, reference
from sfconnector.salesforce.errors import EntityDeletedError, NotFoundError, SalesforceError
from sfconnector.salesforce.validation import check_record_id
from sfconnector.settings import EnvSettings

# urlfetch and staging are imported when a request needs them: every function's cold start pays
# for what this module imports, and listing ids needs neither.
if TYPE_CHECKING:
    from sfconnector.actions.files import FileService
    from sfconnector.staging import PayloadStager
    from sfconnector.urlfetch import UrlFetcher

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
"""Salesforce's limit for an Attachment Body (the describe's Body length is 26,214,400)."""

__all__ = [
    "ATTACHMENT_FIELDS",
    "AttachmentService",
    "AttachmentSettings",
    "ContentPorts",
    "decode_base64",
    "rows_of_parent",
]

ATTACHMENT_PREFIX = "00P"

# Attachment cannot have custom fields, so its field list is fixed; reading it back by name spares a
# describe call. Body is left out on purpose: the caller just sent it, and it can be 25 MB.
ATTACHMENT_FIELDS = (
    "Id",
    "ParentId",
    "Name",
    "ContentType",
    "BodyLength",
    "Description",
    "IsPrivate",
    "OwnerId",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)
_METADATA_FIELDS = ["Id", "Name", "ContentType", "BodyLength", "ParentId"]

# Salesforce's errors for a ParentId that names no record the user can see.
_BAD_PARENT_CODES = frozenset(
    {"INVALID_CROSS_REFERENCE_KEY", "FIELD_INTEGRITY_EXCEPTION", "MALFORMED_ID", "ENTITY_IS_DELETED"}
)


class AttachmentSettings(EnvSettings):
    """Limits of the attachments family (environment variables, all optional)."""

    max_bytes: int = Field(MAX_ATTACHMENT_BYTES, alias="ATTACHMENT_MAX_BYTES", gt=0, le=MAX_ATTACHMENT_BYTES)
    """Largest file accepted (Salesforce stores at most 25 MB per attachment)."""
    url_ttl_seconds: int = Field(900, alias="ATTACHMENT_URL_TTL_SECONDS", ge=60, le=7 * 24 * 3600)
    """Lifetime of the presigned URL of staged content."""
    fetch_timeout_seconds: float = Field(20.0, alias="URL_FETCH_TIMEOUT_SECONDS", gt=0, le=25)
    """Deadline of a whole URL download (DNS, redirects and body included). API Gateway ends a
    request after 29 s, and the Salesforce write still has to follow the download."""
    payload_kms_key_id: str | None = Field(None, alias="PAYLOAD_KMS_KEY_ID")


# ---------------------------------------------------------------------------------------- base64

_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[\w.+-]+)*;base64,", re.IGNORECASE)
# Byte-level checks: a 25 MB upload goes through every one of them, and bytes.translate is C speed
# where a regular expression over the text is not (about 10x slower on 1 MiB).
_WHITESPACE = b" \t\r\n\x0b\x0c"
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_ALLOWED = _ALPHABET + b"+/-_="
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def decode_base64(text: str, *, max_bytes: int, field: str = "content_base64") -> tuple[bytes, str | None]:
    """Strictly decode base64 (standard or URL-safe alphabet, line breaks allowed, padding optional,
    optionally a ``data:<type>;base64,`` URL). Returns the bytes and the data URL's media type.

    Raises InvalidInputError (422) naming ``field`` for anything that is not base64, and
    PayloadTooLargeError (413) before decoding when the content would exceed ``max_bytes``.
    """
    media_type: str | None = None
    offset = 0
    match = _DATA_URL.match(text)
    if match:
        media_type = (match.group("type") or "").lower() or None
        offset = match.end()

    def bad(message: str) -> InvalidInputError:
        return InvalidInputError(f"{field} is not base64: {message}", fields=[field])

    try:
        raw = text[offset:].encode("ascii")
    except UnicodeEncodeError as exc:
        where = offset + exc.start
        raise bad(f"character {text[where]!r} at position {where + 1} is not allowed") from None
    clean = raw.translate(None, _WHITESPACE)
    body = clean.rstrip(b"=")
    if not body:
        raise InvalidInputError(f"{field} is empty: the file needs at least one byte", fields=[field])
    leftover = clean.translate(None, _ALLOWED)
    if leftover:
        char = leftover[:1]
        where = offset + raw.index(char)
        raise bad(f"character {char.decode('ascii')!r} at position {where + 1} is not allowed")
    if b"=" in body:
        raise bad("'=' may only end it (padding)")

    if (len(body) * 3) // 4 > max_bytes:
        raise _too_large(max_bytes, field=field, what="the decoded file")
    standard = b"+" in body or b"/" in body
    urlsafe = b"-" in body or b"_" in body
    if standard and urlsafe:
        raise bad("it mixes the standard (+/) and URL-safe (-_) alphabets")
    if urlsafe:
        body = body.translate(_URLSAFE_TO_STANDARD)
    if len(body) % 4 == 1:
        raise bad("its length is impossible (truncated?)")
    padding, needed = len(clean) - len(body), -len(body) % 4
    if padding and padding != needed:
        raise bad("the padding is wrong")
    try:
        data = binascii.a2b_base64(body + b"=" * needed, strict_mode=True)
    except (binascii.Error, ValueError):
        raise bad("the padding is wrong") from None
    if len(data) > max_bytes:
        raise _too_large(max_bytes, field=field, what="the decoded file")
    return data, media_type


def _too_large(max_bytes: int, *, field: str, what: str) -> Exception:
    # urlfetch (the SSRF-safe downloader) is imported only when a request needs it: a base64 upload
    # that fits does not.
    from sfconnector.urlfetch import PayloadTooLargeError

    return PayloadTooLargeError(max_bytes, field=field, what=what)


def _guess_type(name: str) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


# --------------------------------------------------------------------------------------- service

_FILE_PREFIXES = ("068", "069")
"""ContentVersion and ContentDocument ids: what "Add Attachment" returns when it stores a file."""


def rows_of_parent(client: SalesforceClient, parent: str, *listings: str) -> list[list[Mapping[str, Any]]]:
    """Every row of each of ``listings`` (queries of a record's children), in ONE call for their first
    pages: a composite that also checks the parent exists (for a parent whose type the id tells), so
    an unknown parent is a 404 rather than an empty list. Further pages cost one call each."""
    request = CompositeRequest(all_or_none=False, api_version=client.api_version)
    for n, listing in enumerate(listings):
        request.query(listing, f"rows{n}")
    parent_type = ids.sobject_for_id(parent)
    if parent_type is not None:
        request.query(soql.select(parent_type, ["Id"], soql.Eq("Id", parent), limit=1), "parent")
    response = client.composite(request)
    if parent_type is not None:
        check = response.by_ref("parent")
        # A parent type that cannot be queried is no reason to fail: only a clear "no rows" is.
        if check.ok and isinstance(check.body, Mapping) and not check.body.get("records"):
            raise RecordNotFoundError(
                f"{parent_type} {parent} does not exist, or the connected user cannot see it.",
                fields=["parent_id"],
            )
    out = []
    for n in range(len(listings)):
        page = response.raise_for_ref(f"rows{n}").body or {}
        rows: list[Mapping[str, Any]] = list(page.get("records") or [])
        next_url = None if page.get("done", True) else page.get("nextRecordsUrl")
        while next_url:
            more = client.query_more(str(next_url))
            rows += more.records
            next_url = None if more.done else more.next_records_url
        out.append(rows)
    return out


class ContentPorts:
    """The ports of a service that moves file content (attachments, files): the Salesforce client,
    the payload stager and the URL fetcher (instances, or factories so a function that never stages
    or fetches never builds them), the size limit, the inline limit and the connection's owner."""

    default_max_bytes = MAX_ATTACHMENT_BYTES

    def __init__(
        self,
        client: SalesforceClient,
        *,
        connection_id: str,
        stager: PayloadStager | Callable[[], PayloadStager | None] | None = None,
        fetcher: UrlFetcher | Callable[[], UrlFetcher] | None = None,
        max_bytes: int | None = None,
        inline_limit: int | None = None,
        tenant_id: str | None = None,
    ) -> None:
        self.client = client
        self.connection_id = connection_id
        self.max_bytes = self.default_max_bytes if max_bytes is None else max_bytes
        self.tenant_id = tenant_id
        """The connection's owner: staged content goes under its prefix."""
        self._stager = stager
        self._fetcher = fetcher
        self._inline_limit = inline_limit

    def __repr__(self) -> str:
        return f"{type(self).__name__}(connection_id={self.connection_id!r})"

    @property
    def inline_limit(self) -> int:
        """Largest content returned inline (default: what fits a Lambda response as base64)."""
        if self._inline_limit is None:
            from sfconnector.staging import MAX_INLINE_BYTES

            self._inline_limit = MAX_INLINE_BYTES
        return self._inline_limit

    def _get_stager(self) -> PayloadStager | None:
        # Ports are instances or factories; the instances are not callable.
        if callable(self._stager):
            self._stager = self._stager()
        return self._stager

    def _get_fetcher(self) -> UrlFetcher:
        if callable(self._fetcher):
            self._fetcher = self._fetcher()
        if self._fetcher is None:
            from sfconnector.urlfetch import UrlFetcher

            self._fetcher = UrlFetcher()
        return self._fetcher


class AttachmentService(ContentPorts):
    """The attachment actions of one connection (ports: :class:`ContentPorts`); without a stager,
    content too big to return inline is a 413."""

    # ---- list ids ---------------------------------------------------------------------------------

    def list_ids(self, parent_id: str) -> AttachmentIdsResult:
        """Ids of every attachment of a record, oldest first.

        One call: a composite carrying the first page of ids and (for a parent whose type the id
        tells) a check that the parent exists, so an unknown parent is a 404 rather than an empty list.
        """
        parent = check_record_id(parent_id, expected="parent record", key_prefix=None, param="parent_id")
        where = soql.Eq("ParentId", parent)
        listing = soql.select("Attachment", ["Id"], where, order_by=["CreatedDate ASC", "Id ASC"])
        # The record's Salesforce Files ride in the same composite (issue 19: files users upload in
        # Lightning were invisible here); their ids are ContentDocument ids, read by get_content.
        links = soql.select(
            "ContentDocumentLink",
            ["ContentDocumentId"],
            soql.Eq("LinkedEntityId", parent),
            order_by=["ContentDocument.CreatedDate ASC", "ContentDocumentId ASC"],
        )
        attachments, files = rows_of_parent(self.client, parent, listing, links)
        found = [str(r["Id"]) for r in attachments]
        file_ids = [str(r["ContentDocumentId"]) for r in files]
        return AttachmentIdsResult(
            parent_id=parent, attachment_ids=found, count=len(found), file_ids=file_ids
        )

    # ---- get content ------------------------------------------------------------------------------

    def _files(self) -> FileService:
        """The files service on the same ports (Salesforce Files: ``store_as="file"``)."""
        from sfconnector.actions.files import FileService

        return FileService(
            self.client,
            connection_id=self.connection_id,
            stager=self._stager,
            fetcher=self._fetcher,
            inline_limit=self._inline_limit,
            tenant_id=self.tenant_id,
        )

    def get_content(self, attachment_id: str) -> AttachmentContentResult:
        """The attachment's bytes as base64, or a presigned URL when they do not fit a response.
        A Salesforce File's id (069 document, 068 version; what ``add`` returns for a file) is read
        as a file."""
        if attachment_id.startswith(_FILE_PREFIXES):
            got = self._files().get_content(attachment_id)
            return AttachmentContentResult(
                id=got.id,
                name=got.name,
                content_type=got.content_type,
                size=got.size,
                content_base64=got.content_base64,
                download_url=got.download_url,
                download_url_expires_at=got.download_url_expires_at,
            )
        checked = check_record_id(
            attachment_id, expected="Attachment", key_prefix=ATTACHMENT_PREFIX, param="record_id"
        )
        try:
            meta = self.client.get_record("Attachment", checked, _METADATA_FIELDS)
            body = self.client.get_blob(f"sobjects/Attachment/{checked}/Body")
        except (NotFoundError, EntityDeletedError):
            raise RecordNotFoundError(
                f"Attachment {checked} does not exist, or the connected user cannot see it.",
                fields=["record_id"],
            ) from None
        name = str(meta.get("Name") or checked)
        # Stored by anyone (not only through this connector): it becomes a download header.
        content_type = header_safe_content_type(meta.get("ContentType")) or _guess_type(name)
        if len(body) <= self.inline_limit:
            return AttachmentContentResult(
                id=checked,
                name=name,
                content_type=content_type,
                size=len(body),
                content_base64=base64.b64encode(body).decode("ascii"),
            )
        stager = self._get_stager()
        if stager is None:
            from sfconnector.urlfetch import PayloadTooLargeError

            raise PayloadTooLargeError(self.inline_limit, field="record_id", what="the attachment")
        staged = stager.stage(
            self.connection_id, body, filename=name, content_type=content_type, tenant_id=self.tenant_id
        )
        return AttachmentContentResult(
            id=checked,
            name=name,
            content_type=content_type,
            size=len(body),
            download_url=staged.url,
            download_url_expires_at=staged.expires_at.isoformat().replace("+00:00", "Z"),
        )

    # ---- add --------------------------------------------------------------------------------------

    def add(self, data: AddAttachmentInput) -> RecordResult:
        """Attach a file (base64 or fetched from a URL) to a record; returns the stored Attachment
        without its Body. One call: create + read back in a composite.

        ``store_as="file"`` stores a Salesforce File instead (a ContentVersion published to the
        record: it shows in the record's Files list); without ``store_as`` that is the choice when
        the org has Files (:func:`sfconnector.actions.files.files_enabled`: ContentVersion is
        createable, from the cached describe) and the attachment is not private (a file has no
        private flag)."""
        parent = check_record_id(data.parent_id, expected="parent record", key_prefix=None, param="parent_id")
        if data.store_as == "file":
            return self._add_file(data, None)  # the files path: URLs stream, up to 2 GB
        # The content is read (and refused when bad) before anything is asked of Salesforce.
        if data.content_base64 is not None:
            content, hinted_type = decode_base64(data.content_base64, max_bytes=self.max_bytes)
        else:
            assert data.url is not None  # the model guarantees exactly one source
            fetched = self._get_fetcher().fetch(data.url)
            if fetched.size > self.max_bytes:
                from sfconnector.urlfetch import PayloadTooLargeError

                raise PayloadTooLargeError(self.max_bytes, field="url", what="the file")
            if not fetched.content:
                raise InvalidInputError("the URL returned an empty file", fields=["url"])
            content, hinted_type = fetched.content, fetched.content_type
        if data.store_as is None and not data.is_private and self._files_enabled():
            return self._add_file(data, content)
        content_type = data.content_type or hinted_type or _guess_type(data.name)
        payload: dict[str, Any] = {
            "ParentId": parent,
            "Name": data.name,
            "Body": base64.b64encode(content).decode("ascii"),
            "ContentType": content_type,
            "IsPrivate": data.is_private,
        }
        if data.description is not None:
            payload["Description"] = data.description
        request = CompositeRequest(all_or_none=True, api_version=self.client.api_version)
        request.create("Attachment", payload, "write")
        request.get("Attachment", reference("write"), "record", fields=list(ATTACHMENT_FIELDS))
        response = self.client.composite(request)
        try:
            response.raise_for_ref("write")
        except SalesforceError as exc:
            if exc.error_code in _BAD_PARENT_CODES or "ParentId" in exc.fields:
                state = "is deleted" if exc.error_code == "ENTITY_IS_DELETED" else "does not exist"
                raise RecordNotFoundError(
                    f"The parent record {parent} {state}, or the connected user cannot attach files to "
                    f"it (Salesforce: {exc.message})",
                    fields=["parent_id"],
                ) from None
            raise
        record = response.raise_for_ref("record").body
        if not isinstance(record, Mapping):
            raise SalesforceError(502, message="Salesforce returned no record in the read-back")
        record = {k: v for k, v in record.items() if k != "Body"}
        return RecordResult(id=str(record.get("Id")), record=record)

    def _files_enabled(self) -> bool:
        from sfconnector.actions.files import files_enabled

        return files_enabled(self.client)

    def _add_file(self, data: AddAttachmentInput, content: bytes | None) -> RecordResult:
        """Store as a Salesforce File: ``content`` already read, or (None) from the request's source."""
        from sfconnector.models.files import AddFileInput

        source: dict[str, Any] = {"content_base64": data.content_base64, "url": data.url}
        files = self._files()
        if content is not None:
            stored = files.add_content(data.parent_id, data.name, content, description=data.description)
        else:
            request = AddFileInput(
                parent_id=data.parent_id, name=data.name, description=data.description, **source
            )
            stored = files.add(request)
        return RecordResult(id=stored.id, record={**stored.record, "ContentDocumentLinkId": stored.link_id})
