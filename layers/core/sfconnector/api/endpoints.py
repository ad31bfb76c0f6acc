"""HTTP endpoints of the record operation kinds, built per catalog action.

An endpoint builder takes an :class:`~sfconnector.catalog.Action` and returns a function whose
*signature* tells Powertools what to validate and document (path parameters, the body model with
the family's example, headers); :func:`endpoint` attaches that signature. The functions stay
thin: open the connection's client (:func:`perform`), call one service, wrap the result.

Builders are found through :data:`sfconnector.api.registry.OPERATIONS`; other modules (the
attachments family's, :mod:`sfconnector.api.attachments`) use the same helpers: :func:`endpoint`,
the ``*_param`` factories, :func:`perform` and :func:`respond`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar, cast

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from pydantic import BaseModel

from sfconnector import catalog
from sfconnector.actions.records import MatchLocker, RecordService, prefix_of
from sfconnector.api.observability import record_action
from sfconnector.api.tenancy import connection_owner
from sfconnector.catalog import Action
from sfconnector.models import (
    CONNECTION_ID_PATTERN,
    CUSTOM_SOBJECT_PATTERN,
    FIELD_NAME_PATTERN,
    FindAllInput,
    FindInput,
    RecordFields,
    UpsertInput,
    UpsertResult,
    record_id_pattern,
)
from sfconnector.runtime import get_runtime
from sfconnector.salesforce.client import SalesforceClient

__all__ = [
    "CONNECTION_ID_PATTERN",
    "Endpoint",
    "body_param",
    "build_create",
    "build_create_child",
    "build_delete",
    "build_find",
    "build_find_all",
    "build_get",
    "build_update",
    "build_upsert",
    "connection_param",
    "endpoint",
    "fields_query_param",
    "id_param",
    "idempotency_key_param",
    "path_param",
    "perform",
    "record_service",
    "respond",
    "returns",
    "route_params",
    "run_create",
    "sobject_param",
]

logger = logging.getLogger(__name__)

Endpoint = Callable[..., Any]
T = TypeVar("T")
KW = inspect.Parameter.KEYWORD_ONLY

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
JSON = "application/json"


# ------------------------------------------------------------------------------ signature helpers


def endpoint(
    action: Action,
    params: Sequence[inspect.Parameter],
    returns: Any,
    impl: Callable[..., Any],
) -> Endpoint:
    """A route function for ``action`` with the given signature, delegating to ``impl(**kwargs)``."""

    def route(**kwargs: Any) -> Any:
        return impl(**kwargs)

    route.__name__ = action.key.replace(".", "_")
    route.__qualname__ = route.__name__
    route.__doc__ = action.description
    route.__signature__ = inspect.Signature(list(params), return_annotation=returns)  # type: ignore[attr-defined]
    return route


def path_param(
    name: str,
    description: str,
    *,
    max_length: int | None = 64,
    pattern: str | None = None,
    examples: list[str] | None = None,
) -> inspect.Parameter:
    """A path parameter. Ids have no pattern: the service checks them (well-formed AND of the right
    object) with a clearer message than a pattern mismatch; the description documents the format."""
    location = Path(description=description, max_length=max_length, pattern=pattern, examples=examples)
    return inspect.Parameter(name, KW, annotation=Annotated[str, location])


def connection_param() -> inspect.Parameter:
    return path_param(
        "connection_id",
        "The connection (Salesforce org and user) to act through.",
        max_length=None,
        pattern=CONNECTION_ID_PATTERN,
    )


def record_id_param(action: Action, name: str = "record_id") -> inspect.Parameter:
    return id_param(name, action.parent_sobject or action.sobject)


def id_param(name: str, sobject: str | None, what: str | None = None) -> inspect.Parameter:
    """A record id in the path. The document gives its pattern (with the object's key prefix when
    a standard object's ids all start with one) and a record of the demo org as the example; the
    request is not validated against that pattern: the service checks the id (well-formed AND of
    the right object) with a clearer message than a pattern mismatch."""
    prefix = prefix_of(sobject) if sobject else None
    starts = f", starting with {prefix}" if prefix else ""
    example = catalog.DEMO_IDS.get(sobject or "Invoice__c")
    documented: dict[str, Any] = {"pattern": record_id_pattern(prefix)}
    if example:
        documented["examples"] = [example]
    what = what or f"the {sobject or 'record'}"
    description = f"Salesforce id of {what} (15 or 18 characters{starts})."
    location = Path(description=description, json_schema_extra=documented)
    return inspect.Parameter(name, KW, annotation=Annotated[str, location])


def sobject_param(family: catalog.Family | None = None) -> inspect.Parameter:
    # The pattern is documented, not validated: a name that is not a custom object (or, on the
    # any-object routes, not an object of the org) is a 404 with a clear message, not a 422.
    # The examples use the demo org's custom object on both: its demo records can be deleted.
    if family is not None and family.any_object:
        description = "API name of any object of the org (Campaign, Order, Pricebook2, Invoice__c, ...)."
        pattern = FIELD_NAME_PATTERN
    else:
        description = "API name of the custom object (ends in __c), e.g. Invoice__c."
        pattern = CUSTOM_SOBJECT_PATTERN
    location = Path(
        description=description,
        max_length=120,
        json_schema_extra={"pattern": pattern, "examples": ["Invoice__c"]},
    )
    return inspect.Parameter("sobject", KW, annotation=Annotated[str, location])


def body_param(
    model: type[BaseModel], example: Any = None, *, description: str | None = None
) -> inspect.Parameter:
    # Plain dicts (not Powertools' Example model): importing the OpenAPI models costs ~70 ms of cold
    # start, and only the document generation (the meta function) needs them.
    examples: Any = {"example": {"summary": "Example", "value": example}} if example is not None else None
    return inspect.Parameter(
        "body", KW, annotation=Annotated[model, Body(openapi_examples=examples, description=description)]
    )


def idempotency_key_param() -> inspect.Parameter:
    return inspect.Parameter(
        "idempotency_key",
        KW,
        default=None,
        annotation=Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                pattern=IDEMPOTENCY_KEY_PATTERN,
                description="Makes the create safe to retry: a repeated request with the same key returns "
                "the first result (for 24 hours) and creates nothing twice.",
            ),
        ],
    )


def fields_query_param() -> inspect.Parameter:
    return inspect.Parameter(
        "fields",
        KW,
        default=None,
        annotation=Annotated[
            str | None,
            # No maxLength: Powertools does not apply one to an optional query value, and the URL's
            # own limit (414) is documented on every operation.
            Query(description="Comma-separated fields to return (default: every field)."),
        ],
    )


# ------------------------------------------------------------------------------------ execution


def record_service(
    client: SalesforceClient,
    action: Action,
    sobject: str | None = None,
    *,
    match_lock: MatchLocker | None = None,
) -> RecordService:
    """The record service for the action's sObject (or the custom object named in the route)."""
    if action.sobject is None:
        if sobject is None:
            raise ValueError(f"{action.key} needs the sObject from the route")
        custom_only = not catalog.family(action.family).any_object
        return RecordService(client, sobject, custom_only=custom_only, match_lock=match_lock)
    return RecordService(client, action.sobject, match_lock=match_lock)


def perform(action: Action, connection_id: str, work: Callable[[SalesforceClient], T]) -> tuple[T, int]:
    """Run ``work`` with the connection's Salesforce client; returns (result, Salesforce API calls).

    Once the work is done (answer or error), its usage is logged, counted as a metric and, when
    Salesforce was called, the org's API usage is remembered on the connection (throttled; see
    :class:`~sfconnector.stores.connections.ApiUsageRecorder`).
    """
    runtime = get_runtime()
    client = runtime.salesforce(connection_id, connection_owner())
    before = client.api_calls
    try:
        return work(client), client.api_calls - before
    finally:
        _record_usage(action, connection_id, client, client.api_calls - before)


def _record_usage(action: Action, connection_id: str, client: SalesforceClient, calls: int) -> None:
    record_action(action, connection_id, calls, client.limit_info)
    if calls:
        get_runtime().usage_recorder.record(connection_id, client.limit_info)


def respond(
    status: int,
    body: BaseModel | dict[str, Any],
    *,
    api_calls: int | None = None,
    replayed: bool = False,
) -> Response[Any]:
    headers: dict[str, str] = {"Cache-Control": "no-store"}
    if api_calls is not None:
        headers["X-Salesforce-Api-Calls"] = str(api_calls)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(status_code=status, content_type=JSON, body=body, headers=headers)


def run_create(
    action: Action,
    connection_id: str,
    idempotency_key: str | None,
    request_body: Any,
    work: Callable[[SalesforceClient], BaseModel],
) -> Response[Any]:
    """Run a create-type action, once per ``Idempotency-Key`` when one is given."""

    def once() -> dict[str, Any]:
        result, calls = perform(action, connection_id, work)
        return {"status": action.status_code, "body": result.model_dump(mode="json"), "api_calls": calls}

    if not idempotency_key:
        stored = once()
        return respond(stored["status"], stored["body"], api_calls=stored["api_calls"])

    from sfconnector.api.idempotency import run_idempotent

    runtime = get_runtime()
    stored, replayed = run_idempotent(
        runtime.idempotency_store,
        action_key=action.key,
        connection_id=connection_id,
        key=idempotency_key,
        body=request_body,
        work=once,
        lambda_context=runtime.lambda_context,
    )
    return respond(
        int(stored["status"]),
        stored["body"],
        api_calls=0 if replayed else int(stored.get("api_calls", 0)),
        replayed=replayed,
    )


def returns(action: Action) -> Any:
    """The return annotation of an action's route: ``Response[<output model>]``."""
    return cast(Any, Response)[action.output_model]


def _dump(body: BaseModel) -> Any:
    return body.model_dump(mode="json")


def _split_fields(fields: str | None) -> list[str] | None:
    if not fields:
        return None
    names = [f.strip() for f in fields.split(",") if f.strip()]
    return names or None


def route_params(action: Action) -> list[inspect.Parameter]:
    """connection_id, the sObject (custom objects) and the record id, as the route has them."""
    params = [connection_param()]
    if "sobject" in action.path_params:
        params.append(sobject_param(catalog.family(action.family)))
    if "record_id" in action.path_params:
        params.append(record_id_param(action))
    return params


def _example(action: Action) -> dict[str, Any]:
    return dict(catalog.family(action.family).example)


# ---------------------------------------------------------------------------------- the builders


def build_create(action: Action) -> Endpoint:
    def impl(
        connection_id: str, body: RecordFields, idempotency_key: str | None = None, sobject: str | None = None
    ) -> Response[Any]:
        return run_create(
            action,
            connection_id,
            idempotency_key,
            _dump(body),
            lambda client: record_service(client, action, sobject).create(body.root),
        )

    params = [*route_params(action), body_param(RecordFields, _example(action)), idempotency_key_param()]
    return endpoint(action, params, returns(action), impl)


def build_create_child(action: Action) -> Endpoint:
    parent_sobject, parent_field = action.parent_sobject, action.parent_field
    if not parent_sobject or not parent_field:
        raise ValueError(f"{action.key}: a create_child action needs parent_sobject and parent_field")

    def impl(
        connection_id: str, record_id: str, body: RecordFields, idempotency_key: str | None = None
    ) -> Response[Any]:
        return run_create(
            action,
            connection_id,
            idempotency_key,
            {"parent": record_id, "fields": _dump(body)},
            lambda client: record_service(client, action).create_child(
                parent_sobject,
                parent_field,
                record_id,
                body.root,
                extra_required=action.required_fields,
            ),
        )

    params = [*route_params(action), body_param(RecordFields, action.example), idempotency_key_param()]
    return endpoint(action, params, returns(action), impl)


def build_get(action: Action) -> Endpoint:
    def impl(
        connection_id: str, record_id: str, fields: str | None = None, sobject: str | None = None
    ) -> Response[Any]:
        result, calls = perform(
            action,
            connection_id,
            lambda client: record_service(client, action, sobject).get(record_id, _split_fields(fields)),
        )
        return respond(200, result, api_calls=calls)

    params = [*route_params(action), fields_query_param()]
    return endpoint(action, params, returns(action), impl)


def build_update(action: Action) -> Endpoint:
    def impl(
        connection_id: str, record_id: str, body: RecordFields, sobject: str | None = None
    ) -> Response[Any]:
        result, calls = perform(
            action,
            connection_id,
            lambda client: record_service(client, action, sobject).update(record_id, body.root),
        )
        return respond(200, result, api_calls=calls)

    example = dict(list(_example(action).items())[-1:])
    params = [*route_params(action), body_param(RecordFields, example)]
    return endpoint(action, params, returns(action), impl)


def build_delete(action: Action) -> Endpoint:
    def impl(connection_id: str, record_id: str, sobject: str | None = None) -> Response[Any]:
        result, calls = perform(
            action, connection_id, lambda client: record_service(client, action, sobject).delete(record_id)
        )
        return respond(200, result, api_calls=calls)

    return endpoint(action, route_params(action), returns(action), impl)


def build_find(action: Action) -> Endpoint:
    def impl(connection_id: str, body: FindInput, sobject: str | None = None) -> Response[Any]:
        result, calls = perform(
            action,
            connection_id,
            lambda client: record_service(client, action, sobject).find(
                body.criteria, body.fields, pick=body.pick
            ),
        )
        return respond(200, result, api_calls=calls)

    first = list(_example(action).items())[:1]
    example = {"criteria": dict(first)} if first else {"criteria": {"Name": "Acme"}}
    params = [*route_params(action), body_param(FindInput, example)]
    return endpoint(action, params, returns(action), impl)


def build_upsert(action: Action) -> Endpoint:
    def impl(connection_id: str, body: UpsertInput, sobject: str | None = None) -> Response[Any]:
        def work(client: SalesforceClient) -> UpsertResult:
            # Concurrent upserts of one value by a non-External ID field wait for each other.
            locker = get_runtime().match_locker(connection_id)
            service = record_service(client, action, sobject, match_lock=locker)
            return service.upsert(body.match_field, body.record.root)

        result, calls = perform(action, connection_id, work)
        return respond(201 if result.created else 200, result, api_calls=calls)

    record = _example(action)
    match = catalog.family(action.family).upsert_match
    record.setdefault(match, "EXT-0001")  # the family's example has its match field when it can
    params = [*route_params(action), body_param(UpsertInput, {"match_field": match, "record": record})]
    return endpoint(action, params, returns(action), impl)


def build_find_all(action: Action) -> Endpoint:
    def impl(connection_id: str, body: FindAllInput) -> Response[Any]:
        result, calls = perform(
            action,
            connection_id,
            lambda client: record_service(client, action).find_all(
                body.condition, body.fields, body.limit, body.next_page
            ),
        )
        return respond(200, result, api_calls=calls)

    params = [connection_param(), body_param(FindAllInput, action.example)]
    return endpoint(action, params, returns(action), impl)
