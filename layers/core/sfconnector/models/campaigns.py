"""Boundary models of lead conversion and campaign membership (loaded by the functions that use them)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from sfconnector.models import SalesforceId, SalesforceRecord, _Strict

__all__ = [
    "AddCampaignMemberInput",
    "CampaignMemberResult",
    "CampaignMembersPage",
    "ConvertLeadInput",
    "ConvertLeadResult",
    "RemoveCampaignMemberResult",
]

# Labels travel in an XML envelope (convertLead): no control character XML 1.0 cannot carry.
XML_TEXT_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F]+$"
_LABEL = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=XML_TEXT_PATTERN)]
MAX_MEMBERS_PAGE = 200

# "Exactly one of lead_id or contact_id" as JSON Schema (the validator below is the check).
_ONE_PERSON: dict[str, Any] = {
    "oneOf": [
        {"required": [a], "properties": {a: {"type": "string"}, b: {"type": "null"}}}
        for a, b in (("lead_id", "contact_id"), ("contact_id", "lead_id"))
    ]
}


class ConvertLeadInput(_Strict):
    """How to convert the lead. Without ``account_id`` / ``contact_id`` Salesforce creates a new
    Account (from the lead's company) and a new Contact; with them, the lead is merged into those
    records (only their empty fields are filled)."""

    converted_status: _LABEL = Field(
        description="A lead status whose IsConverted is true in the org (e.g. `Closed - Converted`)."
    )
    account_id: SalesforceId | None = Field(default=None, description="An existing Account to merge into.")
    contact_id: SalesforceId | None = Field(
        default=None, description="An existing Contact of that account to merge into (needs `account_id`)."
    )
    create_opportunity: bool = Field(default=True, description="Create an Opportunity too.")
    opportunity_name: (
        Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=XML_TEXT_PATTERN)] | None
    ) = Field(
        default=None,
        description="The new opportunity's name (default: the lead's company); only with "
        "`create_opportunity`.",
    )
    owner_id: SalesforceId | None = Field(
        default=None, description="The User who owns the new records (default: the lead's owner)."
    )
    overwrite_lead_source: bool = Field(
        default=False,
        description="Replace the existing contact's Lead Source with the lead's (needs `contact_id`).",
    )
    send_notification_email: bool = Field(default=False, description="Email the new owner.")


class ConvertLeadResult(BaseModel):
    lead_id: str
    account_id: str
    contact_id: str
    opportunity_id: str | None = Field(description="None when no opportunity was created.")


class AddCampaignMemberInput(_Strict):
    """A lead or a contact (exactly one) to add to the campaign, with its member status."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_PERSON)

    lead_id: SalesforceId | None = Field(default=None, description="The Lead to add.")
    contact_id: SalesforceId | None = Field(default=None, description="The Contact to add.")
    status: _LABEL | None = Field(
        default=None,
        description="One of the campaign's member statuses (e.g. `Sent`, `Responded`); default: the "
        "campaign's default status. An existing member keeps its status when none is given.",
    )

    @model_validator(mode="after")
    def _one_person(self) -> AddCampaignMemberInput:
        if (self.lead_id is None) == (self.contact_id is None):
            raise ValueError("give exactly one of lead_id or contact_id")
        return self


class CampaignMemberResult(BaseModel):
    """The membership as Salesforce stores it after the action."""

    id: str
    created: bool = Field(description="True when the person became a member, false when already one.")
    record: SalesforceRecord


class RemoveCampaignMemberResult(BaseModel):
    id: str | None = Field(description="The CampaignMember removed (None when there was none).")
    removed: bool = Field(description="False when the person was not a member (nothing to do).")


class CampaignMembersPage(BaseModel):
    campaign_id: str
    members: list[SalesforceRecord]
    next_page_token: str | None = Field(
        description="Send it as `page_token` for the next members; None on the last page."
    )
