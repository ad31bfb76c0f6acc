"""Evaluation of a parsed SOQL query against a RecordSource."""

from __future__ import annotations

import datetime as dt

from sfemulator.soql.errors import SoqlError
from sfemulator.soql.nodes import QueryResult, SelectQuery
from sfemulator.soql.source import RecordSource

__all__ = ["execute"]


def execute(
    query: SelectQuery, source: RecordSource, *, now: dt.datetime, include_deleted: bool = False
) -> QueryResult:
    """Evaluate ``query`` (skeleton: the evaluator lands in the next commit)."""
    raise SoqlError("MALFORMED_QUERY", "not implemented yet")
