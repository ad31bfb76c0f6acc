"""Errors of a connection that cannot be used until a person acts (authorise or re-authorise it).

They belong to the action errors (``sfconnector.actions.errors``), so the one error mapping
(``sfconnector.api.errors``) answers them in every function the same way: 401
``connection_needs_reauth`` and 409 ``connection_not_authorized``.
"""

from __future__ import annotations

from sfconnector.actions.errors import ActionError
from sfconnector.actions.errors import ConnectionNeedsReauthError as _NeedsReauth

__all__ = ["ConnectionNeedsReauthError", "ConnectionPendingError"]


class ConnectionNeedsReauthError(_NeedsReauth):
    """Salesforce rejected the connection's refresh token (``invalid_grant``): re-authorise it."""

    def __init__(self, connection_id: str, reason: str | None = None) -> None:
        self.connection_id = connection_id
        self.reason = reason
        why = f" ({reason})" if reason else ""
        ActionError.__init__(
            self,
            f"Connection {connection_id!r} must be authorised again in Salesforce{why}. "
            f"POST /connections/{connection_id}/reauthorize returns a new authorize_url.",
            fields=["connection_id"],
        )


class ConnectionPendingError(ActionError):
    """The connection was created but its OAuth authorisation was never completed."""

    code = "connection_not_authorized"
    status = 409

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        super().__init__(
            f"Connection {connection_id!r} is not authorised yet: open its authorize_url and allow access.",
            fields=["connection_id"],
        )
