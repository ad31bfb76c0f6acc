"""Real-time triggers (Change Data Capture through Salesforce Event Relay) in the state table.

:class:`RealtimeState` is what is stored on the connection's record (``ConnectionRecord.realtime``)
and read by the relay function and the poller's reconciliation: which objects are relayed, which
stay on polling and why, the ids of what the setup made in the org (the CDC channel, its members,
the Named Credential, the EventRelayConfig) and on AWS (the partner event bus and its rule).
docs/realtime.md. The route's bodies and answers are in :mod:`sfconnector.models.realtime_api`
(only the connections function defines them).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "DEFAULT_RECONCILE_MINUTES",
    "MAX_POLL_MINUTES",
    "MAX_REALTIME_OBJECTS",
    "MAX_RECONCILE_MINUTES",
    "MIN_POLL_MINUTES",
    "MIN_RECONCILE_MINUTES",
    "PARTNER_SOURCE_PREFIX",
    "SOBJECT_NAME_PATTERN",
    "AssociationState",
    "ObjectMode",
    "RealtimeObject",
    "RealtimeState",
    "SObjectName",
    "StepStatus",
    "change_event_name",
    "org_names",
]

PARTNER_SOURCE_PREFIX = "aws.partner/salesforce.com/"
"""Every Salesforce partner event source (and the bus associated with it) starts so:
``aws.partner/salesforce.com/<orgId>/<channelId>``."""

DEFAULT_RECONCILE_MINUTES = 15
MIN_RECONCILE_MINUTES = 5
MAX_RECONCILE_MINUTES = 1440
MIN_POLL_MINUTES = 1
MAX_POLL_MINUTES = 1440
"""``poll_minutes``: the schedule of what the relay does not serve (the connection's interval's
bounds: EventBridge Scheduler's rate and a day)."""
DEFAULT_PROMPT_MINUTES = 2
MIN_PROMPT_MINUTES = 1
MAX_PROMPT_MINUTES = 60
"""``prompt_minutes``: the least time between two prompt polls of a connection (docs/realtime.md,
"Prompt polls"): it bounds their calls on a busy org; past an hour the reconciliation serves."""
MAX_REALTIME_OBJECTS = 50
"""More objects than any org's CDC allocation (5 by default, an add-on raises it): the rest would
stay on polling anyway."""

SOBJECT_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,79}$"
SObjectName = Annotated[str, StringConstraints(pattern=SOBJECT_NAME_PATTERN)]

ObjectMode = Literal["relayed", "polling"]
AssociationState = Literal["associated", "pending", "none"]
StepStatus = Literal["created", "exists", "updated", "deleted", "absent", "skipped", "failed", "rolled_back"]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def change_event_name(sobject: str) -> str:
    """The CDC entity of an sObject: ``Account`` -> ``AccountChangeEvent``, ``Invoice__c`` ->
    ``Invoice__ChangeEvent`` (Salesforce drops the ``c`` of a custom object's suffix)."""
    return f"{sobject[:-1]}ChangeEvent" if sobject.endswith("__c") else f"{sobject}ChangeEvent"


def org_names(connection_id: str) -> dict[str, str]:
    """The developer names (FullName) of what the setup makes in the org for one connection.

    Developer names allow letters, digits and single underscores, start with a letter and are
    short (40 characters), while connection ids allow ``-`` and 128 characters: the name keeps a
    readable part of the id and a hash of all of it, so two connections never share a channel."""
    readable = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]", "_", connection_id)).strip("_")[:16].rstrip("_")
    digest = hashlib.sha256(connection_id.encode()).hexdigest()[:8]
    base = f"Sfc_{readable}_{digest}" if readable else f"Sfc_{digest}"
    return {
        "channel": f"{base}__chn",
        "named_credential": f"{base}_aws",
        "relay_config": f"{base}_relay",
    }


class RealtimeObject(BaseModel):
    """One requested object: relayed (a member of the connection's CDC channel) or polled, and why."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sobject: str
    mode: ObjectMode
    reason: str | None = Field(
        default=None,
        description="Why it stays on polling: `unsupported` (CDC does not cover it), `allocation` (beyond "
        "the org's CDC entity allocation), `refused` (Salesforce's other refusal, see `error`), "
        "`not_in_channel` (a hand-made channel has no member for it).",
    )
    error: str | None = Field(
        default=None, description="Salesforce's error code and message, when it refused."
    )
    member_id: str | None = None
    member_name: str | None = None
    enriched_fields: list[str] = Field(default_factory=list)
    polled_triggers: list[str] = Field(
        default_factory=list,
        description="The connection's triggers on a relayed object that stay on polling (entered list "
        "view: list membership is not in a change event; field matched changed_to: an update has no old "
        "value), read by the prompt polls the relay asks for after a change that may fire them.",
    )


class RealtimeState(BaseModel):
    """A connection's real-time setup as stored on its record (``ConnectionRecord.realtime``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    enabled: bool = True
    requested: list[str] = Field(default_factory=list, description="The objects asked for, in order.")
    objects: list[RealtimeObject] = Field(default_factory=list)
    channel_id: str | None = None
    channel_name: str | None = None
    named_credential_id: str | None = None
    named_credential_name: str | None = None
    relay_config_id: str | None = None
    relay_config_name: str | None = None
    source_name: str | None = Field(
        default=None, description="The partner event source (and event bus) name, from EventRelayFeedback."
    )
    event_bus_arn: str | None = None
    event_bus_owned: bool = Field(
        default=False,
        description="The setup created the bus (a teardown deletes it); false: it existed (e.g. the "
        "stack's SalesforcePartnerEventSource parameter made it) and stays.",
    )
    rule_name: str | None = None
    association: AssociationState = "none"
    reconcile_seconds: int = 900
    poll_minutes: int | None = Field(
        default=None,
        description="The schedule of the subscriptions the relay does not serve (objects on polling: "
        "CaseComment, beyond the allocation, refused); null: the connection's interval.",
    )
    prompt_minutes: int = Field(
        default=DEFAULT_PROMPT_MINUTES,
        description="The least time between two prompt polls (entered list views and field matched "
        "triggers of relayed objects): a change waits for the first 30-second slot this long after the "
        "previous prompt poll.",
    )
    updated_at: datetime = Field(default_factory=_now)
    managed: bool = Field(
        default=True,
        description="The connector made the org side (channel, members, credential, relay config) and a "
        "teardown deletes it; false: a relay set up by hand, bound with `manual`, whose Salesforce objects "
        "a teardown leaves in place.",
    )

    def relayed(self) -> list[str]:
        """The objects whose changes arrive through the relay (the others are polled as before)."""
        return [o.sobject for o in self.objects if o.mode == "relayed"]

    def is_relayed(self, sobject: str) -> bool:
        return self.enabled and any(
            o.mode == "relayed" and o.sobject.lower() == sobject.lower() for o in self.objects
        )

    def object(self, sobject: str) -> RealtimeObject | None:
        return next((o for o in self.objects if o.sobject.lower() == sobject.lower()), None)
