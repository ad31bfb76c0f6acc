"""HTTP endpoints of the attachments family (list ids, get content, add), built per catalog action
with the helpers of :mod:`sfconnector.api.endpoints`. The work is
:class:`sfconnector.actions.attachments.AttachmentService`, given its ports (the URL fetcher, the
payload stager, the limits) by the composition root (:mod:`sfconnector.runtime`).

Only the attachments function (and the documents function) import this module: the registry
(:mod:`sfconnector.api.registry`) loads it for the attachment kinds.
"""

from __future__ import annotations

import inspect
from typing import Any

from aws_lambda_powertools.event_handler import Response

from sfconnector.actions.attachments import AttachmentService
from sfconnector.api.endpoints import (
    Endpoint,
    body_param,
    connection_param,
    endpoint,
    id_param,
    idempotency_key_param,
    perform,
    respond,
    returns,
    run_create,
)
from sfconnector.api.tenancy import connection_owner
from sfconnector.catalog import Action
from sfconnector.models import AddAttachmentInput
from sfconnector.runtime import get_runtime
from sfconnector.salesforce.client import SalesforceClient

__all__ = ["build_add", "build_get_content", "build_list_ids"]


def _service(client: SalesforceClient, connection_id: str) -> AttachmentService:
    runtime = get_runtime()
    return AttachmentService(
        client,
        connection_id=connection_id,
        # Factories: the stager and the fetcher are built by the first request that needs them.
        stager=lambda: runtime.payload_stager,
        fetcher=lambda: runtime.url_fetcher,
        max_bytes=runtime.attachment_settings.max_bytes,
        inline_limit=runtime.attachment_inline_limit,
        tenant_id=connection_owner(),
    )


def build_list_ids(action: Action) -> Endpoint:
    def impl(connection_id: str, parent_id: str) -> Response[Any]:
        result, calls = perform(
            action, connection_id, lambda client: _service(client, connection_id).list_ids(parent_id)
        )
        return respond(200, result, api_calls=calls)

    params: list[inspect.Parameter] = [
        connection_param(),
        id_param("parent_id", None, "the record the files are attached to"),
    ]
    return endpoint(action, params, returns(action), impl)


def build_get_content(action: Action) -> Endpoint:
    def impl(connection_id: str, record_id: str) -> Response[Any]:
        result, calls = perform(
            action, connection_id, lambda client: _service(client, connection_id).get_content(record_id)
        )
        return respond(200, result, api_calls=calls)

    params: list[inspect.Parameter] = [
        connection_param(),
        id_param("record_id", "Attachment"),
    ]
    return endpoint(action, params, returns(action), impl)


def build_add(action: Action) -> Endpoint:
    def impl(
        connection_id: str, body: AddAttachmentInput, idempotency_key: str | None = None
    ) -> Response[Any]:
        return run_create(
            action,
            connection_id,
            idempotency_key,
            body.model_dump(mode="json"),
            lambda client: _service(client, connection_id).add(body),
        )

    params = [connection_param(), body_param(AddAttachmentInput, action.example), idempotency_key_param()]
    return endpoint(action, params, returns(action), impl)
