"""Boundary models of the files family (Salesforce Files: ContentVersion / ContentDocument /
ContentDocumentLink). Only the files and attachments functions load them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from sfconnector.models import SalesforceId, _Strict

ShareType = Literal["V", "C", "I"]
Visibility = Literal["AllUsers", "InternalUsers", "SharedUsers"]

_SOURCES = ("content_base64", "url", "s3_key")
# "Exactly one source" (the validator below) as JSON Schema: one is a string, the others absent or null.
_ONE_SOURCE: dict[str, Any] = {
    "oneOf": [
        {
            "required": [a],
            "properties": {a: {"type": "string"}, **{b: {"type": "null"} for b in _SOURCES if b != a}},
        }
        for a in _SOURCES
    ]
}
S3_KEY_PATTERN = r"^[A-Za-z0-9!_.*'()/+=@%:-]{1,1024}$"
"""A key of the payload bucket in S3's safe characters (the service checks it is the tenant's)."""


class _FileSource(_Strict):
    """Where the bytes come from: exactly one of ``content_base64``, ``url`` or ``s3_key``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_SOURCE)

    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="The file name with its extension (the version's PathOnClient), e.g. contract.pdf."
    )
    title: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None, description="The file's title in Salesforce (default: the name without its extension)."
    )
    content_base64: str | None = Field(
        default=None,
        description="The file's bytes, base64-encoded (small files: the request is at most 6 MB).",
    )
    url: Annotated[str, StringConstraints(max_length=2048)] | None = Field(
        default=None, description="A public https URL to fetch the file from (streamed through S3)."
    )
    s3_key: Annotated[str, StringConstraints(pattern=S3_KEY_PATTERN)] | None = Field(
        default=None,
        description="A key of the connector's payload bucket, under the caller's tenant prefix (for "
        "example a file another action staged): streamed to Salesforce, never whole in memory.",
    )
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _FileSource:
        given = [s for s in _SOURCES if getattr(self, s) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of content_base64, url or s3_key")
        return self


class AddFileInput(_FileSource):
    """A file to add to a record as a Salesforce File (a ContentVersion linked to the record)."""

    parent_id: SalesforceId = Field(description="The record the file is linked to (Account, Case...).")
    share_type: ShareType | None = Field(
        default=None,
        description="The link's permission: V viewer, C collaborator, I inferred from the record. Default: "
        "the link Salesforce makes for a file published to the record (FirstPublishLocationId, V).",
    )
    visibility: Visibility | None = Field(
        default=None, description="Who sees the file through the record (default AllUsers)."
    )


class NewFileVersionInput(_FileSource):
    """A new version of an existing file (its ContentDocument)."""

    reason_for_change: Annotated[str, StringConstraints(max_length=255)] | None = Field(
        default=None, description="Why the file changed (the version's ReasonForChange)."
    )


class FileInfo(BaseModel):
    """A file as a record's Files list shows it."""

    document_id: str = Field(description="The ContentDocument id (069...): the file across its versions.")
    version_id: str | None = Field(default=None, description="The latest version's id (068...).")
    title: str | None = None
    file_type: str | None = Field(default=None, description="Salesforce's file type, e.g. PDF, PNG, TEXT.")
    file_extension: str | None = None
    size: int | None = Field(default=None, description="Size of the latest version in bytes.")
    version_number: str | None = None
    modified_at: str | None = Field(default=None, description="When the content last changed.")
    share_type: str | None = None
    visibility: str | None = None
    link_id: str | None = Field(default=None, description="The ContentDocumentLink to the record.")


class FileListResult(BaseModel):
    parent_id: str
    files: list[FileInfo] = Field(description="Newest first (by content modification).")
    count: int


class FileResult(BaseModel):
    """A stored version and its link to the record."""

    id: str = Field(description="The ContentVersion id.")
    document_id: str
    link_id: str | None = Field(default=None, description="The ContentDocumentLink to the record, when made.")
    record: dict[str, Any] = Field(
        description="The ContentVersion as Salesforce stores it (without its body)."
    )


class FileContentResult(BaseModel):
    """Small content comes inline as base64; larger content as a short-lived download URL."""

    id: str = Field(description="The ContentVersion id.")
    document_id: str
    name: str
    content_type: str
    size: int = Field(description="Size of the content in bytes.")
    version_number: str | None = None
    checksum: str | None = Field(default=None, description="Salesforce's MD5 checksum of the content.")
    content_base64: str | None = None
    download_url: str | None = Field(
        default=None, description="Presigned URL, set when the content is staged."
    )
    download_url_expires_at: str | None = None
