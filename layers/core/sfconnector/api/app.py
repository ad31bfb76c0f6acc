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

from aws_lambda_powertools.event_handler.api_gateway import Router

from sfconnector import catalog
from sfconnector.api.errors import register_error_handlers
from sfconnector.api.observability import wrap_handler
from sfconnector.api.registry import builder_for
from sfconnector.api.routing import ApiResolver, powertools_rule
from sfconnector.api.tenancy import tenant_guard
from sfconnector.catalog import Action
from sfconnector.errors import Fault
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

_ERRORS: dict[Fault, str] = {
    Fault.MALFORMED: "Salesforce refused the query (the condition is valid SOQL the org cannot run).",
    Fault.NEEDS_REAUTH: "The connection must be re-authorised in Salesforce.",
    Fault.FORBIDDEN: "Salesforce refused access (object or field permissions of the connected user), or "
    "API Gateway refused the request's signature.",
    Fault.NOT_FOUND: "Unknown connection, record or sObject.",
    Fault.CONFLICT: "Conflict: ambiguous match, duplicate, a locked record, or a request with the same "
    "Idempotency-Key is running.",
    Fault.TOO_LARGE: "Payload too large.",
    Fault.INVALID: "Invalid input: the fields and problems are listed.",
    Fault.RATE_LIMITED: "The Salesforce org's API allowance is used up.",
    Fault.UPSTREAM: "Salesforce answered something unexpected.",
    Fault.UNAVAILABLE: "Salesforce (or AWS) is temporarily unavailable; retry.",
}
_COMMON_FAULTS = (
    Fault.NEEDS_REAUTH,
    Fault.FORBIDDEN,
    Fault.NOT_FOUND,
    Fault.INVALID,
    Fault.RATE_LIMITED,
    Fault.UPSTREAM,
    Fault.UNAVAILABLE,
)
"""What every action can answer (documented on each); an action adds its own (``Action.faults``)."""


_SUCCESS: dict[int, str] = {200: "The result.", 201: "Created."}


def _responses(action: Action) -> dict[int, Any]:
    """Every status the action answers itself, with its body's model (the answers of API Gateway
    in front of every route are added to the whole document: see ``sfconnector.api.meta``)."""
    from sfconnector.models import ErrorResponse  # documents only (see build_family_router)

    error: dict[str, Any] = {"application/json": {"model": ErrorResponse}}
    faults = sorted({*_COMMON_FAULTS, *action.faults})
    answers: dict[int, Any] = {int(f): {"description": _ERRORS[f], "content": error} for f in faults}
    for status in action.success_statuses:
        content = {"application/json": {"model": action.output_model}}
        answers[status] = {"description": _SUCCESS.get(status, "The result."), "content": content}
    return dict(sorted(answers.items()))


def _description(action: Action) -> str:
    text = action.description
    if action.note:
        text += "\n\n" + action.note
    if "{sobject}" in action.route:
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


def new_resolver() -> ApiResolver:
    """A function's resolver: request validation, the one error mapping, routes remembered (405),
    the caller's tenant resolved and every connection in a path checked against it."""
    app = ApiResolver()
    register_error_handlers(app)
    # After the request validation: every route with a connection in its path is the caller's.
    app.use(middlewares=[tenant_guard])
    return app


def build_family_app(family_key: str) -> ApiResolver:
    """The resolver of one family's function."""
    app = new_resolver()
    app.include_router(build_family_router(family_key, documented=False))
    return app


def build_lambda_handler(app: ApiResolver) -> Any:
    """The Lambda entry point of a resolver: Logger/Tracer/Metrics wrap it once (first call)."""

    def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
        get_runtime().lambda_context = context
        return app.resolve(event, context)

    return wrap_handler(resolve)
