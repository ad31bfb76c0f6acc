"""Real-time triggers, setup and teardown: Change Data Capture through Salesforce Event Relay into the
stack's relay queue (``/connections/{cid}/realtime``; docs/realtime.md, "Setup").

Org side (Tooling API, one call each): one ``PlatformEventChannel`` per connection, a
``PlatformEventChannelMember`` per relayed object (enriched with the fields the connection's
subscriptions of that object name), a ``NamedCredential`` for the stack's account and region, an
``EventRelayConfig`` in RUN, and ``EventRelayFeedback`` for the partner event source's name. AWS
side: the partner event bus associated with that source, a rule on it into the relay queue, and
the binding source -> connection the relay function reads.

Idempotent: a second PUT checks what exists (by the stored ids), adds and removes members, and
keeps the rest. Objects CDC does not support and objects beyond the org's CDC allocation stay on
polling (each with its reason); so do a relayed object's entered-list-view triggers (list
membership is not in a change event). When the org refuses the setup itself (no Event Relay, no
"Customize Application"), what this request made is deleted again and a 409 ``realtime_unavailable``
names Salesforce's reason: the connection keeps polling as before.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from sfconnector.catalog import TriggerKind
from sfconnector.errors import ConnectionPendingError, ConnectorError, Fault
from sfconnector.models.realtime import (
    RealtimeObject,
    RealtimeState,
    change_event_name,
    org_names,
)
from sfconnector.models.realtime_api import (
    DeliveryUsage,
    ManualRelay,
    RealtimeDeleted,
    RealtimeFeedback,
    RealtimeInput,
    RealtimeSetupResult,
    RealtimeView,
    SetupStep,
)
from sfconnector.salesforce.errors import SalesforceError
from sfconnector.salesforce.soql import Eq
from sfconnector.salesforce.tooling import ToolingApi
from sfconnector.settings import EnvSettings
from sfconnector.stores.partner_bus import PartnerSourceMissingError, relay_rule_name
from sfconnector.stores.realtime import RelayBindingConflictError
from sfconnector.triggers import relay, relay_health

if TYPE_CHECKING:
    from sfconnector.models.subscriptions import Subscription
    from sfconnector.salesforce.client import SalesforceClient
    from sfconnector.stores.connections import ApiUsageRecorder, ConnectionRecord, ConnectionRepository
    from sfconnector.stores.partner_bus import PartnerBus
    from sfconnector.stores.realtime import RelayBindings
    from sfconnector.stores.relay_stats import RelayStats

__all__ = [
    "CDC_UNSUPPORTED",
    "POLLED_KINDS",
    "RealtimePorts",
    "RealtimeSettings",
    "RealtimeSetupService",
    "RealtimeUnavailableError",
    "enriched_fields",
    "queue_endpoint",
]

logger = logging.getLogger(__name__)

CHANNEL = "PlatformEventChannel"
MEMBER = "PlatformEventChannelMember"
CREDENTIAL = "NamedCredential"
CONFIG = "EventRelayConfig"
FEEDBACK = "EventRelayFeedback"

CDC_UNSUPPORTED = frozenset({"casecomment"})
"""Objects Change Data Capture does not cover that the catalog has triggers on (lowercase names):
they stay on polling without asking Salesforce. Others CDC refuses are found by its answer."""
POLLED_KINDS = frozenset({"entered_list_view"})
"""Trigger kinds a change event cannot serve (list view membership is not in it): polled even on a
relayed object."""
MAX_ENRICHED_FIELDS = 50
"""Enriched fields per member (more would make every update event large; assumption, docs/realtime.md)."""
_ALWAYS_IN_EVENTS = frozenset(
    {
        "id",
        "createddate",
        "createdbyid",
        "lastmodifieddate",
        "lastmodifiedbyid",
        "systemmodstamp",
        "isdeleted",
    }
)
_QUEUE_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):[A-Za-z0-9_.-]{1,80}$")
# Salesforce's refusals of the setup as a whole (the org cannot relay): everything made is undone.
_ORG_REFUSALS = frozenset(
    {"FEATURE_NOT_ENABLED", "INSUFFICIENT_ACCESS", "NOT_AVAILABLE", "API_DISABLED_FOR_ORG"}
)
_NOT_SUPPORTED_CODES = frozenset(
    {"INVALID_INPUT", "INVALID_TYPE", "INVALID_FIELD", "FIELD_INTEGRITY_EXCEPTION"}
)


class RealtimeUnavailableError(ConnectorError):
    """The org (or the stack) cannot relay: Salesforce's reason, the steps run and rolled back."""

    code = "realtime_unavailable"
    fault = Fault.CONFLICT

    def __init__(
        self,
        message: str,
        *,
        salesforce_code: str | None,
        steps: Sequence[SetupStep],
        fields: Sequence[str] = (),
    ) -> None:
        super().__init__(
            message,
            fields=fields,
            details={
                "salesforce_error_code": salesforce_code,
                "steps": [s.model_dump(exclude_none=True) for s in steps],
                "polling": "unchanged: the connection's triggers keep polling",
            },
        )


