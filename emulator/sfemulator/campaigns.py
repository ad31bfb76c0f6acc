"""Campaign membership rules of the emulated org (called by :class:`sfemulator.dml.Dml`).

What a real org does with a CampaignMember write:
* a member is a lead or a contact (at least one of ``LeadId`` / ``ContactId``); a converted lead
  cannot be added (``CANNOT_UPDATE_CONVERTED_LEAD``, as for any reference to a converted lead);
* one member per (campaign, lead) and per (campaign, contact): a second insert is refused with
  ``DUPLICATE_VALUE`` "Already a campaign member." (the connector's "add" turns that into an update);
* ``Status`` must be one of the campaign's member statuses (its CampaignMemberStatus rows: a new
  campaign gets "Sent", the default, and "Responded"; default: the campaign's IsDefault one);
  ``HasResponded`` is that status's, ``FirstRespondedDate`` the day the member first responded;
* a campaign's status labels are unique (``DUPLICATE_VALUE``) and one of them is the default;
* the member copies its person's name, title, email, phone, lead source and company (read-only
  fields on CampaignMember), and the campaign's counters (NumberOfLeads, NumberOfContacts,
  NumberOfResponses) follow its members.

``MEMBER_STATUSES`` are the CampaignMember describe's picklist labels (what a campaign without
status rows accepts: none in the demo org, whose campaigns all get theirs on insert).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sfemulator.clock import parse_datetime
from sfemulator.errors import ApiError

if TYPE_CHECKING:
    from sfemulator.dml import Dml
    from sfemulator.store import Record

__all__ = [
    "DEFAULT_STATUSES",
    "MEMBER_STATUSES",
    "RESPONDED_STATUSES",
    "campaign_created",
    "converted_lead_error",
    "member_after_delete",
    "member_after_write",
    "member_before_write",
    "status_after_write",
    "status_before_write",
]

MEMBER_STATUSES = ("Sent", "Responded", "Planned", "Received")
RESPONDED_STATUSES = frozenset({"Responded"})
DEFAULT_STATUSES = (
    {"Label": "Sent", "SortOrder": 1, "IsDefault": True, "HasResponded": False},
    {"Label": "Responded", "SortOrder": 2, "IsDefault": False, "HasResponded": True},
)
"""The member statuses Salesforce gives every new campaign."""
_COPIED = ("Salutation", "FirstName", "LastName", "Name", "Title", "Email", "Phone", "LeadSource")


def converted_lead_error() -> ApiError:
    # The body of a real org's refusal (captured: error.composite-sobjects-CANNOT_UPDATE_CONVERTED_LEAD).
    return ApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])


def member_before_write(dml: Dml, rec: Record, old: Record | None, given: Mapping[str, Any], ts: str) -> None:
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
    statuses = _statuses(dml, rec.get("CampaignId"))
    if statuses:
        labels = [str(s.get("Label")) for s in statuses]
        default = next((str(s["Label"]) for s in statuses if s.get("IsDefault")), labels[0])
        responded_labels = {str(s.get("Label")) for s in statuses if s.get("HasResponded")}
    else:
        labels, default, responded_labels = list(MEMBER_STATUSES), MEMBER_STATUSES[0], set(RESPONDED_STATUSES)
    # The describe's picklist default ("Sent") was filled in on insert: the campaign's own wins.
    status = (rec.get("Status") if old is not None or "Status" in given else None) or default
    if status not in labels:
        raise ApiError(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            f"Member Status: bad value for the campaign's member statuses: {status} "
            f"(statuses: {', '.join(labels)})",
            ["Status"],
        )
    rec["Status"] = status
    responded = status in responded_labels
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


def _statuses(dml: Dml, campaign_id: Any) -> list[Record]:
    rows = [
        s
        for s in dml.data.iter("CampaignMemberStatus", include_deleted=False)
        if s.get("CampaignId") == campaign_id
    ]
    return sorted(rows, key=lambda s: (s.get("SortOrder") or 0, str(s.get("Label"))))


def campaign_created(dml: Dml, campaign: Record, user_id: str) -> None:
    """A new campaign's member statuses, as Salesforce creates them."""
    sobj = dml.schema.sobjects["CampaignMemberStatus"]
    stamp = parse_datetime(str(campaign["CreatedDate"]))
    for status in DEFAULT_STATUSES:
        dml.insert(sobj, {"CampaignId": campaign["Id"], **status}, user_id=user_id, stamp=stamp)


def status_before_write(dml: Dml, rec: Record) -> None:
    for other in _statuses(dml, rec.get("CampaignId")):
        if other["Id"] != rec.get("Id") and other.get("Label") == rec.get("Label"):
            raise ApiError(
                400,
                "DUPLICATE_VALUE",
                f"duplicate value found: Label duplicates value on record with id: {other['Id']}",
                [],
            )


def status_after_write(dml: Dml, rec: Record, ts: str) -> None:
    """One default status per campaign: a new default demotes the previous one."""
    if not rec.get("IsDefault"):
        return
    for other in _statuses(dml, rec.get("CampaignId")):
        if other["Id"] != rec["Id"] and other.get("IsDefault"):
            demoted = dict(other)
            demoted.update(IsDefault=False, LastModifiedDate=ts, SystemModstamp=ts)
            dml.data.put("CampaignMemberStatus", demoted)


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
