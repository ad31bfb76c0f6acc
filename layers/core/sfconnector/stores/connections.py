"""Connection metadata in the state table (``pk = CONNECTION#<id>``, ``sk = META``).

Nothing secret lives here (tokens and the client secret are in Secrets Manager, see
:mod:`sfconnector.stores.tokens`): this is what ``GET /connections`` shows and what the poller and
actions look up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from sfconnector.errors import ConnectionNotFoundError
from sfconnector.models.realtime import RealtimeState
from sfconnector.models.tenancy import Caller
from sfconnector.salesforce.client import LimitInfo
from sfconnector.stores.dynamo import DynamoStore
from sfconnector.stores.tokens import ConnectionFlow, validate_connection_id

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

__all__ = [
    "ApiUsageRecorder",
    "ConnectionExistsError",
    "ConnectionNotFoundError",
    "ConnectionOwners",
    "ConnectionRecord",
    "ConnectionRepository",
    "ConnectionStatus",
    "Environment",
    "PollingState",
    "connection_key",
]

ConnectionStatus = Literal["pending", "connected", "needs_reauth"]
Environment = Literal["production", "sandbox", "my_domain"]

META = "META"

logger = logging.getLogger(__name__)


def connection_key(connection_id: str) -> dict[str, str]:
    """The table key of a connection's metadata item."""
    return {"pk": f"CONNECTION#{validate_connection_id(connection_id)}", "sk": META}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class PollingState(BaseModel):
    """What the trigger poller last reported (only changes are written): ``polling``,
    ``skipped_budget`` (the org's daily API usage is above the polling budget; actions go on) or
    ``error`` (the last cycle stopped part-way; ``reason`` says why)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    state: Literal["polling", "skipped_budget", "error"]
    reason: str | None = None
    at: int = 0
    """Epoch seconds of the report."""


class ConnectionRecord(BaseModel):
    """One Salesforce connection (an org + user authorised through a Connected App)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    connection_id: str
    name: str = Field(min_length=1, max_length=200)
    status: ConnectionStatus = "pending"
    flow: ConnectionFlow = "web_server"
    environment: Environment = "production"
    login_url: str
    instance_url: str | None = None
    org_id: str | None = None
    user_id: str | None = None
    username: str | None = None
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    api_usage: LimitInfo | None = None
    api_usage_at: datetime | None = None
    redirect_uri: str | None = None
    client_id: str | None = None
    status_reason: str | None = None
    """Why the status is what it is (e.g. the OAuth error that made it ``needs_reauth``)."""
    polling: PollingState | None = None
    """The trigger poller's last reported state (None: never reported anything unusual)."""
    realtime: RealtimeState | None = None
    """Real-time triggers (Change Data Capture through Event Relay; None: never set up), kept by
    ``/connections/{id}/realtime`` and read by the relay function and the reconciliation."""
    tenant_id: str | None = None
    """The owner tenant: the authenticated caller that created it (None: created before tenancy,
    see docs/security.md, "Tenants")."""

    def owner(self, unowned_tenant: str | None) -> str | None:
        """The tenant that owns it (a connection from before tenancy: the configured adopter)."""
        return self.tenant_id or unowned_tenant

    @field_validator("connection_id")
    @classmethod
    def _connection_id(cls, value: str) -> str:
        return validate_connection_id(value)

    def to_item(self) -> dict[str, Any]:
        """The DynamoDB item (None fields left out)."""
        return {**connection_key(self.connection_id), **self.model_dump(mode="json", exclude_none=True)}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ConnectionRecord:
        data = {k: v for k, v in item.items() if k not in ("pk", "sk")}
        usage = data.get("api_usage")
        if isinstance(usage, dict):
            data["api_usage"] = {k: int(v) for k, v in usage.items()}
        polling = data.get("polling")
        if isinstance(polling, dict) and polling.get("at") is not None:
            data["polling"] = {**polling, "at": int(polling["at"])}
        return cls.model_validate(data)


class ConnectionExistsError(ValueError):
    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        super().__init__(f"connection {connection_id!r} already exists")


# The owner is set once, on create (and by the adoption of a connection from before tenancy).
_UPDATABLE = frozenset(ConnectionRecord.model_fields) - {"connection_id", "created_at", "updated_at"}


@cache
def _adapter(field_name: str) -> TypeAdapter[Any]:
    return TypeAdapter(ConnectionRecord.model_fields[field_name].annotation)


