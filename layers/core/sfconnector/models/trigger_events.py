"""The trigger event envelope: CloudEvents 1.0 (JSON format) with the connector's extensions.

One envelope per (subscription, record change). ``id`` is deterministic (the same change re-sent
after a crash carries the same id, so subscribers can deduplicate on it); ``type`` is the trigger
key; ``source`` is the org; ``subject`` the record id. ``data`` is the record (trimmed to the
subscription's ``fields``), or absent with ``dataref`` naming the S3 object that holds the whole
envelope when it is larger than SNS accepts (a claim check; nothing is truncated).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TriggerEvent"]


class TriggerEvent(BaseModel):
    """A CloudEvents 1.0 envelope of one record change for one subscription."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(
        description="Stable per subscription and record version: a re-sent event has the same id.",
        examples=["3f1c2b9e8d7a6f5e4d3c2b1a09f8e7d6"],
    )
    type: str = Field(description="The trigger key.", examples=["leads.created"])
    source: str = Field(
        description="The org: `salesforce/<orgId>`.", examples=["salesforce/00DHs00000EmuDmMAC"]
    )
    subject: str = Field(description="The record id.", examples=["00QHs00000AbCdEIAV"])
    time: str = Field(description="When the change happened (its record version), UTC.")
    datacontenttype: Literal["application/json"] = "application/json"
    connection_id: str
    tenant_id: str | None = Field(
        default=None,
        description="The connection's owner tenant (also the `tenant_id` message attribute, for filter "
        "policies); absent for a connection from before tenancy.",
    )
    subscription_id: str
    sobject: str
    event_type: Literal["created", "updated", "deleted", "matched", "entered"] = Field(
        description="The change: created / updated / deleted (field matched and list view entry in part 2)."
    )
    data: dict[str, Any] | None = Field(default=None, description="The record (the subscription's fields).")
    dataref: str | None = Field(
        default=None,
        description="Claim check: `s3://bucket/key` of the whole envelope when it exceeds SNS's 256 KiB "
        "(then `data` is absent).",
    )
    # Field matched (part 2): the watched field's transition.
    old_value: Any = None
    new_value: Any = None
    changed_by: str | None = None
    changed_at: str | None = None
    old_value_from: Literal["snapshot"] | None = Field(
        default=None,
        description="Field matched on a field without history tracking: `snapshot` when the "
        "transition was decided from the connector's snapshot of the field (it keeps a hash, so "
        "`old_value` is absent).",
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The wire form (absent optional attributes left out, as CloudEvents wants)."""
        return self.model_dump(mode="json", exclude_none=True)
