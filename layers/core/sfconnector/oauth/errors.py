"""Errors of a connection that cannot be used until a person acts (authorise or re-authorise it).

Both derive from the shared Salesforce error types so the one error mapping (``sfconnector.api``)
handles them; their ``error_code`` tells the caller what to do.
"""

from __future__ import annotations

from sfconnector.salesforce.errors import AuthorizationRevokedError, SalesforceError, SalesforceErrorItem

NEEDS_REAUTH_CODE = "CONNECTION_NEEDS_REAUTH"
PENDING_CODE = "CONNECTION_NOT_AUTHORIZED"


class ConnectionNeedsReauthError(AuthorizationRevokedError):
    """The connection's refresh token was rejected (``invalid_grant``): it must be re-authorised."""

    default_code = NEEDS_REAUTH_CODE

    def __init__(self, connection_id: str, reason: str | None = None) -> None:
        self.connection_id = connection_id
        self.reason = reason
        detail = f" ({reason})" if reason else ""
        super().__init__(
            401,
            [
                SalesforceErrorItem(
                    NEEDS_REAUTH_CODE,
                    f"Connection {connection_id} needs to be re-authorised in Salesforce{detail}; "
                    f"POST /connections/{connection_id}/reauthorize to get a new authorize_url",
                )
            ],
        )


class ConnectionPendingError(SalesforceError):
    """The connection was created but its OAuth authorisation was never completed."""

    default_code = PENDING_CODE

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        super().__init__(
            409,
            [
                SalesforceErrorItem(
                    PENDING_CODE,
                    f"Connection {connection_id} is not authorised yet: "
                    "open its authorize_url and allow access",
                )
            ],
        )
