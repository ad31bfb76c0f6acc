"""Lead conversion (the SOAP API's ``convertLead()``) with a real org's validation and effects.

One ``LeadConvert`` either succeeds whole or changes nothing (the org's data is rolled back when a
write fails half-way). What is checked, in Salesforce's terms (``statusCode`` / ``fields`` of the
``errors`` of a failed ``LeadConvertResult``):

* the lead exists and is not converted yet (``CANNOT_UPDATE_CONVERTED_LEAD``);
* ``convertedStatus`` is a LeadStatus whose IsConverted is true (``INVALID_STATUS``);
* ``accountId`` / ``contactId`` / ``ownerId`` name live records of the right object
  (``INVALID_CROSS_REFERENCE_KEY``); a contact needs its account, and must belong to it;
* ``opportunityName`` only with an opportunity (``FIELD_INTEGRITY_EXCEPTION``).

Effects: a new Account from the lead's company (or the given one, whose empty fields are filled),
a new Contact (or the given one, likewise; ``overwriteLeadSource`` replaces its LeadSource), an
Opportunity unless ``doNotCreateOpportunity`` (named ``opportunityName`` or the company, stage
"Prospecting", closing at the end of the quarter) with the contact as its primary contact role;
the lead gets IsConverted, ConvertedDate, Converted{Account,Contact,Opportunity}Id and the status;
its campaign memberships gain the contact (as in a real org).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sfemulator.clock import format_datetime
from sfemulator.errors import ApiError

if TYPE_CHECKING:
    from sfemulator.org import Org
    from sfemulator.store import Record

__all__ = ["CONVERTED_STATUSES", "ConvertFailure", "LeadConvert", "convert_lead"]

CONVERTED_STATUSES = frozenset({"Closed - Converted"})
"""The LeadStatus values with IsConverted = true in a new org (the others are open statuses)."""

_ACCOUNT_FROM_LEAD = {
    "Industry": "Industry", "Phone": "Phone", "Fax": "Fax", "Website": "Website",
    "NumberOfEmployees": "NumberOfEmployees", "AnnualRevenue": "AnnualRevenue", "Rating": "Rating",
    "Street": "BillingStreet", "City": "BillingCity", "State": "BillingState",
    "PostalCode": "BillingPostalCode", "Country": "BillingCountry",
}  # fmt: skip
_CONTACT_FROM_LEAD = {
    "Salutation": "Salutation", "FirstName": "FirstName", "LastName": "LastName", "Title": "Title",
    "Email": "Email", "Phone": "Phone", "MobilePhone": "MobilePhone", "Fax": "Fax",
    "LeadSource": "LeadSource", "Description": "Description", "HasOptedOutOfEmail": "HasOptedOutOfEmail",
    "DoNotCall": "DoNotCall", "Street": "MailingStreet", "City": "MailingCity", "State": "MailingState",
    "PostalCode": "MailingPostalCode", "Country": "MailingCountry",
}  # fmt: skip


@dataclass
class LeadConvert:
    """One ``leadConverts`` element of the request (the SOAP API's field names)."""

    lead_id: str | None = None
    converted_status: str | None = None
    account_id: str | None = None
    contact_id: str | None = None
    owner_id: str | None = None
    opportunity_name: str | None = None
    do_not_create_opportunity: bool = False
    overwrite_lead_source: bool = False
    send_notification_email: bool = False


@dataclass
class ConvertFailure(Exception):
    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)


def _fail(code: str, message: str, *fields: str) -> ConvertFailure:
    return ConvertFailure(code, message, list(fields))


def convert_lead(org: Org, request: LeadConvert, user_id: str) -> dict[str, Any]:
    """Convert one lead; returns the ids (accountId, contactId, opportunityId, leadId) or raises
    :class:`ConvertFailure` having changed nothing. The caller holds the org lock."""
    lead = _lead(org, request.lead_id)
    status = request.converted_status
    if not status:
        raise _fail(
            "REQUIRED_FIELD_MISSING", "Required fields are missing: [convertedStatus]", "convertedStatus"
        )
    if status not in CONVERTED_STATUSES:
        raise _fail("INVALID_STATUS", f"invalid convertedStatus: {status}", "convertedStatus")
    account = _live(org, request.account_id, "Account", "accountId")
    contact = _live(org, request.contact_id, "Contact", "contactId")
    owner = _live(org, request.owner_id, "User", "ownerId")
    if owner is not None and not owner.get("IsActive"):
        raise _fail("INVALID_CROSS_REFERENCE_KEY", "owner is not an active user", "ownerId")
    if contact is not None:
        if account is None:
            raise _fail(
                "REQUIRED_FIELD_MISSING", "accountId must be specified if contactId is not null", "accountId"
            )
        if contact.get("AccountId") != account["Id"]:
            raise _fail(
                "INVALID_CROSS_REFERENCE_KEY",
                "contact is not associated with the specified account",
                "contactId",
            )
    if request.do_not_create_opportunity and request.opportunity_name:
        raise _fail(
            "FIELD_INTEGRITY_EXCEPTION",
            "opportunityName must be blank when doNotCreateOpportunity is true",
            "opportunityName",
        )  # fmt: skip
    owner_id = owner["Id"] if owner is not None else lead.get("OwnerId") or user_id
    org.data.begin()
    try:
        ids = _convert(org, lead, request, status, account, contact, str(owner_id), user_id)
    except ApiError as exc:
        org.data.rollback()
        raise _fail(exc.error_code, exc.message, *(exc.fields or [])) from None
    except BaseException:
        org.data.rollback()
        raise
    org.data.commit()
    return ids


