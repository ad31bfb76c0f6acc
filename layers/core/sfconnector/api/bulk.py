"""HTTP endpoints of the bulk jobs (Bulk API 2.0), built per catalog action with the helpers of
:mod:`sfconnector.api.endpoints`; the work is :class:`sfconnector.actions.bulk.BulkService`, given
its ports (the job repository, the payload bucket's files) by the composition root.

Only the bulk function (and the documents function) import this module: the registry loads it for
the bulk kinds.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from sfconnector.actions.bulk import BulkService
from sfconnector.api.endpoints import (
    KW,
    Endpoint,
    body_param,
    connection_param,
    endpoint,
    perform,
    respond,
    returns,
)
from sfconnector.api.tenancy import connection_owner
from sfconnector.catalog import Action
from sfconnector.models.bulk import BULK_JOB_ID_PATTERN, DEMO_BULK_JOB_ID, BulkJobInput, BulkQueryInput
from sfconnector.runtime import get_runtime
from sfconnector.salesforce.client import SalesforceClient

__all__ = ["build_abort", "build_create", "build_create_query", "build_get", "build_results"]


def _service(client: SalesforceClient, connection_id: str) -> BulkService:
    runtime = get_runtime()
    return BulkService(
        client,
        connection_id=connection_id,
        tenant_id=connection_owner(),
        jobs=runtime.bulk_jobs,
        files=lambda: runtime.bulk_files,
        settings=runtime.bulk_settings,
    )


def _job_param() -> inspect.Parameter:
    location = Path(
        description="The bulk job's id (key prefix 750, 15 or 18 characters), as the create answered.",
        json_schema_extra={"pattern": BULK_JOB_ID_PATTERN, "examples": [DEMO_BULK_JOB_ID]},
    )
    return inspect.Parameter("job_id", KW, annotation=Annotated[str, location])


def _create_endpoint(action: Action, model: type[BulkJobInput] | type[BulkQueryInput], work: str) -> Endpoint:
    """An endpoint that starts a job from the body (``create``: ingest, ``create_query``: query)."""

    def impl(connection_id: str, body: BulkJobInput | BulkQueryInput) -> Response[Any]:
        result, calls = perform(
            action, connection_id, lambda client: getattr(_service(client, connection_id), work)(body)
        )
        return respond(action.status_code, result, api_calls=calls)

    return endpoint(action, [connection_param(), body_param(model, action.example)], returns(action), impl)


def build_create(action: Action) -> Endpoint:
    return _create_endpoint(action, BulkJobInput, "create")


def build_create_query(action: Action) -> Endpoint:
    return _create_endpoint(action, BulkQueryInput, "create_query")


def _job_endpoint(action: Action, work: str) -> Endpoint:
    """An endpoint that runs one BulkService method on the job in the path (``get``, ``abort``)."""

    def impl(connection_id: str, job_id: str) -> Response[Any]:
        result, calls = perform(
            action, connection_id, lambda client: getattr(_service(client, connection_id), work)(job_id)
        )
        return respond(200, result, api_calls=calls)

    return endpoint(action, [connection_param(), _job_param()], returns(action), impl)


def build_get(action: Action) -> Endpoint:
    return _job_endpoint(action, "get")


def build_abort(action: Action) -> Endpoint:
    return _job_endpoint(action, "abort")


def build_results(action: Action) -> Endpoint:
    def impl(connection_id: str, job_id: str, which: str) -> Response[Any]:
        result, calls = perform(
            action, connection_id, lambda client: _service(client, connection_id).results(job_id, which)
        )
        return respond(200, result, api_calls=calls)

    which = inspect.Parameter(
        "which",
        KW,
        annotation=Annotated[
            Literal["successful", "failed", "unprocessed", "records"],
            Path(
                description="Ingest jobs: successful, failed or unprocessed rows; query jobs: records.",
                examples=["successful"],
            ),
        ],
    )
    return endpoint(action, [connection_param(), _job_param(), which], returns(action), impl)
