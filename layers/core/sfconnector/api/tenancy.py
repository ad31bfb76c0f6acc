"""The caller of a request and its tenant, resolved once per request, and the one ownership check.

:func:`tenant_guard` is a middleware of every resolver (:func:`sfconnector.api.app.new_resolver`):
it runs after the request validation, resolves the caller from API Gateway's request context
(never from the body) and, for every route with a ``connection_id`` in its path, answers another
tenant's connection exactly like a missing one (404): a route added later is covered without
doing anything. Routes read the caller with :func:`current_caller` and pass it to the services.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sfconnector.errors import CallerUnknownError
from sfconnector.models.tenancy import Caller, assumed_role_to_role, valid_tenant_id
from sfconnector.runtime import get_runtime

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

    from sfconnector.settings import CoreSettings

__all__ = ["connection_owner", "current_caller", "resolve_caller", "tenant_guard"]

_event: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "sfconnector_event", default=None
)
_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("sfconnector_caller", default=None)
_owner: contextvars.ContextVar[str | None] = contextvars.ContextVar("sfconnector_owner", default=None)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _principal(event: Mapping[str, Any], source: str) -> str | None:
    context = _dict(event.get("requestContext"))
    if source == "iam":
        identity = _dict(context.get("identity"))
        arn = identity.get("userArn")
        return assumed_role_to_role(arn) if isinstance(arn, str) and arn else None
    authorizer = _dict(context.get("authorizer"))
    kind, _, name = source.partition(":")
    if kind == "claim":
        # REST API Cognito authorizer: authorizer.claims; HTTP API JWT authorizer: authorizer.jwt.claims.
        claims = _dict(authorizer.get("claims")) or _dict(_dict(authorizer.get("jwt")).get("claims"))
        value = claims.get(name)
    else:
        value = authorizer.get(name)
    return str(value) if isinstance(value, str | int) and str(value) else None


def resolve_caller(event: Mapping[str, Any], settings: CoreSettings) -> Caller:
    """The caller of ``event`` (an API Gateway proxy event) under the configured tenant source."""
    tenant = _principal(event, settings.tenant_source)
    if tenant is None:
        if not settings.default_tenant:
            raise CallerUnknownError(f"the request carries no {settings.tenant_source} identity")
        tenant = settings.default_tenant
    if not valid_tenant_id(tenant):
        raise CallerUnknownError(
            "it has characters a tenant id cannot hold (letters, digits, spaces and _.:/=+-@, 256 at most)"
        )
    admin = bool(settings.admin_principal) and tenant == settings.admin_principal
    return Caller(tenant_id=tenant, admin=admin)


def current_caller() -> Caller:
    """The caller of the request being served, resolved on first use (routes that never ask, such
    as the documents and the public OAuth callback, need no identity and no settings)."""
    caller = _caller.get()
    if caller is None:
        event = _event.get()
        if event is None:
            raise CallerUnknownError("no request is being served")
        caller = resolve_caller(event, get_runtime().settings)
        _caller.set(caller)
    return caller


def connection_owner() -> str | None:
    """The stored owner of the request's connection (checked by :func:`tenant_guard`; None: the
    connection predates tenancy): the tenant whose credentials read its secret."""
    return _owner.get()


def tenant_guard(app: ApiGatewayResolver, next_middleware: Any) -> Any:
    """Remember the request for :func:`current_caller`; a connection in the path must be the
    caller's (else 404, exactly like a missing one)."""
    tokens = (_event.set(app.current_event.raw_event), _caller.set(None), _owner.set(None))
    try:
        connection_id = _dict(app.context.get("_route_args")).get("connection_id")
        if isinstance(connection_id, str):
            owners = get_runtime().connection_owners
            _owner.set(owners.require_access(connection_id, current_caller()))
        return next_middleware(app)
    finally:
        _owner.reset(tokens[2])
        _caller.reset(tokens[1])
        _event.reset(tokens[0])
