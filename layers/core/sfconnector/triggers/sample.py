"""Sample events: the envelopes a subscription would receive for the most recent matching records,
built exactly as the poller builds them and published nowhere (the "test the trigger" step).

One Salesforce call: a query ordered by the stream's version field, newest first (``queryAll``
for the deleted trigger; entered list view: two, the list view's describe then its query). A
subscription wanting every field needs the sObject's describe, which comes from the client's
describe cache (warm: the subscription was validated against it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfconnector.catalog import REPLICATION_KEY, Stream
from sfconnector.models.subscriptions import Subscription
from sfconnector.models.trigger_events import TriggerEvent
from sfconnector.salesforce import soql
from sfconnector.triggers import streams

if TYPE_CHECKING:
    from sfconnector.salesforce.client import SalesforceClient
    from sfconnector.stores.connections import ConnectionRecord

__all__ = ["sample_events"]

_OVERFETCH = 4
"""Rows fetched per wanted sample: some do not fire (an update's row that was never modified,
a change by the connection's own user)."""


def sample_events(
    subscription: Subscription, *, client: SalesforceClient, connection: ConnectionRecord, limit: int = 5
) -> list[TriggerEvent]:
    """Up to ``limit`` envelopes, newest change first, as the poller publishes them (with the
    connection's owner tenant). ``start_at`` is ignored: a sample shows what the trigger fires
    for, not what it will deliver next."""
    events = _sample(subscription, client, connection, limit)
    return [event.model_copy(update={"tenant_id": connection.tenant_id}) for event in events]


def _sample(
    subscription: Subscription, client: SalesforceClient, connection: ConnectionRecord, limit: int
) -> list[TriggerEvent]:
    stream = streams.stream_of(subscription)
    if stream is None:
        raise ValueError(f"trigger {subscription.trigger!r} has no sample events yet")
    limit = max(1, min(limit, 50))
    every = None
    if subscription.fields is None:
        every = streams.queryable_fields(client.describe(subscription.sobject))
    fields = streams.select_fields([subscription], every)
    if stream.list_view:
        return _list_view_sample(subscription, stream, fields, client, connection, limit)
    deleted = stream.rows == "deleted"
    where = soql.Eq("IsDeleted", True) if deleted else None
    watched = subscription.params.get("field")
    items: list[str | soql.Subquery] = list(fields)
    if stream.history and isinstance(watched, str):
        items.append(streams.history_subquery(stream.history, [watched], 0))
    query = soql.select(
        subscription.sobject,
        items,
        where=where,
        order_by=[f"{stream.version_field} DESC", "Id DESC"],
        limit=min(2000, limit * _OVERFETCH),
    )
    page = client.query_page(query, include_deleted=deleted)
    sample = subscription.model_copy(
        update={
            "start_at": subscription.start_at.replace(year=1970, month=1, day=1),
            "resumed_at": None,
            "status": "active",
        }
    )
    out: list[TriggerEvent] = []
    for row in page.records:
        # Newest change first within a record too (a field matched record may carry several).
        for change in sorted(streams.row_changes(row, stream), key=lambda c: c.version, reverse=True):
            if streams.subscriber_fires(sample, stream, row, change, connection.user_id):
                out.append(streams.build_event(subscription, stream, row, change, connection.org_id))
                if len(out) >= limit:
                    return out
    return out


def _list_view_sample(
    subscription: Subscription,
    stream: Stream,
    fields: list[str],
    client: SalesforceClient,
    connection: ConnectionRecord,
    limit: int,
) -> list[TriggerEvent]:
    """Entered list view: the list view's members most recently changed, each as the entry event
    it would have fired (two calls: the list view's describe for its query, then the query)."""
    described = client.list_view_describe(subscription.sobject, str(subscription.params["list_view_id"]))
    query = streams.list_view_sample_query(str(described.get("query") or ""), fields, limit)
    out: list[TriggerEvent] = []
    for row in client.query_page(query).records:
        version = streams.parse_stamp(row.get(REPLICATION_KEY))
        if version is not None:
            change = streams.Change("", version, str(version))
            out.append(streams.build_event(subscription, stream, row, change, connection.org_id))
    return out
