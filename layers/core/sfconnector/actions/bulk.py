"""Bulk jobs (Salesforce Bulk API 2.0): ingest jobs (insert, update, upsert, delete, hard delete) and
query jobs, for volumes beyond sObject Collections' 200 records per call.

Salesforce API calls, whatever the job's size:

==========================  =====================================================================
create an ingest job        3 (create, upload the CSV, close), + 1 describe when not cached
create a query job          1 (create), + 1 describe when not cached
job status                  1
abort                       1
ingest results              1 (the CSV; small: JSON rows, large: staged behind a presigned URL)
query results               1 per page of ``query_page_records`` rows (50,000), streamed to S3
==========================  =====================================================================

Inputs are checked against the org's describe before Salesforce sees them, like the families'
actions: the object, the columns (exist, writable for the operation, the upsert's external id)
and, for JSON records, every value (type, length, picklist) naming ``records[i].Field``. What only
Salesforce knows (required fields on insert, duplicates, validation rules) comes back per row in
the failed results, with Salesforce's reason. A CSV input in the payload bucket is streamed from
S3 to Salesforce (never whole in memory); query results are streamed from Salesforce to S3.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sfconnector.actions.errors import InvalidInputError, RecordNotFoundError
from sfconnector.bulkfiles import BulkFiles, InputObject
from sfconnector.errors import (
    ConnectionNotFoundError,
    ConnectorError,
    Fault,
    FieldProblem,
    FieldValidationError,
)
from sfconnector.events import Event, EventPublisher, utc_now_iso
from sfconnector.models.bulk import BulkJob, BulkJobInput, BulkQueryInput, BulkResultRow, BulkResults
from sfconnector.salesforce import soql
from sfconnector.salesforce.client import SalesforceClient
from sfconnector.salesforce.errors import NotFoundError, SalesforceError
from sfconnector.salesforce.schema import SObjectSchema, sobject_schema
from sfconnector.salesforce.validation import check_record_id, select_fields, unknown_field, validate_record
from sfconnector.stores.bulk_jobs import BulkJobRecord, BulkJobRepository

__all__ = [
    "FINISHED_EVENT",
    "MAX_UPLOAD_BYTES",
    "BulkInputTooLargeError",
    "BulkJobStateError",
    "BulkService",
    "BulkSettings",
    "WatchReport",
    "csv_rows",
    "watch_jobs",
]

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 150 * 1024 * 1024
"""Salesforce's limit for one job's upload (Bulk API 2.0)."""
JOB_PREFIX = "750"
FINISHED = frozenset({"JobComplete", "Failed", "Aborted"})
NULL = "#N/A"
"""The Bulk API's "clear this field" value (an empty cell leaves the field as it is)."""
_SF_OPERATION = {"hard_delete": "hardDelete"}
_RESULT_PATHS = {
    "successful": "successfulResults",
    "failed": "failedResults",
    "unprocessed": "unprocessedrecords",
}
_ID_ONLY = frozenset({"delete", "hard_delete"})
MAX_PROBLEMS = 50


class BulkJobStateError(ConnectorError):
    """The job is not in a state that allows this (results before it finished, abort after)."""

    code = "job_state"
    fault = Fault.CONFLICT


_NOT_READY = (
    "the job's results are not available: it is still running (wait for bulk_job.finished) or it "
    "did not complete (see its state and error_message)"
)


class BulkInputTooLargeError(ConnectorError):
    code = "too_large"
    fault = Fault.TOO_LARGE


