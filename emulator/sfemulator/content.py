"""Salesforce Files: ContentVersion, ContentDocument and ContentDocumentLink with the org's rules.

* Inserting a ContentVersion without ``ContentDocumentId`` creates its ContentDocument (version 1)
  and a link for the owner (ShareType ``I``); with ``FirstPublishLocationId`` also a link to that
  record (ShareType ``V``, Visibility ``AllUsers``), as a file uploaded to a record gets.
* Inserting one with ``ContentDocumentId`` adds a version: its number is the previous one + 1, the
  previous version's ``IsLatest`` clears, the document's ``LatestPublishedVersionId``, title, size and
  type follow the new version. ``FirstPublishLocationId`` cannot be given with it.
* The body (``VersionData``) is required, at most 2 GB through a multipart request and 37.5 MB as
  base64 inside a JSON body (the REST API's limits, "Insert or Update Blob Data"); it is read back from
  ``/sobjects/ContentVersion/{id}/VersionData``. ``Checksum`` is the MD5 of the body.
* A ContentDocumentLink names a document and an entity once (a second link of the same pair is
  refused), with ShareType ``V``/``C``/``I`` (restricted picklist) and Visibility ``AllUsers`` /
  ``InternalUsers`` / ``SharedUsers``.

The multipart request shape is the one the REST API documents: ``multipart/form-data`` whose first
part (``name="entity_content"``, ``application/json``) is the record's fields and whose second part
(``name="VersionData"``, with a ``filename``) is the binary. The server spools such a request to a
temporary file; the body stays there (:class:`sfemulator.store.FileBlob`), never copied into memory.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfemulator.errors import ApiError
from sfemulator.store import Blob, FileBlob, Record, blob_size

if TYPE_CHECKING:
    from sfemulator.dml import Dml

__all__ = [
    "MAX_JSON_BLOB",
    "MAX_MULTIPART_BLOB",
    "OBJECTS",
    "after_insert",
    "before_write",
    "parse_multipart",
    "version_data_url",
]

MAX_MULTIPART_BLOB = 2 * 1024 * 1024 * 1024
"""A ContentVersion's body through a multipart request (sObject Basic Information / Rows)."""
MAX_JSON_BLOB = 37_500_000 // 4 * 3 + 3
"""37.5 MB of base64 text inside a non-multipart (JSON) request, decoded."""

_FILE_TYPES = {
    "pdf": "PDF", "png": "PNG", "jpg": "JPG", "jpeg": "JPEG", "gif": "GIF", "txt": "TEXT", "csv": "CSV",
    "doc": "WORD", "docx": "WORD_X", "xls": "EXCEL", "xlsx": "EXCEL_X", "ppt": "POWER_POINT",
    "pptx": "POWER_POINT_X", "zip": "ZIP", "html": "HTML", "xml": "XML", "json": "JSON", "mp4": "MP4",
    "bin": "UNKNOWN",
}  # fmt: skip
OBJECTS = frozenset({"ContentVersion", "ContentDocumentLink"})
"""The objects whose writes these rules complete."""
_SHARE_TYPES = ("V", "C", "I")
_VISIBILITIES = ("AllUsers", "InternalUsers", "SharedUsers")


def version_data_url(version: str, record_id: str) -> str:
    return f"/services/data/{version}/sobjects/ContentVersion/{record_id}/VersionData"


def _extension(path_on_client: str | None) -> str | None:
    if not path_on_client or "." not in path_on_client:
        return None
    ext = path_on_client.rsplit(".", 1)[1].lower()
    return ext[:40] or None


def _checksum(blob: Blob) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    if isinstance(blob, bytes):
        md5.update(blob)
    else:
        for chunk in blob.chunks():
            md5.update(chunk)
    return md5.hexdigest()


# ---------------------------------------------------------------------------------------- rules


def before_write(
    dml: Dml,
    name: str,
    rec: Record,
    old: Record | None,
    given: dict[str, Any],
    blob: Blob | None,
    user_id: str,
) -> None:
    """Validate and complete a ContentVersion or ContentDocumentLink before it is stored."""
    if name == "ContentVersion" and old is None:
        _new_version(dml, rec, given, blob)
    elif name == "ContentDocumentLink":
        _link(dml, rec, old)


