"""The API-wide documents: ``GET /catalog``, ``GET /openapi.json``, ``GET /asyncapi.json`` (the
trigger events, :mod:`sfconnector.api.asyncapi`) and Swagger UI (``GET /docs``).

The OpenAPI document covers the WHOLE API although every family runs in its own function: the
routes of all families (built from the catalog), the connections routes and these documents are
registered on one resolver (routes only, nothing is called) that describes them all. Both documents
are built on the first request and cached for the container's lifetime.

``/catalog`` lists every action and trigger with its key, family, sObject, kind, route and the JSON
Schema of its input (path, query, header parameters and body, read from the very route signatures
the API validates with) and output; triggers carry the JSON Schema of their params and of their
event (``event_schema``: the envelope subscribers receive, the payload of its AsyncAPI message).
"""

from __future__ import annotations

import inspect
import json
import threading
from pathlib import Path as FilePath
from typing import Annotated, Any, get_args, get_origin

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Param, ParamTypes
from pydantic import TypeAdapter

from sfconnector import API_VERSION, catalog
from sfconnector.api.app import PUBLIC_ROUTE, build_family_router, new_resolver
from sfconnector.api.asyncapi import asyncapi_document, event_schema
from sfconnector.api.registry import builder_for
from sfconnector.api.routing import ApiResolver

__all__ = [
    "API_TITLE",
    "asyncapi_json",
    "build_meta_app",
    "catalog_document",
    "openapi_document",
    "swagger_html",
]

API_TITLE = "Salesforce connector"
API_VERSION_LABEL = "1.0.0"
_DESCRIPTION = (
    "Actions on Salesforce records (one Lambda per object family), connections (OAuth 2.0) and the "
    f"catalog of actions and triggers. Salesforce REST API {API_VERSION}. Every error has the shape "
    '`{"error": {"code", "message", "fields", "salesforce"}}`.'
)

_lock = threading.RLock()
_cache: dict[str, Any] = {}


def _memo(key: str, build: Any) -> Any:
    with _lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


# ------------------------------------------------------------------------------------- /catalog


def _param_schema(annotation: Any) -> tuple[dict[str, Any], Any]:
    """(JSON Schema, the Powertools param marker) of an ``Annotated[T, Path(...)]`` annotation."""
    marker = None
    if get_origin(annotation) is Annotated:
        marker = next((m for m in get_args(annotation)[1:] if isinstance(m, Param | Body)), None)
    return TypeAdapter(annotation).json_schema(), marker


def _input_schema(route: Any) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    required_groups: list[str] = []
    body: dict[str, Any] | None = None
    for param in inspect.signature(route).parameters.values():
        schema, marker = _param_schema(param.annotation)
        if isinstance(marker, Body) or marker is None:
            body = schema
            required_groups.append("body")
            continue
        where = {ParamTypes.path: "path", ParamTypes.query: "query", ParamTypes.header: "headers"}.get(
            marker.in_, "query"
        )
        name = marker.alias or param.name
        if where == "headers":
            # Powertools lower-cases header aliases; the catalog shows the usual spelling.
            name = "-".join(part.capitalize() for part in name.split("-"))
        group = groups.setdefault(where, {"type": "object", "properties": {}, "required": []})
        group["properties"][name] = schema
        if param.default is inspect.Parameter.empty:
            group["required"].append(name)
            if where not in required_groups:
                required_groups.append(where)
    properties: dict[str, Any] = dict(groups)
    if body is not None:
        properties["body"] = body
    return {"type": "object", "properties": properties, "required": required_groups}


