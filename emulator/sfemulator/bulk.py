"""Bulk API 2.0 under ``/services/data/vNN.0/jobs/``: ingest jobs (CSV in, results CSV out) and query jobs.

Each REST call here is one API call, counted by the router like any other; the work itself runs on
a worker thread after the upload is complete (as Salesforce's asynchronous processing does), in
chunks that hold the org lock briefly, so other calls interleave with a long job. Every row is
written through the same DML as a single-record REST call, so a row fails exactly as that call would
and its ``sf__Error`` is Salesforce's ``CODE:message:fields --`` text.

Not modelled: Bulk API 1.0, PK chunking, parallel result URIs, gzip responses, relationship columns
(``Account.External_Id__c``) in ingest headers, the daily limits of records and jobs.
"""

from __future__ import annotations

import base64
import csv
import io
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sfemulator.calls import CallContext, Result, first, parse_json_body
from sfemulator.clock import format_datetime
from sfemulator.errors import ApiError, not_found, refuse_id_on_insert
from sfemulator.ids import IdGenerator, normalize_id
from sfemulator.relay import Writer

if TYPE_CHECKING:
    from sfemulator.org import Org
    from sfemulator.schema import SObjectDef

__all__ = ["MAX_UPLOAD_BYTES", "BulkJobs"]

MAX_UPLOAD_BYTES = 150 * 1024 * 1024
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
# Rows written per hold of the org lock: small enough that REST calls interleave with a big job.
CHUNK_ROWS = 500
JOB_PREFIX = "750"
NULL_VALUE = "#N/A"


def _bulk_error(status: int, message: str, code: str = "INVALIDJOB") -> ApiError:
    return ApiError(status, code, message)


@dataclass
class Job:
    id: str
    kind: str  # "ingest" | "query"
    operation: str
    sobject: str
    created_by: str
    created: str
    version: str
    line_ending: str = "LF"
    column_delimiter: str = "COMMA"
    external_id_field: str | None = None
    query: str | None = None
    state: str = "Open"
    modstamp: str = ""
    error_message: str | None = None
    data: bytes | None = None
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    next_row: int = 0
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    query_columns: list[str] = field(default_factory=list)
    query_rows: list[list[str]] = field(default_factory=list)
    processing_ms: int = 0

    def info(self, *, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": self.created_by,
            "createdDate": self.created,
            "systemModstamp": self.modstamp or self.created,
            "state": self.state,
        }
        if self.kind == "ingest":
            out["externalIdFieldName"] = self.external_id_field
        out.update(
            {
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(self.version.removeprefix("v")),
            }
        )
        if self.kind == "ingest":
            out["contentUrl"] = f"services/data/{self.version}/jobs/ingest/{self.id}/batches"
        out["lineEnding"] = self.line_ending
        out["columnDelimiter"] = self.column_delimiter
        if full:
            out["jobType"] = "V2Ingest" if self.kind == "ingest" else "V2Query"
            if self.kind == "ingest":
                out["numberRecordsProcessed"] = len(self.successes) + len(self.failures)
                out["numberRecordsFailed"] = len(self.failures)
            else:
                out["numberRecordsProcessed"] = len(self.query_rows)
            out["retries"] = 0
            out["totalProcessingTime"] = self.processing_ms
            out["apiActiveProcessingTime"] = self.processing_ms
            out["apexProcessingTime"] = 0
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out


def _csv_bytes(header: list[str], rows: list[list[str]], job: Job) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(
        buf,
        delimiter=DELIMITERS[job.column_delimiter],
        lineterminator=LINE_ENDINGS[job.line_ending],
        quoting=csv.QUOTE_ALL,
    )
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _flatten(record: dict[str, Any], prefix: str, out: dict[str, str]) -> None:
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict) and "records" not in value:
            _flatten(value, f"{prefix}{key}.", out)
        else:
            out[f"{prefix}{key}"] = _cell(value)


def _encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _decode_locator(text: str) -> int | None:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return int(raw) if raw.isdigit() else None


def _error_text(exc: ApiError) -> str:
    return f"{exc.error_code}:{exc.message}:{','.join(exc.fields or [])} --"