class RealtimeSettings(EnvSettings):
    relay_queue_arn: str | None = Field(None, alias="RELAY_QUEUE_ARN", max_length=2048)
    """The stack's relay queue, the rule's target on every partner bus (its account and region
    are the ones the Named Credential gives Salesforce); unset: no real-time triggers here."""
    source_wait_seconds: float = Field(6.0, alias="REALTIME_SOURCE_WAIT_SECONDS", ge=0, le=20)
    """How long a PUT waits for Salesforce to create the partner event source (it does so shortly
    after the relay config) before answering ``association: pending`` (PUT again to finish)."""


def queue_endpoint(queue_arn: str | None) -> tuple[str, str, str]:
    """(queue ARN, region, account) of the relay queue: the Named Credential points Salesforce at
    that account and region (the queue's, so the bus and its rule are where the queue is)."""
    match = _QUEUE_ARN.match(queue_arn or "")
    if match is None:
        raise RealtimeUnavailableError(
            "This deployment has no relay queue (RELAY_QUEUE_ARN is not an SQS queue ARN): real-time "
            "triggers are not available; polling goes on.",
            salesforce_code=None,
            steps=(),
        )
    return queue_arn or "", match.group(1), match.group(2)


def enriched_fields(subscriptions: Iterable[Subscription], sobject: str) -> list[str]:
    """The fields an update event of ``sobject`` must carry even when unchanged: the watched field
    of its field matched subscriptions (``params.field``: ``equals`` is then decided by the relay
    from every update, without a prompt poll), then those the subscriptions name in ``fields``
    (an update event carries only the changed fields otherwise). Subscriptions with every field
    (``fields`` null) add none. Watched fields come first: they survive the cap."""
    mine = [s for s in subscriptions if s.sobject.lower() == sobject.lower()]
    watched = [str(s.params.get("field") or "") for s in mine if s.kind == TriggerKind.FIELD_MATCHED.value]
    named = [name for sub in mine for name in sub.fields or ()]
    seen: dict[str, str] = {}
    for name in [*sorted(watched, key=str.lower), *sorted(named, key=str.lower)]:
        if name and name.lower() not in _ALWAYS_IN_EVENTS and "." not in name:
            seen.setdefault(name.lower(), name)
    return list(seen.values())[:MAX_ENRICHED_FIELDS]


def _polled_triggers(subscriptions: Iterable[Subscription], sobject: str) -> list[str]:
    """Entered list views, and field matched ``changed_to`` (History or the snapshot decides it):
    read by polls, the prompt ones the relay asks for."""
    return sorted(
        {
            s.trigger
            for s in subscriptions
            if s.sobject.lower() == sobject.lower() and (s.kind in POLLED_KINDS or not relay.relayable(s))
        }
    )


def _member_name(channel_name: str, sobject: str) -> str:
    # Salesforce's own convention: <channel>_chn_<entity> (a custom entity's "__" made single).
    return f"{channel_name.removesuffix('__chn')}_chn_{change_event_name(sobject).replace('__', '_')}"