def catalog_document() -> dict[str, Any]:
    """``{"actions": [...], "triggers": [...], "families": [...]}`` (cached)."""

    def build() -> dict[str, Any]:
        actions = []
        for action in catalog.ACTIONS:
            route = builder_for(action.kind)(action)
            actions.append(
                {
                    "key": action.key,
                    "title": action.title,
                    "description": action.description,
                    "family": action.family,
                    "sobject": action.sobject,
                    "kind": action.kind.value,
                    "method": action.method,
                    "route": action.route,
                    "status_code": action.status_code,
                    "idempotency_key": action.idempotent_create,
                    "in_spec": action.in_spec,
                    "input_schema": _input_schema(route),
                    "output_schema": action.output_model.model_json_schema(),
                }
            )
        triggers = [
            {
                "key": trigger.key,
                "title": trigger.title,
                "description": trigger.description,
                "family": trigger.family,
                "sobject": trigger.sobject,
                "kind": trigger.kind.value,
                "in_spec": trigger.in_spec,
                "params_schema": trigger.params_model.model_json_schema(),
                "event_schema": event_schema(trigger.key),
            }
            for trigger in catalog.TRIGGERS
        ]
        families = [
            {
                "key": f.key,
                "title": f.title,
                "sobject": f.sobject,
                "route": f.base_route,
                "function": f.function_name,
            }
            for f in catalog.FAMILIES
        ]
        return {
            "api_version": API_VERSION,
            "counts": {
                "families": len(families),
                "actions": len(catalog.spec_actions()),
                "supplementary_actions": len(actions) - len(catalog.spec_actions()),
                "triggers": len(catalog.spec_triggers()),
                "supplementary_triggers": len(triggers) - len(catalog.spec_triggers()),
            },
            "families": families,
            "actions": actions,
            "triggers": triggers,
        }

    document: dict[str, Any] = _memo("catalog", build)
    return document


# --------------------------------------------------------------------------------- /openapi.json


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 document of the whole API (cached): every family's routes, the connections
    routes and the documents, registered on one resolver only to describe them."""

    def build() -> dict[str, Any]:
        from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Tag

        from sfconnector.api.connections import build_connections_router
        from sfconnector.api.realtime import build_realtime_router
        from sfconnector.api.subscriptions import build_subscriptions_router

        whole = new_resolver()
        for family in (*catalog.FAMILIES, *catalog.SERVICE_FAMILIES):
            whole.include_router(build_family_router(family.key))
        whole.include_router(build_connections_router())
        whole.include_router(build_subscriptions_router())
        whole.include_router(build_realtime_router())
        whole.include_router(_documents_router())
        sigv4 = APIKey.model_validate(
            {
                "type": "apiKey",
                "in": APIKeyIn.header,
                "name": "Authorization",
                "description": "AWS Signature Version 4 (the API is IAM-authorised).",
                "x-amazon-apigateway-authtype": "awsSigv4",
            }
        )
        tags: list[Tag | str] = [
            Tag(name=f.title, description=f"{f.title} actions (sObject {f.sobject or 'any *__c'}).")
            for f in catalog.FAMILIES
        ]
        tags += [Tag(name=f.title, description=f"{f.title} (any sObject).") for f in catalog.SERVICE_FAMILIES]
        document: dict[str, Any] = json.loads(
            whole.get_openapi_json_schema(
                title=API_TITLE,
                version=API_VERSION_LABEL,
                description=_DESCRIPTION,
                tags=tags,
                security_schemes={"sigv4": sigv4},
                security=[{"sigv4": []}],
            )
        )
        _mark_public_operations(document)
        _add_gateway_answers(document)
        _close_trigger_keys(document)
        return document

    document: dict[str, Any] = _memo("openapi", build)
    return document


def _close_trigger_keys(document: dict[str, Any]) -> None:
    """A subscription's ``trigger`` is one of the catalog's keys: a closed set the document lists
    (the model cannot: the catalog sits above the models)."""
    schema = document.get("components", {}).get("schemas", {}).get("SubscriptionCreate", {})
    trigger = schema.get("properties", {}).get("trigger")
    if trigger is not None:
        trigger["enum"] = [t.key for t in catalog.TRIGGERS]


def _mark_public_operations(document: dict[str, Any]) -> None:
    """Operations whose route is public (:data:`~sfconnector.api.app.PUBLIC_ROUTE`) need no
    signature: ``security: []`` overrides the document-wide SigV4 requirement for them."""
    auth_key = next(iter(PUBLIC_ROUTE))
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and operation.get(auth_key) == PUBLIC_ROUTE[auth_key]:
                operation["security"] = []


_GATEWAY_ANSWERS: dict[str, str] = {
    "403": "API Gateway refused the request: it has no valid AWS Signature Version 4.",
    "413": "The request is larger than API Gateway (10 MB) or Lambda (6 MB event) accepts.",
    "414": "The URL is longer than API Gateway accepts (10,240 characters, or 1,600 bytes for the "
    "signed method ARN of an IAM-authorised route).",
    "429": "Throttled by API Gateway (the stage's rate limit).",
    "500": "An unexpected error; it is logged with the request id, and nothing internal is returned.",
    "502": "The function failed without an answer.",
    "504": "The function did not answer within API Gateway's 29 seconds.",
}
"""What API Gateway (or the catch-all of the error mapping) can answer on every route, in the
API's error shape (template.yaml's ``GatewayResponses``; the local front answers the same)."""


def _add_gateway_answers(document: dict[str, Any]) -> None:
    """Every operation documents the answers of the gateway in front of it, and its 422 is the
    API's error shape (Powertools documents its own validation model, which the API never sends)."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            invalid = responses.get("422")
            if not operation.get("parameters") and "requestBody" not in operation:
                responses.pop("422", None)  # nothing to validate
            elif invalid is None or "HTTPValidationError" in json.dumps(invalid):
                responses["422"] = {
                    "description": "Invalid request: the fields and problems are listed.",
                    "content": error,
                }
            if "requestBody" in operation:
                responses.setdefault("415", {"description": "The body is not JSON.", "content": error})
            for status, description in _GATEWAY_ANSWERS.items():
                if status == "403" and operation.get("security") == []:
                    continue  # a public route: no signature to refuse
                responses.setdefault(status, {"description": description, "content": error})
            operation["responses"] = dict(sorted(responses.items()))
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)