@cache
def _codec() -> tuple[TypeSerializer, TypeDeserializer]:
    # Imported on first use: importing boto3.dynamodb imports boto3 itself, which this module's
    # importers (the connections function's handler) leave to their first request.
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def _wire(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values -> DynamoDB attribute values (what a boto3 resource does; numbers must be
    int or Decimal, as there)."""
    serializer = _codec()[0]
    return {name: serializer.serialize(value) for name, value in values.items()}


def _unwire(item: Mapping[str, Any]) -> dict[str, Any]:
    deserializer = _codec()[1]
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class ConnectionRepository(DynamoStore):
    """DynamoDB adapter for :class:`ConnectionRecord` (the client is obtained lazily, once).

    ``dynamodb`` (a factory, see DynamoStore) returns the low-level DynamoDB client (the
    runtime's, shared with the refresh lock and the OAuth state store). Items are (de)serialised
    here: a boto3 resource would cost a second client and its resource model (~30 ms of a cold
    start) for the same calls.
    """

    def get(self, connection_id: str, *, consistent: bool = True) -> ConnectionRecord | None:
        item = self.client.get_item(
            TableName=self.table_name, Key=_wire(connection_key(connection_id)), ConsistentRead=consistent
        ).get("Item")
        return None if item is None else ConnectionRecord.from_item(_unwire(item))

    def owner(self, connection_id: str) -> tuple[bool, str | None]:
        """(the connection exists, its stored owner tenant): only those two attributes are read."""
        item = self.client.get_item(
            TableName=self.table_name,
            Key=_wire(connection_key(connection_id)),
            ConsistentRead=True,
            ProjectionExpression="pk, tenant_id",
        ).get("Item")
        if item is None:
            return False, None
        tenant = _unwire(item).get("tenant_id")
        return True, tenant if isinstance(tenant, str) else None

    def require(self, connection_id: str) -> ConnectionRecord:
        """Like :meth:`get`, raising :class:`ConnectionNotFoundError` when absent."""
        record = self.get(connection_id)
        if record is None:
            raise ConnectionNotFoundError(connection_id)
        return record

    def create(self, record: ConnectionRecord) -> ConnectionRecord:
        """Store a new connection; :class:`ConnectionExistsError` if the id is taken."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_wire(record.to_item()),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise ConnectionExistsError(record.connection_id) from None
            raise
        return record

    def put(self, record: ConnectionRecord) -> ConnectionRecord:
        """Store (create or replace) a connection, stamping ``updated_at``."""
        stamped = record.model_copy(update={"updated_at": _now()})
        self.client.put_item(TableName=self.table_name, Item=_wire(stamped.to_item()))
        return stamped

    def update(
        self, connection_id: str, /, *, if_status: ConnectionStatus | None = None, **fields: Any
    ) -> ConnectionRecord:
        """Set some fields (None removes one) and stamp ``updated_at``; returns the stored record.

        ``if_status`` makes the update conditional on the current status (state transitions).
        Raises :class:`ConnectionNotFoundError` when the connection does not exist (or, with
        ``if_status``, is not in that status).
        """
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update connection field(s): {', '.join(sorted(unknown))}")
        names: dict[str, str] = {"#updated_at": "updated_at"}
        values: dict[str, Any] = {":updated_at": _now().isoformat().replace("+00:00", "Z")}
        sets = ["#updated_at = :updated_at"]
        removes: list[str] = []
        for i, (name, raw) in enumerate(sorted(fields.items())):
            names[f"#f{i}"] = name
            if raw is None:
                removes.append(f"#f{i}")
                continue
            adapter = _adapter(name)
            values[f":v{i}"] = adapter.dump_python(adapter.validate_python(raw), mode="json")
            sets.append(f"#f{i} = :v{i}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        condition = "attribute_exists(pk)"
        if if_status is not None:
            names["#status"] = "status"
            values[":expected_status"] = if_status
            condition += " AND #status = :expected_status"
        try:
            result = self.client.update_item(
                TableName=self.table_name,
                Key=_wire(connection_key(connection_id)),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_wire(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise ConnectionNotFoundError(connection_id) from None
            raise
        return ConnectionRecord.from_item(_unwire(result["Attributes"]))

    def record_api_usage(self, connection_id: str, usage: LimitInfo) -> ConnectionRecord:
        """Remember the org's last seen API usage (from Sforce-Limit-Info)."""
        return self.update(connection_id, api_usage=usage, api_usage_at=_now())

    def delete(self, connection_id: str) -> bool:
        """Delete the metadata item; False if there was none."""
        result = self.client.delete_item(
            TableName=self.table_name, Key=_wire(connection_key(connection_id)), ReturnValues="ALL_OLD"
        )
        return "Attributes" in result

    def delete_all(self, connection_id: str) -> int:
        """Delete every item under the connection's partition key (metadata, refresh lock,
        subscriptions, cursors, ...); returns how many there were."""
        pk = connection_key(connection_id)["pk"]
        keys: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ProjectionExpression="pk, sk",
            ConsistentRead=True,
        ):
            keys.extend({"pk": item["pk"], "sk": item["sk"]} for item in page.get("Items", []))
        for start in range(0, len(keys), 25):
            requests: Any = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
            while requests:
                result = self.client.batch_write_item(RequestItems={self.table_name: requests})
                requests = (result.get("UnprocessedItems") or {}).get(self.table_name) or []
        return len(keys)

    def iter_all(self) -> Iterator[ConnectionRecord]:
        """Every connection (a filtered scan: the table holds few connection items)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "#sk = :meta AND begins_with(#pk, :prefix)",
            "ExpressionAttributeNames": {"#sk": "sk", "#pk": "pk"},
            "ExpressionAttributeValues": _wire({":meta": META, ":prefix": "CONNECTION#"}),
        }
        while True:
            page = self.client.scan(**kwargs)
            for item in page.get("Items", []):
                yield ConnectionRecord.from_item(_unwire(item))
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def list(self) -> list[ConnectionRecord]:
        """Every connection, oldest first."""
        return sorted(self.iter_all(), key=lambda r: (r.created_at, r.connection_id))


class ConnectionOwners:
    """Who owns each connection, for the one ownership check of every route (cached per
    container: an owner never changes once set, so only stored owners are cached; an unknown
    connection or one without an owner is read again next time)."""

    MAX_CACHED = 4096

    def __init__(self, connections: ConnectionRepository, unowned_tenant: str | None) -> None:
        self._connections = connections
        self._unowned = unowned_tenant
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def stored_owner(self, connection_id: str) -> tuple[bool, str | None]:
        """(the connection exists, its stored owner: None when created before tenancy)."""
        with self._lock:
            owner = self._owners.get(connection_id)
        if owner is not None:
            return True, owner
        try:
            validate_connection_id(connection_id)
        except ValueError:
            return False, None  # an id that could never exist
        exists, owner = self._connections.owner(connection_id)
        if owner is not None:
            with self._lock:
                self._owners[connection_id] = owner
                while len(self._owners) > self.MAX_CACHED:
                    self._owners.popitem(last=False)
        return exists, owner

    def require_access(self, connection_id: str, caller: Caller) -> str | None:
        """The connection's stored owner (None: from before tenancy, see ``unowned_tenant``);
        another tenant's connection is not found, exactly like a missing one."""
        exists, stored = self.stored_owner(connection_id)
        if not exists or not caller.may_access(stored or self._unowned):
            raise ConnectionNotFoundError(connection_id[:64])
        return stored

    def visible(self, records: list[ConnectionRecord], caller: Caller) -> list[ConnectionRecord]:
        """The records the caller may see (every one for the admin)."""
        return [r for r in records if caller.may_access(r.owner(self._unowned))]


class ApiUsageRecorder:
    """Remembers connections' API usage (``Sforce-Limit-Info``) cheaply, for ``GET /connections/{id}``.

    At most one DynamoDB write per connection per ``interval`` seconds in this container (the
    first action of a connection writes, then one per interval), and never an error: the usage is
    a convenience, so a failed write is a logged warning and the action's answer stands. A failed
    write also waits for the next interval, so an AWS outage does not slow every action down.
    """

    MAX_TRACKED = 1024

    def __init__(
        self,
        connections: ConnectionRepository,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connections = connections
        self.interval = interval
        self._clock = clock
        self._last: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ApiUsageRecorder(interval={self.interval!r})"

    def _due(self, connection_id: str) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last.get(connection_id)
            if last is not None and now - last < self.interval:
                return False
            self._last[connection_id] = now
            self._last.move_to_end(connection_id)
            while len(self._last) > self.MAX_TRACKED:
                self._last.popitem(last=False)
            return True

    def record(self, connection_id: str, usage: LimitInfo | None) -> bool:
        """Write ``usage`` when this connection's interval has passed; True when it was written."""
        if usage is None or not self._due(connection_id):
            return False
        try:
            self._connections.record_api_usage(connection_id, usage)
        except ConnectionNotFoundError:
            return False  # deleted while the action ran: nothing to remember it on
        except Exception as exc:
            logger.warning(
                "Could not record the API usage of connection %s (%s); the action is unaffected",
                connection_id,
                type(exc).__name__,
            )
            return False
        return True
