"""EventBridge Scheduler adapter: one poll schedule per connection.

A schedule named ``poll-<cid>`` in the stack's schedule group invokes the poller function with
``{"connection_id": "<cid>"}`` at ``rate(N minutes)``. Which schedules should exist, and whether
enabled, is decided by :mod:`sfconnector.triggers.scheduling`; this module only reads and writes them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, field_validator

from sfconnector.models import validate_connection_id
from sfconnector.models.subscriptions import MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES
from sfconnector.settings import EnvSettings

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

__all__ = [
    "KICK_RING",
    "MAX_INTERVAL_MINUTES",
    "MIN_INTERVAL_MINUTES",
    "Change",
    "PollSchedule",
    "PollSchedules",
    "ScheduleSettings",
    "ScheduleState",
    "kick_name",
    "schedule_name",
]

ScheduleState = Literal["ENABLED", "DISABLED"]
Change = Literal["created", "updated", "unchanged"]
_MAX_NAME = 64


class ScheduleSettings(EnvSettings):
    """Where the poll schedules live and what they invoke (the connections function's and the
    poller's environment; template.yaml sets them)."""

    group_name: str = Field(alias="SCHEDULE_GROUP_NAME", min_length=1, max_length=64)
    poller_function_arn: str = Field(alias="POLLER_FUNCTION_ARN")
    scheduler_role_arn: str = Field(alias="SCHEDULER_ROLE_ARN")
    failure_queue_arn: str = Field("", alias="POLL_FAILURE_QUEUE_ARN")
    """Where Scheduler puts a firing it could not deliver to the poller (its dead-letter queue);
    empty: none."""

    @field_validator("poller_function_arn", "scheduler_role_arn", "failure_queue_arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if value and (not value.startswith("arn:") or value.count(":") < 5):
            raise ValueError("must be an ARN")
        return value


def schedule_name(connection_id: str, prefix: str = "poll") -> str:
    """``poll-<cid>``; a connection id too long for Scheduler's 64 characters is shortened and
    made unique again with a hash of the whole id."""
    name = f"{prefix}-{validate_connection_id(connection_id)}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(connection_id.encode()).hexdigest()[:16]
    return f"{name[: _MAX_NAME - 17]}-{digest}"


KICK_RING = 4
"""Schedule names per connection for prompt polls (``triggers.prompting.KICK_NAMES`` rotates
through them: a pending poll is never moved, so a second may be pending beside it)."""


def kick_name(connection_id: str, index: int = 0) -> str:
    """``kick-<cid>`` (index 0), ``kick-<cid>.1`` .. ``.3``: a connection's prompt polls
    (:meth:`PollSchedules.kick`). No connection id holds a dot, so no two connections' names meet."""
    name = schedule_name(connection_id, "kick")
    return name if index == 0 else f"{name[: _MAX_NAME - 2]}.{index}"


def at(epoch_seconds: int) -> str:
    return f"at({datetime.fromtimestamp(epoch_seconds, UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


def rate(interval_minutes: int) -> str:
    return f"rate({interval_minutes} minute{'s' if interval_minutes != 1 else ''})"


@dataclass(frozen=True)
class PollSchedule:
    """A connection's poll schedule as Scheduler holds it."""

    name: str
    connection_id: str
    interval_minutes: int | None
    """None when the expression is not a ``rate(N minutes)`` (edited by hand)."""
    state: ScheduleState
    expression: str
    target_arn: str
    role_arn: str
    input: str
    dead_letter_arn: str = ""


def _interval_of(expression: str) -> int | None:
    inner = expression.removeprefix("rate(").removesuffix(")").split()
    if len(inner) == 2 and inner[0].isdigit() and inner[1] in ("minute", "minutes"):
        return int(inner[0])
    return None


def _not_found(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException"


def _conflict(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConflictException"


class PollSchedules:
    """The poll schedules of one stack. ``scheduler`` is the boto3 ``scheduler`` client or a
    factory returning it (called on first use)."""

    def __init__(
        self,
        scheduler: EventBridgeSchedulerClient | Callable[[], EventBridgeSchedulerClient],
        settings: ScheduleSettings,
    ) -> None:
        self._source = scheduler
        self._client: EventBridgeSchedulerClient | None = None
        self._lock = threading.Lock()
        self.settings = settings

    def __repr__(self) -> str:
        return f"PollSchedules(group={self.settings.group_name!r})"

    @property
    def client(self) -> EventBridgeSchedulerClient:
        with self._lock:
            if self._client is None:
                source = self._source
                self._client = source() if callable(source) else source
            return self._client

    def get(self, connection_id: str) -> PollSchedule | None:
        name = schedule_name(connection_id)
        try:
            raw = self.client.get_schedule(Name=name, GroupName=self.settings.group_name)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        expression = str(raw.get("ScheduleExpression") or "")
        target: Any = raw.get("Target") or {}
        return PollSchedule(
            name=name,
            connection_id=connection_id,
            interval_minutes=_interval_of(expression),
            state="DISABLED" if raw.get("State") == "DISABLED" else "ENABLED",
            expression=expression,
            target_arn=str(target.get("Arn") or ""),
            role_arn=str(target.get("RoleArn") or ""),
            input=str(target.get("Input") or ""),
            dead_letter_arn=str((target.get("DeadLetterConfig") or {}).get("Arn") or ""),
        )

    def _definition(self, connection_id: str, interval_minutes: int, state: ScheduleState) -> dict[str, Any]:
        if not MIN_INTERVAL_MINUTES <= interval_minutes <= MAX_INTERVAL_MINUTES:
            raise ValueError(f"interval_minutes must be {MIN_INTERVAL_MINUTES}-{MAX_INTERVAL_MINUTES}")
        return {
            "Name": schedule_name(connection_id),
            "GroupName": self.settings.group_name,
            "ScheduleExpression": rate(interval_minutes),
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": state,
            "Description": f"Polls Salesforce connection {connection_id} for trigger events",
            "Target": {
                "Arn": self.settings.poller_function_arn,
                "RoleArn": self.settings.scheduler_role_arn,
                "Input": json.dumps({"connection_id": connection_id}, separators=(",", ":")),
                # A missed poll is not worth retrying: the next one comes within the interval and
                # reads everything since the cursor anyway.
                "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
                # A firing Scheduler could not deliver (throttled, not permitted) is recorded there.
                **(
                    {"DeadLetterConfig": {"Arn": self.settings.failure_queue_arn}}
                    if self.settings.failure_queue_arn
                    else {}
                ),
            },
        }

    def put(
        self, connection_id: str, *, interval_minutes: int, state: ScheduleState
    ) -> tuple[PollSchedule, Change]:
        """Create the schedule, or bring an existing one to this interval and state (a write to
        Scheduler only when something differs). Returns what Scheduler now holds and what changed."""
        definition = self._definition(connection_id, interval_minutes, state)
        current = self.get(connection_id)
        wanted = self._as_schedule(connection_id, definition)
        if current == wanted:
            return wanted, "unchanged"
        if current is None:
            try:
                self.client.create_schedule(**definition)
                return wanted, "created"
            except ClientError as exc:
                if not _conflict(exc):
                    raise
                # Created concurrently by another request: make it ours below.
        self.client.update_schedule(**definition)
        return wanted, "updated"

    def kick(self, connection_id: str, at_epoch: int, index: int = 0) -> Change:
        """A one-time poll of the connection at ``at_epoch`` (``kick_name(cid, index)``, deleted by
        Scheduler after it ran), targeting the poller as the poll schedule does. An existing one of
        that name (fired, not yet deleted: the caller's ring gives a name back only after its poll
        ran) is updated to this time."""
        poll = self._definition(connection_id, MIN_INTERVAL_MINUTES, "ENABLED")
        definition = {
            **poll,
            "Name": kick_name(connection_id, index),
            "ScheduleExpression": at(at_epoch),
            "ScheduleExpressionTimezone": "UTC",
            "ActionAfterCompletion": "DELETE",
            "Description": f"Prompt poll of Salesforce connection {connection_id} (a relayed change)",
        }
        try:
            self.client.create_schedule(**definition)
            return "created"
        except ClientError as exc:
            if not _conflict(exc):
                raise
        self.client.update_schedule(**definition)
        return "updated"

    def delete(self, connection_id: str) -> bool:
        """Delete the schedule and any pending prompt poll (nothing is left to poll: a deleted
        connection's would fire once for nothing); False if there was no schedule."""
        deleted = self._delete(schedule_name(connection_id))
        for index in range(KICK_RING):
            self._delete(kick_name(connection_id, index))
        return deleted

    def _delete(self, name: str) -> bool:
        try:
            self.client.delete_schedule(Name=name, GroupName=self.settings.group_name)
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise
        return True

    @staticmethod
    def _as_schedule(connection_id: str, definition: dict[str, Any]) -> PollSchedule:
        target = definition["Target"]
        return PollSchedule(
            name=definition["Name"],
            connection_id=connection_id,
            interval_minutes=_interval_of(definition["ScheduleExpression"]),
            state=definition["State"],
            expression=definition["ScheduleExpression"],
            target_arn=target["Arn"],
            role_arn=target["RoleArn"],
            input=target["Input"],
            dead_letter_arn=str((target.get("DeadLetterConfig") or {}).get("Arn") or ""),
        )
