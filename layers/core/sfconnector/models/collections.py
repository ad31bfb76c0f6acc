"""The boundary models of the many-record actions: query pages (find many) and batch writes
(sObject Collections), for every family and any object (issue 20)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

from sfconnector.models import (
    _CLOSED,
    FIELD_NAME_PATTERN,
    MAX_CRITERIA,
    MAX_QUERY_LIMIT,
    MAX_SELECT_FIELDS,
    SALESFORCE_ID_PATTERN,
    CriterionValue,
    FieldName,
    FieldPath,
    RecordFields,
    SalesforceRecord,
)

__all__ = [
    "MAX_BATCH_RECORDS",
    "MAX_ORDER_BY",
    "PAGE_TOKEN_PATTERN",
    "BatchCreate",
    "BatchDelete",
    "BatchError",
    "BatchInput",
    "BatchItem",
    "BatchResult",
    "BatchUpdate",
    "BatchUpsert",
    "QueryInput",
    "QueryPage",
]

MAX_BATCH_RECORDS = 200
"""sObject Collections' own cap: one Salesforce call per request."""
MAX_ORDER_BY = 3
PAGE_TOKEN_PATTERN = r"^[A-Za-z0-9_\-]{1,2048}$"  # noqa: S105 (a format, not a secret)
"""A next-page token: URL-safe base64 (its content is the connector's business, see docs/api.md)."""
ORDER_BY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,119}(?: (?:ASC|DESC|asc|desc))?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueryInput(_Strict):
    """Find many records: criteria (equality, AND-ed) and/or a guarded condition, one page at a time."""

    criteria: (
        Annotated[
            dict[FieldName, CriterionValue],
            Field(min_length=1, max_length=MAX_CRITERIA, json_schema_extra=_CLOSED),
        ]
        | None
    ) = Field(default=None, description="Field/value pairs, AND-ed; null matches an empty field.")
    condition: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] | None = Field(
        default=None,
        description="A SOQL WHERE condition in the restricted grammar of find all (parsed and "
        "re-emitted, never pasted), AND-ed with `criteria`.",
        examples=["CreatedDate = LAST_N_DAYS:30"],
    )
    fields: Annotated[list[FieldPath], Field(min_length=1, max_length=MAX_SELECT_FIELDS)] | None = Field(
        default=None, description="Fields to return, parent fields included; default: every field."
    )
    order_by: Annotated[
        list[Annotated[str, StringConstraints(pattern=ORDER_BY_PATTERN)]], Field(max_length=MAX_ORDER_BY)
    ] = Field(
        default_factory=list,
        description="Sortable fields, each optionally followed by ` ASC` or ` DESC` (empty values "
        "last); the record id breaks ties. Default: by id.",
    )
    limit: int = Field(default=200, ge=1, le=MAX_QUERY_LIMIT, description="Records per page (at most 2,000).")
    include_deleted: bool = Field(
        default=False,
        strict=True,
        description="Include records in the recycle bin (`queryAll`); they carry IsDeleted.",
    )
    next: Annotated[str, StringConstraints(pattern=PAGE_TOKEN_PATTERN)] | None = Field(
        default=None,
        description="The `next` of the previous page, sent with the same body otherwise: the records "
        "after it. Tied to the connection and the query; it never expires.",
    )


class QueryPage(BaseModel):
    records: list[SalesforceRecord]
    count: int = Field(description="Records on this page.")
    next: str | None = Field(
        default=None, description="Send it back as `next` (same body) for the next page; null on the last."
    )


_Records = Annotated[list[RecordFields], Field(min_length=1, max_length=MAX_BATCH_RECORDS)]


class _Batch(_Strict):
    all_or_none: bool = Field(
        default=False,
        strict=True,
        description="True: if any record fails, none is written (each answers why). False: the "
        "valid records are written, the others answer their errors.",
    )


class BatchCreate(_Batch):
    operation: Literal["create"]
    records: _Records = Field(description="The records' fields.")


class BatchUpdate(_Batch):
    operation: Literal["update"]
    records: _Records = Field(description="The fields to change, each record with its `Id`.")


class BatchUpsert(_Batch):
    operation: Literal["upsert"]
    external_id_field: Annotated[str, StringConstraints(pattern=FIELD_NAME_PATTERN)] = Field(
        description="The External ID field the records are matched by (each record holds its value)."
    )
    records: _Records


class BatchDelete(_Batch):
    operation: Literal["delete"]
    ids: Annotated[
        list[Annotated[str, StringConstraints(pattern=SALESFORCE_ID_PATTERN)]],
        Field(min_length=1, max_length=MAX_BATCH_RECORDS),
    ] = Field(description="The ids of the records to delete.")


class BatchInput(
    RootModel[
        Annotated[BatchCreate | BatchUpdate | BatchUpsert | BatchDelete, Field(discriminator="operation")]
    ]
):
    """Up to 200 writes of one kind (`operation`) in ONE Salesforce call (sObject Collections)."""


class BatchError(BaseModel):
    code: str = Field(description="The connector's problem code, or Salesforce's statusCode.")
    message: str
    fields: list[str] = Field(default_factory=list)


class BatchItem(BaseModel):
    index: int = Field(description="The record's position in the request.")
    success: bool
    id: str | None = None
    created: bool | None = Field(default=None, description="upsert: true when the record was created.")
    errors: list[BatchError] = Field(default_factory=list)


class BatchResult(BaseModel):
    """Per-record results in input order (Salesforce answers 200 to a batch with failures too)."""

    results: list[BatchItem]
    succeeded: int
    failed: int

    @classmethod
    def of(cls, items: list[BatchItem]) -> BatchResult:
        ok = sum(1 for i in items if i.success)
        return cls(results=items, succeeded=ok, failed=len(items) - ok)
