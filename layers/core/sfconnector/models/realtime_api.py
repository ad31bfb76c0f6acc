"""The bodies and answers of ``/connections/{cid}/realtime`` (docs/api.md, docs/realtime.md).

Apart from :mod:`sfconnector.models.realtime` (the state stored on every connection record, which
every function imports): only the connections function builds these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator

from sfconnector.models.realtime import (
    DEFAULT_PROMPT_MINUTES,
    DEFAULT_RECONCILE_MINUTES,
    MAX_POLL_MINUTES,
    MAX_PROMPT_MINUTES,
    MAX_REALTIME_OBJECTS,
    MAX_RECONCILE_MINUTES,
    MIN_POLL_MINUTES,
    MIN_PROMPT_MINUTES,
    MIN_RECONCILE_MINUTES,
    RealtimeState,
    SObjectName,
    StepStatus,
)

__all__ = [
    "MANUAL_SOURCE_PATTERN",
    "DeliveryUsage",
    "ManualRelay",
    "RealtimeDeleted",
    "RealtimeFeedback",
    "RealtimeInput",
    "RealtimeSetupResult",
    "RealtimeView",
    "RelayHealth",
    "RelayLag",
    "RelayLastChange",
    "RelayObjectHealth",
    "RelayReconciliation",
    "SetupStep",
]


MANUAL_SOURCE_PATTERN = (
    r"^aws\.partner/salesforce\.com/(?P<org>[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)"
    r"/(?P<channel>[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)$"
)


def _integral(value: object) -> object:
    # JSON Schema's integer admits 15.0 (a number with no fraction), so the API does too; a
    # string, a boolean or 15.5 still fails the strict integer check that follows.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeMinutes = Annotated[int, BeforeValidator(_integral)]


class ManualRelay(BaseModel):
    """A relay set up by hand in Salesforce (channel, members, Named Credential, EventRelayConfig):
    the connector only checks it (read-only calls) and binds its partner event source."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = Field(
        pattern=MANUAL_SOURCE_PATTERN,
        max_length=256,
        description="The partner event source: `aws.partner/salesforce.com/<orgId>/<channelId>` "
        "(EventRelayFeedback's `RemoteResource`). It must be the connection's org.",
        examples=["aws.partner/salesforce.com/00D5g000004bCDeEAM/0YLRM0000000AbC4AM"],
    )
    associate: StrictBool = Field(
        default=True,
        description="true: associate the source with its event bus if it is not yet, and add the "
        "connector's rule into the relay queue when no rule sends that bus there; false: the bus and such "
        "a rule must exist already (the stack's SalesforcePartnerEventSource parameter, or the console).",
    )


class RealtimeInput(BaseModel):
    """Relay these objects' changes in real time (Change Data Capture through Event Relay), the rest
    of the connection's triggers staying on polling; polling reconciles the relayed ones."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"enabled": True, "objects": ["Account", "Lead", "Opportunity"], "reconcile_minutes": 15}
            ]
        },
    )

    enabled: StrictBool = Field(
        description="true: set the org and AWS up (again); false: tear it down, as DELETE."
    )
    objects: Annotated[list[SObjectName], Field(max_length=MAX_REALTIME_OBJECTS)] = Field(
        default_factory=list,
        description="The sObjects to relay (API names), in order of preference: those beyond the org's "
        "CDC allocation, and those CDC does not support, stay on polling (the answer says which and why).",
        examples=[["Account", "Lead", "Opportunity"]],
    )
    reconcile_minutes: WholeMinutes = Field(
        default=DEFAULT_RECONCILE_MINUTES,
        strict=True,
        ge=MIN_RECONCILE_MINUTES,
        le=MAX_RECONCILE_MINUTES,
        description="How often polling reconciles the relayed objects (delivers what the relay missed).",
    )
    poll_minutes: (
        # The bounds before the coercion, or pydantic writes them as ge/le in the union's schema.
        Annotated[
            int, Field(strict=True, ge=MIN_POLL_MINUTES, le=MAX_POLL_MINUTES), BeforeValidator(_integral)
        ]
        | None
    ) = Field(
        default=None,
        description="How often the subscriptions the relay does not serve are polled (objects that stay "
        "on polling: CaseComment, beyond the CDC allocation, refused). Default: the connection's interval "
        "(no latency lost silently); equal to reconcile_minutes, a connection with such a trigger costs "
        'about as little as one without (docs/realtime.md, "What stays on polling").',
    )
    prompt_minutes: WholeMinutes = Field(
        default=DEFAULT_PROMPT_MINUTES,
        strict=True,
        ge=MIN_PROMPT_MINUTES,
        le=MAX_PROMPT_MINUTES,
        description="The least time between two prompt polls of the connection (the polls a relayed change "
        "asks for when only a poll can judge it: entered list views, field matched): more minutes, fewer "
        'Salesforce calls on a busy org, later events (docs/realtime.md, "Prompt polls").',
    )
    manual: ManualRelay | None = Field(
        default=None,
        description="Bind a relay set up by hand instead of setting one up: nothing is created in the org, "
        "its channel's members are the relayed objects, and DELETE leaves its Salesforce objects in place.",
    )

    @field_validator("objects")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        # sObject names are case-insensitive: Account and account are one object.
        seen: dict[str, str] = {}
        for name in value:
            seen.setdefault(name.lower(), name)
        return list(seen.values())


class SetupStep(BaseModel):
    """One step of a setup or teardown, in the order run."""

    name: str = Field(examples=["channel"])
    status: StepStatus
    id: str | None = Field(default=None, description="The Salesforce id or AWS ARN/name it made or found.")
    target: str | None = Field(default=None, description="What the step is about (an sObject, a name).")
    error: str | None = Field(default=None, description="Salesforce's or AWS's error code and message.")


class RealtimeFeedback(BaseModel):
    """EventRelayFeedback, read live: the relay's status and its last error."""

    status: str | None = None
    remote_resource: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_time: str | None = None
    last_relayed_event_time: str | None = Field(
        default=None, description="When Salesforce last relayed an event to EventBridge."
    )


