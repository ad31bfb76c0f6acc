"""Campaign membership rules of the emulated org (called by :class:`sfemulator.dml.Dml`).

What a real org does with a CampaignMember write:
* a member is a lead or a contact (at least one of ``LeadId`` / ``ContactId``); a converted lead
  cannot be added (``CANNOT_UPDATE_CONVERTED_LEAD``, as for any reference to a converted lead);
* one member per (campaign, lead) and per (campaign, contact): a second insert is refused with
  ``DUPLICATE_VALUE`` "Already a campaign member." (the connector's "add" turns that into an update);
* ``Status`` must be one of the campaign's member statuses (default "Sent"); ``HasResponded``
  follows the status, ``FirstRespondedDate`` is the day it first did;
* the member copies its person's name, title, email, phone, lead source and company (read-only
  fields on CampaignMember), and the campaign's counters (NumberOfLeads, NumberOfContacts,
  NumberOfResponses) follow its members.

Member statuses are per campaign in Salesforce (CampaignMemberStatus rows). The emulator models the
set every new campaign gets plus the two other labels of its describe: ``MEMBER_STATUSES``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sfemulator.errors import ApiError

if TYPE_CHECKING:
    from sfemulator.dml import Dml
    from sfemulator.store import Record

__all__ = [
    "MEMBER_STATUSES",
    "RESPONDED_STATUSES",
    "converted_lead_error",
    "member_after_delete",
    "member_after_write",
    "member_before_write",
]

MEMBER_STATUSES = ("Sent", "Responded", "Planned", "Received")
RESPONDED_STATUSES = frozenset({"Responded"})
_COPIED = ("Salutation", "FirstName", "LastName", "Name", "Title", "Email", "Phone", "LeadSource")


def converted_lead_error() -> ApiError:
    # The body of a real org's refusal (captured: error.composite-sobjects-CANNOT_UPDATE_CONVERTED_LEAD).
    return ApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])


def member_before_write(dml: Dml, rec: Record, old: Record | None, ts: str) -> None:
    lead_id, contact_id = rec.get("LeadId"), rec.get("ContactId")
    if old is None:
        if lead_id is None and contact_id is None:
            raise ApiError(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId, LeadId]",
                ["ContactId", "LeadId"],
            )  # fmt: skip
        lead = dml.record(lead_id)
        if lead is not None and lead.get("IsConverted"):
            raise converted_lead_error()
        _check_duplicate(dml, rec)
    status = rec.get("Status") or MEMBER_STATUSES[0]
    if status not in MEMBER_STATUSES:
        raise ApiError(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            f"Member Status: bad value for the campaign's member statuses: {status} "
            f"(statuses: {', '.join(MEMBER_STATUSES)})",
            ["Status"],
        )
    rec["Status"] = status
    responded = status in RESPONDED_STATUSES
    rec["HasResponded"] = responded
    if responded and not rec.get("FirstRespondedDate"):
        rec["FirstRespondedDate"] = ts[:10]
    person = dml.record(contact_id) or dml.record(lead_id)
    if person is not None:
        for name in _COPIED:
            rec[name] = person.get(name)
        is_contact = contact_id is not None and dml.record(contact_id) is not None
        rec["Type"] = "Contact" if is_contact else "Lead"
        rec["LeadOrContactId"] = contact_id if is_contact else lead_id
        rec["LeadOrContactOwnerId"] = person.get("OwnerId")
        if is_contact:
            account = dml.record(person.get("AccountId"))
            rec["CompanyOrAccount"] = account.get("Name") if account else None
        else:
            rec["CompanyOrAccount"] = person.get("Company")


def _check_duplicate(dml: Dml, rec: Record) -> None:
    for other in dml.data.iter("CampaignMember", include_deleted=False):
        if other.get("CampaignId") != rec.get("CampaignId"):
            continue
        same_lead = rec.get("LeadId") is not None and other.get("LeadId") == rec.get("LeadId")
        same_contact = rec.get("ContactId") is not None and other.get("ContactId") == rec.get("ContactId")
        if same_lead or same_contact:
            raise ApiError(400, "DUPLICATE_VALUE", "Already a campaign member.", [])


def member_after_write(dml: Dml, rec: Record) -> None:
    _count(dml, rec.get("CampaignId"))


def member_after_delete(dml: Dml, rec: Record) -> None:
    _count(dml, rec.get("CampaignId"))


def _count(dml: Dml, campaign_id: Any) -> None:
    """The campaign's roll-up counters (no audit stamp: Salesforce's roll-ups do not touch it)."""
    campaign = dml.record(campaign_id)
    if campaign is None:
        return
    members = [
        m
        for m in dml.data.iter("CampaignMember", include_deleted=False)
        if m.get("CampaignId") == campaign_id
    ]
    updated = dict(campaign)
    updated["NumberOfLeads"] = sum(1 for m in members if m.get("LeadId") is not None)
    updated["NumberOfContacts"] = sum(1 for m in members if m.get("ContactId") is not None)
    updated["NumberOfResponses"] = sum(1 for m in members if m.get("HasResponded"))
    updated["NumberOfConvertedLeads"] = sum(
        1 for m in members if (lead := dml.record(m.get("LeadId"))) is not None and lead.get("IsConverted")
    )
    if updated != campaign:
        dml.data.put("Campaign", updated)
