"""HTTP endpoints of the files family (add, list, get content, new version), built per catalog
action with the helpers of :mod:`sfconnector.api.endpoints`. The work is
:class:`sfconnector.actions.files.FileService`, given its ports (the URL fetcher, the payload
bucket) by the composition root (:mod:`sfconnector.runtime`).

Only the functions that serve the file kinds import this module (the registry's lazy seam).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from sfconnector.actions.files import FileService
from sfconnector.api.attachments import content_service, read_endpoint
from sfconnector.api.endpoints import (
    Endpoint,
    body_param,
    connection_param,
    endpoint,
    id_param,
    idempotency_key_param,
    returns,
    run_create,
)
from sfconnector.catalog import Action
from sfconnector.models.files import AddFileInput, NewFileVersionInput
from sfconnector.salesforce.client import SalesforceClient

__all__ = ["build_add", "build_get_content", "build_list", "build_new_version", "file_service"]


def file_service(client: SalesforceClient, connection_id: str) -> FileService:
    return content_service(FileService, client, connection_id)


def build_add(action: Action) -> Endpoint:
    def impl(connection_id: str, body: AddFileInput, idempotency_key: str | None = None) -> Response[Any]:
        return run_create(
            action,
            connection_id,
            idempotency_key,
            body.model_dump(mode="json"),
            lambda client: file_service(client, connection_id).add(body),
        )

    params = [connection_param(), body_param(AddFileInput, action.example), idempotency_key_param()]
    return endpoint(action, params, returns(action), impl)


def build_new_version(action: Action) -> Endpoint:
    def impl(
        connection_id: str, document_id: str, body: NewFileVersionInput, idempotency_key: str | None = None
    ) -> Response[Any]:
        return run_create(
            action,
            connection_id,
            idempotency_key,
            {"document_id": document_id, **body.model_dump(mode="json")},
            lambda client: file_service(client, connection_id).new_version(document_id, body),
        )

    params = [
        connection_param(),
        id_param("document_id", "ContentDocument", "the file (ContentDocument)"),
        body_param(NewFileVersionInput, action.example),
        idempotency_key_param(),
    ]
    return endpoint(action, params, returns(action), impl)


def build_list(action: Action) -> Endpoint:
    return read_endpoint(
        action,
        id_param("parent_id", None, "the record the files are linked to"),
        lambda client, cid, parent_id: file_service(client, cid).list(parent_id),
    )


def build_get_content(action: Action) -> Endpoint:
    return read_endpoint(
        action,
        id_param("file_id", "ContentDocument", "the file (a ContentDocument, or one ContentVersion)"),
        lambda client, cid, file_id: file_service(client, cid).get_content(file_id),
    )
