"""Trigger subscriptions at the HTTP boundary and in the state table.

A subscription says "send me this trigger's events for this connection": ``SubscriptionCreate`` is
the ``POST /connections/{cid}/subscriptions`` body, ``SubscriptionPatch`` the ``PATCH`` body and
:class:`Subscription` what is stored (``pk = CONNECTION#<cid>``, ``sk = SUBSCRIPTION#<sid>``),
returned and read by the poller.

Only the shape is checked here; whether ``trigger`` is a catalog key, whether ``params`` fit the
trigger's params model and the org's describe, and whether ``fields`` exist on the sObject is
checked by :mod:`sfconnector.triggers.subscriptions`, which knows the catalog and the org.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from sfconnector.models import MAX_SELECT_FIELDS, FieldName, validate_connection_id

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_BACKFILL",
    "MAX_INTERVAL_MINUTES",
    "MAX_PAGE_SIZE",
    "MAX_SAMPLE",
    "MIN_INTERVAL_MINUTES",
    "START_CLOCK_SKEW",
    "SUBSCRIPTION_ID_PATTERN",
    "SUBSCRIPTION_PREFIX",
    "DeletedSubscription",
    "PollingSettingsInput",
    "PollingView",
    "SampleEvents",
    "ScheduleView",
    "Subscription",
    "SubscriptionCreate",
    "SubscriptionList",
    "SubscriptionPatch",
    "SubscriptionStatus",
    "subscription_key",
]

SubscriptionStatus = Literal["active", "paused"]

SUBSCRIPTION_PREFIX = "SUBSCRIPTION#"
SUBSCRIPTION_ID_PATTERN = r"^[0-9a-f]{32}$"
DEMO_SUBSCRIPTION_ID = "0194f3a2b1c0d9e8f7a6b5c4d3e2f1a0"
"""The example of the document's subscription ids (the contract tests' demo connection has it)."""
_SUBSCRIPTION_ID = re.compile(SUBSCRIPTION_ID_PATTERN)

MIN_INTERVAL_MINUTES = 1
MAX_INTERVAL_MINUTES = 60
"""A connection's poll interval (EventBridge Scheduler ``rate(N minutes)``)."""

MAX_BACKFILL = timedelta(days=30)
"""How far back ``start`` may reach: a longer backfill would flood the subscriber and spend the
org's API budget on one subscription (and Salesforce's recycle bin keeps deletions ~15 days)."""
START_CLOCK_SKEW = timedelta(minutes=5)
"""A ``start`` this far in the future is taken as "now": the caller's clock may run a little ahead."""

TriggerKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Fields = Annotated[list[FieldName], Field(min_length=1, max_length=MAX_SELECT_FIELDS)]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _utc_seconds(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def subscription_key(connection_id: str, subscription_id: str) -> dict[str, str]:
    """The table key of one subscription."""
    return {
        "pk": f"CONNECTION#{validate_connection_id(connection_id)}",
        "sk": f"{SUBSCRIPTION_PREFIX}{validate_subscription_id(subscription_id)}",
    }


def validate_subscription_id(subscription_id: str) -> str:
    if not isinstance(subscription_id, str) or not _SUBSCRIPTION_ID.fullmatch(subscription_id):
        raise ValueError(f"{str(subscription_id)[:40]!r} is not a subscription id (32 lowercase hex digits)")
    return subscription_id


def _unique(fields: list[str] | None) -> list[str] | None:
    if fields is None:
        return None
    seen: dict[str, str] = {}
    for name in fields:
        # Salesforce field names are case-insensitive: Name and name are one field.
        seen.setdefault(name.lower(), name)
    return list(seen.values())


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SubscriptionCreate(_Input):
    """Subscribe to a trigger of the catalog on this connection."""

    trigger: TriggerKey = Field(description="A trigger key of `GET /catalog`.", examples=["leads.created"])
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The trigger's parameters (its `params` schema in `GET /catalog`): e.g. "
        '`{"sobject": "Invoice__c"}` for custom objects, `{"field", "value", "mode"}` for field matched.',
    )
    start: Literal["now"] | AwareDatetime = Field(
        default="now",
        description="`now` (default: only changes from now on) or an ISO datetime with a timezone to "
        "backfill from, at most 30 days back.",
        # Only "now": a fixed datetime would leave the 30-day window and the example would fail.
        examples=["now"],
    )
    ignore_own_changes: bool = Field(
        default=False,
        description="Skip records last modified by the connection's own Salesforce user, so a "
        "workflow writing back does not trigger itself.",
    )
    fields: Fields | None = Field(
        default=None,
        description="The record fields the event carries (default: every field).",
        examples=[["Id", "Name", "Email"]],
    )

    @field_validator("start", mode="wrap")
    @classmethod
    def _start_window(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Literal["now"] | datetime:
        try:
            start: Literal["now"] | datetime = handler(value)
        except ValidationError:
            # One message for the field, not one per member of the union.
            raise ValueError(
                "must be 'now' or an ISO datetime with a timezone, e.g. 2026-11-20T00:00:00Z"
            ) from None
        # The window (at most MAX_BACKFILL back, not in the future) depends on the clock, which the
        # document cannot say: the service checks it (``start_out_of_window``, docs/api.md).
        return start if not isinstance(start, datetime) else _utc_seconds(start)

    @field_validator("fields")
    @classmethod
    def _unique_fields(cls, value: list[str] | None) -> list[str] | None:
        return _unique(value)

    def start_at(self, now: datetime) -> datetime:
        """The instant the subscription's events start (``now`` for ``"now"``)."""
        if self.start == "now" or not isinstance(self.start, datetime):
            return _utc_seconds(now)
        return min(self.start, _utc_seconds(now))  # within the clock skew: now


class SubscriptionPatch(_Input):
    """Pause or resume a subscription, or change what it watches. Absent fields stay as they are;
    ``"fields": null`` goes back to every field."""

    # Only ``fields`` takes null; the others may be absent but not null (SkipJsonSchema keeps the
    # None default out of the document, which then says what the validator below refuses).
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"minProperties": 1, "examples": [{"status": "paused"}]},
    )

    status: SubscriptionStatus | SkipJsonSchema[None] = Field(
        default=None, description="`paused` stops its events; `active` resumes."
    )
    params: dict[str, Any] | SkipJsonSchema[None] = Field(
        default=None, description="New trigger parameters (validated again)."
    )
    fields: Fields | None = Field(default=None, description="New event fields; null = every field.")
    ignore_own_changes: bool | SkipJsonSchema[None] = None

    @field_validator("fields")
    @classmethod
    def _unique_fields(cls, value: list[str] | None) -> list[str] | None:
        return _unique(value)

    @model_validator(mode="after")
    def _something(self) -> SubscriptionPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one of status, params, fields, ignore_own_changes")
        for name in ("status", "params", "ignore_own_changes"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class Subscription(BaseModel):
    """One subscription as stored, returned by the API and read by the poller."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    subscription_id: Annotated[str, StringConstraints(pattern=SUBSCRIPTION_ID_PATTERN)]
    connection_id: str
    trigger: str
    kind: str
    """The trigger's :class:`~sfconnector.catalog.TriggerKind` value (``created``, ``field_matched``...)."""
    family: str
    sobject: str
    """The sObject polled: the family's, or ``params.sobject`` for custom objects."""
    params: dict[str, Any] = Field(default_factory=dict)
    fields: list[str] | None = None
    ignore_own_changes: bool = False
    status: SubscriptionStatus = "active"
    start_at: datetime
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    last_error: str | None = None
    """The poller's last problem with this subscription (None once it polls cleanly again)."""
    last_error_at: datetime | None = None
    resumed_at: datetime | None = None
    """When it was last resumed (None: never paused). A resumed subscription receives the changes
    made from then on, nothing of what changed while it was paused, whether or not another
    subscription shares its sObject."""

    @field_validator("connection_id")
    @classmethod
    def _connection_id(cls, value: str) -> str:
        return validate_connection_id(value)

    @field_validator("start_at", "created_at", "updated_at", "last_error_at", "resumed_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return _utc_seconds(value)

    def to_item(self) -> dict[str, Any]:
        """The DynamoDB item as plain values (None fields left out). ``params`` is kept as JSON
        text: its values may be floats, which DynamoDB's number type would not round-trip."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["params"] = json.dumps(self.params, separators=(",", ":"), sort_keys=True)
        return {**subscription_key(self.connection_id, self.subscription_id), **data}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Subscription:
        data = {k: v for k, v in item.items() if k not in ("pk", "sk")}
        if isinstance(data.get("params"), str):
            data["params"] = json.loads(data["params"])
        return cls.model_validate(data)


MAX_SAMPLE = 50


class SampleEvents(BaseModel):
    """The envelopes the subscription would deliver for the most recent matching records (published
    nowhere). Each is a ``TriggerEvent``, exactly as an SNS subscriber receives it."""

    connection_id: str
    subscription_id: str
    count: int
    events: list[dict[str, Any]]
    published: Literal[False] = False


DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
"""Subscriptions per page of the list (a connection has at most 200 by default)."""


class SubscriptionList(BaseModel):
    """A page of a connection's subscriptions, oldest first."""

    subscriptions: list[Subscription]
    next_token: str | None = Field(
        None,
        description="Send it as next_token to get the next page; null on the last page.",
    )


class DeletedSubscription(BaseModel):
    connection_id: str
    subscription_id: str
    deleted: bool = True
    schedule_deleted: bool = Field(description="True when this was the connection's last subscription.")


class PollingSettingsInput(_Input):
    """How often the connection's subscriptions are polled."""

    interval_minutes: int = Field(ge=MIN_INTERVAL_MINUTES, le=MAX_INTERVAL_MINUTES, examples=[5])


class ScheduleView(BaseModel):
    name: str
    state: Literal["ENABLED", "DISABLED"]
    expression: str


class PollingView(BaseModel):
    """A connection's polling: its interval and its schedule (null while it has no subscription).
    The schedule is DISABLED while the connection needs re-authorisation or every subscription
    is paused."""

    connection_id: str
    interval_minutes: int
    subscriptions: int
    active_subscriptions: int
    schedule: ScheduleView | None