class DeliveryUsage(BaseModel):
    """The org's Change Data Capture / platform event delivery allocation (rolling 24 hours), from
    Salesforce's limits resource (``DailyDeliveredPlatformEvents``)."""

    max: int
    remaining: int
    used: int


class RelayLastChange(BaseModel):
    sobject: str
    committed_at: datetime = Field(description="The change's commit time (its change event header).")
    relayed_at: datetime = Field(description="When the relay function published its trigger events.")
    lag_seconds: float


class RelayLag(BaseModel):
    """Relayed time - commit time over the last changes relayed (``samples`` of at most ``window``)."""

    last_seconds: float | None = None
    p50_seconds: float | None = None
    p95_seconds: float | None = None
    max_seconds: float | None = None
    samples: int = 0
    window: int = Field(description="At most this many of the latest changes relayed are kept.")


class RelayObjectHealth(BaseModel):
    sobject: str
    changes_relayed: int
    last_committed_at: datetime | None = None
    last_relayed_at: datetime | None = None


class RelayReconciliation(BaseModel):
    """The last reconciliation poll: the relay's misses it delivered (the honest health figure)."""

    at: datetime
    objects: list[str] = Field(description="The relayed objects it read.")
    relayed_known: int = Field(description="Changes it read that the relay had delivered (not sent again).")
    missed_by_relay: int = Field(
        description="Changes the relay had not delivered (dropped, stopped, allocation, overflow, or later "
        "than the grace period): the poll sent them, with the ids the relay would have used."
    )
    missed_by_object: dict[str, int] = Field(default_factory=dict)
    missed_total: int = Field(description="Missed changes over every reconciliation so far.")
    reconciliations: int


class RelayHealth(BaseModel):
    """What the relay did for the connection (stored by the relay function and the poller; reading
    it costs no Salesforce call)."""

    changes_relayed: int = 0
    events_published: int = Field(default=0, description="Trigger events the relay published.")
    duplicates_skipped: int = Field(
        default=0, description="Changes skipped as already relayed (Salesforce or SQS delivering twice)."
    )
    since: datetime | None = Field(default=None, description="The first batch counted.")
    last_change: RelayLastChange | None = None
    lag: RelayLag
    objects: list[RelayObjectHealth] = Field(default_factory=list)
    reconciliation: RelayReconciliation | None = None


class RealtimeSetupResult(BaseModel):
    """The answer of ``PUT /connections/{cid}/realtime``: the state stored and each step run."""

    connection_id: str
    realtime: RealtimeState
    steps: list[SetupStep]


class RealtimeView(BaseModel):
    """``GET /connections/{cid}/realtime``: the stored state (null when never set up), the relay's
    live status and the org's event delivery usage (a counted Salesforce call each)."""

    connection_id: str
    realtime: RealtimeState | None
    feedback: RealtimeFeedback | None = None
    delivery: DeliveryUsage | None = None
    relay: RelayHealth | None = Field(
        default=None,
        description="The relay's lag, counts and the last reconciliation's findings (null: nothing relayed "
        "or reconciled yet).",
    )


class RealtimeDeleted(BaseModel):
    """The answer of ``DELETE /connections/{cid}/realtime``: the teardown's steps (each ``deleted`` or
    ``absent``, so a second DELETE is a no-op)."""

    connection_id: str
    deleted: bool
    steps: list[SetupStep]
