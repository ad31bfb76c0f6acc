"""Trigger subscriptions: create, list, read, change and delete them, and the connection's polling.

Every request is checked before anything is stored: the trigger is a catalog key, the params fit
the trigger's params model (catalog ``Trigger.params_model``) and the org's describe (the custom
object exists and is custom; a watched field exists and the value fits its type and picklist; the
list view exists for the object), ``fields`` exist on the sObject. A refusal is a 4xx naming the
field (``trigger``, ``params.sobject``, ``params.value``, ``fields``, ``start``...).

Describes come from the connection's Salesforce client, i.e. from its describe cache: subscribing
a second trigger on an object costs no Salesforce call. After every change the connection's poll
schedule is brought in line (:class:`~sfconnector.triggers.scheduling.PollingControl`).

The HTTP routes are in :mod:`sfconnector.api.subscriptions`; this module knows nothing of HTTP.
"""

from __future__ import annotations

import difflib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, ValidationError

from sfconnector import catalog
from sfconnector.catalog import Trigger, TriggerKind
from sfconnector.errors import (
    ConnectionNeedsReauthError,
    ConnectionPendingError,
    ConnectorError,
    Fault,
    FieldProblem,
    FieldValidationError,
    UnknownSObjectError,
)
from sfconnector.models import validate_connection_id
from sfconnector.models.subscriptions import (
    DEFAULT_PAGE_SIZE,
    MAX_BACKFILL,
    START_CLOCK_SKEW,
    DeletedSubscription,
    PollingSettingsInput,
    PollingView,
    SampleEvents,
    ScheduleView,
    Subscription,
    SubscriptionCreate,
    SubscriptionList,
    SubscriptionPatch,
)
from sfconnector.salesforce.client import LimitInfo, SalesforceClient
from sfconnector.salesforce.describe import COMPOUND_TYPES
from sfconnector.salesforce.errors import NotFoundError, SalesforceError
from sfconnector.salesforce.schema import SObjectSchema, sobject_schema
from sfconnector.salesforce.validation import canonical_value, unknown_field
from sfconnector.settings import EnvSettings
from sfconnector.stores.connections import ConnectionNotFoundError, ConnectionRecord, ConnectionRepository
from sfconnector.stores.subscriptions import (
    SubscriptionLimitError,
    SubscriptionNotFoundError,
    SubscriptionRepository,
)
from sfconnector.triggers.scheduling import PollingControl, PollingState

__all__ = [
    "SampleUnavailableError",
    "StartOutOfWindowError",
    "SubscriptionLimits",
    "SubscriptionNotFound",
    "SubscriptionService",
    "check_start",
    "new_subscription_id",
    "polling_view",
]

logger = logging.getLogger(__name__)


class SampleUnavailableError(ConnectorError):
    code = "sample_unavailable"
    fault = Fault.INVALID

    def __init__(self, trigger: str) -> None:
        super().__init__(f"Trigger {trigger!r} has no sample events yet.", fields=["trigger"])


class StartOutOfWindowError(ConnectorError):
    """A backfill ``start`` in the future or more than MAX_BACKFILL back (a rule of the clock, which
    the document cannot express)."""

    code = "start_out_of_window"
    fault = Fault.INVALID

    def __init__(self, why: str) -> None:
        super().__init__(f"start: {why}", fields=["start"])


def check_start(body: SubscriptionCreate, now: datetime) -> None:
    """Refuse a backfill ``start`` outside the window (before anything is asked or stored)."""
    if not isinstance(body.start, datetime):
        return
    if body.start > now + START_CLOCK_SKEW:
        raise StartOutOfWindowError("must not be in the future (use 'now' for changes from now on)")
    if body.start < now - MAX_BACKFILL:
        raise StartOutOfWindowError(f"a backfill reaches at most {MAX_BACKFILL.days} days back")


class SubscriptionNotFound(ConnectorError):
    code = "subscription_not_found"
    fault = Fault.NOT_FOUND

    def __init__(self, connection_id: str, subscription_id: str) -> None:
        super().__init__(
            f"Connection {connection_id!r} has no subscription {subscription_id[:40]!r}.",
            fields=["subscription_id"],
        )


