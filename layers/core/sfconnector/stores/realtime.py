"""Which connection a Salesforce partner event source belongs to (state table,
``pk = RELAYSOURCE#<source name>``, ``sk = BINDING``).

The relay function receives change events whose ``source`` is the partner event source
(``aws.partner/salesforce.com/<orgId>/<channelId>``) and looks the connection up here; the
realtime setup binds it once EventRelayFeedback names the source and unbinds it on teardown.
The item lives outside the connection's partition so the lookup is one GetItem by source name.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from sfconnector.models import validate_connection_id
from sfconnector.models.realtime import PARTNER_SOURCE_PREFIX
from sfconnector.stores.dynamo import DynamoStore

__all__ = ["BINDING", "RelayBindingConflictError", "RelayBindings"]

BINDING = "BINDING"


class RelayBindingConflictError(ValueError):
    """The source is bound to another connection (two connections of one org and channel)."""

    def __init__(self, source_name: str, connection_id: str) -> None:
        self.source_name = source_name
        self.connection_id = connection_id
        super().__init__(f"partner event source {source_name!r} is bound to another connection")


def _validate_source(source_name: str) -> str:
    if not isinstance(source_name, str) or not source_name.startswith(PARTNER_SOURCE_PREFIX):
        raise ValueError(f"{str(source_name)[:80]!r} is not a Salesforce partner event source name")
    if len(source_name) > 256:
        raise ValueError("a partner event source name has at most 256 characters")
    return source_name


class RelayBindings(DynamoStore):
    """partner event source name -> connection id."""

    @staticmethod
    def _key(source_name: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"RELAYSOURCE#{_validate_source(source_name)}"}, "sk": {"S": BINDING}}

    def bind(self, source_name: str, connection_id: str) -> bool:
        """Bind the source to the connection (again: a no-op); True when it was not bound before.
        :class:`RelayBindingConflictError` when another connection holds it, so one org's events
        never reach two tenants."""
        try:
            answer = self.client.put_item(
                TableName=self.table_name,
                Item={
                    **self._key(source_name),
                    "connection_id": {"S": validate_connection_id(connection_id)},
                },
                ConditionExpression="attribute_not_exists(pk) OR connection_id = :cid",
                ExpressionAttributeValues={":cid": {"S": connection_id}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            holder = self.lookup(source_name)
            raise RelayBindingConflictError(source_name, holder or "") from None
        return "Attributes" not in answer

    def lookup(self, source_name: str) -> str | None:
        """The connection the source is bound to (None: none, e.g. torn down)."""
        try:
            key = self._key(source_name)
        except ValueError:
            return None  # not a Salesforce source: never bound
        item = self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return item["connection_id"]["S"]

    def unbind(self, source_name: str, connection_id: str | None = None) -> bool:
        """Remove the binding (only if held by ``connection_id``, when given); False when there
        was none (or another connection holds it)."""
        try:
            if connection_id is None:
                result = self.client.delete_item(
                    TableName=self.table_name, Key=self._key(source_name), ReturnValues="ALL_OLD"
                )
            else:
                result = self.client.delete_item(
                    TableName=self.table_name,
                    Key=self._key(source_name),
                    ReturnValues="ALL_OLD",
                    ConditionExpression="connection_id = :cid",
                    ExpressionAttributeValues={":cid": {"S": validate_connection_id(connection_id)}},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return "Attributes" in result