def _new_version(dml: Dml, rec: Record, given: dict[str, Any], blob: Blob | None) -> None:
    if blob is None:
        raise ApiError(
            400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [VersionData]", ["VersionData"]
        )
    if not rec.get("PathOnClient"):
        raise ApiError(
            400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [PathOnClient]", ["PathOnClient"]
        )
    if blob_size(blob) > MAX_MULTIPART_BLOB:
        raise ApiError(
            400, "STORAGE_LIMIT_EXCEEDED", "The file exceeds the maximum size of 2 GB", ["VersionData"]
        )
    if isinstance(blob, bytes) and len(blob) > MAX_JSON_BLOB:
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            "Blob data in a non-multipart message is limited to 37.5 MB of base64-encoded data: send a "
            "multipart request",
            ["VersionData"],
        )
    if not rec.get("Title"):
        rec["Title"] = (
            str(rec["PathOnClient"]).rsplit("/", 1)[-1].rsplit(".", 1)[0][:255] or rec["PathOnClient"]
        )
    doc_id = given.get("ContentDocumentId")
    if doc_id is not None:
        if given.get("FirstPublishLocationId") is not None:
            raise ApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "You cannot set FirstPublishLocationId on a new version of an existing document",
                ["FirstPublishLocationId"],
            )
        versions = [
            v
            for v in dml.data.iter("ContentVersion", include_deleted=False)
            if v["ContentDocumentId"] == doc_id
        ]
        rec["VersionNumber"] = str(max((int(v.get("VersionNumber") or 0) for v in versions), default=0) + 1)
    else:
        rec["VersionNumber"] = "1"
    ext = _extension(rec.get("PathOnClient"))
    rec["FileExtension"] = ext
    rec["FileType"] = _FILE_TYPES.get(ext or "", "UNKNOWN")
    rec["ContentSize"] = blob_size(blob)
    if "ContentSizeLong" in rec:
        rec["ContentSizeLong"] = blob_size(blob)
    rec["Checksum"] = _checksum(blob)
    rec["IsLatest"] = True
    rec["PublishStatus"] = "P" if given.get("FirstPublishLocationId") or doc_id else "R"
    rec["ContentModifiedDate"] = rec.get("CreatedDate")
    rec["ContentModifiedById"] = rec.get("CreatedById")
    rec["VersionData"] = version_data_url(dml.version, rec["Id"])
    if "VersionDataUrl" in rec:
        rec["VersionDataUrl"] = None


def _link(dml: Dml, rec: Record, old: Record | None) -> None:
    if rec.get("ShareType") is None:
        rec["ShareType"] = "V"
    if rec["ShareType"] not in _SHARE_TYPES:
        raise ApiError(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"Share Type: bad value for restricted picklist field: {rec['ShareType']}",
            ["ShareType"],
        )
    if rec.get("Visibility") is None:
        rec["Visibility"] = "AllUsers"
    if rec["Visibility"] not in _VISIBILITIES:
        raise ApiError(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"Visibility: bad value for restricted picklist field: {rec['Visibility']}",
            ["Visibility"],
        )
    if old is not None:
        return
    for other in dml.data.iter("ContentDocumentLink", include_deleted=False):
        if other["ContentDocumentId"] == rec.get("ContentDocumentId") and other["LinkedEntityId"] == rec.get(
            "LinkedEntityId"
        ):
            raise ApiError(
                400,
                "DUPLICATE_VALUE",
                f"Document with ID: {rec.get('ContentDocumentId')} is already linked with the entity with "
                f"ID: {rec.get('LinkedEntityId')}",
                ["LinkedEntityId"],
            )


