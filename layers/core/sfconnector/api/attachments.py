"""HTTP endpoints of the attachments family (list ids, get content, add), built per catalog action
with the helpers of :mod:`sfconnector.api.endpoints`. The work is
:class:`sfconnector.actions.attachments.AttachmentService`, given its ports (the URL fetcher, the
payload stager, the limits) by the composition root (:mod:`sfconnector.runtime`).

Only the attachments function (and the documents function) import this module: the registry
(:mod:`sfconnector.api.registry`) loads it for the attachment kinds.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from sfconnector.actions.attachments import AttachmentService, ContentPorts
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

__all__ = ["build_add", "build_get_content", "build_list_ids", "content_service", "read_endpoint"]


P = TypeVar("P", bound=ContentPorts)


def content_service(cls: type[P], client: SalesforceClient, connection_id: str, **limits: Any) -> P:
    """A content service (attachments, files) with its ports from the composition root."""
    runtime = get_runtime()
    return cls(
        client,
        connection_id=connection_id,
        # Factories: the stager and the fetcher are built by the first request that needs them.
        stager=lambda: runtime.payload_stager,
        fetcher=lambda: runtime.url_fetcher,
        inline_limit=runtime.attachment_inline_limit,
        tenant_id=connection_owner(),
        **limits,
    )


def _service(client: SalesforceClient, connection_id: str) -> AttachmentService:
    limit = get_runtime().attachment_settings.max_bytes
    return content_service(AttachmentService, client, connection_id, max_bytes=limit)


def read_endpoint(
    action: Action, param: inspect.Parameter, work: Callable[[SalesforceClient, str, str], BaseModel]
) -> Endpoint:
    """A GET of one id in the path: ``work(client, connection_id, the id)`` answers 200."""

    def impl(connection_id: str, **path: str) -> Response[Any]:
        (value,) = path.values()
        result, calls = perform(action, connection_id, lambda client: work(client, connection_id, value))
        return respond(200, result, api_calls=calls)

    return endpoint(action, [connection_param(), param], returns(action), impl)


def build_list_ids(action: Action) -> Endpoint:
    return read_endpoint(
        action,
        id_param("parent_id", None, "the record the files are attached to"),
        lambda client, cid, parent_id: _service(client, cid).list_ids(parent_id),
    )


def build_get_content(action: Action) -> Endpoint:
    return read_endpoint(
        action,
        id_param("record_id", "Attachment"),
        lambda client, cid, record_id: _service(client, cid).get_content(record_id),
    )


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
