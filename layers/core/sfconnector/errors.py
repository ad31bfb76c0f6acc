"""The connector's own error types, below every service and adapter (they import nothing).

Every error the connector raises on purpose is a :class:`ConnectorError`: a stable ``code`` the
caller can switch on, a ``message`` for the person building the workflow (it names the field and
says what is allowed, never a token), the ``fields`` it is about and optional ``details``. Its
:class:`Fault` says what kind of failure it is; the one error mapping, :mod:`sfconnector.api.errors`,
answers every fault with its status (``int(fault)``) and every error in one JSON shape. No other
module decides an HTTP status.

The services (actions, oauth, triggers) and the adapters (stores, urlfetch, salesforce) raise
subclasses of these; the connection errors live here because stores raise them and every service
and function answers them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

__all__ = [
    "CallerUnknownError",
    "ConnectionNeedsReauthError",
    "ConnectionNotFoundError",
    "ConnectionPendingError",
    "ConnectorError",
    "Fault",
    "FieldProblem",
    "FieldValidationError",
    "InvalidRequestFieldError",
    "UnknownSObjectError",
]


class Fault(IntEnum):
    """What kind of failure an error is. The value is the HTTP status the API answers it with,
    read only by :mod:`sfconnector.api.errors` (the OpenAPI document lists them per action too)."""

    MALFORMED = 400
    """The request is syntactically wrong for Salesforce (a malformed query)."""
    NEEDS_REAUTH = 401
    """The connection must be authorised again by a person."""
    FORBIDDEN = 403
    """Salesforce refused access (permissions of the connected user, API disabled)."""
    NOT_FOUND = 404
    CONFLICT = 409
    """Ambiguous match, duplicate, locked record, a pending connection, a running duplicate request."""
    TOO_LARGE = 413
    UNSUPPORTED_MEDIA_TYPE = 415
    """A request body that is not JSON."""
    INVALID = 422
    """The caller's input cannot be used (names the field)."""
    RATE_LIMITED = 429
    INTERNAL = 500
    """The connector itself is broken or misconfigured (the caller learns nothing internal)."""
    UPSTREAM = 502
    """Salesforce (or a remote URL) answered something unusable."""
    UNAVAILABLE = 503
    """Salesforce or AWS is temporarily unavailable: retry."""


class ConnectorError(Exception):
    """Base of the errors the connector reports to its caller."""

    code: ClassVar[str] = "action_failed"
    fault: Fault = Fault.INVALID
    """A class default; an instance may set its own (e.g. a download that failed remotely)."""
    retry_after: int | None = None
    """Seconds after which a retry makes sense (``Retry-After``), when the fault is transient."""

    def __init__(
        self,
        message: str,
        *,
        fields: Sequence[str] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = list(fields)
        self.details = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, fields={self.fields!r})"

    @property
    def status(self) -> int:
        """The HTTP status the API answers this error with: its fault's (read, never set)."""
        return int(self.fault)


class InvalidRequestFieldError(ConnectorError):
    """A request field failed a check that needs configuration (e.g. the login host policy)."""

    code = "invalid_request"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}", fields=[field])


class GrantRefusedError(ConnectorError):
    """Salesforce refused a server-to-server grant (JWT bearer, client credentials) while a
    connection was being made: the field the refusal points at, Salesforce's ``error`` and
    ``error_description``, and what to change. Nothing was stored."""

    code = "salesforce_grant_refused"
    fault = Fault.INVALID

    def __init__(self, field: str, message: str, *, error: str, description: str) -> None:
        self.field = field
        super().__init__(
            f"{field}: {message}",
            fields=[field],
            details={"salesforce_error": error, "salesforce_error_description": description},
        )


class InvalidPrivateKeyError(ConnectorError):
    """The JWT bearer flow's private key is not a usable PEM RSA key (the message says why, never
    the key)."""

    code = "invalid_private_key"
    fault = Fault.INVALID

    def __init__(self, why: str) -> None:
        super().__init__(f"private_key: {why}", fields=["private_key"])


class ConnectionNotFoundError(ConnectorError, LookupError):
    """There is no connection with this id (its metadata or its secret is missing)."""

    code = "connection_not_found"
    fault = Fault.NOT_FOUND

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        super().__init__(
            f"There is no connection {connection_id!r}. Create it with POST /connections first.",
            fields=["connection_id"],
        )


class ConnectionNeedsReauthError(ConnectorError):
    """Salesforce no longer accepts the connection's authorisation (``invalid_grant``): a person
    must authorise it again."""

    code = "connection_needs_reauth"
    fault = Fault.NEEDS_REAUTH

    def __init__(self, connection_id: str, reason: str | None = None) -> None:
        self.connection_id = connection_id
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"Connection {connection_id!r} must be authorised again in Salesforce{why}. "
            f"POST /connections/{connection_id}/reauthorize returns a new authorize_url (a "
            "server-to-server connection: runs its grant again).",
            fields=["connection_id"],
        )


class UntrustedConnectionHostError(ConnectorError):
    """A connection's stored login URL is not a Salesforce host (stored before hosts were
    checked): it is never called; the connection must be deleted and made again."""

    code = "untrusted_salesforce_host"
    fault = Fault.CONFLICT

    def __init__(self, connection_id: str, reason: str) -> None:
        super().__init__(
            f"Connection {connection_id}: {reason}; delete it and connect again", fields=["environment"]
        )
        self.connection_id = connection_id


class ConnectionPendingError(ConnectorError):
    """The connection was created but its OAuth authorisation was never completed."""

    code = "connection_not_authorized"
    fault = Fault.CONFLICT

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        super().__init__(
            f"Connection {connection_id!r} is not authorised yet: open its authorize_url and allow access.",
            fields=["connection_id"],
        )


class CallerUnknownError(ConnectorError):
    """The request carries no identity that names a tenant (never the case behind API Gateway's
    IAM authorisation; an unsigned request to a stack without a default tenant)."""

    code = "caller_unknown"
    fault = Fault.FORBIDDEN

    def __init__(self, why: str) -> None:
        super().__init__(f"The caller's identity names no tenant: {why}.")


# ---- describe checks (shared by the action and trigger services; raised by salesforce.validation)


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field (``code`` e.g. ``unknown_field``, ``wrong_type``)."""

    field: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class FieldValidationError(ConnectorError):
    """Fields rejected against the org's describe, before anything was sent to Salesforce."""

    code = "validation_failed"

    def __init__(self, problems: Iterable[FieldProblem], *, prefix: str = "") -> None:
        self.problems = list(problems)
        names = list(dict.fromkeys(p.field for p in self.problems))
        summary = "; ".join(p.message for p in self.problems[:10])
        more = f" (+{len(self.problems) - 10} more)" if len(self.problems) > 10 else ""
        count = len(self.problems)
        head = f"{count} field{'s' if count != 1 else ''} rejected"
        super().__init__(
            f"{prefix}{head}: {summary}{more}",
            fields=names,
            details={"problems": [p.to_dict() for p in self.problems]},
        )


class UnknownSObjectError(ConnectorError):
    """The sObject named in the request does not exist in the org (or is not allowed here)."""

    code = "sobject_not_found"
    fault = Fault.NOT_FOUND
