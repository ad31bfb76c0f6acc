"""Pydantic models at the HTTP boundary: the inputs and outputs of actions and the trigger params.

Record fields are open: the models only check the *shape* (field names look like Salesforce API
names, values are JSON scalars). Whether a field exists on the org, is writable, has the right
type or an allowed picklist value is checked against the org's describe by
:mod:`sfconnector.actions.validation` before anything is sent to Salesforce.

The catalog (:mod:`sfconnector.catalog`) names these models per action and trigger; the API layer
turns them into request validation and the OpenAPI document, so they are the one description of
the wire format.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, model_validator

# A field / sObject API name: Name, Custom__c, ns__Custom__c, Geo__Latitude__s. The describe is the
# real check; this only keeps obviously malformed names out of the error messages and queries.
FIELD_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,119}$"
CUSTOM_SOBJECT_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,119}__c$"
SALESFORCE_ID_PATTERN = r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$"

FieldName = Annotated[str, StringConstraints(pattern=FIELD_NAME_PATTERN)]
FIELD_PATH_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,119}(?:\.[A-Za-z][A-Za-z0-9_]{0,119}){0,5}$"
FieldPath = Annotated[str, StringConstraints(pattern=FIELD_PATH_PATTERN)]
"""A field, or a parent's field through a relationship (``Account.Name``)."""
CustomSObjectName = Annotated[str, StringConstraints(pattern=CUSTOM_SOBJECT_PATTERN)]
SalesforceId = Annotated[str, StringConstraints(pattern=SALESFORCE_ID_PATTERN)]
FieldValue = str | bool | int | float | None
"""A field value as Salesforce's REST API takes it: a JSON scalar (dates are ISO strings)."""

SalesforceRecord = dict[str, Any]
"""A record exactly as Salesforce returns it (with its ``attributes``)."""

NEXT_PAGE_PATTERN = r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?-\d{1,12}$"
"""A find-all continuation token: the last record's id and creation time (epoch seconds)."""

MAX_CRITERIA = 20
MAX_SELECT_FIELDS = 500
MAX_QUERY_LIMIT = 2000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------- inputs


class RecordFields(RootModel[Annotated[dict[FieldName, FieldValue], Field(min_length=1)]]):
    """The record's fields as in Salesforce's REST API, e.g. ``{"Name": "Acme", "Industry": "Energy"}``.

    Any field of the org's describe is accepted (custom ``__c`` fields included).
    """


class FindInput(_Strict):
    """Find one record whose fields equal all the given values."""

    criteria: Annotated[dict[FieldName, FieldValue], Field(min_length=1, max_length=MAX_CRITERIA)] = Field(
        description="Field/value pairs, AND-ed; null matches an empty field.",
        examples=[{"Email": "ada@example.com"}],
    )
    fields: Annotated[list[FieldPath], Field(min_length=1, max_length=MAX_SELECT_FIELDS)] | None = Field(
        default=None,
        description="Fields to return, parent fields included (`Account.Name`); default: every field.",
    )
    pick: Literal["newest", "oldest"] = Field(
        default="newest",
        description="Which record to return when several match (by CreatedDate).",
    )


class UpsertInput(_Strict):
    """Create the record, or update the one whose ``match_field`` equals ``record[match_field]``."""

    match_field: FieldName = Field(
        description="An External ID field (one Salesforce call) or another field such as Email "
        "(looked up first; several matches are a 409).",
        examples=["Email"],
    )
    record: RecordFields


class FindAllInput(_Strict):
    """Find every record matching a SOQL condition (the part after WHERE)."""

    condition: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] = Field(
        description="A SOQL WHERE condition on OpportunityContactRole, e.g. "
        "\"OpportunityId = '006xx000001abcdAAA' AND IsPrimary = true\".",
        examples=["IsPrimary = true"],
    )
    fields: Annotated[list[FieldPath], Field(min_length=1, max_length=MAX_SELECT_FIELDS)] | None = Field(
        default=None, description="Fields to return, parent fields included; default: every field."
    )
    limit: int = Field(
        default=200, ge=1, le=MAX_QUERY_LIMIT, description="Most records to return (the page size)."
    )
    next_page: Annotated[str, StringConstraints(pattern=NEXT_PAGE_PATTERN)] | None = Field(
        default=None,
        description="The `next_page` of the previous answer, sent with the same condition and fields: "
        "the records after that page (null or absent: the first page).",
    )


class AddAttachmentInput(_Strict):
    """A file to attach to a record: exactly one of ``content_base64`` or ``url``."""

    parent_id: SalesforceId = Field(description="The record the file is attached to (Account, Case...).")
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(examples=["invoice.pdf"])
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


# -------------------------------------------------------------------------------------- outputs


class RecordResult(BaseModel):
    """The record as Salesforce stores it after the action."""

    id: str
    record: SalesforceRecord


class UpsertResult(RecordResult):
    created: bool = Field(description="True when a new record was created, false when one was updated.")


class FindResult(BaseModel):
    """``found: false`` is a normal answer (200), so a workflow can branch on it."""

    found: bool
    match_count: int = Field(description="How many records match the criteria.")
    id: str | None = None
    record: SalesforceRecord | None = None


class DeleteResult(BaseModel):
    id: str
    deleted: Literal[True] = True
    already_deleted: bool = Field(description="True when the record was already in the recycle bin.")


class QueryResult(BaseModel):
    records: list[SalesforceRecord]
    count: int = Field(description="Number of records returned.")
    has_more: bool = Field(description="True when more records match than `limit` allowed.")
    next_page: str | None = Field(
        default=None,
        description="Send it back as `next_page` (with the same condition and fields) for the next "
        "records; null on the last page.",
    )


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


# ------------------------------------------------------------------------------------ errors


class ErrorBody(BaseModel):
    code: str = Field(description="A stable, machine-readable error code.")
    message: str
    fields: list[str] = Field(default_factory=list, description="Fields the error is about.")
    salesforce: list[dict[str, Any]] = Field(
        default_factory=list, description="Salesforce's own error items, when Salesforce reported the error."
    )
    details: dict[str, Any] | None = Field(
        default=None, description="Extra data, e.g. candidate_ids of a 409."
    )


class ErrorResponse(BaseModel):
    """Every error of the API has this shape."""

    error: ErrorBody


# ----------------------------------------------------------------------------- trigger params


class NoParams(_Strict):
    """The trigger takes no parameters."""


class ListViewParams(_Strict):
    list_view_id: SalesforceId = Field(description="Id of the list view (key prefix 00B).")


class FieldMatchedParams(_Strict):
    field: FieldName = Field(examples=["StageName"])
    value: FieldValue = Field(examples=["Closed Won"])
    mode: Literal["changed_to", "equals"] = Field(
        default="changed_to",
        description="changed_to: fire when the field changes into the value; "
        "equals: fire on any change while the field equals the value.",
    )


class CustomObjectParams(_Strict):
    sobject: CustomSObjectName = Field(description="The custom object's API name.", examples=["Invoice__c"])
