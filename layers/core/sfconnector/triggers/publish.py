"""A poll cycle's publishing (the I/O shell's publish): trigger events as SNS messages (PublishBatch
through the batch publisher: 10 entries and 256 KiB per request, a claim check past 256 KiB), what
SNS refuses kept in the outbox with its id, and the outbox re-sent first each cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sfconnector.events import BatchEventPublisher, OutboundMessage
from sfconnector.models.subscriptions import Subscription
from sfconnector.models.tenancy import tenant_prefix
from sfconnector.models.trigger_events import TriggerEvent
from sfconnector.stores.outbox import OutboxEntry, OutboxStore
from sfconnector.triggers.decide import Fire
from sfconnector.triggers.ports import PollerSettings, PollReport

if TYPE_CHECKING:
    from sfconnector.stores.connections import ConnectionRecord

__all__ = ["Sender"]

logger = logging.getLogger(__name__)


class Sender:
    def __init__(
        self,
        connection: ConnectionRecord,
        publisher: BatchEventPublisher,
        outbox: OutboxStore,
        *,
        settings: PollerSettings,
        report: PollReport,
        now: float,
    ) -> None:
        self.connection = connection
        self.cid = connection.connection_id
        self.publisher = publisher
        self.outbox = outbox
        self.settings = settings
        self.report = report
        self.now = now

    def send(self, fires: Sequence[Fire]) -> set[str]:
        """Publish the events; returns the ids that went out: SNS accepted them, or (refused
        after the publisher's retries) the outbox keeps them for the next cycles."""
        messages = [self.message(sub, event) for sub, event in fires]
        if not messages:
            return set()
        outcome = self.publisher.publish_batch(messages)
        self.report.sns_requests += outcome.calls
        self.report.events_published += len(outcome.accepted)
        refused = [m for m in messages if m.id not in outcome.accepted]
        self.report.events_failed += len(refused)
        if refused:
            self._keep(refused)
        return {m.id for m in messages}

    def resend_outbox(self) -> None:
        """Send again, with their ids, the events SNS refused in earlier cycles (they do not wait
        for their rows to come back: the streams moved past them when they were kept)."""
        entries, broken = self.outbox.load(self.cid, limit=self.settings.outbox_per_cycle)
        if broken:
            self.report.dynamodb_writes += self.outbox.delete(self.cid, broken)
        if not entries:
            return
        outcome = self.publisher.publish_batch(
            [
                OutboundMessage(id=e.id, body=e.body, attributes=e.attributes, claim_key=e.claim_key)
                for e in entries
            ]
        )
        self.report.sns_requests += outcome.calls
        sent = [e for e in entries if e.id in outcome.accepted]
        self.report.outbox_resent += len(sent)
        self.report.events_published += len(sent)
        self.report.dynamodb_writes += self.outbox.delete(self.cid, [k for e in sent for k in e.stored_keys])
        self._count_outbox([e for e in entries if e.id not in outcome.accepted])

    def _keep(self, refused: list[OutboundMessage]) -> None:
        """Refused events go to the outbox before the stream state that moves past them is
        committed (a crash in between re-decides them with the same ids)."""
        entries = [
            OutboxEntry(
                id=m.id, body=m.body, attributes=m.attributes, claim_key=m.claim_key, created_at=int(self.now)
            )
            for m in refused
        ]
        self.report.dynamodb_writes += self.outbox.save(self.cid, entries)
        self._count_outbox(entries)

    def _count_outbox(self, kept: list[OutboxEntry]) -> None:
        if not kept:
            return
        self.report.outbox_kept += len(kept)
        oldest = max(0.0, self.now - min(e.created_at for e in kept))
        self.report.outbox_oldest_seconds = max(self.report.outbox_oldest_seconds or 0.0, oldest)
        stale = [e for e in kept if self.now - e.created_at > self.settings.outbox_max_age_seconds]
        if stale:
            self.report.outbox_stale += len(stale)
            logger.error(
                "%d trigger events of %s were refused by SNS more than %d s ago and are still in the outbox",
                len(stale), self.cid, self.settings.outbox_max_age_seconds,
            )  # fmt: skip

    def message(self, sub: Subscription, event: TriggerEvent) -> OutboundMessage:
        tenant = self.connection.tenant_id
        claims = tenant_prefix(tenant)  # large events' claim checks under the tenant's prefix
        return OutboundMessage(
            id=event.id,
            body=event.model_copy(update={"tenant_id": tenant}).to_json_dict(),
            attributes={
                "trigger": sub.trigger,
                "connection_id": self.cid,
                "tenant_id": tenant or "",
                "subscription_id": sub.subscription_id,
                "sobject": sub.sobject,
                "event_type": event.event_type,
            },
            claim_key=f"{claims}trigger-events/{self.cid}/{event.id}.json",
        )
