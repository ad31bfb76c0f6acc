"""Boundary models of the attachments family (its function alone loads them)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from sfconnector.models import SalesforceId, _Strict

# A media type as RFC 6838 names them (type/subtype, restricted characters, optional parameters):
# it becomes a Content-Type header of the download, so no CR/LF, space or quote can get into it.
_MEDIA_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
CONTENT_TYPE_PATTERN = rf"^{_MEDIA_NAME}/{_MEDIA_NAME}(?:; ?{_MEDIA_NAME}={_MEDIA_NAME})*$"


def header_safe_content_type(value: object) -> str | None:
    """``value`` if it is a media type fit for a header (a stored ContentType may not be)."""
    safe = isinstance(value, str) and len(value) <= 120 and re.fullmatch(CONTENT_TYPE_PATTERN, value)
    return value if safe and isinstance(value, str) else None


# "Exactly one of content_base64 or url" (the validator below) as JSON Schema: one is a string,
# the other absent or null.
_ONE_SOURCE: dict[str, Any] = {
    "oneOf": [
        {"required": [a], "properties": {a: {"type": "string"}, b: {"type": "null"}}}
        for a, b in (("content_base64", "url"), ("url", "content_base64"))
    ]
}


class AddAttachmentInput(_Strict):
    """A file to attach to a record: exactly one of ``content_base64`` or ``url``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_SOURCE)

    parent_id: SalesforceId = Field(description="The record the file is attached to (Account, Case...).")
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="The file name, e.g. invoice.pdf."
    )
    content_base64: str | None = Field(default=None, description="The file's bytes, base64-encoded.")
    url: Annotated[str, StringConstraints(max_length=2048)] | None = Field(
        default=None, description="A public https URL to fetch the file from."
    )
    content_type: Annotated[str, StringConstraints(max_length=120, pattern=CONTENT_TYPE_PATTERN)] | None = (
        Field(
            default=None,
            description="MIME type, type/subtype such as application/pdf (default: from the URL's response, "
            "else guessed from the name).",
        )
    )
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    is_private: bool = False
    store_as: Literal["attachment", "file"] | None = Field(
        default=None,
        description="attachment: the classic Attachment object; file: a Salesforce File (a ContentVersion "
        "linked to the record, shown in its Files list). Default: file when the org has Salesforce Files "
        "and is_private is false, else attachment.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> AddAttachmentInput:
        if (self.content_base64 is None) == (self.url is None):
            raise ValueError("give exactly one of content_base64 or url")
        return self


class AttachmentIdsResult(BaseModel):
    parent_id: str
    attachment_ids: list[str] = Field(description="The record's Attachment ids (00P...), oldest first.")
    count: int = Field(description="How many attachment_ids.")
    file_ids: list[str] = Field(
        default_factory=list,
        description="The record's Salesforce Files (ContentDocument ids, 069...), oldest first: Get "
        "Attachment Content reads them too.",
    )


class AttachmentContentResult(BaseModel):
    """Small content comes inline as base64; larger content as a short-lived download URL."""

    id: str
    name: str
    content_type: str | None = None
    size: int = Field(description="Size of the content in bytes.")
    content_base64: str | None = None
    download_url: str | None = Field(
        default=None, description="Presigned URL, set when the content is staged."
    )
    download_url_expires_at: str | None = None
