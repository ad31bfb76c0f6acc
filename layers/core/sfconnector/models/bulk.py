"""The bulk jobs' boundary models (Bulk API 2.0 ingest and query jobs): inputs, the job, results, and
the job-finished event's envelope (imported on first use, like the other submodules)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from sfconnector.models import (
    CLOSED_MAP,
    FIELD_NAME_PATTERN,
    MAX_SELECT_FIELDS,
    FieldName,
    FieldPath,
    FieldValue,
)

__all__ = [
    "BULK_JOB_ID_PATTERN",
    "BULK_RESULT_KINDS",
    "DEMO_BULK_JOB_ID",
    "INPUT_KEY_PATTERN",
    "MAX_JSON_RECORDS",
    "BulkJob",
    "BulkJobFinished",
    "BulkJobInput",
    "BulkQueryInput",
    "BulkResultRow",
    "BulkResults",
]

BULK_JOB_ID_PATTERN = r"^750[A-Za-z0-9]{12}(?:[A-Za-z0-5]{3})?$"
"""A Bulk API job id (key prefix 750, 15 or 18 characters)."""
INPUT_KEY_PATTERN = r"^[A-Za-z0-9!_.*'()/=+:@%~ -]{1,1024}$"
DEMO_BULK_JOB_ID = "750Hs0000000001IAA"
"""The documents' example job: the first job the demo org (the emulator) mints after a reset."""
MAX_JSON_RECORDS = 1_000
MAX_JSON_RECORD_FIELDS = 18
"""Records (and fields of each) one request may carry as JSON: within the body parser's 20,000
members (sfconnector.api.bodies); more rows or wider ones travel as a payload-bucket CSV."""
BulkRecord = Annotated[
    dict[FieldName, FieldValue],
    Field(min_length=1, max_length=MAX_JSON_RECORD_FIELDS, json_schema_extra=CLOSED_MAP),
]
BULK_RESULT_KINDS = ("successful", "failed", "unprocessed", "records")

BulkOperation = Literal["insert", "update", "upsert", "delete", "hard_delete"]
ObjectName = Annotated[str, StringConstraints(pattern=FIELD_NAME_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BulkJobInput(_Strict):
    """A Bulk API 2.0 ingest job: the records as JSON (the connector writes the CSV) or a CSV object
    already in the payload bucket (for inputs beyond one request)."""

    object: ObjectName = Field(description="The sObject's API name (any object of the org's describe).")
    operation: BulkOperation = Field(
        description="`hard_delete` skips the recycle bin and needs the Bulk API Hard Delete permission."
    )
    external_id_field: FieldName | None = Field(
        default=None, description="upsert only (required there): the External ID field (or Id) rows match on."
    )
    records: (
        Annotated[
            list[BulkRecord],
            Field(min_length=1, max_length=MAX_JSON_RECORDS),
        ]
        | None
    ) = Field(
        default=None,
        description="The rows (field -> value; null clears the field, an absent field is left as it "
        "is). update / delete / hard_delete: each row has its `Id`. Give `records` or `input_key`.",
    )
    input_key: Annotated[str, StringConstraints(pattern=INPUT_KEY_PATTERN)] | None = Field(
        default=None,
        description="A CSV object in the payload bucket under your tenant's `bulk-inputs/` prefix "
        "(`tenants/<tenant>/bulk-inputs/...`; header row of field names, LF or CRLF line endings, "
        "up to 150 MB): streamed to Salesforce, never loaded whole.",
    )


class BulkQueryInput(_Strict):
    """A Bulk API 2.0 query job: the fields of one object matching a guarded condition (never raw SOQL)."""

    object: ObjectName = Field(description="The sObject's API name.")
    fields: Annotated[list[FieldPath], Field(min_length=1, max_length=MAX_SELECT_FIELDS)] = Field(
        description="Fields to export, parent fields included (`Owner.Name`)."
    )
    condition: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] | None = Field(
        default=None,
        description="A SOQL WHERE condition, parsed and re-emitted by the connector's guard "
        "(fields checked against the describe), e.g. \"Industry = 'Energy'\". None: every record.",
    )
    include_deleted: StrictBool = Field(default=False, description="Include the recycle bin (queryAll).")


class BulkJob(BaseModel):
    """A bulk job as Salesforce reports it."""

    id: str = Field(description="The job id (key prefix 750).")
    kind: Literal["ingest", "query"]
    object: str
    operation: str
    state: Literal["Open", "UploadComplete", "InProgress", "JobComplete", "Failed", "Aborted"]
    records_processed: int | None = Field(
        default=None, description="Rows processed so far (failed included)."
    )
    records_failed: int | None = Field(default=None, description="Rows that failed (ingest jobs).")
    error_message: str | None = Field(default=None, description="Why the job failed (state Failed).")
    created_at: str | None = None
    finished: bool = Field(description="JobComplete, Failed or Aborted: the results are final.")


class BulkResultRow(BaseModel):
    """One row of an ingest job's results."""

    id: str | None = Field(default=None, description="The record id (empty for a failed insert).")
    created: bool | None = Field(default=None, description="successful rows: the row created the record.")
    error: str | None = Field(
        default=None, description="failed rows: Salesforce's reason, `CODE:message:fields --`."
    )
    fields: dict[str, str] = Field(description="The row as uploaded (CSV text values).")


class BulkResults(BaseModel):
    """A job's results: inline rows when small, else a short-lived presigned URL of the CSV."""

    job_id: str
    which: Literal["successful", "failed", "unprocessed", "records"]
    count: int = Field(description="Rows in the results.")
    records: list[BulkResultRow] | None = Field(default=None, description="The rows (small results).")
    url: str | None = Field(default=None, description="Presigned GET URL of the CSV (large results).")
    expires_at: str | None = Field(default=None, description="When `url` stops working (UTC).")
    size: int | None = Field(default=None, description="Bytes of the CSV behind `url`.")


class BulkJobFinished(BaseModel):
    """The ``bulk_job.finished`` event as published on the topic (the connector's event envelope,
    like ``connection.needs_reauth``); SNS attributes ``event_type``, ``connection_id``, ``tenant_id``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Unique per job: `bulk-<job id>` (deduplicate on it).")
    type: Literal["bulk_job.finished"] = "bulk_job.finished"
    source: str = Field(description="`salesforce/<org id>`, or `salesforce`.")
    subject: str = Field(description="The job id.")
    time: str = Field(description="When the connector saw the job finished (UTC, ISO 8601).")
    connection_id: str
    tenant_id: str | None = Field(default=None, description="The connection's owner tenant.")
    data: BulkJob
