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

_caller: contextvars.ContextVar[Caller | CallerUnknownError | None] = contextvars.ContextVar(
    "sfconnector_caller", default=None
)
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
    """The caller of the request being served (resolved by :func:`tenant_guard`)."""
    caller = _caller.get()
    if isinstance(caller, CallerUnknownError):
        raise caller
    if caller is None:
        raise CallerUnknownError("the request was not resolved")
    return caller


def connection_owner() -> str | None:
    """The stored owner of the request's connection (checked by :func:`tenant_guard`; None: the
    connection predates tenancy): the tenant whose credentials read its secret."""
    return _owner.get()


def tenant_guard(app: ApiGatewayResolver, next_middleware: Any) -> Any:
    """Resolve the caller; a connection in the path must be the caller's (else 404, like a missing one)."""
    runtime = get_runtime()
    try:
        caller: Caller | CallerUnknownError = resolve_caller(app.current_event.raw_event, runtime.settings)
    except CallerUnknownError as exc:
        # Public routes (the OAuth callback) have no caller; a route that needs one raises it.
        caller = exc
    token = _caller.set(caller)
    owner_token = _owner.set(None)
    try:
        connection_id = _dict(app.context.get("_route_args")).get("connection_id")
        if isinstance(connection_id, str):
            _owner.set(runtime.connection_owners.require_access(connection_id, current_caller()))
        return next_middleware(app)
    finally:
        _owner.reset(owner_token)
        _caller.reset(token)
