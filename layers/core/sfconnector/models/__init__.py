"""Pydantic models at the HTTP boundary: the inputs and outputs of actions and the trigger params.

Record fields are open: the models only check the *shape* (field names look like Salesforce API
names, values are JSON scalars). Whether a field exists on the org, is writable, has the right
type or an allowed picklist value is checked against the org's describe by
:mod:`sfconnector.salesforce.validation` before anything is sent to Salesforce.

The catalog (:mod:`sfconnector.catalog`) names these models per action and trigger; the API layer
turns them into request validation and the OpenAPI document, so they are the one description of
the wire format.

The models of the record actions live here; the attachments family's, the error shape and the
trigger params live in submodules imported on first use (``from sfconnector.models import
ErrorResponse`` works as for the others): defining a pydantic model costs about 0.7 ms of a cold
start, and most functions never use those.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

CONNECTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,127}$"
"""Connection ids (they end up in secret names and table keys)."""
_CONNECTION_ID = re.compile(CONNECTION_ID_PATTERN)


def validate_connection_id(connection_id: str) -> str:
    """Connection ids end up in secret names and table keys: letters, digits, ``-`` and ``_`` only.
    (Here, below the stores, because the models of the state table's items check them too.)"""
    if not isinstance(connection_id, str) or not _CONNECTION_ID.fullmatch(connection_id):
        raise ValueError(f"{str(connection_id)[:40]!r} is not a valid connection id")
    return connection_id


if TYPE_CHECKING:
    from sfconnector.models.attachments import (
        AddAttachmentInput,
        AttachmentContentResult,
        AttachmentIdsResult,
    )
    from sfconnector.models.bulk import BulkJob, BulkJobInput, BulkQueryInput, BulkResults
    from sfconnector.models.campaigns import (
        AddCampaignMemberInput,
        CampaignMemberResult,
        CampaignMembersPage,
        ConvertLeadInput,
        ConvertLeadResult,
        RemoveCampaignMemberResult,
    )
    from sfconnector.models.collections import BatchInput, BatchResult, QueryInput, QueryPage
    from sfconnector.models.documents import CatalogDocument
    from sfconnector.models.errors import ErrorBody, ErrorResponse
    from sfconnector.models.files import (
        AddFileInput,
        FileContentResult,
        FileListResult,
        FileResult,
        NewFileVersionInput,
    )
    from sfconnector.models.triggers import (
        CustomObjectParams,
        FieldMatchedParams,
        LinkedObjectParams,
        ListViewParams,
        NoParams,
    )

_LAZY: dict[str, str] = {
    "AddAttachmentInput": "attachments",
    "AttachmentContentResult": "attachments",
    "AttachmentIdsResult": "attachments",
    "BatchInput": "collections",
    "BatchResult": "collections",
    "BulkJob": "bulk",
    "BulkJobInput": "bulk",
    "BulkQueryInput": "bulk",
    "BulkResults": "bulk",
    "QueryInput": "collections",
    "QueryPage": "collections",
    "CatalogDocument": "documents",
    "AddCampaignMemberInput": "campaigns",
    "CampaignMemberResult": "campaigns",
    "CampaignMembersPage": "campaigns",
    "ConvertLeadInput": "campaigns",
    "ConvertLeadResult": "campaigns",
    "RemoveCampaignMemberResult": "campaigns",
    "ErrorBody": "errors",
    "ErrorResponse": "errors",
    "AddFileInput": "files",
    "FileContentResult": "files",
    "FileListResult": "files",
    "FileResult": "files",
    "NewFileVersionInput": "files",
    "CustomObjectParams": "triggers",
    "LinkedObjectParams": "triggers",
    "FieldMatchedParams": "triggers",
    "ListViewParams": "triggers",
    "NoParams": "triggers",
}

__all__ = [
    "CONNECTION_ID_PATTERN",
    "CUSTOM_SOBJECT_PATTERN",
    "FIELD_NAME_PATTERN",
    "FIELD_PATH_PATTERN",
    "MAX_CRITERIA",
    "MAX_INTEGER_DIGITS",
    "MAX_QUERY_LIMIT",
    "MAX_SELECT_FIELDS",
    "MAX_TEXT_CHARS",
    "NEXT_PAGE_PATTERN",
    "SALESFORCE_ID_PATTERN",
    "AddAttachmentInput",
    "AddCampaignMemberInput",
    "AddFileInput",
    "AttachmentContentResult",
    "AttachmentIdsResult",
    "BatchInput",
    "BatchResult",
    "BulkJob",
    "BulkJobInput",
    "BulkQueryInput",
    "BulkResults",
    "CampaignMemberResult",
    "CampaignMembersPage",
    "CatalogDocument",
    "ConvertLeadInput",
    "ConvertLeadResult",
    "CustomObjectParams",
    "CustomSObjectName",
    "DeleteResult",
    "ErrorBody",
    "ErrorResponse",
    "FieldMatchedParams",
    "FieldName",
    "FieldPath",
    "FieldValue",
    "FileContentResult",
    "FileListResult",
    "FileResult",
    "FindAllInput",
    "FindInput",
    "FindResult",
    "LinkedObjectParams",
    "ListViewParams",
    "NewFileVersionInput",
    "NoParams",
    "QueryInput",
    "QueryPage",
    "QueryResult",
    "RecordFields",
    "RecordResult",
    "RemoveCampaignMemberResult",
    "SalesforceId",
    "SalesforceRecord",
    "UpsertInput",
    "UpsertResult",
    "record_id_pattern",
    "validate_connection_id",
]


def __getattr__(name: str) -> Any:
    """The models of the submodules, imported on first use (PEP 562)."""
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value
    return value


# A field / sObject API name: Name, Custom__c, ns__Custom__c, Geo__Latitude__s. The describe is the
# real check; this only keeps obviously malformed names out of the error messages and queries.
FIELD_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,119}$"
CUSTOM_SOBJECT_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,119}__c$"
SALESFORCE_ID_PATTERN = r"^[A-Za-z0-9]{15}(?:[A-Za-z0-5]{3})?$"
"""15 characters, or 18: the case-safe suffix is made of A-Z and 0-5 (any case is accepted)."""


