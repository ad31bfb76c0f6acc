"""Resolvers built from the catalog: one per family function, and the API-wide one (``/catalog``,
``/openapi.json``, Swagger UI).

A family function is three lines::

    from sfconnector.api.app import build_family_app, build_lambda_handler

    app = build_family_app("accounts")
    lambda_handler = build_lambda_handler(app)

Building an app registers routes only (cheap: no client, no settings, no network). Powertools'
``APIGatewayRestResolver(enable_validation=True)`` validates every request against the pydantic
models the catalog names, and generates the OpenAPI document from the same models.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import Router

from sfconnector import catalog
from sfconnector.actions.registry import builder_for
from sfconnector.api.errors import register_error_handlers
from sfconnector.api.observability import wrap_handler
from sfconnector.catalog import Action
from sfconnector.runtime import get_runtime

__all__ = [
    "PUBLIC_ROUTE",
    "build_family_app",
    "build_family_router",
    "build_lambda_handler",
    "new_resolver",
    "powertools_rule",
]

PUBLIC_ROUTE: dict[str, Any] = {"x-amazon-apigateway-auth": {"type": "NONE"}}
"""``openapi_extensions`` of a route API Gateway serves without IAM (template.yaml's ``Auth:
Authorizer: NONE``, e.g. the OAuth callback a browser follows): the whole-API OpenAPI document
gives such operations ``security: []``, every other one the SigV4 scheme."""

_ERRORS: dict[int, str] = {
    400: "Salesforce refused the query (the condition is valid SOQL the org cannot run).",
    401: "The connection must be re-authorised in Salesforce.",
    403: "Salesforce refused access (object or field permissions of the connected user), or API "
    "Gateway refused the request's signature.",
    404: "Unknown connection, record or sObject.",
    409: "Conflict: ambiguous match, duplicate, a locked record, or a request with the same "
    "Idempotency-Key is running.",
    422: "Invalid input: the fields and problems are listed.",
    429: "The Salesforce org's API allowance is used up.",
    502: "Salesforce answered something unexpected.",
    503: "Salesforce (or AWS) is temporarily unavailable; retry.",
}


def powertools_rule(route: str) -> str:
    """``/connections/{connection_id}/accounts`` -> ``/connections/<connection_id>/accounts``."""
    return route.replace("{", "<").replace("}", ">")


_SUCCESS: dict[int, str] = {200: "The result.", 201: "Created."}


def _responses(action: Action) -> dict[int, Any]:
    """Every status the action answers itself, with its body's model (the answers of API Gateway
    in front of every route are added to the whole document: see ``sfconnector.api.meta``)."""
    codes = [401, 403, 404, 422, 429, 502, 503]
    if action.kind.value in ("upsert", "create", "create_child", "attachment_add", "update", "delete"):
        codes.append(409)  # duplicates, ambiguous matches, a locked record, a running Idempotency-Key
    if action.kind.value.startswith("attachment"):
        codes.append(413)
    if action.kind.value == "find_all":
        codes.append(400)  # Salesforce refused the query the condition became
    from sfconnector.models import ErrorResponse  # documents only (see build_family_router)

    error: dict[str, Any] = {"application/json": {"model": ErrorResponse}}
    answers: dict[int, Any] = {
        code: {"description": _ERRORS.get(code, "Payload too large."), "content": error} for code in codes
    }
    success = [200, 201] if action.kind.value == "upsert" else [action.status_code]
    for status in success:
        content = {"application/json": {"model": action.output_model}}
        answers[status] = {"description": _SUCCESS.get(status, "The result."), "content": content}
    return dict(sorted(answers.items()))


def _description(action: Action) -> str:
    family = catalog.family(action.family)
    notes = {
        "find": "Returns `found: false` (200) when nothing matches, with `match_count`.",
        "upsert": "By an External ID field: one Salesforce call. By another field (Email): a lookup, "
        "then the write; several matches are a 409 listing `candidate_ids`.",
        "delete": "Idempotent: deleting a record already in the recycle bin returns `already_deleted: true`.",
        "create": "Send an `Idempotency-Key` header to make retries safe.",
        "create_child": "Send an `Idempotency-Key` header to make retries safe.",
        "find_all": "The condition is parsed and re-emitted by a guard: it can only ever query "
        "OpportunityContactRole. Pages: while `has_more`, send the same body with the answer's "
        "`next_page` for the next records.",
    }
    text = action.description
    extra = notes.get(action.kind.value)
    if extra:
        text += "\n\n" + extra
    if family.sobject is None:
        text += "\n\nThe custom object (any `*__c` sObject of the org) is named in the path."
    text += f"\n\nCatalog key: `{action.key}`."
    return text


def build_family_router(family_key: str, *, documented: bool = True) -> Router:
    """A Router with every action of the family (supplementary ones included).

    ``documented=False`` leaves out what only the OpenAPI document reads (summaries, descriptions,
    tags, the error responses): a family's function serves no document (the meta function serves
    the whole API's), and Powertools would build a validator for each documented error response
    of a route on its first request.
    """
    family = catalog.family(family_key)
    router = Router()  # type: ignore[no-untyped-call]
    for action in catalog.actions_of(family.key):
        route = builder_for(action.kind)(action)
        docs: dict[str, Any] = {}
        if documented:
            docs = {
                "summary": action.title,
                "description": _description(action),
                "tags": [family.title],
                "responses": _responses(action),
            }
        router.route(
            powertools_rule(action.route),
            action.method,
            operation_id=action.key,
            status_code=action.status_code,
            **docs,
        )(route)
    return router


def new_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    register_error_handlers(app)
    return app


def build_family_app(family_key: str) -> APIGatewayRestResolver:
    """The resolver of one family's function."""
    app = new_resolver()
    app.include_router(build_family_router(family_key, documented=False))
    return app


def build_lambda_handler(app: APIGatewayRestResolver) -> Any:
    """The Lambda entry point of a resolver: Logger/Tracer/Metrics wrap it once (first call)."""

    def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
        get_runtime().lambda_context = context
        return app.resolve(event, context)

    return wrap_handler(resolve)