class BulkJobs:
    """The org's Bulk API 2.0 jobs (kept in memory; a reset or restart forgets them)."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.jobs: dict[str, Job] = {}
        # Job ids from their own counter: the first job after a reset always has the same id
        # (whatever the seed holds), so documents can name a demo job.
        self.ids = IdGenerator(org.org_id[3:5])

    def clear(self) -> None:
        self.jobs.clear()
        self.ids.counter = 1

    # -- routing -------------------------------------------------------------------------------
    def dispatch(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes, ctx: CallContext
    ) -> Result:
        if not parts or parts[0] not in ("ingest", "query"):
            raise not_found()
        kind, rest = parts[0], parts[1:]
        if not rest:
            if method == "POST":
                return self._create(kind, body, ctx)
            if method == "GET":
                jobs = [j.info(full=False) for j in self.jobs.values() if j.kind == kind]
                return Result(200, {"done": True, "records": jobs, "nextRecordsUrl": None})
            raise ApiError(
                405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,POST"
            )
        job = self.jobs.get(normalize_id(rest[0]) or "")
        if job is None or job.kind != kind:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(rest) == 1:
            if method == "GET":
                return Result(200, job.info(full=True))
            if method == "PATCH":
                return self._patch(job, body)
            if method == "DELETE":
                return self._delete(job)
            raise ApiError(
                405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE"
            )
        if len(rest) == 2 and kind == "ingest" and rest[1] == "batches":
            if method != "PUT":
                raise ApiError(
                    405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are PUT"
                )
            return self._upload(job, body)
        if len(rest) == 2 and method == "GET":
            if kind == "ingest" and rest[1] in ("successfulResults", "failedResults", "unprocessedrecords"):
                return self._ingest_results(job, rest[1])
            if kind == "query" and rest[1] == "results":
                return self._query_results(job, query)
        raise not_found()

    # -- create ----------------------------------------------------------------------------------
    def _create(self, kind: str, body: bytes, ctx: CallContext) -> Result:
        payload, _ = parse_json_body(body)
        if not isinstance(payload, dict):
            raise _bulk_error(400, "The request body must be a JSON object", "JSON_PARSER_ERROR")
        line_ending = str(payload.get("lineEnding") or "LF")
        delimiter = str(payload.get("columnDelimiter") or "COMMA")
        content_type = str(payload.get("contentType") or "CSV")
        if line_ending not in LINE_ENDINGS:
            raise _bulk_error(400, f"Invalid line ending: {line_ending}. Allowed are LF, CRLF")
        if delimiter not in DELIMITERS:
            raise _bulk_error(400, f"Invalid column delimiter: {delimiter}")
        if content_type != "CSV":
            raise _bulk_error(400, f"Invalid content type: {content_type}. Only CSV is supported")
        operation = str(payload.get("operation") or "")
        now = format_datetime(self.org.clock.now())
        job_id = self.ids.new(JOB_PREFIX)
        if kind == "query":
            if operation not in QUERY_OPERATIONS:
                raise _bulk_error(400, f"Invalid operation: {operation}. Allowed are query, queryAll")
            text = payload.get("query")
            if not isinstance(text, str) or not text.strip():
                raise _bulk_error(400, "The query is required", "INVALIDJOB")
            # The SOQL is checked at creation (a bad query is refused, not a failed job).
            result = self._run_query(text, operation == "queryAll", ctx.version)
            sobject = _from_object(text)
            job = Job(
                job_id, "query", operation, sobject, ctx.user_id, now, ctx.version, line_ending, delimiter
            )
            job.query = text
            job.state = "UploadComplete"
            self.jobs[job_id] = job
            self._start(job, result)
            return Result(200, job.info(full=False))
        if operation not in OPERATIONS:
            raise _bulk_error(400, f"Invalid operation: {operation}. Allowed are {', '.join(OPERATIONS)}")
        name = payload.get("object")
        sobj = self.org.schema.get(str(name)) if isinstance(name, str) else None
        if sobj is None:
            raise _bulk_error(400, f"Entity '{name}' is not supported by the Bulk API", "INVALIDENTITY")
        if operation == "hardDelete" and not self.org.config.bulk_hard_delete:
            raise ApiError(
                400,
                "FEATURENOTENABLED",
                "hardDelete requires the Bulk API Hard Delete permission, which the running user lacks",
            )
        ext = payload.get("externalIdFieldName")
        if operation == "upsert":
            if not isinstance(ext, str) or not ext:
                raise _bulk_error(400, "External ID was blank for upsert: externalIdFieldName is required")
            f = sobj.field(ext)
            if f is None or not (f.external_id or f.name == "Id"):
                raise _bulk_error(
                    400,
                    f"InvalidJob : Field name provided, {ext} is not an External ID or indexed field "
                    f"for {sobj.name}",
                )
            ext = f.name
        else:
            ext = None
        job = Job(
            job_id, "ingest", operation, sobj.name, ctx.user_id, now, ctx.version, line_ending, delimiter, ext
        )
        self.jobs[job_id] = job
        return Result(200, job.info(full=False))

    # -- ingest ----------------------------------------------------------------------------------
    def _upload(self, job: Job, body: bytes) -> Result:
        if job.state != "Open":
            raise _bulk_error(
                409, f"Job {job.id} is not in the Open state (it is {job.state})", "INVALIDJOBSTATE"
            )
        if job.data is not None:
            raise ApiError(
                400,
                "BULK_API_ERROR",
                f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / 'Delete' the "
                "current Job then create a new Job and make sure you only do 'PUT' once on a given Job.",
            )
        if len(body) > MAX_UPLOAD_BYTES:
            raise _bulk_error(413, "The upload exceeds 150 MB", "REQUEST_TOO_LARGE")
        job.data = body
        return Result(201)

    def _patch(self, job: Job, body: bytes) -> Result:
        payload, _ = parse_json_body(body)
        state = payload.get("state") if isinstance(payload, dict) else None
        if state == "Aborted":
            if job.state not in ("Open", "UploadComplete", "InProgress"):
                raise _bulk_error(
                    400, f"Job {job.id} cannot be aborted in state {job.state}", "INVALIDJOBSTATE"
                )
            job.state = "Aborted"
        elif state == "UploadComplete" and job.kind == "ingest":
            if job.state != "Open":
                raise _bulk_error(400, f"Job {job.id} is not Open (it is {job.state})", "INVALIDJOBSTATE")
            job.state = "UploadComplete"
            self._start(job, None)
        else:
            raise _bulk_error(400, f"Invalid state: {state}", "INVALIDJOBSTATE")
        job.modstamp = format_datetime(self.org.clock.now())
        return Result(200, job.info(full=False))

    def _delete(self, job: Job) -> Result:
        if job.state in ("Open", "InProgress"):
            raise _bulk_error(400, f"Job {job.id} cannot be deleted in state {job.state}", "INVALIDJOBSTATE")
        del self.jobs[job.id]
        return Result(204)

    def _fail(self, job: Job, message: str) -> None:
        job.state = "Failed"
        job.error_message = message

    def _parse(self, job: Job) -> None:
        """Read the uploaded CSV; a header or line-ending problem fails the whole job, as on Salesforce."""
        raw = (job.data or b"").decode("utf-8-sig", "replace")
        job.data = None
        if not raw.strip():
            self._fail(job, "InvalidBatch : Failed to parse CSV. Found no data")
            return
        has_crlf = "\r\n" in raw
        if has_crlf != (job.line_ending == "CRLF"):
            self._fail(
                job,
                "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is "
                + job.line_ending,
            )
            return
        reader = csv.reader(
            io.StringIO(raw, newline=""), delimiter=DELIMITERS[job.column_delimiter], strict=True
        )
        try:
            rows = [row for row in reader if row]
        except csv.Error as exc:
            self._fail(job, f"InvalidBatch : Failed to parse CSV: {exc}")
            return
        header = [h.strip() for h in rows[0]]
        sobj = self.org.schema.get(job.sobject)
        assert sobj is not None
        for name in header:
            if sobj.field(name) is None:
                self._fail(job, f"InvalidBatch : Field name not found : {name}")
                return
        lower = [h.lower() for h in header]
        if job.operation in ("update", "delete", "hardDelete") and "id" not in lower:
            self._fail(job, "InvalidBatch : Field name not found : Id")
            return
        if job.operation == "upsert" and (job.external_id_field or "").lower() not in lower:
            self._fail(job, f"InvalidBatch : Field name not found : {job.external_id_field}")
            return
        for n, row in enumerate(rows[1:], start=2):
            if len(row) != len(header):
                self._fail(
                    job,
                    f"InvalidBatch : Wrong number of columns in row {n}: {len(row)} instead of {len(header)}",
                )
                return
        job.header = header
        job.rows = rows[1:]

    def _start(self, job: Job, query_result: dict[str, Any] | None) -> None:
        target = self._work_query if job.kind == "query" else self._work_ingest
        args: tuple[Any, ...] = (job, query_result) if job.kind == "query" else (job,)
        threading.Thread(target=target, args=args, name=f"bulk-{job.id}", daemon=True).start()

    def _current(self, job: Job) -> bool:
        return self.jobs.get(job.id) is job and job.state in ("UploadComplete", "InProgress")

    def _work_ingest(self, job: Job) -> None:
        started = time.monotonic()
        with self.org.lock:
            if not self._current(job):
                return
            # Parsed by the worker: a bad header fails the job after the close, as on Salesforce.
            self._parse(job)
        while True:
            with self.org.lock:
                if not self._current(job):
                    return
                job.state = "InProgress"
                end = min(job.next_row + CHUNK_ROWS, len(job.rows))
                self._process(job, job.rows[job.next_row : end])
                job.next_row = end
                job.processing_ms = int((time.monotonic() - started) * 1000)
                job.modstamp = format_datetime(self.org.clock.now())
                if end >= len(job.rows):
                    job.state = "JobComplete"
                    self.org.touch()
                    return
            time.sleep(0)  # let waiting REST calls take the lock between chunks

    def _process(self, job: Job, rows: list[list[str]]) -> None:
        org = self.org
        sobj = org.schema.get(job.sobject)
        assert sobj is not None
        index = self._external_index(sobj, job.external_id_field) if job.operation == "upsert" else None
        org.writer = Writer(job.created_by)  # the job's owner commits its rows (CDC commitUser)
        for row in rows:
            values: dict[str, Any] = {}
            for name, cell in zip(job.header, row, strict=True):
                if cell == "":
                    continue  # an empty cell leaves the field as it is
                values[name] = None if cell == NULL_VALUE else cell
            try:
                with org.transaction():
                    rid, created = self._write(job, sobj, values, index)
            except ApiError as exc:
                rid_text = _row_id(job, values) if job.operation != "insert" else ""
                job.failures.append([rid_text, _error_text(exc), *row])
                continue
            job.successes.append([rid, "true" if created else "false", *row])

    def _write(
        self, job: Job, sobj: SObjectDef, values: dict[str, Any], index: dict[Any, list[str]] | None
    ) -> tuple[str, bool]:
        dml = self.org.dml
        user = job.created_by
        op = job.operation
        if op == "insert":
            refuse_id_on_insert(values)
            return dml.insert(sobj, values, user_id=user), True
        if op == "upsert":
            assert job.external_id_field is not None
            assert index is not None
            key = next((k for k in values if k.lower() == job.external_id_field.lower()), None)
            given = values.pop(key) if key is not None else None
            if given in (None, ""):
                if job.external_id_field == "Id":
                    return dml.insert(sobj, values, user_id=user), True
                raise ApiError(
                    400, "MISSING_ARGUMENT", f"{job.external_id_field} not specified", [job.external_id_field]
                )
            f = sobj.field(job.external_id_field)
            assert f is not None
            lookup = str(given) if f.case_sensitive else str(given).lower()
            matches = index.get(lookup, []) if f.name != "Id" else [normalize_id(str(given)) or str(given)]
            if len(matches) > 1:
                raise ApiError(
                    300,
                    "DUPLICATE_EXTERNAL_ID",
                    f"{f.name}: more than one record found for external id field: [{', '.join(matches)}]",
                    [f.name],
                )
            if matches:
                found = self.org.data.get(matches[0])
                if found is None or found[0] != sobj.name:
                    raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
                dml.update(sobj, matches[0], values, user_id=user)
                return matches[0], False
            values[f.name] = given
            rid = dml.insert(sobj, values, user_id=user)
            index.setdefault(lookup, []).append(rid)
            return rid, True
        raw_id = _row_id(job, values)
        found_id = normalize_id(raw_id) if raw_id else None
        if found_id is None:
            if not raw_id:
                raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            raise ApiError(
                400, "MALFORMED_ID", f"{sobj.label} ID: id value of incorrect type: {raw_id}", ["Id"]
            )
        rid = found_id
        found = self.org.data.get(rid)
        if found is None or found[0] != sobj.name or found[1].get("IsDeleted"):
            raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if op == "update":
            dml.update(sobj, rid, {k: v for k, v in values.items() if k.lower() != "id"}, user_id=user)
            return rid, False
        dml.delete(sobj, rid, user_id=user)
        if op == "hardDelete":
            self.org.data.purge(rid)
        return rid, False

    def _external_index(self, sobj: SObjectDef, field_name: str | None) -> dict[Any, list[str]]:
        """Lookup value -> ids for one chunk's upserts (a scan per chunk, not per row)."""
        f = sobj.field(field_name or "")
        out: dict[Any, list[str]] = {}
        if f is None or f.name == "Id":
            return out
        for rec in self.org.data.iter(sobj.name, include_deleted=False):
            have = rec.get(f.name)
            if have is None:
                continue
            key = str(have) if f.case_sensitive else str(have).lower()
            out.setdefault(key, []).append(rec["Id"])
        return out

    def _ingest_results(self, job: Job, which: str) -> Result:
        if which != "unprocessedrecords" and job.state not in ("JobComplete", "Failed", "Aborted"):
            raise _bulk_error(
                409,
                f"Job {job.id} is still {job.state}: results are available once it is complete",
                "INVALIDJOBSTATE",
            )
        if which == "successfulResults":
            data = _csv_bytes(["sf__Id", "sf__Created", *job.header], job.successes, job)
        elif which == "failedResults":
            data = _csv_bytes(["sf__Id", "sf__Error", *job.header], job.failures, job)
        else:
            data = _csv_bytes(job.header, job.rows[job.next_row :], job) if job.header else b""
        return Result(200, raw=data, raw_type="text/csv")

    # -- query -----------------------------------------------------------------------------------
    def _run_query(self, text: str, include_deleted: bool, version: str) -> dict[str, Any]:
        return self.org.queries.run(
            text, include_deleted=include_deleted, batch_size=10**9, version=version, now=self.org.clock.now()
        )

    def _work_query(self, job: Job, result: dict[str, Any]) -> None:
        started = time.monotonic()
        with self.org.lock:
            if not self._current(job):
                return
            job.state = "InProgress"
        columns: list[str] = []
        rows: list[dict[str, str]] = []
        for record in result["records"]:
            flat: dict[str, str] = {}
            _flatten(record, "", flat)
            for name in flat:
                if name not in columns:
                    columns.append(name)
            rows.append(flat)
        with self.org.lock:
            if not self._current(job):
                return
            job.query_columns = columns
            job.query_rows = [[r.get(c, "") for c in columns] for r in rows]
            job.processing_ms = int((time.monotonic() - started) * 1000)
            job.modstamp = format_datetime(self.org.clock.now())
            job.state = "JobComplete"

    def _query_results(self, job: Job, query: dict[str, list[str]]) -> Result:
        if job.state != "JobComplete":
            raise _bulk_error(
                400,
                f"Job {job.id} is in state {job.state}: results are available once it is JobComplete",
                "INVALIDJOBSTATE",
            )
        locator = first(query, "locator")
        offset = 0 if not locator else _decode_locator(locator)
        if offset is None or offset > len(job.query_rows):
            raise _bulk_error(400, f"Invalid locator: {locator}", "INVALIDLOCATOR")
        raw_max = first(query, "maxRecords")
        if raw_max is not None and (not raw_max.isdigit() or int(raw_max) < 1):
            raise _bulk_error(400, f"Invalid maxRecords: {raw_max}", "INVALIDPARAMETER")
        limit = int(raw_max) if raw_max else len(job.query_rows) - offset
        end = min(offset + max(limit, 0), len(job.query_rows))
        page = job.query_rows[offset:end]
        data = _csv_bytes(job.query_columns, page, job) if job.query_columns else b""
        headers = {
            "Sforce-Locator": _encode_locator(end) if end < len(job.query_rows) else "null",
            "Sforce-NumberOfRecords": str(len(page)),
        }
        return Result(200, headers=headers, raw=data, raw_type="text/csv")


def _row_id(job: Job, values: dict[str, Any]) -> str:
    key = next((k for k in values if k.lower() == "id"), None)
    return str(values.get(key) or "") if key else ""


def _from_object(text: str) -> str:
    words = text.replace(",", " ").split()
    for i, word in enumerate(words[:-1]):
        if word.lower() == "from":
            return words[i + 1]
    return ""