def polling_view(state: PollingState) -> PollingView:
    schedule = state.schedule
    return PollingView(
        connection_id=state.connection_id,
        interval_minutes=state.interval_minutes,
        subscriptions=state.subscriptions,
        active_subscriptions=state.active_subscriptions,
        schedule=None
        if schedule is None
        else ScheduleView(name=schedule.name, state=schedule.state, expression=schedule.expression),
    )


def _problem(field: str, code: str, message: str) -> FieldValidationError:
    return FieldValidationError([FieldProblem(field, code, message)])


# ------------------------------------------------------------------------------------------ checks


def _trigger(key: str) -> Trigger:
    try:
        return catalog.trigger(key)
    except KeyError:
        keys = [t.key for t in catalog.TRIGGERS]
        close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise _problem(
            "trigger",
            "unknown_trigger",
            f"{key!r} is not a trigger{hint}; GET /catalog lists the trigger keys",
        ) from None


def _params(trigger: Trigger, params: Mapping[str, Any]) -> dict[str, Any]:
    """The params as the trigger's params model reads them (every problem named ``params.<x>``)."""
    if trigger.sobject is None:
        sobject = params.get("sobject")
        if isinstance(sobject, str) and sobject and not sobject.endswith("__c"):
            raise _problem(
                "params.sobject",
                "not_custom_object",
                f"{sobject} is a standard object; {trigger.key} watches custom objects (API names ending "
                "in __c). Standard objects have their own triggers in GET /catalog.",
            )
    try:
        model = trigger.params_model.model_validate(dict(params))
    except ValidationError as exc:
        problems: dict[str, FieldProblem] = {}
        for error in exc.errors():
            # The top-level param only: a value failing every member of a union (FieldValue)
            # is one problem of that param, not one per member.
            name = f"params.{error['loc'][0]}" if error["loc"] else "params"
            problems.setdefault(name, FieldProblem(name, str(error["type"]), f"{name}: {error['msg']}"))
        raise FieldValidationError(problems.values()) from None
    return model.model_dump(mode="json")


def _checked_fields(schema: SObjectSchema, fields: list[str] | None) -> list[str] | None:
    """The event fields in the describe's spelling; unknown or unqueryable ones refused."""
    if fields is None:
        return None
    problems: list[FieldProblem] = []
    out: list[str] = []
    for name in fields:
        info = schema.field(name)
        if info is None:
            problems.append(unknown_field(schema, name, param="fields"))
        elif not info.selectable:
            problems.append(
                FieldProblem(
                    "fields",
                    "not_selectable",
                    f"{info.name} ({info.type}) cannot be carried by an event; its component fields can",
                )
            )
        else:
            out.append(info.name)
    if problems:
        raise FieldValidationError(problems, prefix="fields: ")
    return out


def _check_field_matched(
    schema: SObjectSchema, params: dict[str, Any], client: SalesforceClient, sobject: str
) -> dict[str, Any]:
    info = schema.field(str(params["field"]))
    if info is None:
        raise FieldValidationError([unknown_field(schema, str(params["field"]), param="params.field")])
    if info.type in COMPOUND_TYPES or info.type == "base64":
        raise _problem("params.field", "not_watchable", f"{info.name} ({info.type}) cannot be watched")
    if info.calculated:
        # A formula's value changes without its record being saved, so SystemModstamp (what the
        # poller reads changes by) does not move: such a change could never be seen.
        raise _problem(
            "params.field",
            "not_watchable",
            f"{info.name} is a formula field: its changes do not modify the record, "
            "so they cannot be detected",
        )
    value = params.get("value")
    if value is None:
        if not info.nillable:
            raise _problem("params.value", "required", f"{info.name} is never empty, so null never matches")
    else:
        # Stored as Salesforce returns it (18-character id, UTC ``.000+0000`` datetime, typed
        # number), so the poller's ``==`` and snapshot hash meet the record's value.
        value = canonical_value(info, value, param="params.value")
    return {**params, "field": info.name, "value": value}