def record_id_pattern(key_prefix: str | None = None) -> str:
    """The documented form of a record id: 15 characters, or 18 with the case-safe suffix (each of
    its characters is A-Z or 0-5, in any case), starting with ``key_prefix`` when the object's ids
    all do. Which suffix belongs to which id is a checksum no pattern expresses (docs/api.md)."""
    return rf"^{key_prefix or ''}[A-Za-z0-9]{{{15 - len(key_prefix or '')}}}(?:[A-Za-z0-5]{{3}})?$"


FieldName = Annotated[str, StringConstraints(pattern=FIELD_NAME_PATTERN)]
FIELD_PATH_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,119}(?:\.[A-Za-z][A-Za-z0-9_]{0,119}){0,5}$"
FieldPath = Annotated[str, StringConstraints(pattern=FIELD_PATH_PATTERN)]
"""A field, or a parent's field through a relationship (``Account.Name``)."""
CustomSObjectName = Annotated[str, StringConstraints(pattern=CUSTOM_SOBJECT_PATTERN)]
SalesforceId = Annotated[str, StringConstraints(pattern=SALESFORCE_ID_PATTERN)]
MAX_TEXT_CHARS = 131_072
"""Salesforce's longest text field (Long Text Area, Rich Text Area): no field value is longer."""
FieldText = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
MAX_INTEGER_DIGITS = 30
"""Digits of an integer in a body (Salesforce's numbers have at most 18; a few more leave room for
Salesforce's own clear error). Longer ones are refused where bodies are parsed (sfconnector.api)."""
FieldInt = Annotated[int, Field(gt=-(10**MAX_INTEGER_DIGITS), lt=10**MAX_INTEGER_DIGITS)]
FieldNumber = Annotated[float, Field(gt=-(10**MAX_INTEGER_DIGITS), lt=10**MAX_INTEGER_DIGITS)]
FieldValue = FieldText | bool | FieldInt | FieldNumber | None
"""A field value as Salesforce's REST API takes it: a JSON scalar (dates are ISO strings)."""
MAX_CRITERION_CHARS = 4_000
"""Salesforce refuses longer strings in a SOQL WHERE clause."""
CriterionValue = (
    Annotated[str, StringConstraints(max_length=MAX_CRITERION_CHARS)] | bool | FieldInt | FieldNumber | None
)
"""A find criterion's value: a field value that fits a SOQL WHERE clause."""

SalesforceRecord = dict[str, Any]
"""A record exactly as Salesforce returns it (with its ``attributes``)."""

NEXT_PAGE_PATTERN = r"^00K[0-9A-Za-z]{12}(?:[A-Za-z0-5]{3})?-\d{1,10}$"
"""A find-all continuation token: the last OpportunityContactRole's id (key prefix 00K) and its
creation time (epoch seconds: ten digits reach the year 2286, more are no time Python can read)."""

MAX_CRITERIA = 20
MAX_SELECT_FIELDS = 500
MAX_QUERY_LIMIT = 2000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------- inputs


def _closed(schema: dict[str, Any]) -> None:
    """A field map's JSON Schema: keys are field names (``propertyNames``), every value a scalar
    (``additionalProperties``). Pydantic writes ``patternProperties`` with ``additionalProperties``
    left open, so ``{"0": {}}`` was schema-valid; ``additionalProperties: false`` beside it is as
    strict, but client generators read it as "no fields at all"."""
    patterns = schema.pop("patternProperties", None) or {}
    for pattern, values in patterns.items():
        schema["propertyNames"] = {"pattern": pattern}
        schema["additionalProperties"] = values


_CLOSED: Any = _closed
CLOSED_MAP: Any = _closed
"""``json_schema_extra`` of a field map (field name -> scalar) other models declare (bulk records)."""


class RecordFields(
    RootModel[Annotated[dict[FieldName, FieldValue], Field(min_length=1, json_schema_extra=_CLOSED)]]
):
    """The record's fields as in Salesforce's REST API, e.g. ``{"Name": "Acme", "Industry": "Energy"}``.

    Any field of the org's describe is accepted (custom ``__c`` fields included).
    """


class FindInput(_Strict):
    """Find one record whose fields equal all the given values."""

    criteria: Annotated[
        dict[FieldName, CriterionValue],
        Field(min_length=1, max_length=MAX_CRITERIA, json_schema_extra=_CLOSED),
    ] = Field(
        description="Field/value pairs, AND-ed; null matches an empty field.",
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
