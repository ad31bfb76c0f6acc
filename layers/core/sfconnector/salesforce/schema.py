"""A typed view of an sObject describe: what the action services need to know about fields
(each field one :class:`sfconnector.salesforce.describe.FieldInfo`).

Parsing a describe (hundreds of fields) is not free, so the parsed view is memoised per describe
*object*: the client's describe cache returns the same dict for as long as it is cached, so a warm
container parses each sObject's describe once per cache TTL.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sfconnector.errors import UnknownSObjectError
from sfconnector.salesforce import soql
from sfconnector.salesforce.describe import FieldInfo
from sfconnector.salesforce.errors import NotFoundError, SalesforceError

if TYPE_CHECKING:
    from sfconnector.salesforce.client import SalesforceClient

__all__ = ["SObjectSchema", "describe_sobject", "schema_of", "sobject_schema"]


class SObjectSchema:
    """Fields of one sObject, looked up case-insensitively (Salesforce names are)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.name = str(raw.get("name") or "")
        self.label = str(raw.get("label") or self.name)
        self.key_prefix: str | None = raw.get("keyPrefix") or None
        self.custom = bool(raw.get("custom"))
        self.createable = bool(raw.get("createable", True))
        self.updateable = bool(raw.get("updateable", True))
        self.deletable = bool(raw.get("deletable", True))
        self.queryable = bool(raw.get("queryable", True))
        fields = [FieldInfo.from_describe(f) for f in raw.get("fields") or [] if isinstance(f, Mapping)]
        self.fields: dict[str, FieldInfo] = {f.name.lower(): f for f in fields}
        self._relationships = {f.relationship_name.lower(): f for f in fields if f.relationship_name}

    def __repr__(self) -> str:
        return f"SObjectSchema({self.name!r}, {len(self.fields)} fields)"

    def field(self, name: str) -> FieldInfo | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldInfo | None:
        """The reference field whose relationship name is ``name`` (``Account`` on Contact)."""
        return self._relationships.get(name.lower())

    def has_field(self, name: str) -> bool:
        return name.lower() in self.fields

    @property
    def required_on_create(self) -> list[FieldInfo]:
        return [f for f in self.fields.values() if f.required_on_create]

    @property
    def selectable_fields(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.selectable]

    @property
    def external_id_fields(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.external_id]


_MEMO: OrderedDict[int, tuple[Mapping[str, Any], SObjectSchema]] = OrderedDict()
_MEMO_LOCK = threading.Lock()
_MEMO_SIZE = 256


def schema_of(describe: Mapping[str, Any]) -> SObjectSchema:
    """The parsed schema of a describe (memoised per describe object; see the module doc)."""
    key = id(describe)
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
        # Holding the describe in the memo keeps its id from being reused by another object.
        if hit is not None and hit[0] is describe:
            _MEMO.move_to_end(key)
            return hit[1]
    schema = SObjectSchema(describe)
    with _MEMO_LOCK:
        _MEMO[key] = (describe, schema)
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return schema


def describe_sobject(client: SalesforceClient, sobject: str) -> dict[str, Any]:
    """The sObject's describe (the client's describe cache); a name that is not one, or an object
    the org lacks or hides from the connected user, is :class:`UnknownSObjectError` (404)."""
    try:
        soql.sobject_name(sobject)
        return client.describe(sobject)
    except ValueError:
        raise UnknownSObjectError(f"{sobject!r} is not a valid sObject name", fields=["sobject"]) from None
    except SalesforceError as exc:
        if isinstance(exc, NotFoundError) or exc.error_code in ("INVALID_TYPE", "NOT_FOUND"):
            reason = f" Salesforce: {exc.message}" if exc.message else ""
            raise UnknownSObjectError(
                f"There is no sObject {sobject} in this Salesforce org (or the connected user "
                f"cannot access it).{reason}",
                fields=["sobject"],
            ) from None
        raise


def sobject_schema(client: SalesforceClient, sobject: str, *, custom_only: bool = False) -> SObjectSchema:
    """The sObject's schema; ``custom_only``: it must be a custom object the describe confirms
    (used by the action and the trigger services alike)."""
    if custom_only and not sobject.endswith("__c"):
        raise UnknownSObjectError(
            f"{sobject!r} is not a custom object (API names end in __c)", fields=["sobject"]
        )
    schema = schema_of(describe_sobject(client, sobject))
    if custom_only and not schema.custom:
        raise UnknownSObjectError(f"{sobject} is not a custom object", fields=["sobject"])
    return schema
