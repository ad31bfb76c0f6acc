"""The bodies and answers of ``/connections/{cid}/realtime`` (docs/api.md, docs/realtime.md).

Apart from :mod:`sfconnector.models.realtime` (the state stored on every connection record, which
every function imports): only the connections function builds these.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from sfconnector.models.realtime import (
    DEFAULT_RECONCILE_MINUTES,
    MAX_POLL_MINUTES,
    MAX_REALTIME_OBJECTS,
    MAX_RECONCILE_MINUTES,
    MIN_POLL_MINUTES,
    MIN_RECONCILE_MINUTES,
    RealtimeState,
    SObjectName,
    StepStatus,
)

__all__ = [
    "DeliveryUsage",
    "RealtimeDeleted",
    "RealtimeFeedback",
    "RealtimeInput",
    "RealtimeSetupResult",
    "RealtimeView",
    "SetupStep",
]


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
    reconcile_minutes: int = Field(
        default=DEFAULT_RECONCILE_MINUTES,
        strict=True,
        ge=MIN_RECONCILE_MINUTES,
        le=MAX_RECONCILE_MINUTES,
        description="How often polling reconciles the relayed objects (delivers what the relay missed).",
    )
    poll_minutes: int | None = Field(
        default=None,
        strict=True,
        ge=MIN_POLL_MINUTES,
        le=MAX_POLL_MINUTES,
        description="How often the subscriptions the relay does not serve are polled (objects that stay "
        "on polling: CaseComment, beyond the CDC allocation, refused). Default: the connection's interval "
        "(no latency lost silently); equal to reconcile_minutes, a connection with such a trigger costs "
        'about as little as one without (docs/realtime.md, "What stays on polling").',
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


class RealtimeDeleted(BaseModel):
    """The answer of ``DELETE /connections/{cid}/realtime``: the teardown's steps (each ``deleted`` or
    ``absent``, so a second DELETE is a no-op)."""

    connection_id: str
    deleted: bool
    steps: list[SetupStep]
