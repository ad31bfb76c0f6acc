"""A relay set up by hand, bound to a connection (``PUT /connections/{cid}/realtime`` with
``manual``; docs/realtime.md, "By hand").

Nothing is created in the org: three read-only Tooling calls check the relay (the channel exists
and is a data channel, its members name the relayed objects, an EventRelayConfig relays it:
``EventRelayFeedback`` by ``RemoteResource``), and the partner event source must be the
connection's org. The AWS side and the binding are the setup's own
(``RealtimeSetupService._aws_side``); the state is stored with ``managed: false``, so a teardown
leaves the Salesforce objects in place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sfconnector.errors import InvalidRequestFieldError
from sfconnector.models.realtime import RealtimeObject, RealtimeState
from sfconnector.models.realtime_api import MANUAL_SOURCE_PATTERN, ManualRelay, RealtimeInput, SetupStep
from sfconnector.salesforce.soql import Eq

if TYPE_CHECKING:
    from sfconnector.models.subscriptions import Subscription
    from sfconnector.salesforce.tooling import ToolingApi

__all__ = ["SOURCE_FIELD", "hand_made_state", "source_parts"]

SOURCE_FIELD = "manual.source"
_SOURCE = re.compile(MANUAL_SOURCE_PATTERN)


def source_parts(source: str) -> tuple[str, str]:
    """(org id, channel id) of a partner event source name (validated by the request model)."""
    match = _SOURCE.match(source)
    if match is None:
        raise InvalidRequestFieldError(SOURCE_FIELD, "not aws.partner/salesforce.com/<orgId>/<channelId>")
    return match.group("org"), match.group("channel")


def hand_made_state(
    tooling: ToolingApi,
    request: RealtimeInput,
    manual: ManualRelay,
    org_id: str | None,
    subscriptions: Sequence[Subscription],
    steps: list[SetupStep],
) -> RealtimeState:
    """Check the hand-made relay (3 Salesforce calls, none writing) and describe it as a state:
    every member of its channel is relayed (its events arrive whether asked for or not); an
    object asked for that is no member stays on polling (``not_in_channel``). The members'
    enriched fields are the user's: not read, not changed (``enriched_fields`` stays empty)."""
    from sfconnector.triggers.realtime_setup import (
        CDC_UNSUPPORTED,
        CHANNEL,
        FEEDBACK,
        MEMBER,
        RealtimeUnavailableError,
        _polled_triggers,
        _sobject_of,
    )

    source_org, channel_id = source_parts(manual.source)

    def unavailable(message: str) -> RealtimeUnavailableError:
        return RealtimeUnavailableError(message, salesforce_code=None, steps=steps, fields=[SOURCE_FIELD])

    if org_id is None or source_org[:15] != org_id[:15]:
        # Well-formed, so a rule beyond the request's schema: the org cannot relay this source.
        raise unavailable(
            f"The source is org {source_org}'s; this connection's org is {org_id or 'unknown'}: "
            "nothing was bound."
        )

    channel = tooling.get(CHANNEL, channel_id)
    if channel is None:
        raise unavailable(f"The org has no PlatformEventChannel {channel_id}: nothing was bound.")
    channel_type = channel.get("ChannelType") or (channel.get("Metadata") or {}).get("channelType")
    if str(channel_type or "").lower() != "data":
        raise unavailable(f"PlatformEventChannel {channel_id} is not a Change Data Capture (data) channel.")
    channel_name = str(channel.get("FullName") or channel.get("DeveloperName") or channel_id)
    steps.append(SetupStep(name="channel", status="exists", id=channel_id, target=channel_name))

    rows = tooling.query(MEMBER, ["Id", "DeveloperName", "SelectedEntity"], Eq("EventChannel", channel_id))
    feedback = tooling.query(
        FEEDBACK, ["Id", "EventRelayConfigId", "Status"], Eq("RemoteResource", manual.source)
    )
    if not feedback:
        raise unavailable(
            f"No EventRelayConfig relays {manual.source} (EventRelayFeedback has no such RemoteResource)."
        )
    config_id = str(feedback[0].get("EventRelayConfigId") or "") or None
    steps.append(
        SetupStep(
            name="relay_config", status="exists", id=config_id, target=str(feedback[0].get("Status") or "")
        )
    )

    members: dict[str, RealtimeObject] = {}
    for row in rows:
        sobject = _sobject_of(str(row.get("SelectedEntity") or ""))
        if not sobject:
            continue
        steps.append(SetupStep(name="member", status="exists", id=str(row["Id"]), target=sobject))
        members[sobject.lower()] = RealtimeObject(
            sobject=sobject,
            mode="relayed",
            member_id=str(row["Id"]),
            member_name=str(row.get("DeveloperName") or "") or None,
            polled_triggers=_polled_triggers(subscriptions, sobject),
        )
    objects: list[RealtimeObject] = []
    for name in request.objects:
        if name.lower() in members:
            objects.append(members.pop(name.lower()))
        elif name.lower() in CDC_UNSUPPORTED:
            objects.append(
                RealtimeObject(
                    sobject=name,
                    mode="polling",
                    reason="unsupported",
                    error="Change Data Capture does not cover it",
                )
            )
        else:
            objects.append(
                RealtimeObject(
                    sobject=name,
                    mode="polling",
                    reason="not_in_channel",
                    error=f"the channel {channel_name} has no member for it (add one in Salesforce)",
                )
            )
    objects += members.values()  # relayed though not asked for: their events arrive
    if not any(o.mode == "relayed" for o in objects):
        raise unavailable(f"The channel {channel_name} has no member: it relays nothing.")
    return RealtimeState(
        enabled=True,
        requested=list(request.objects),
        objects=objects,
        channel_id=channel_id,
        channel_name=channel_name,
        relay_config_id=config_id,
        source_name=manual.source,
        reconcile_seconds=request.reconcile_minutes * 60,
        poll_minutes=request.poll_minutes,
        prompt_minutes=request.prompt_minutes,
        updated_at=datetime.now(UTC).replace(microsecond=0),
        managed=False,
    )
