"""Typed errors the action services raise. How each becomes an HTTP answer is decided in ONE place,
:mod:`sfconnector.api.errors`; these classes only carry what the caller must be told.

Messages are written for the person building the workflow: they name the field and say what is
wrong and what is allowed. They never contain tokens or secret values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ActionError",
    "AmbiguousMatchError",
    "ConnectionNeedsReauthError",
    "ConnectionNotFoundError",
    "FieldProblem",
    "FieldValidationError",
    "InvalidInputError",
    "RecordNotFoundError",
    "UnknownSObjectError",
]


class ActionError(Exception):
    """Base of the errors an action reports to its caller (``code`` is stable, machine-readable)."""

    code = "action_failed"

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


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field (``code`` e.g. ``unknown_field``, ``wrong_type``)."""

    field: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class FieldValidationError(ActionError):
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


class InvalidInputError(ActionError):
    """The request is well-formed JSON but asks for something impossible (422)."""

    code = "invalid_input"


class RecordNotFoundError(ActionError):
    code = "not_found"


class UnknownSObjectError(ActionError):
    """The sObject named in the request does not exist in the org (or is not allowed here)."""

    code = "sobject_not_found"


class ConnectionNotFoundError(ActionError):
    code = "connection_not_found"

    def __init__(self, connection_id: str) -> None:
        super().__init__(
            f"There is no connection {connection_id!r}. Create it with POST /connections first.",
            fields=["connection_id"],
        )


class ConnectionNeedsReauthError(ActionError):
    """Salesforce no longer accepts the connection's authorisation; the user must reconnect."""

    code = "connection_needs_reauth"

    def __init__(self, connection_id: str, reason: str | None = None) -> None:
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"Connection {connection_id!r} must be authorised again in Salesforce{why}. "
            "Reconnect it (POST /connections) and retry.",
            fields=["connection_id"],
        )


class AmbiguousMatchError(ActionError):
    """More than one record matches an upsert's match field: never guess, list the candidates."""

    code = "ambiguous_match"

    def __init__(self, sobject: str, match_field: str, candidate_ids: Sequence[str]) -> None:
        ids = list(candidate_ids)
        super().__init__(
            f"{len(ids)} {sobject} records have this {match_field}; upsert needs exactly one match. "
            "Update one of the candidates by id, or match on a unique field.",
            fields=[match_field],
            details={"candidate_ids": ids},
        )
        self.candidate_ids = ids
