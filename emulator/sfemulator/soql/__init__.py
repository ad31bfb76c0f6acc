"""A SOQL parser and evaluator for the Salesforce emulator.

``parse(text)`` turns a query into an immutable :class:`SelectQuery` (cached by text);
``execute(query, source, now=...)`` evaluates it against a :class:`RecordSource` and returns rows shaped
as Salesforce's REST ``query`` resource returns them. Both raise :class:`SoqlError` with Salesforce's
error code and message.
"""

from sfemulator.soql.engine import execute
from sfemulator.soql.errors import SoqlError
from sfemulator.soql.nodes import QueryResult, SelectQuery
from sfemulator.soql.parser import parse
from sfemulator.soql.source import ChildRelationship, FieldSpec, RecordSource

__all__ = [
    "ChildRelationship",
    "FieldSpec",
    "QueryResult",
    "RecordSource",
    "SelectQuery",
    "SoqlError",
    "execute",
    "parse",
]