def _sobject_of(entity: str) -> str:
    """``AccountChangeEvent`` -> Account, ``Invoice__ChangeEvent`` -> Invoice__c."""
    if entity.endswith("__ChangeEvent"):
        return entity.removesuffix("__ChangeEvent") + "__c"
    return entity.removesuffix("ChangeEvent")


def _sf_text(exc: SalesforceError) -> str:
    return f"{exc.error_code}: {exc.message}"[:500]


@dataclass(frozen=True)
class RealtimePorts:
    connections: ConnectionRepository
    subscriptions: Callable[[str], list[Subscription]]
    """The connection's subscriptions (enriched fields, the triggers that stay polled)."""
    bindings: RelayBindings
    bus: PartnerBus
    queue_arn: str | None
    """The stack's relay queue (``RELAY_QUEUE_ARN``); None: this deployment has none."""
    usage: ApiUsageRecorder | None = None
    source_wait_seconds: float = 6.0
    stats: RelayStats | None = None
    """The relay's figures and the last reconciliation's (GET's ``relay``; None: not shown)."""
    sleep: Callable[[float], None] = time.sleep


@dataclass
class _Run:
    """One request's steps and what it created (undone in reverse on a refusal)."""

    tooling: ToolingApi
    steps: list[SetupStep] = field(default_factory=list)
    created: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, id, step name) of the org objects this request created."""

    def step(self, name: str, status: Any, **extra: Any) -> SetupStep:
        step = SetupStep(name=name, status=status, **extra)
        self.steps.append(step)
        return step

    def create(
        self, type_name: str, step: str, full_name: str, metadata: dict[str, Any], target: str | None = None
    ) -> str:
        """Create (or adopt one of the same developer name, made by an earlier request that did
        not live to store it)."""
        try:
            record_id = self.tooling.create(type_name, full_name, metadata)
        except SalesforceError as exc:
            if exc.error_code not in ("DUPLICATE_DEVELOPER_NAME", "DUPLICATE_VALUE"):
                raise
            rows = self.tooling.query(type_name, ["Id"], Eq("DeveloperName", full_name.removesuffix("__chn")))
            if not rows:
                raise
            record_id = str(rows[0]["Id"])
            self.step(step, "exists", id=record_id, target=target or full_name)
            return record_id
        self.created.append((type_name, record_id, step))
        self.step(step, "created", id=record_id, target=target or full_name)
        return record_id

    def rollback(self) -> None:
        for type_name, record_id, step in reversed(self.created):
            try:
                self.tooling.delete(type_name, record_id)
            except SalesforceError as exc:
                self.step(step, "failed", id=record_id, error=f"not rolled back: {_sf_text(exc)}")
                logger.warning(
                    "Realtime rollback: %s %s not deleted (%s)", type_name, record_id, exc.error_code
                )
                continue
            self.step(step, "rolled_back", id=record_id)
        self.created.clear()


class RealtimeSetupService:
    """``PUT``/``GET``/``DELETE /connections/{cid}/realtime`` over the Tooling API, EventBridge and
    the state table. The route passes the connection's Salesforce client (its tenant checked)."""

    def __init__(self, ports: RealtimePorts) -> None:
        self._ports = ports

    def _record(self, connection_id: str) -> ConnectionRecord:
        record = self._ports.connections.require(connection_id)
        if record.status == "pending":
            raise ConnectionPendingError(connection_id)
        return record

    def _usage(self, connection_id: str, client: SalesforceClient) -> None:
        if self._ports.usage is not None:
            self._ports.usage.record(connection_id, client.limit_info)

    # ---- PUT -------------------------------------------------------------------------------------

    def put(
        self, connection_id: str, request: RealtimeInput, client: SalesforceClient
    ) -> RealtimeSetupResult:
        if not request.enabled:
            deleted = self.delete(connection_id, client)
            state = RealtimeState(enabled=False, requested=request.objects)
            return RealtimeSetupResult(connection_id=connection_id, realtime=state, steps=deleted.steps)
        record = self._record(connection_id)
        queue_arn, region, account = queue_endpoint(self._ports.queue_arn)
        previous = record.realtime
        run = _Run(ToolingApi(client))
        subscriptions = self._ports.subscriptions(connection_id)
        if (
            previous is not None
            and previous.channel_id is not None
            and previous.managed != (request.manual is None)
        ):
            # One connection, one relay: switching between a hand-made one and the connector's
            # goes through DELETE (which leaves a hand-made relay's Salesforce objects in place).
            raise RealtimeUnavailableError(
                "This connection relays "
                + ("a channel set up by hand" if not previous.managed else "the connector's own channel")
                + f": DELETE /connections/{connection_id}/realtime first.",
                salesforce_code=None,
                steps=(),
                fields=["manual"],
            )
        if request.manual is not None:
            from sfconnector.triggers.realtime_manual import hand_made_state

            state = hand_made_state(
                run.tooling, request, request.manual, record.org_id, subscriptions, run.steps
            )
            state = self._aws_side(connection_id, state, previous, queue_arn, run, manual=request.manual)
            return self._store(connection_id, state, run, client)
        try:
            state = self._org_side(connection_id, request, previous, subscriptions, region, account, run)
        except SalesforceError as exc:
            run.rollback()
            if exc.status != 403 and exc.error_code not in _ORG_REFUSALS:
                raise
            self._usage(connection_id, client)
            raise RealtimeUnavailableError(
                f"Salesforce refused real-time triggers for this org ({exc.error_code}: {exc.message}); "
                "nothing was left behind and the connection keeps polling.",
                salesforce_code=exc.error_code,
                steps=run.steps,
            ) from None
        except Exception:
            run.rollback()
            raise
        if state.source_name is not None:
            try:
                state = self._aws_side(connection_id, state, previous, queue_arn, run)
            except Exception:
                run.rollback()  # the org side this request made: nothing half-made stays
                raise
        elif previous is not None and previous.source_name is not None:
            self._dissociate(previous.source_name, connection_id, run, remove_bus=previous.event_bus_owned)
        return self._store(connection_id, state, run, client)

    def _store(
        self, connection_id: str, state: RealtimeState, run: _Run, client: SalesforceClient
    ) -> RealtimeSetupResult:
        stored = self._ports.connections.update(connection_id, realtime=state).realtime or state
        self._usage(connection_id, client)
        logger.info(
            "Connection %s: realtime set up (%d relayed, %d polled, association %s, %d Salesforce calls)",
            connection_id, len(stored.relayed()), len(stored.objects) - len(stored.relayed()),
            stored.association, client.api_calls,
        )  # fmt: skip
        return RealtimeSetupResult(connection_id=connection_id, realtime=stored, steps=run.steps)

    def _org_side(
        self,
        connection_id: str,
        request: RealtimeInput,
        previous: RealtimeState | None,
        subscriptions: list[Subscription],
        region: str,
        account: str,
        run: _Run,
    ) -> RealtimeState:
        names = org_names(connection_id)
        tooling = run.tooling
        # Objects CDC never covers: no channel, no call.
        candidates = [o for o in request.objects if o.lower() not in CDC_UNSUPPORTED]
        outcome: dict[str, RealtimeObject] = {
            o.lower(): RealtimeObject(
                sobject=o, mode="polling", reason="unsupported", error="Change Data Capture does not cover it"
            )
            for o in request.objects
            if o.lower() in CDC_UNSUPPORTED
        }
        for o in request.objects:
            if o.lower() in CDC_UNSUPPORTED:
                run.step(
                    "member",
                    "skipped",
                    target=o,
                    error="unsupported by Change Data Capture: stays on polling",
                )

        channel_id = previous.channel_id if previous else None
        made_channel = False
        if channel_id is not None and tooling.get(CHANNEL, channel_id) is not None:
            run.step("channel", "exists", id=channel_id, target=names["channel"])
        elif candidates:
            channel_id = run.create(
                CHANNEL,
                "channel",
                names["channel"],
                {"channelType": "data", "label": f"sfconnector {connection_id}"[:80]},
            )
            made_channel = bool(run.created)  # else adopted by name: it may have members
        else:
            channel_id = None

        members: dict[str, dict[str, Any]] = {}
        if channel_id is not None and not made_channel:
            # (A channel this request made has no members yet: no call.)
            rows = tooling.query(
                MEMBER, ["Id", "DeveloperName", "SelectedEntity"], Eq("EventChannel", channel_id)
            )
            members = {str(r.get("SelectedEntity") or "").lower(): r for r in rows}
        wanted = {change_event_name(o).lower(): o for o in candidates}
        # Removals first: they free the org's CDC allocation for this request's additions.
        for entity, row in members.items():
            if entity not in wanted:
                tooling.delete(MEMBER, str(row["Id"]))
                run.step(
                    "member", "deleted", id=str(row["Id"]), target=_sobject_of(str(row.get("SelectedEntity")))
                )
        previous_fields = {o.sobject.lower(): o.enriched_fields for o in previous.objects} if previous else {}
        allocation_error: str | None = None
        for sobject in candidates:
            entity = change_event_name(sobject)
            fields = enriched_fields(subscriptions, sobject)
            polled = _polled_triggers(subscriptions, sobject)
            metadata: dict[str, Any] = {"eventChannel": names["channel"], "selectedEntity": entity}
            if fields:
                metadata["enrichedFields"] = [{"name": f} for f in fields]
            existing = members.get(entity.lower())
            member_name = _member_name(names["channel"], sobject)
            if existing is not None:
                member_id = str(existing["Id"])
                if previous_fields.get(sobject.lower()) != fields:
                    tooling.update(MEMBER, member_id, metadata)
                    run.step("member", "updated", id=member_id, target=sobject)
                else:
                    run.step("member", "exists", id=member_id, target=sobject)
            elif allocation_error is not None:
                # The allocation is org-wide: once full, another create would be refused too.
                outcome[sobject.lower()] = RealtimeObject(
                    sobject=sobject, mode="polling", reason="allocation", error=allocation_error
                )
                run.step(
                    "member", "skipped", target=sobject, error="beyond the CDC allocation: stays on polling"
                )
                continue
            else:
                try:
                    member_id = run.create(MEMBER, "member", member_name, metadata, target=sobject)
                except SalesforceError as exc:
                    if exc.error_code == "LIMIT_EXCEEDED":
                        allocation_error = _sf_text(exc)
                        reason = "allocation"
                    elif exc.status == 400 and exc.error_code in _NOT_SUPPORTED_CODES:
                        reason = (
                            "unsupported" if "selectedEntity" in exc.fields or not exc.fields else "refused"
                        )
                    else:
                        raise
                    outcome[sobject.lower()] = RealtimeObject(
                        sobject=sobject, mode="polling", reason=reason, error=_sf_text(exc)
                    )
                    run.step("member", "skipped", target=sobject, error=_sf_text(exc))
                    continue
            outcome[sobject.lower()] = RealtimeObject(
                sobject=sobject,
                mode="relayed",
                member_id=member_id,
                member_name=member_name,
                enriched_fields=fields,
                polled_triggers=polled,
            )
        objects = [outcome[o.lower()] for o in request.objects]
        state = RealtimeState(
            enabled=True,
            requested=list(request.objects),
            objects=objects,
            reconcile_seconds=request.reconcile_minutes * 60,
            poll_minutes=request.poll_minutes,
            prompt_minutes=request.prompt_minutes,
            updated_at=datetime.now(UTC).replace(microsecond=0),
        )
        if not any(o.mode == "relayed" for o in objects):
            # Nothing to relay: no relay either (what existed is taken down, the rest polls).
            if previous is not None:
                self._org_teardown(previous, run)
            elif channel_id is not None:
                tooling.delete(CHANNEL, channel_id)
                run.step("channel", "deleted", id=channel_id)
            run.created.clear()
            return state

        credential_id = self._credential(names, previous, region, account, run)
        config_id = self._relay_config(names, previous, run)
        feedback = self._feedback(tooling, config_id)
        source = feedback.remote_resource if feedback else None
        run.step(
            "feedback", "exists" if source else "failed", id=source, error=None if source else "no source yet"
        )
        return state.model_copy(
            update={
                "channel_id": channel_id,
                "channel_name": names["channel"],
                "named_credential_id": credential_id,
                "named_credential_name": names["named_credential"],
                "relay_config_id": config_id,
                "relay_config_name": names["relay_config"],
                "source_name": source,
            }
        )

    def _credential(
        self, names: dict[str, str], previous: RealtimeState | None, region: str, account: str, run: _Run
    ) -> str:
        endpoint = f"arn:aws:{region}:{account}"
        metadata = {
            "endpoint": endpoint,
            "label": names["named_credential"],
            "principalType": "Anonymous",
            "protocol": "NoAuthentication",
        }
        known = previous.named_credential_id if previous else None
        current = run.tooling.get(CREDENTIAL, known) if known else None
        if known is not None and current is not None:
            have = current.get("Endpoint") or (current.get("Metadata") or {}).get("endpoint")
            if have != endpoint:
                run.tooling.update(CREDENTIAL, known, metadata)
                run.step("named_credential", "updated", id=known, target=endpoint)
            else:
                run.step("named_credential", "exists", id=known, target=endpoint)
            return known
        return run.create(CREDENTIAL, "named_credential", names["named_credential"], metadata)

    def _relay_config(self, names: dict[str, str], previous: RealtimeState | None, run: _Run) -> str:
        known = previous.relay_config_id if previous else None
        current = run.tooling.get(CONFIG, known) if known else None
        if known is not None and current is not None:
            state = current.get("State") or (current.get("Metadata") or {}).get("state")
            if state != "RUN":
                run.tooling.update(CONFIG, known, {"state": "RUN"})
                run.step("relay_config", "updated", id=known, target="RUN")
            else:
                run.step("relay_config", "exists", id=known, target="RUN")
            return known
        metadata = {
            "eventChannel": names["channel"],
            "destinationResourceName": f"callout:{names['named_credential']}",
            "label": names["relay_config"],
            "state": "RUN",
            "relayOption": '{"ReplayRecovery":"LATEST"}',
        }
        return run.create(CONFIG, "relay_config", names["relay_config"], metadata)

    @staticmethod
    def _feedback(tooling: ToolingApi, config_id: str) -> RealtimeFeedback | None:
        rows = tooling.query(
            FEEDBACK,
            [
                "Id",
                "Status",
                "RemoteResource",
                "ErrorCode",
                "ErrorMessage",
                "ErrorTime",
                "LastRelayedEventTime",
            ],
            Eq("EventRelayConfigId", config_id),
        )
        if not rows:
            return None
        row = rows[0]

        def text(name: str) -> str | None:
            value = row.get(name)
            return str(value) if value not in (None, "") else None

        return RealtimeFeedback(
            status=text("Status"),
            remote_resource=text("RemoteResource"),
            error_code=text("ErrorCode"),
            error_message=text("ErrorMessage"),
            error_time=text("ErrorTime"),
            last_relayed_event_time=text("LastRelayedEventTime"),
        )

    def _aws_side(
        self,
        connection_id: str,
        state: RealtimeState,
        previous: RealtimeState | None,
        queue_arn: str,
        run: _Run,
        manual: ManualRelay | None = None,
    ) -> RealtimeState:
        source = state.source_name or ""
        if previous is not None and previous.source_name not in (None, source):
            self._dissociate(
                previous.source_name or "", connection_id, run, remove_bus=previous.event_bus_owned
            )
        bus = self._ports.bus
        try:
            if manual is not None and not manual.associate:
                found = bus.bus_arn(source)
                if found is None:
                    raise RealtimeUnavailableError(
                        f"No event bus is associated with {source}: associate it (the stack's "
                        "SalesforcePartnerEventSource parameter, or the console), or PUT "
                        "manual.associate true.",
                        salesforce_code=None,
                        steps=run.steps,
                        fields=["manual.associate"],
                    )
                arn, made = found, False
            else:
                arn, made = self._associate(source)
        except PartnerSourceMissingError:
            run.step(
                "event_bus",
                "failed",
                target=source,
                error="the partner event source is not there yet: PUT again",
            )
            return state.model_copy(update={"association": "pending"})
        run.step("event_bus", "created" if made else "exists", id=arn, target=source)
        try:
            # A hand-made relay's bus may have a rule into the queue already (the stack's
            # RelayRule, the console's): a second one would deliver every event twice.
            others = [] if manual is None else bus.rules_into(source, queue_arn)
            if others and relay_rule_name(source) not in others:
                rule, missing = others[0], False
            elif manual is not None and not manual.associate:
                raise RealtimeUnavailableError(
                    f"No rule on the bus {source} sends to the relay queue {queue_arn}: add one, or PUT "
                    "manual.associate true.",
                    salesforce_code=None,
                    steps=run.steps,
                    fields=["manual.associate"],
                )
            else:
                rule, missing = bus.route(source, queue_arn)
            run.step("rule", "created" if missing else "exists", id=rule, target=queue_arn)
            bound = self._ports.bindings.bind(source, connection_id)
        except Exception as exc:
            if made:  # this request's bus (and rule) go with the rest of what it made
                with contextlib.suppress(Exception):
                    bus.remove_rule(source)
                    bus.remove_bus(source)
            if isinstance(exc, RealtimeUnavailableError):
                raise
            if isinstance(exc, RelayBindingConflictError):
                raise RealtimeUnavailableError(
                    "Another connection relays this org's channel already.",
                    salesforce_code=None,
                    steps=run.steps,
                ) from None
            raise
        run.step("binding", "created" if bound else "exists", target=source)
        # A bus this setup did not create (made by hand, or by the stack's SalesforcePartnerEventSource
        # parameter) outlives a teardown.
        owned = made or (previous is not None and previous.source_name == source and previous.event_bus_owned)
        return state.model_copy(
            update={
                "event_bus_arn": arn,
                "rule_name": rule,
                "association": "associated",
                "event_bus_owned": owned,
            }
        )

    def _associate(self, source: str) -> tuple[str, bool]:
        """Associate the source, waiting (bounded, doubling pauses) for Salesforce to create it."""
        waited, pause = 0.0, 0.25
        while True:
            try:
                return self._ports.bus.associate(source)
            except PartnerSourceMissingError:
                if waited + pause > self._ports.source_wait_seconds:
                    raise
            self._ports.sleep(pause)
            waited += pause
            pause = min(pause * 2, 2.0)

    def _dissociate(self, source: str, connection_id: str, run: _Run, *, remove_bus: bool) -> None:
        bus = self._ports.bus
        run.step("rule", "deleted" if bus.remove_rule(source) else "absent", target=source)
        if remove_bus:
            run.step("event_bus", "deleted" if bus.remove_bus(source) else "absent", target=source)
        else:
            run.step("event_bus", "skipped", target=source, error="not created by this setup: kept")
        unbound = self._ports.bindings.unbind(source, connection_id)
        run.step("binding", "deleted" if unbound else "absent", target=source)

    # ---- GET -------------------------------------------------------------------------------------

    def get(self, connection_id: str, client: SalesforceClient) -> RealtimeView:
        """The stored state, the relay's live status (one Tooling query) and the org's delivery
        usage (the limits resource): two counted Salesforce calls, one without a relay."""
        record = self._record(connection_id)
        state = record.realtime
        feedback = None
        if state is not None and state.relay_config_id is not None:
            feedback = self._feedback(ToolingApi(client), state.relay_config_id)
        limits = client.limits()
        usage = limits.get("DailyDeliveredPlatformEvents")
        delivery = None
        if (
            isinstance(usage, dict)
            and isinstance(usage.get("Max"), int)
            and isinstance(usage.get("Remaining"), int)
        ):
            delivery = DeliveryUsage(
                max=usage["Max"], remaining=usage["Remaining"], used=max(usage["Max"] - usage["Remaining"], 0)
            )
        self._usage(connection_id, client)
        # The relay's own figures: read from the state table, no Salesforce call.
        stats = self._ports.stats
        relay = relay_health.health_view(*stats.read(connection_id)) if stats is not None else None
        return RealtimeView(
            connection_id=connection_id, realtime=state, feedback=feedback, delivery=delivery, relay=relay
        )

    # ---- DELETE ----------------------------------------------------------------------------------

    def delete(self, connection_id: str, client: SalesforceClient) -> RealtimeDeleted:
        """Tear down in reverse (relay config, named credential, members, channel, rule, bus,
        binding); what is already gone is ``absent``, so a second DELETE changes nothing."""
        record = self._ports.connections.require(connection_id)
        state = record.realtime
        run = _Run(ToolingApi(client))
        if state is None:
            return RealtimeDeleted(connection_id=connection_id, deleted=False, steps=[])
        self._org_teardown(state, run)
        if state.source_name is not None:
            self._dissociate(state.source_name, connection_id, run, remove_bus=state.event_bus_owned)
        self._ports.connections.update(connection_id, realtime=None)
        self._usage(connection_id, client)
        logger.info(
            "Connection %s: realtime torn down (%d Salesforce calls)", connection_id, client.api_calls
        )
        return RealtimeDeleted(connection_id=connection_id, deleted=True, steps=run.steps)

    def forget(self, connection_id: str, client: Callable[[], SalesforceClient]) -> None:
        """The connection is being deleted: tear its relay down, never stopping the deletion. The
        AWS side and the binding always go; the org side is attempted (its Salesforce client
        is built only when there is one) and left, logged, when Salesforce refuses (an
        authorisation already revoked)."""
        record = self._ports.connections.get(connection_id)
        state = record.realtime if record is not None else None
        if state is None:
            return
        run = _Run(ToolingApi(client()))  # building the client calls nothing yet
        try:
            self._org_teardown(state, run)
        except (SalesforceError, ConnectorError) as exc:
            logger.warning(
                "Connection %s: its Salesforce relay setup (channel %s) was not deleted (%s); delete it "
                "in Salesforce's Setup",
                connection_id, state.channel_name, type(exc).__name__,
            )  # fmt: skip
        if state.source_name is not None:
            self._dissociate(state.source_name, connection_id, run, remove_bus=state.event_bus_owned)

    @staticmethod
    def _org_teardown(state: RealtimeState, run: _Run) -> None:
        """Relay config, named credential, members, channel: each one's users first (Salesforce
        refuses to delete a channel with members or a credential a relay uses). A relay set up
        by hand stays as its user made it."""
        tooling = run.tooling
        if not state.managed:
            run.step(
                "channel",
                "skipped",
                id=state.channel_id,
                target=state.channel_name,
                error="set up by hand: kept",
            )
            return

        def remove(type_name: str, step: str, record_id: str | None, target: str | None = None) -> None:
            if record_id is None:
                return
            gone = tooling.delete(type_name, record_id)
            run.step(step, "deleted" if gone else "absent", id=record_id, target=target)

        remove(CONFIG, "relay_config", state.relay_config_id, state.relay_config_name)
        remove(CREDENTIAL, "named_credential", state.named_credential_id, state.named_credential_name)
        if state.channel_id is not None and tooling.get(CHANNEL, state.channel_id) is not None:
            # The channel's members as Salesforce has them (one made by a request that did not
            # live to store it would keep the channel from being deleted).
            for row in tooling.query(MEMBER, ["Id", "SelectedEntity"], Eq("EventChannel", state.channel_id)):
                remove(MEMBER, "member", str(row["Id"]), _sobject_of(str(row.get("SelectedEntity") or "")))
            remove(CHANNEL, "channel", state.channel_id, state.channel_name)
        elif state.channel_id is not None:
            run.step("channel", "absent", id=state.channel_id, target=state.channel_name)
