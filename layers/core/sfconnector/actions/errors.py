"""Typed errors the action services raise (subclasses of :class:`sfconnector.errors.ConnectorError`).
How each becomes an HTTP answer is decided in ONE place, :mod:`sfconnector.api.errors`; these
classes only carry what the caller must be told and the kind of failure (:class:`~sfconnector.errors.Fault`).

Messages are written for the person building the workflow: they name the field and say what is
wrong and what is allowed. They never contain tokens or secret values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sfconnector.errors import ConnectorError, Fault

__all__ = [
    "AmbiguousMatchError",
    "FieldProblem",
    "FieldValidationError",
    "InvalidInputError",
    "RecordNotFoundError",
    "UnknownSObjectError",
]


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


class InvalidInputError(ConnectorError):
    """The request is well-formed JSON but asks for something impossible (422)."""

    code = "invalid_input"


class RecordNotFoundError(ConnectorError):
    code = "not_found"
    fault = Fault.NOT_FOUND


class UnknownSObjectError(ConnectorError):
    """The sObject named in the request does not exist in the org (or is not allowed here)."""

    code = "sobject_not_found"
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
