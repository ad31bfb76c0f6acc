"""The reference poller: how the peers' Salesforce triggers poll (n8n, Pipedream, Activepieces).

Every workflow's trigger polls on its own: one SOQL query per trigger subscription per cycle over
the window since its last poll, plus a ``nextRecordsUrl`` call per further page of 2,000 rows.
n8n's Salesforce Trigger queries ``CreatedDate``/``LastModifiedDate > last poll`` per workflow;
Pipedream's sources call ``sobjects/<X>/updated`` / ``deleted`` per source: one REST call each
either way. Here: created -> ``CreatedDate`` window, updated -> ``LastModifiedDate`` window (rows
with ``LastModifiedDate > CreatedDate``), deleted -> ``queryAll`` of ``IsDeleted`` rows, field
matched -> the updated window filtered on the watched field's value. Entered list view has no
stream in the connector yet and is not polled by either side.

It uses the connector's own Salesforce client (same token handling, same counter), so the
emulator's usage counter compares the two fairly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sfconnector import catalog
from sfconnector.catalog import SYSTEM_FIELDS
from sfconnector.models.subscriptions import Subscription
from sfconnector.salesforce import soql

__all__ = ["ReferencePoller"]


class ReferencePoller:
    """One query per subscription per cycle; counts the Salesforce calls it sends."""

    def __init__(self, client: Any, subscriptions: list[Subscription], since: dt.datetime) -> None:
        self.client = client
        self.subscriptions = [s for s in subscriptions if catalog.trigger(s.trigger).stream is not None]
        self.last: dict[str, dt.datetime] = {s.subscription_id: since for s in self.subscriptions}
        self.rows = 0

    def _statement(self, sub: Subscription, since: dt.datetime, until: dt.datetime) -> tuple[str, bool]:
        stream = catalog.trigger(sub.trigger).stream
        assert stream is not None
        event = stream.event
        if event is catalog.ChangeEvent.DELETED:
            where: soql.Condition = (
                soql.Eq("IsDeleted", True)
                & soql.Ge("SystemModstamp", since)
                & soql.Lt("SystemModstamp", until)
            )
            return soql.select(
                sub.sobject, list(SYSTEM_FIELDS), where=where, order_by=["SystemModstamp"]
            ), True
        stamp = "CreatedDate" if event is catalog.ChangeEvent.CREATED else "LastModifiedDate"
        where = soql.Ge(stamp, since) & soql.Lt(stamp, until)
        fields = list(SYSTEM_FIELDS)
        if event is catalog.ChangeEvent.MATCHED:
            field = str(sub.params["field"])
            where = where & soql.Eq(field, sub.params.get("value"))
            fields.append(field)
        return soql.select(sub.sobject, fields, where=where, order_by=[stamp]), False

    def poll(self, until: dt.datetime) -> int:
        """One cycle of every subscription; returns the Salesforce calls it made."""
        before = self.client.api_calls
        for sub in self.subscriptions:
            statement, deleted = self._statement(sub, self.last[sub.subscription_id], until)
            rows = self.client.query_all(statement) if deleted else self.client.query(statement)
            self.rows += sum(1 for _ in rows)  # the iterator follows nextRecordsUrl (one call a page)
            self.last[sub.subscription_id] = until
        return int(self.client.api_calls - before)