def _check_list_view(
    schema: SObjectSchema, params: dict[str, Any], client: SalesforceClient, sobject: str
) -> dict[str, Any]:
    view_id = str(params["list_view_id"])
    try:
        described = client.list_view_describe(sobject, view_id)
    except SalesforceError as exc:
        if (
            isinstance(exc, NotFoundError)
            or exc.status == 404
            or exc.error_code in ("NOT_FOUND", "INVALID_TYPE")
        ):
            raise _problem(
                "params.list_view_id",
                "unknown_list_view",
                f"{view_id} is not a list view of {sobject} (GET sobjects/{sobject}/listviews lists them)",
            ) from None
        raise
    described_id = str(described.get("id") or view_id)
    return {**params, "list_view_id": described_id if len(described_id) in (15, 18) else view_id}


def _check_linked_object(
    schema: SObjectSchema, params: dict[str, Any], client: SalesforceClient, sobject: str
) -> dict[str, Any]:
    """``linked_object``: an object of the org, stored with its key prefix (what the poller compares
    the link field's ids with); never the caller's own ``linked_prefix``."""
    name = params.get("linked_object")
    if not name:
        return {k: v for k, v in params.items() if k not in ("linked_object", "linked_prefix")}
    try:
        linked = sobject_schema(client, str(name))
    except UnknownSObjectError as exc:
        raise _problem("params.linked_object", "unknown_sobject", exc.message) from None
    if not linked.key_prefix:
        raise _problem(
            "params.linked_object", "not_linkable", f"{linked.name} has no key prefix: no record links to it"
        )
    return {**params, "linked_object": linked.name, "linked_prefix": linked.key_prefix}


_Check = Callable[[SObjectSchema, dict[str, Any], SalesforceClient, str], dict[str, Any]]

_PARAMS_CHECKS: dict[str, _Check] = {
    "LinkedObjectParams": _check_linked_object,
}
"""Describe checks of a params model, whatever the trigger's kind."""

_KIND_CHECKS: dict[str, _Check] = {
    TriggerKind.FIELD_MATCHED.value: _check_field_matched,
    TriggerKind.ENTERED_LIST_VIEW.value: _check_list_view,
}
"""Describe checks of the params of a trigger kind, beyond its params model."""


# ------------------------------------------------------------------------------------------ service


