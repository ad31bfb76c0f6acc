"""Typed errors the action services raise (subclasses of :class:`sfconnector.errors.ConnectorError`).
How each becomes an HTTP answer is decided in ONE place, :mod:`sfconnector.api.errors`; these
classes only carry what the caller must be told and the kind of failure (:class:`~sfconnector.errors.Fault`).

Messages are written for the person building the workflow: they name the field and say what is
wrong and what is allowed. They never contain tokens or secret values.
"""

from __future__ import annotations

from collections.abc import Sequence

# Shared with the trigger service (subscriptions check fields the same way): defined below both.
from sfconnector.errors import (
    ConnectorError,
    Fault,
    FieldProblem,
    FieldValidationError,
    UnknownSObjectError,
)

__all__ = [
    "AmbiguousMatchError",
    "FieldProblem",
    "FieldValidationError",
    "InvalidInputError",
    "RecordNotFoundError",
    "UnknownSObjectError",
]


class InvalidInputError(ConnectorError):
    """The request is well-formed JSON but asks for something impossible (422)."""

    code = "invalid_input"


class RecordNotFoundError(ConnectorError):
    code = "not_found"
    fault = Fault.NOT_FOUND


class AmbiguousMatchError(ConnectorError):
    """More than one record matches an upsert's match field: never guess, list the candidates."""

    code = "ambiguous_match"
    fault = Fault.CONFLICT

    def __init__(self, sobject: str, match_field: str, candidate_ids: Sequence[str]) -> None:
        ids = list(candidate_ids)
        super().__init__(
            f"{len(ids)} {sobject} records have this {match_field}; upsert needs exactly one match. "
            "Update one of the candidates by id, or match on a unique field.",
            fields=[match_field],
            details={"candidate_ids": ids},
        )
        self.candidate_ids = ids
