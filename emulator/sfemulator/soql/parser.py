"""SOQL tokenizer and recursive-descent parser."""

from __future__ import annotations

from sfemulator.soql.errors import SoqlError
from sfemulator.soql.nodes import SelectQuery

__all__ = ["parse"]


def parse(text: str) -> SelectQuery:
    """Parse a SOQL SELECT statement (skeleton: the parser lands in the next commit)."""
    raise SoqlError("MALFORMED_QUERY", f"unexpected token: {text.split()[0] if text.split() else '<EOF>'}")
