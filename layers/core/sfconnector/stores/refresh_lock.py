"""A short-lived DynamoDB lock so that concurrent invocations refresh a connection's token once.

``CONNECTION#<cid>`` / ``REFRESH_LOCK``, an :class:`~sfconnector.stores.locks.ItemLock`: written
with a condition (absent, or expired); the item carries a TTL so a crashed holder never blocks
refreshes for longer than ``ttl_seconds``.
"""

from __future__ import annotations

from sfconnector.stores.locks import ItemLock

__all__ = ["LOCK_SK", "RefreshLock"]

LOCK_SK = "REFRESH_LOCK"


class RefreshLock(ItemLock):
    """Per-connection mutual exclusion across Lambda invocations."""

    def acquire(self, connection_id: str) -> str | None:
        """Take the lock; returns an owner token, or None when another holder has it."""
        return self.take((f"CONNECTION#{connection_id}", LOCK_SK))

    def release(self, connection_id: str, owner: str) -> None:
        """Release the lock if this owner still holds it (a stale holder never frees a new one)."""
        self.give_back((f"CONNECTION#{connection_id}", LOCK_SK), owner)