def _lead(org: Org, lead_id: str | None) -> Record:
    if not lead_id:
        raise _fail("REQUIRED_FIELD_MISSING", "Required fields are missing: [leadId]", "leadId")
    found = org.data.get(lead_id)
    if found is None or found[0] != "Lead" or found[1].get("IsDeleted"):
        raise _fail("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", "leadId")
    if found[1].get("IsConverted"):
        raise _fail("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
    return found[1]


def _live(org: Org, record_id: str | None, sobject: str, name: str) -> Record | None:
    if not record_id:
        return None
    found = org.data.get(record_id)
    if found is None or found[0] != sobject or found[1].get("IsDeleted"):
        raise _fail("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", name)
    return found[1]


def _copy(lead: Mapping[str, Any], mapping: Mapping[str, str], fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        target: lead.get(source)
        for source, target in mapping.items()
        if target in fields and lead.get(source) not in (None, "")
    }


def _fill_empty(
    org: Org,
    sobject: str,
    record: Record,
    values: Mapping[str, Any],
    user_id: str,
    overwrite: tuple[str, ...] = (),
) -> None:
    """Merge into an existing record: only its empty fields change (plus ``overwrite``)."""
    changes = {
        k: v for k, v in values.items() if k in overwrite or (record.get(k) in (None, "") and k != "OwnerId")
    }
    sobj = org.schema.sobjects[sobject]
    changes = {k: v for k, v in changes.items() if (f := sobj.field(k)) is not None and f.updateable}
    if changes:
        org.dml.update(sobj, record["Id"], changes, user_id=user_id)


def _quarter_end(today: dt.date) -> dt.date:
    month = ((today.month - 1) // 3 + 1) * 3
    first_of_next = dt.date(today.year + (month == 12), month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


def _convert(
    org: Org,
    lead: Record,
    request: LeadConvert,
    status: str,
    account: Record | None,
    contact: Record | None,
    owner_id: str,
    user_id: str,
) -> dict[str, Any]:
    schema, dml = org.schema.sobjects, org.dml
    company = lead.get("Company") or lead.get("Name")
    account_values = _copy(lead, _ACCOUNT_FROM_LEAD, schema["Account"].fields)
    if account is None:
        account_values.update(Name=company, OwnerId=owner_id)
        account_id = dml.insert(schema["Account"], account_values, user_id=user_id)
    else:
        account_id = account["Id"]
        _fill_empty(org, "Account", account, account_values, user_id)
    contact_values = _copy(lead, _CONTACT_FROM_LEAD, schema["Contact"].fields)
    if contact is None:
        contact_values.update(AccountId=account_id, OwnerId=owner_id)
        contact_id = dml.insert(schema["Contact"], contact_values, user_id=user_id)
    else:
        contact_id = contact["Id"]
        overwrite = ("LeadSource",) if request.overwrite_lead_source and lead.get("LeadSource") else ()
        _fill_empty(org, "Contact", contact, contact_values, user_id, overwrite)
    opportunity_id = None
    if not request.do_not_create_opportunity:
        opp = {
            "Name": request.opportunity_name or company,
            "AccountId": account_id,
            "StageName": "Prospecting",
            "CloseDate": _quarter_end(org.clock.now().date()).isoformat(),
            "OwnerId": owner_id,
        }
        if lead.get("LeadSource"):
            opp["LeadSource"] = lead["LeadSource"]
        opportunity_id = dml.insert(schema["Opportunity"], opp, user_id=user_id)
        dml.insert(
            schema["OpportunityContactRole"],
            {"OpportunityId": opportunity_id, "ContactId": contact_id, "IsPrimary": True},
            user_id=user_id,
        )
    ts = format_datetime(org.clock.now())
    converted = dict(lead)
    converted.update(
        IsConverted=True,
        ConvertedDate=ts[:10],
        ConvertedAccountId=account_id,
        ConvertedContactId=contact_id,
        ConvertedOpportunityId=opportunity_id,
        Status=status,
        LastModifiedDate=ts,
        LastModifiedById=user_id,
        SystemModstamp=ts,
    )
    org.data.put("Lead", converted)
    for member in list(org.data.iter("CampaignMember", include_deleted=False)):
        if member.get("LeadId") == lead["Id"] and member.get("ContactId") is None:
            moved = dict(member)
            moved.update(
                ContactId=contact_id, LastModifiedDate=ts, SystemModstamp=ts, LastModifiedById=user_id
            )
            org.data.put("CampaignMember", moved)
    return {
        "accountId": account_id,
        "contactId": contact_id,
        "leadId": lead["Id"],
        "opportunityId": opportunity_id,
    }