class SubscriptionLimits(EnvSettings):
    """How many subscriptions a connection may have, in all and per trigger.

    They bound the poller's work per connection: one cycle reads at most ``per_connection``
    subscriptions, and one changed record fans out to at most one event per subscription
    watching its object (at most ``per_trigger`` per trigger, ``per_connection`` in all).
    """

    per_connection: int = Field(200, alias="MAX_SUBSCRIPTIONS_PER_CONNECTION", ge=1, le=10_000)
    per_trigger: int = Field(50, alias="MAX_SUBSCRIPTIONS_PER_TRIGGER", ge=1, le=10_000)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def new_subscription_id() -> str:
    """32 lowercase hex digits: the creation time in milliseconds, then 80 random bits. Ids sort
    in creation order, so a connection's subscriptions list oldest first even within a second."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


class SubscriptionService:
    """Subscriptions of one deployment (any connection), over the repositories, the connections'
    Salesforce clients and the poll schedules."""

    def __init__(
        self,
        *,
        connections: ConnectionRepository,
        subscriptions: SubscriptionRepository,
        polling: PollingControl,
        client_factory: Callable[[str], SalesforceClient],
        record_usage: Callable[[str, LimitInfo | None], object] | None = None,
        clock: Callable[[], datetime] = _now,
        id_factory: Callable[[], str] = new_subscription_id,
        limits: SubscriptionLimits | None = None,
    ) -> None:
        self.limits = limits or SubscriptionLimits()
        self._connections = connections
        self._subscriptions = subscriptions
        self._polling = polling
        self._client_for = client_factory
        self._record_usage = record_usage
        self._clock = clock
        self._new_id = id_factory

    def __repr__(self) -> str:
        return "SubscriptionService()"

    # ---- connection --------------------------------------------------------------------------

    def _connection(self, connection_id: str) -> ConnectionRecord:
        try:
            validate_connection_id(connection_id)
        except ValueError:
            raise ConnectionNotFoundError(connection_id[:64]) from None
        return self._connections.require(connection_id)

    def _usable(self, connection_id: str) -> tuple[ConnectionRecord, SalesforceClient]:
        """A connection whose org can be asked (creating or changing a subscription needs its describe)."""
        record = self._connection(connection_id)
        if record.status == "pending":
            raise ConnectionPendingError(connection_id)
        if record.status == "needs_reauth":
            # Refused even when the describe is cached: the subscription could not fire anyway.
            raise ConnectionNeedsReauthError(connection_id, record.status_reason)
        return record, self._client_for(connection_id)

    def _describe(self, client: SalesforceClient, trigger: Trigger, sobject: str) -> SObjectSchema:
        """The sObject's schema (cached describe); a custom trigger's object must exist and be custom."""
        try:
            return sobject_schema(client, sobject, custom_only=trigger.sobject is None)
        except UnknownSObjectError as exc:
            if trigger.sobject is None:
                raise _problem("params.sobject", "unknown_sobject", exc.message) from None
            # A standard object the org lacks (or hides from the connected user): this trigger
            # cannot fire on this connection.
            raise _problem(
                "trigger",
                "sobject_unavailable",
                f"{trigger.key} watches {sobject}, which this org does not have or the connected user "
                "cannot access",
            ) from None

    def _resolve(
        self,
        connection_id: str,
        client: SalesforceClient,
        trigger: Trigger,
        params: Mapping[str, Any],
        fields: list[str] | None,
    ) -> tuple[str, dict[str, Any], list[str] | None]:
        """(sObject, checked params, checked fields) for a trigger."""
        checked = _params(trigger, params)
        sobject = trigger.sobject or str(checked["sobject"])
        calls = client.api_calls
        try:
            schema = self._describe(client, trigger, sobject)
            if trigger.sobject is None:
                sobject = schema.name  # the describe's spelling
                checked["sobject"] = sobject
            checks = (_KIND_CHECKS.get(trigger.kind.value), _PARAMS_CHECKS.get(trigger.params_model.__name__))
            for check in checks:
                if check is not None:
                    checked = check(schema, checked, client, sobject)
            return sobject, checked, _checked_fields(schema, fields)
        finally:
            if self._record_usage is not None and client.api_calls > calls:
                self._record_usage(connection_id, client.limit_info)

    # ---- subscriptions -----------------------------------------------------------------------

    def create(self, connection_id: str, body: SubscriptionCreate) -> Subscription:
        trigger = _trigger(body.trigger)
        now = self._clock()
        check_start(body, now)
        _, client = self._usable(connection_id)
        self._check_limits(connection_id, trigger)
        sobject, params, fields = self._resolve(connection_id, client, trigger, body.params, body.fields)
        subscription = Subscription(
            subscription_id=self._new_id(),
            connection_id=connection_id,
            trigger=trigger.key,
            kind=trigger.kind.value,
            family=trigger.family,
            sobject=sobject,
            params=params,
            fields=fields,
            ignore_own_changes=body.ignore_own_changes,
            status="active",
            start_at=body.start_at(now),
            created_at=now,
            updated_at=now,
        )
        # The limits again, atomically with the write (a concurrent create may have taken the place).
        self._subscriptions.add(
            subscription,
            max_per_connection=self.limits.per_connection,
            max_per_trigger=self.limits.per_trigger,
        )
        try:
            self._polling.sync(connection_id)
        except Exception:
            # Without its schedule the subscription would never fire: take it back, report the failure.
            self._subscriptions.delete(connection_id, subscription.subscription_id)
            raise
        logger.info(
            "Connection %s: subscription %s to %s on %s created",
            connection_id,
            subscription.subscription_id,
            trigger.key,
            sobject,
        )
        return subscription

    def _check_limits(self, connection_id: str, trigger: Trigger) -> None:
        """Refuse a create over a limit before it costs a Salesforce call (one GetItem)."""
        counts = self._subscriptions.counts(connection_id)
        if counts.total >= self.limits.per_connection:
            raise SubscriptionLimitError(
                "MAX_SUBSCRIPTIONS_PER_CONNECTION", self.limits.per_connection, connection_id=connection_id
            )
        if counts.by_trigger.get(trigger.key, 0) >= self.limits.per_trigger:
            raise SubscriptionLimitError(
                "MAX_SUBSCRIPTIONS_PER_TRIGGER",
                self.limits.per_trigger,
                connection_id=connection_id,
                trigger=trigger.key,
            )

    def list(
        self, connection_id: str, limit: int = DEFAULT_PAGE_SIZE, next_token: str | None = None
    ) -> SubscriptionList:
        """A page of the connection's subscriptions, oldest first; ``next_token`` the next page's."""
        self._connection(connection_id)
        page = self._subscriptions.page(connection_id, limit, next_token)
        return SubscriptionList(subscriptions=page.subscriptions, next_token=page.next_token)

    def get(self, connection_id: str, subscription_id: str) -> Subscription:
        self._connection(connection_id)
        try:
            return self._subscriptions.get(connection_id, subscription_id)
        except SubscriptionNotFoundError:
            raise SubscriptionNotFound(connection_id, subscription_id) from None

    def update(self, connection_id: str, subscription_id: str, patch: SubscriptionPatch) -> Subscription:
        current = self.get(connection_id, subscription_id)
        changes: dict[str, Any] = {}
        given = patch.model_fields_set
        if "params" in given or "fields" in given:
            # What the subscription watches changes: checked against the org again (cached describe).
            trigger = _trigger(current.trigger)
            _, client = self._usable(connection_id)
            params = patch.params if "params" in given and patch.params is not None else current.params
            fields = patch.fields if "fields" in given else current.fields
            sobject, checked, checked_fields = self._resolve(connection_id, client, trigger, params, fields)
            changes.update(sobject=sobject, params=checked, fields=checked_fields)
        if patch.status is not None:
            changes["status"] = patch.status
            if patch.status == "active" and current.status == "paused":
                changes["resumed_at"] = self._clock()  # what changed while paused is not delivered
        if patch.ignore_own_changes is not None:
            changes["ignore_own_changes"] = patch.ignore_own_changes
        try:
            updated = self._subscriptions.update(connection_id, subscription_id, **changes)
        except SubscriptionNotFoundError:
            raise SubscriptionNotFound(connection_id, subscription_id) from None
        if updated.status != current.status:
            self._polling.sync(connection_id)
            logger.info("Connection %s: subscription %s %s", connection_id, subscription_id, updated.status)
        return updated

    def delete(self, connection_id: str, subscription_id: str) -> DeletedSubscription:
        self._connection(connection_id)
        try:
            key_ok = self._subscriptions.delete(connection_id, subscription_id)
        except ValueError:
            key_ok = False  # an id that could never exist
        if not key_ok:
            raise SubscriptionNotFound(connection_id, subscription_id)
        state = self._polling.sync(connection_id)
        logger.info("Connection %s: subscription %s deleted", connection_id, subscription_id)
        return DeletedSubscription(
            connection_id=connection_id,
            subscription_id=subscription_id,
            schedule_deleted=state.schedule is None,
        )

    def sample(self, connection_id: str, subscription_id: str, limit: int) -> SampleEvents:
        """The envelopes the subscription would receive for the newest matching records (one
        Salesforce query; the describe from the cache). Published nowhere."""
        subscription = self.get(connection_id, subscription_id)
        record, client = self._usable(connection_id)
        if _trigger(subscription.trigger).stream is None:
            raise SampleUnavailableError(subscription.trigger)
        from sfconnector.triggers.sample import sample_events

        calls = client.api_calls
        try:
            events = sample_events(subscription, client=client, connection=record, limit=limit)
        finally:
            if self._record_usage is not None and client.api_calls > calls:
                self._record_usage(connection_id, client.limit_info)
        return SampleEvents(
            connection_id=connection_id,
            subscription_id=subscription_id,
            count=len(events),
            events=[event.to_json_dict() for event in events],
        )

    # ---- polling -----------------------------------------------------------------------------

    def polling(self, connection_id: str) -> PollingView:
        self._connection(connection_id)
        return polling_view(self._polling.state(connection_id))

    def set_polling(self, connection_id: str, settings: PollingSettingsInput) -> PollingView:
        self._connection(connection_id)
        self._polling.polling.set_interval_minutes(connection_id, settings.interval_minutes)
        return polling_view(self._polling.sync(connection_id))
