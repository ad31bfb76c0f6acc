"""Endpoints of the many-record kinds: find many (``.../query``) and batch writes (``.../batch``),
for every record family and any object (:mod:`sfconnector.actions.many` does the work)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from sfconnector import catalog
from sfconnector.actions.many import batch_write, query_page
from sfconnector.api.endpoints import (
    Endpoint,
    body_param,
    endpoint,
    idempotency_key_param,
    perform,
    respond,
    returns,
    route_params,
    run_create,
)
from sfconnector.catalog import Action
from sfconnector.models.collections import (
    BatchDelete,
    BatchInput,
    BatchResult,
    BatchUpsert,
    QueryInput,
    QueryPage,
)
from sfconnector.salesforce.client import SalesforceClient
from sfconnector.salesforce.schema import SObjectSchema, sobject_schema

__all__ = ["build_batch", "build_query"]


def _schema(client: SalesforceClient, action: Action, sobject: str | None) -> SObjectSchema:
    """The action's sObject, or the one the route names (custom objects only, or any object)."""
    if action.sobject is not None:
        return sobject_schema(client, action.sobject)
    if sobject is None:
        raise ValueError(f"{action.key} needs the sObject from the route")
    return sobject_schema(client, sobject, custom_only=not catalog.family(action.family).any_object)


def _query_example(action: Action) -> dict[str, Any]:
    first = list(catalog.family(action.family).example.items())[:1]
    criteria = dict(first) if first else {"Name": "Acme"}
    return {"criteria": criteria, "order_by": ["CreatedDate DESC"], "limit": 100}


def _batch_example(action: Action) -> dict[str, Any]:
    return {
        "operation": "create",
        "records": [dict(catalog.family(action.family).example)],
        "all_or_none": False,
    }


def build_query(action: Action) -> Endpoint:
    def impl(connection_id: str, body: QueryInput, sobject: str | None = None) -> Response[Any]:
        def work(client: SalesforceClient) -> QueryPage:
            return query_page(
                client,
                _schema(client, action, sobject),
                scope=connection_id,
                criteria=body.criteria,
                condition=body.condition,
                fields=body.fields,
                order_by=body.order_by,
                limit=body.limit,
                include_deleted=body.include_deleted,
                next_token=body.next,
            )

        result, calls = perform(action, connection_id, work)
        return respond(200, result, api_calls=calls)

    params = [*route_params(action), body_param(QueryInput, _query_example(action))]
    return endpoint(action, params, returns(action), impl)


def build_batch(action: Action) -> Endpoint:
    def impl(
        connection_id: str, body: BatchInput, idempotency_key: str | None = None, sobject: str | None = None
    ) -> Response[Any]:
        batch = body.root
        if isinstance(batch, BatchDelete):
            records: list[dict[str, Any]] = [{"Id": i} for i in batch.ids]
        else:
            records = [r.root for r in batch.records]
        external_id_field = batch.external_id_field if isinstance(batch, BatchUpsert) else None

        def work(client: SalesforceClient) -> BatchResult:
            return batch_write(
                client,
                _schema(client, action, sobject),
                batch.operation,
                records,
                all_or_none=batch.all_or_none,
                external_id_field=external_id_field,
            )

        request = {"sobject": sobject, **batch.model_dump(mode="json")}
        return run_create(action, connection_id, idempotency_key, request, work)

    params = [*route_params(action), body_param(BatchInput, _batch_example(action)), idempotency_key_param()]
    return endpoint(action, params, returns(action), impl)