def after_insert(dml: Dml, rec: Record, user_id: str, ts: str) -> None:
    """A new version's document (created, or moved to the new version) and its links."""
    doc_id = rec.get("ContentDocumentId")
    doc_sobj = dml.schema.sobjects["ContentDocument"]
    if doc_id is None:
        doc: Record = dict.fromkeys(doc_sobj.fields)
        doc_id = dml.ids.new(doc_sobj.key_prefix)
        doc.update(
            Id=doc_id,
            IsDeleted=False,
            IsArchived=False,
            CreatedDate=ts,
            CreatedById=user_id,
            OwnerId=rec.get("OwnerId") or user_id,
            SharingOption=rec.get("SharingOption") or "A",
            SharingPrivacy=rec.get("SharingPrivacy") or "N",
        )
        rec["ContentDocumentId"] = doc_id
        dml.data.put("ContentVersion", rec)
        links = [(rec.get("OwnerId") or user_id, "I", "AllUsers")]
        if rec.get("FirstPublishLocationId"):
            links.append((rec["FirstPublishLocationId"], "V", "AllUsers"))
    else:
        found = dml.data.get(doc_id)
        assert found is not None  # the reference check ran first
        doc = dict(found[1])
        links = []
        for prior in list(dml.data.iter("ContentVersion", include_deleted=False)):
            if prior["ContentDocumentId"] == doc_id and prior["Id"] != rec["Id"] and prior.get("IsLatest"):
                dml.data.put("ContentVersion", {**prior, "IsLatest": False})
    doc.update(
        Title=rec.get("Title"),
        Description=rec.get("Description"),
        PublishStatus=rec.get("PublishStatus"),
        LatestPublishedVersionId=rec["Id"],
        ContentSize=rec.get("ContentSize"),
        FileType=rec.get("FileType"),
        FileExtension=rec.get("FileExtension"),
        ContentModifiedDate=ts,
        LastModifiedDate=ts,
        LastModifiedById=user_id,
        SystemModstamp=ts,
    )
    dml.data.put("ContentDocument", doc)
    link_sobj = dml.schema.sobjects["ContentDocumentLink"]
    for entity, share, visibility in links:
        link: Record = dict.fromkeys(link_sobj.fields)
        link.update(
            Id=dml.ids.new(link_sobj.key_prefix),
            IsDeleted=False,
            ContentDocumentId=doc_id,
            LinkedEntityId=entity,
            ShareType=share,
            Visibility=visibility,
            SystemModstamp=ts,
        )
        dml.data.put("ContentDocumentLink", link)


# ------------------------------------------------------------------------------------ multipart

_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_NAME = re.compile(rb'name="?([^";\r\n]+)"?', re.IGNORECASE)
_HEAD_LIMIT = 1024 * 1024


def _bad(message: str) -> ApiError:
    # Salesforce documents no error code for a malformed multipart body; the emulator names one.
    return ApiError(400, "INVALID_MULTIPART_REQUEST", message)


def parse_multipart(path: Path, content_type: str, size: int, blob_field: str) -> tuple[bytes, FileBlob]:
    """The JSON entity part and the binary part (as a slice of the spooled file) of a multipart
    insert. Only the head (entity part) and the tail (closing boundary) are read into memory."""
    m = _BOUNDARY.search(content_type)
    if m is None:
        raise _bad("multipart/form-data needs a boundary parameter")
    boundary = ("--" + (m.group(1) or m.group(2))).encode("latin-1")
    with path.open("rb") as fh:
        head = fh.read(min(size, _HEAD_LIMIT))
        start = head.find(boundary)
        if start < 0:
            raise _bad("the request body does not start with the multipart boundary")
        parts: list[tuple[bytes, int, int]] = []  # (part headers, data start, data end or -1)
        pos = start
        while len(parts) < 2:
            line_end = head.find(b"\r\n", pos)
            headers_end = head.find(b"\r\n\r\n", line_end)
            if line_end < 0 or headers_end < 0:
                raise _bad("a multipart part has no header block")
            headers = head[line_end + 2 : headers_end]
            data_start = headers_end + 4
            nxt = head.find(b"\r\n" + boundary, data_start)
            parts.append((headers, data_start, nxt))
            if nxt < 0:
                break
            pos = nxt + 2
            if head[pos + len(boundary) : pos + len(boundary) + 2] == b"--":
                break
        if len(parts) != 2:
            raise _bad("a multipart insert has two parts: the entity (JSON) and the binary")
        (h1, s1, e1), (h2, s2, _e2) = parts
        if e1 < 0:
            raise _bad("the entity part is not terminated by the boundary")
        name2 = _NAME.search(h2)
        if b"application/json" not in h1.lower():
            raise _bad("the first part must be the entity, Content-Type: application/json")
        if name2 is None or name2.group(1).decode("latin-1") != blob_field:
            raise _bad(f'the binary part must be named "{blob_field}"')
        tail_size = min(size - s2, 4096)
        fh.seek(size - tail_size)
        tail = fh.read(tail_size)
    closing = tail.rfind(b"\r\n" + boundary + b"--")
    if closing < 0:
        raise _bad("the body does not end with the closing boundary")
    end = size - tail_size + closing
    return head[s1:e1], FileBlob(path, s2, end - s2)