def swagger_html(spec_url: str = "openapi.json") -> str:
    """A Swagger UI page for the document (assets inlined: no CDN is contacted)."""

    def build() -> str:
        from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

        assets = FilePath(inspect.getfile(generate_swagger_html)).parent
        js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
        css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
        spec = json.dumps(openapi_document()).replace("</", "<\\/")
        return generate_swagger_html(spec, js, css, "", None)

    html: str = _memo("swagger", build)
    return html


# -------------------------------------------------------------------------------- /asyncapi.json


def asyncapi_json() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the trigger events (cached)."""
    document: dict[str, Any] = _memo(
        "asyncapi", lambda: asyncapi_document(title=API_TITLE, version=API_VERSION_LABEL)
    )
    return document


# --------------------------------------------------------------------------------------- resolver


def _json(body: Any) -> Response[str]:
    return Response(
        status_code=200,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":")),
        headers={"Cache-Control": "max-age=300"},
    )


def _answers(content_type: str, body: Any) -> dict[int, Any]:
    """The OpenAPI responses of a document route (``body``: a model or a JSON Schema)."""
    key = "model" if isinstance(body, type) else "schema"
    return {200: {"description": "The document.", "content": {content_type: {key: body}}}}


def _documents_router() -> Router:
    from sfconnector.models import CatalogDocument  # documents only: the meta function reads it

    router = Router()  # type: ignore[no-untyped-call]

    @router.get(
        "/catalog",
        summary="Every action and trigger, with input JSON Schemas",
        tags=["Catalog"],
        responses=_answers("application/json", CatalogDocument),
    )
    def get_catalog() -> Response[str]:
        return _json(catalog_document())

    @router.get(
        "/openapi.json",
        summary="This OpenAPI document",
        tags=["Catalog"],
        responses=_answers("application/json", {"type": "object", "required": ["openapi", "paths"]}),
    )
    def get_openapi() -> Response[str]:
        return _json(openapi_document())

    @router.get(
        "/asyncapi.json",
        summary="The AsyncAPI 3.0 document of the trigger events",
        tags=["Catalog"],
        responses=_answers("application/json", {"type": "object", "required": ["asyncapi", "channels"]}),
    )
    def get_asyncapi() -> Response[str]:
        return _json(asyncapi_json())

    @router.get(
        "/docs", summary="Swagger UI", tags=["Catalog"], responses=_answers("text/html", {"type": "string"})
    )
    def get_docs() -> Response[str]:
        return Response(status_code=200, content_type="text/html", body=swagger_html())

    return router


def build_meta_app() -> ApiResolver:
    """The resolver of the documents function (``/catalog``, ``/openapi.json``, ``/asyncapi.json``,
    ``/docs``)."""
    app = new_resolver()
    app.include_router(_documents_router())
    return app
