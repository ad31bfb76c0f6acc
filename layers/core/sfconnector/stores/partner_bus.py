"""The AWS side of a Salesforce Event Relay: the partner event bus and its rule into the relay queue.

Salesforce creates the partner event source (``aws.partner/salesforce.com/<orgId>/<channelId>``) in
the account and region of the relay's Named Credential; events reach nobody until a bus of the
same name is associated with it (``CreateEventBus`` with ``EventSourceName``). One rule on that bus
sends every event to the stack's relay queue. The EventBridge client is built on first use.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from sfconnector.models.realtime import PARTNER_SOURCE_PREFIX

EventBridgeClient = Any
"""boto3's ``events`` client (the project has no type stubs for it)."""

__all__ = ["RELAY_TARGET_ID", "PartnerBus", "PartnerSourceMissingError", "relay_rule_name"]

RELAY_TARGET_ID = "relay-queue"


def relay_rule_name(source_name: str) -> str:
    """The rule on a partner bus (64 characters at most: a hash of the source keeps it unique)."""
    return f"sfconnector-relay-{hashlib.sha256(source_name.encode()).hexdigest()[:24]}"


class PartnerSourceMissingError(Exception):
    """The partner event source does not exist (yet): Salesforce creates it shortly after the relay
    config, in the account and region the Named Credential names."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "")


class PartnerBus:
    """Associate / dissociate partner event sources of one account and region."""

    def __init__(self, events: EventBridgeClient | Callable[[], EventBridgeClient]) -> None:
        self._source = events
        self._client: EventBridgeClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> EventBridgeClient:
        with self._lock:
            if self._client is None:
                source = self._source
                self._client = source() if callable(source) else source
            return self._client

    @staticmethod
    def _check(source_name: str) -> str:
        if not source_name.startswith(PARTNER_SOURCE_PREFIX):
            raise ValueError(f"{source_name[:80]!r} is not a Salesforce partner event source")
        return source_name

    def bus_arn(self, source_name: str) -> str | None:
        """The bus associated with the source (None: not associated)."""
        try:
            return str(self.client.describe_event_bus(Name=self._check(source_name))["Arn"])
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise

    def associate(self, source_name: str) -> tuple[str, bool]:
        """(the bus ARN, whether this call created it); :class:`PartnerSourceMissingError` when
        the source is not there (yet)."""
        existing = self.bus_arn(source_name)
        if existing is not None:
            return existing, False
        try:
            created = self.client.create_event_bus(Name=source_name, EventSourceName=source_name)
        except ClientError as exc:
            if _code(exc) == "ResourceAlreadyExistsException":
                return self.bus_arn(source_name) or "", False
            if _code(exc) == "ResourceNotFoundException":
                raise PartnerSourceMissingError(source_name) from None
            raise
        return str(created["EventBusArn"]), True

    def route(self, source_name: str, queue_arn: str) -> tuple[str, bool]:
        """The rule sending the bus's events to ``queue_arn`` (put again: the same rule); (its
        name, whether it was missing before)."""
        name = relay_rule_name(self._check(source_name))
        try:
            self.client.describe_rule(Name=name, EventBusName=source_name)
            missing = False
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            missing = True
        pattern: dict[str, Any] = {"source": [source_name]}
        self.client.put_rule(
            Name=name,
            EventBusName=source_name,
            EventPattern=json.dumps(pattern),
            State="ENABLED",
            Description="Salesforce change events into the connector's relay queue",
        )
        self.client.put_targets(
            Rule=name, EventBusName=source_name, Targets=[{"Id": RELAY_TARGET_ID, "Arn": queue_arn}]
        )
        return name, missing

    def rules_into(self, source_name: str, queue_arn: str) -> list[str]:
        """The rules on the source's bus that send to ``queue_arn`` (any name: the stack's own,
        one made in the console, the connector's)."""
        names: list[str] = []
        kwargs: dict[str, Any] = {"TargetArn": queue_arn, "EventBusName": self._check(source_name)}
        while True:
            try:
                page = self.client.list_rule_names_by_target(**kwargs)
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    return []
                raise
            names += page.get("RuleNames", [])
            if not page.get("NextToken"):
                return sorted(names)
            kwargs["NextToken"] = page["NextToken"]

    def remove_rule(self, source_name: str) -> bool:
        """Delete the rule (its target first, as EventBridge requires); False when it was gone."""
        name = relay_rule_name(self._check(source_name))
        try:
            self.client.remove_targets(Rule=name, EventBusName=source_name, Ids=[RELAY_TARGET_ID])
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return False
            raise
        try:
            self.client.delete_rule(Name=name, EventBusName=source_name)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    def remove_bus(self, source_name: str) -> bool:
        """Dissociate (delete the partner bus); False when there was none."""
        if self.bus_arn(source_name) is None:
            return False
        self.client.delete_event_bus(Name=source_name)
        return True
