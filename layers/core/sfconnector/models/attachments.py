"""Boundary models of the attachments family (its function alone loads them)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from sfconnector.models import SalesforceId, _Strict

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
    content_type: Annotated[str, StringConstraints(max_length=120)] | None = Field(
        default=None, description="MIME type (default: from the URL's response, else guessed from the name)."
    )
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    is_private: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> AddAttachmentInput:
        if (self.content_base64 is None) == (self.url is None):
            raise ValueError("give exactly one of content_base64 or url")
        return self


class AttachmentIdsResult(BaseModel):
    parent_id: str
    attachment_ids: list[str]
    count: int


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