@dataclass(frozen=True)
class BulkSettings:
    inline_rows: int = 1_000
    """Results with at most this many rows (and ``inline_bytes``) come back as JSON."""
    inline_bytes: int = 2 * 1024 * 1024
    query_page_records: int = 50_000
    """``maxRecords`` of each query results page (one call each)."""


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _cell(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _job(info: Mapping[str, Any], kind: str) -> BulkJob:
    state = str(info.get("state", "Open"))
    processed = info.get("numberRecordsProcessed")
    failed = info.get("numberRecordsFailed")
    return BulkJob(
        id=str(info["id"]),
        kind="query" if kind == "query" else "ingest",
        object=str(info.get("object") or ""),
        operation=str(info.get("operation") or ""),
        state=state,
        records_processed=int(processed) if processed is not None else None,
        records_failed=int(failed) if failed is not None and kind == "ingest" else None,
        error_message=info.get("errorMessage") or None,
        created_at=info.get("createdDate"),
        finished=state in FINISHED,
    )


class BulkService:
    def __init__(
        self,
        client: SalesforceClient,
        *,
        connection_id: str,
        tenant_id: str | None,
        jobs: BulkJobRepository,
        files: Callable[[], BulkFiles],
        settings: BulkSettings | None = None,
    ) -> None:
        self.client = client
        self.connection_id = connection_id
        self.tenant_id = tenant_id
        self.jobs = jobs
        self._files = files
        self.settings = settings or BulkSettings()

    # ---- ingest ----------------------------------------------------------------------------------

    def create(self, body: BulkJobInput) -> BulkJob:
        if (body.records is None) == (body.input_key is None):
            raise InvalidInputError(
                "give either records or input_key (exactly one)", fields=["records", "input_key"]
            )
        schema = sobject_schema(self.client, body.object)
        external = self._external_id(schema, body)
        if body.records is not None:
            header, data = self._records_csv(schema, body, external)
            content: Any = data
            line_ending = "LF"
        else:
            assert body.input_key is not None
            content, header, line_ending = self._input_object(body.input_key)
        self._check_columns(
            schema, body.operation, header, external, param="records" if body.records else "input_key"
        )
        spec: dict[str, Any] = {
            "object": schema.name,
            "operation": _SF_OPERATION.get(body.operation, body.operation),
            "contentType": "CSV",
            "lineEnding": line_ending,
        }
        if external:
            spec["externalIdFieldName"] = external
        created = self._json("POST", "jobs/ingest", json=spec)
        job_id = str(created["id"])
        try:
            headers = {"Content-Type": "text/csv"}
            if isinstance(content, InputObject):
                # Streamed with its length (not chunked): S3 told us the object's size.
                headers["Content-Length"] = str(content.size)
            self.client.request("PUT", f"jobs/ingest/{job_id}/batches", content=content, headers=headers)
            closed = self._json("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
        except Exception:
            # Leave no Open job behind (Salesforce counts open jobs against a limit).
            with contextlib.suppress(SalesforceError):
                self.client.request("PATCH", f"jobs/ingest/{job_id}", json={"state": "Aborted"})
            raise
        self._remember(job_id, "ingest", schema.name, body.operation, str(created.get("createdDate") or ""))
        return _job({**created, **closed}, "ingest")

    def _external_id(self, schema: SObjectSchema, body: BulkJobInput) -> str | None:
        if body.operation != "upsert":
            if body.external_id_field is not None:
                raise InvalidInputError("external_id_field is for upsert only", fields=["external_id_field"])
            return None
        if body.external_id_field is None:
            raise InvalidInputError(
                "upsert needs external_id_field (an External ID field or Id)", fields=["external_id_field"]
            )
        info = schema.field(body.external_id_field)
        if info is None:
            raise FieldValidationError(
                [unknown_field(schema, body.external_id_field, param="external_id_field")]
            )
        if info.name != "Id" and info.name not in schema.external_id_fields:
            raise FieldValidationError(
                [
                    FieldProblem(
                        "external_id_field",
                        "not_external_id",
                        f"{info.name} is not an External ID field of {schema.name}",
                    )
                ]
            )
        return info.name

    def _check_columns(
        self,
        schema: SObjectSchema,
        operation: str,
        header: Sequence[str],
        external: str | None,
        *,
        param: str,
    ) -> None:
        problems: list[FieldProblem] = []
        lowered = [h.lower() for h in header]
        for name in header:
            info = schema.field(name)
            where = f"{param}.{name}" if param == "records" else f"{param}:{name}"
            if info is None:
                problems.append(unknown_field(schema, name, param=where))
                continue
            if info.name == "Id":
                if operation == "insert" or (operation == "upsert" and external != "Id"):
                    problems.append(FieldProblem(where, "not_writable", f"Id cannot be given to {operation}"))
                continue
            if operation in _ID_ONLY:
                problems.append(FieldProblem(where, "not_allowed", f"{operation} rows carry only the Id"))
                continue
            if external and info.name == external:
                continue
            writable = {"insert": info.createable, "update": info.updateable}.get(
                operation, info.createable or info.updateable
            )
            if not writable:
                problems.append(
                    FieldProblem(where, "not_writable", f"{info.name} is read-only on {schema.name}")
                )
        needed = "id" if operation in ("update", "delete", "hard_delete") else (external or "").lower()
        if needed and needed not in lowered:
            problems.append(
                FieldProblem(param, "required", f"{operation} rows need the {external or 'Id'} column")
            )
        if problems:
            raise FieldValidationError(problems[:MAX_PROBLEMS])

    def _records_csv(
        self, schema: SObjectSchema, body: BulkJobInput, external: str | None
    ) -> tuple[list[str], bytes]:
        """The records as the Bulk API's CSV (every value checked against the describe first)."""
        assert body.records is not None
        header: list[str] = []
        seen: set[str] = set()
        records = body.records
        for record in records:
            for name in record:
                if name.lower() not in seen:
                    seen.add(name.lower())
                    header.append(name)
        self._check_columns(schema, body.operation, header, external, param="records")
        problems: list[FieldProblem] = []
        rows: list[list[str]] = []
        for i, record in enumerate(records):
            values = {k.lower(): v for k, v in record.items()}
            row: dict[str, Any] = {}
            try:
                rid = next((v for k, v in record.items() if k.lower() == "id"), None)
                if rid is not None:
                    row["id"] = check_record_id(
                        str(rid), expected=schema.name, key_prefix=schema.key_prefix, param=f"records[{i}].Id"
                    )
                elif body.operation in ("update", "delete", "hard_delete"):
                    problems.append(FieldProblem(f"records[{i}].Id", "required", f"row {i} has no Id"))
                fields = {k: v for k, v in record.items() if k.lower() != "id" and v is not None}
                if fields:
                    checked = validate_record(schema, fields, mode="upsert")
                    row.update({k.lower(): v for k, v in checked.items()})
            except FieldValidationError as exc:
                problems.extend(
                    FieldProblem(
                        p.field if p.field.startswith("records[") else f"records[{i}].{p.field}",
                        p.code,
                        p.message,
                    )
                    for p in exc.problems
                )
            if len(problems) >= MAX_PROBLEMS:
                break
            rows.append([_cell(row.get(h.lower())) if h.lower() in values else "" for h in header])
        if problems:
            raise FieldValidationError(problems[:MAX_PROBLEMS])
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return header, buf.getvalue().encode("utf-8")

    def _input_object(self, key: str) -> tuple[Any, list[str], str]:
        files = self._files()
        prefix = files.input_prefix(self.tenant_id)
        if not key.startswith(prefix) or ".." in key.split("/"):
            raise InvalidInputError(f"input_key must be an object under {prefix}", fields=["input_key"])
        opened = files.open_input(key)
        if opened is None:
            raise InvalidInputError(f"there is no object {key} in the payload bucket", fields=["input_key"])
        stream, head = opened
        if stream.size > MAX_UPLOAD_BYTES:
            raise BulkInputTooLargeError(
                f"the input is {stream.size} bytes; a bulk job takes at most 150 MB", fields=["input_key"]
            )
        text = head.decode("utf-8-sig", "replace")
        line, newline, _ = text.partition("\n")
        if not newline and stream.size > len(head):
            raise InvalidInputError("the header row is longer than 64 KiB", fields=["input_key"])
        header = next(csv.reader([line.rstrip("\r")]), [])
        if not header or not any(h.strip() for h in header):
            raise InvalidInputError("the object has no header row", fields=["input_key"])
        return stream, [h.strip() for h in header], "CRLF" if line.endswith("\r") else "LF"

    # ---- query -----------------------------------------------------------------------------------

    def create_query(self, body: BulkQueryInput) -> BulkJob:
        from sfconnector.salesforce.condition import FieldPolicy, build_guarded_query, parse_condition

        schema = sobject_schema(self.client, body.object)
        fields = select_fields(schema, body.fields)
        if body.condition:
            policy = FieldPolicy.of_described(schema.name, schema.fields.values())
            statement = build_guarded_query(
                parse_condition(body.condition, policy), policy, fields=fields, order_by=()
            )
        else:
            statement = soql.select(schema.name, fields)
        operation = "queryAll" if body.include_deleted else "query"
        created = self._json("POST", "jobs/query", json={"operation": operation, "query": statement})
        job_id = str(created["id"])
        self._remember(job_id, "query", schema.name, operation, str(created.get("createdDate") or ""))
        return _job(created, "query")

    # ---- any job ---------------------------------------------------------------------------------

    def _record(self, job_id: str) -> BulkJobRecord:
        checked = check_record_id(job_id, expected="bulk job", key_prefix=JOB_PREFIX, param="job_id")
        record = self.jobs.get(self.connection_id, checked)
        if record is None:
            raise RecordNotFoundError(f"this connection started no bulk job {job_id}", fields=["job_id"])
        return record

    def get(self, job_id: str) -> BulkJob:
        record = self._record(job_id)
        return _job(self._json("GET", f"jobs/{record.kind}/{record.job_id}"), record.kind)

    def abort(self, job_id: str) -> BulkJob:
        """Abort the job; idempotent: a job that already finished (aborted, complete or failed) is
        answered as it is (1 more call), like deleting a deleted record."""
        record = self._record(job_id)
        try:
            info = self._json("PATCH", f"jobs/{record.kind}/{record.job_id}", json={"state": "Aborted"})
        except SalesforceError as exc:
            if exc.status not in (400, 409):
                raise
            job = self.get(job_id)
            if not job.finished:
                raise BulkJobStateError(f"the job cannot be aborted now: {exc}", fields=["job_id"]) from None
            return job
        return _job(info, record.kind)

    def results(self, job_id: str, which: str) -> BulkResults:
        record = self._record(job_id)
        if (record.kind == "query") != (which == "records"):
            allowed = "records" if record.kind == "query" else "successful, failed or unprocessed"
            raise InvalidInputError(f"a {record.kind} job's results are {allowed}", fields=["which"])
        if record.kind == "query":
            return self._query_results(record)
        try:
            response = self.client.request(
                "GET", f"jobs/ingest/{record.job_id}/{_RESULT_PATHS[which]}", headers={"Accept": "text/csv"}
            )
        except SalesforceError as exc:
            if exc.status in (400, 409):
                raise BulkJobStateError(_NOT_READY, fields=["job_id"]) from None
            raise
        data = response.content
        rows = csv_rows(data) if data.strip() else []
        if len(rows) <= self.settings.inline_rows and len(data) <= self.settings.inline_bytes:
            return BulkResults(
                job_id=record.job_id, which=which, count=len(rows), records=[_row(r) for r in rows]
            )
        staged = self._files().write(
            self.connection_id, self.tenant_id, [data], filename=f"{record.job_id}-{which}.csv"
        )
        return BulkResults(
            job_id=record.job_id,
            which=which,
            count=len(rows),
            url=staged.url,
            expires_at=staged.expires_at.isoformat(),
            size=staged.size,
        )

    def _query_results(self, record: BulkJobRecord) -> BulkResults:
        counted = [0]

        def pages() -> Iterator[bytes]:
            locator: str | None = None
            first = True
            while True:
                params: dict[str, str | int] = {"maxRecords": self.settings.query_page_records}
                if locator:
                    params["locator"] = locator
                try:
                    response = self.client.request(
                        "GET",
                        f"jobs/query/{record.job_id}/results",
                        params=params,
                        headers={"Accept": "text/csv"},
                    )
                except SalesforceError as exc:
                    if exc.status in (400, 409) and first:
                        raise BulkJobStateError(_NOT_READY, fields=["job_id"]) from None
                    raise
                counted[0] += int(response.headers.get("Sforce-NumberOfRecords") or 0)
                body = response.content
                if not first:
                    body = body.partition(b"\n")[2]  # each page repeats the header row
                first = False
                yield body
                locator = response.headers.get("Sforce-Locator")
                if not locator or locator == "null":
                    return

        staged = self._files().write(
            self.connection_id, self.tenant_id, pages(), filename=f"{record.job_id}-records.csv"
        )
        return BulkResults(
            job_id=record.job_id,
            which="records",
            count=counted[0],
            url=staged.url,
            expires_at=staged.expires_at.isoformat(),
            size=staged.size,
        )

    # ---- plumbing --------------------------------------------------------------------------------

    def _json(self, method: str, path: str, *, json: Any = None) -> dict[str, Any]:
        response = self.client.request(method, path, json=json)
        body: dict[str, Any] = response.json()
        return body

    def _remember(self, job_id: str, kind: str, sobject: str, operation: str, created_at: str) -> None:
        self.jobs.put(
            BulkJobRecord(
                connection_id=self.connection_id,
                job_id=job_id,
                kind=kind,
                object=sobject,
                operation=operation,
                tenant_id=self.tenant_id,
                created_at=created_at,
            )
        )


def _row(raw: Mapping[str, str]) -> BulkResultRow:
    fields = {k: v for k, v in raw.items() if not k.startswith("sf__")}
    created = raw.get("sf__Created")
    return BulkResultRow(
        id=raw.get("sf__Id") or None,
        created=None if created is None else created == "true",
        error=raw.get("sf__Error") or None,
        fields=fields,
    )


# ---- the watcher: bulk_job.finished ----------------------------------------------------------------

FINISHED_EVENT = "bulk_job.finished"
WATCH_RESERVE_MS = 5_000
"""Stop checking jobs when less than this is left of the invocation (the next run goes on)."""


@dataclass
class WatchReport:
    checked: int = 0
    finished: int = 0
    salesforce_calls: int = 0
    dropped: int = 0
    errors: int = 0


def watch_jobs(
    jobs: BulkJobRepository,
    clients: Callable[[str, str | None], SalesforceClient],
    publisher: EventPublisher,
    *,
    remaining_ms: Callable[[], int] | None = None,
) -> WatchReport:
    """One run of the watcher (every minute): each unfinished job's state (1 Salesforce call per
    job), and for each finished one a ``bulk_job.finished`` event on the topic (the connection's
    tenant in ``tenant_id``), then the job leaves the watch list. A job whose connection is gone,
    or that Salesforce no longer knows, leaves the list without an event; any other failure is
    retried by the next run."""
    report = WatchReport()
    for connection_id, job_id in jobs.watched():
        if remaining_ms is not None and remaining_ms() < WATCH_RESERVE_MS:
            break
        record = jobs.get(connection_id, job_id)
        if record is None:
            jobs.unwatch(connection_id, job_id)
            report.dropped += 1
            continue
        report.checked += 1
        try:
            client = clients(connection_id, record.tenant_id)
            before = client.api_calls
            try:
                info = client.get_json(f"jobs/{record.kind}/{job_id}")
            finally:
                report.salesforce_calls += client.api_calls - before
        except (ConnectionNotFoundError, NotFoundError):
            jobs.unwatch(connection_id, job_id)
            report.dropped += 1
            continue
        except (ConnectorError, SalesforceError):
            logger.warning(
                "bulk job %s of connection %s: state not read; next run retries", job_id, connection_id
            )
            report.errors += 1
            continue
        job = _job(info, record.kind)
        if not job.finished:
            continue
        publisher.publish(
            Event(
                id=f"bulk-{job_id}",
                type=FINISHED_EVENT,
                source="salesforce/bulk",
                subject=job_id,
                time=utc_now_iso(),
                connection_id=connection_id,
                tenant_id=record.tenant_id,
                data=job.model_dump(mode="json"),
            ),
            {"job_state": job.state},
        )
        jobs.set_state(connection_id, job_id, job.state)
        jobs.unwatch(connection_id, job_id)
        report.finished += 1
    return report
