"""Lead conversion and campaign membership: the services behind ``leads.convert`` and the
``campaigns`` family's member actions.

Costs (Salesforce API calls, counted in tests/integration/actions/test_campaigns.py):

* convert: ONE call (the SOAP API's ``convertLead``; ids are checked here first, for free);
* add member: ONE call when the person is new to the campaign, or already a member with that status
  (a Composite: the create, then the member read back, which is the existing member when the
  create was refused as a duplicate); TWO when an existing member's status changes;
* remove member: ONE call by CampaignMember id, TWO by lead / contact id (find, then delete);
* list members: ONE call per page (keyset on Id: no OFFSET limit, stable under inserts).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from sfconnector.actions.errors import InvalidInputError, RecordNotFoundError
from sfconnector.errors import ConnectorError, Fault, FieldProblem, FieldValidationError
from sfconnector.models.campaigns import (
    MAX_MEMBERS_PAGE,
    AddCampaignMemberInput,
    CampaignMemberResult,
    CampaignMembersPage,
    ConvertLeadInput,
    ConvertLeadResult,
    RemoveCampaignMemberResult,
)
from sfconnector.salesforce import soql
from sfconnector.salesforce.client import SalesforceClient
from sfconnector.salesforce.composite import CompositeRequest
from sfconnector.salesforce.errors import SalesforceError, SalesforceErrorItem
from sfconnector.salesforce.ids import KEY_PREFIXES
from sfconnector.salesforce.validation import check_record_id

__all__ = ["MEMBER_FIELDS", "CampaignMemberService", "LeadConversionService"]

_PREFIX = {sobject: prefix for prefix, sobject in KEY_PREFIXES.items()}
MEMBER_FIELDS = (
    "Id", "CampaignId", "LeadId", "ContactId", "Type", "Status", "HasResponded", "FirstRespondedDate",
    "Name", "Email", "CompanyOrAccount", "CreatedDate", "LastModifiedDate",
)  # fmt: skip
"""What a member row answers (standard CampaignMember fields of every org)."""


class AlreadyConvertedError(ConnectorError):
    code = "lead_already_converted"
    fault = Fault.CONFLICT


class ConversionRefusedError(ConnectorError):
    """Salesforce refused the conversion for a reason the caller can fix (422)."""

    code = "conversion_refused"


class ConvertedLeadMemberError(ConnectorError):
    """A converted lead cannot join a campaign: the record's state, not the request's shape (409)."""

    code = "lead_converted"
    fault = Fault.CONFLICT


def _checked(value: str, sobject: str, param: str) -> str:
    return check_record_id(value, expected=sobject, key_prefix=_PREFIX[sobject], param=param)


# ------------------------------------------------------------------------------------ conversion

# The SOAP API's field names -> the request body's.
_CONVERT_FIELDS = {
    "leadId": "record_id",
    "convertedStatus": "converted_status",
    "accountId": "account_id",
    "contactId": "contact_id",
    "ownerId": "owner_id",
    "opportunityName": "opportunity_name",
}


class LeadConversionService:
    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    def convert(self, lead_id: str, body: ConvertLeadInput) -> ConvertLeadResult:
        lead = _checked(lead_id, "Lead", "record_id")
        account = _checked(body.account_id, "Account", "account_id") if body.account_id else None
        contact = _checked(body.contact_id, "Contact", "contact_id") if body.contact_id else None
        owner = _checked(body.owner_id, "User", "owner_id") if body.owner_id else None
        problems = []
        if body.opportunity_name is not None and not body.create_opportunity:
            problems.append(
                FieldProblem(
                    "opportunity_name", "not_allowed", "give a name only with create_opportunity true"
                )
            )
        if contact is not None and account is None:
            problems.append(
                FieldProblem("account_id", "required", "contact_id needs the contact's account_id")
            )
        if body.overwrite_lead_source and contact is None:
            problems.append(
                FieldProblem(
                    "overwrite_lead_source",
                    "not_allowed",
                    "overwrites an existing contact's: needs contact_id",
                )
            )
        if problems:
            raise FieldValidationError(problems)
        # Lazy: the SOAP module and ElementTree (~13 ms of imports) load with the first conversion,
        # not with the leads and campaigns functions' cold starts.
        from sfconnector.salesforce.soap import LeadConvertRequest, convert_lead

        outcome = convert_lead(
            self.client,
            LeadConvertRequest(
                lead_id=lead,
                converted_status=body.converted_status,
                account_id=account,
                contact_id=contact,
                owner_id=owner,
                opportunity_name=body.opportunity_name,
                do_not_create_opportunity=not body.create_opportunity,
                overwrite_lead_source=body.overwrite_lead_source,
                send_notification_email=body.send_notification_email,
            ),
        )
        if not outcome.success:
            raise self._refusal(lead, body, outcome.errors)
        if not (outcome.account_id and outcome.contact_id):
            raise SalesforceError(
                502,
                [
                    SalesforceErrorItem(
                        "UNEXPECTED_RESPONSE", "convertLead succeeded without account and contact ids"
                    )
                ],
            )
        return ConvertLeadResult(
            lead_id=outcome.lead_id or lead,
            account_id=outcome.account_id,
            contact_id=outcome.contact_id,
            opportunity_id=outcome.opportunity_id,
        )

    def _converted_ids(self, lead: str) -> dict[str, Any]:
        """What an earlier conversion made (one more call, on this error path only): a workflow
        that retries a conversion picks up its result from the 409."""
        fields = ["ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId"]
        try:
            record = self.client.get_record("Lead", lead, fields)
        except SalesforceError:
            return {}
        return {
            "account_id": record.get("ConvertedAccountId"),
            "contact_id": record.get("ConvertedContactId"),
            "opportunity_id": record.get("ConvertedOpportunityId"),
        }

    def _refusal(self, lead: str, body: ConvertLeadInput, errors: Sequence[Any]) -> ConnectorError:
        first = errors[0] if errors else None
        code = first.error_code if first else "UNKNOWN_EXCEPTION"
        message = first.message if first else "Salesforce refused the conversion"
        fields = [_CONVERT_FIELDS.get(f, f) for f in (first.fields if first else ())]
        details: dict[str, Any] = {"salesforce_code": code}
        if code == "CANNOT_UPDATE_CONVERTED_LEAD":
            return AlreadyConvertedError(
                f"Lead {lead} is already converted; `details` has the account, contact and opportunity "
                "it was converted into.",
                fields=["record_id"],
                details={**details, **self._converted_ids(lead)},
            )
        if code == "INVALID_STATUS":
            return FieldValidationError(
                [
                    FieldProblem(
                        "converted_status",
                        "invalid_value",
                        f"{body.converted_status!r} is not a converted lead status of this org "
                        "(a LeadStatus whose IsConverted is true, e.g. 'Closed - Converted')",
                    )
                ]
            )
        if code in ("INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED") and fields == ["record_id"]:
            return RecordNotFoundError(
                f"Lead {lead} does not exist, or the connected user cannot see it.", fields=["record_id"]
            )
        return ConversionRefusedError(
            f"Salesforce refused the conversion: {message}", fields=fields, details=details
        )


# --------------------------------------------------------------------------------------- members


def _page_token(campaign_id: str, last_id: str) -> str:
    raw = json.dumps({"c": campaign_id, "a": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after_id(campaign_id: str, token: str) -> str:
    """The member id a page token continues after (refused unless it is this campaign's token)."""
    bad = InvalidInputError(
        "page_token is not a page of this campaign's members; send the previous answer's next_page_token",
        fields=["page_token"],
    )
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if (
        not isinstance(decoded, dict)
        or decoded.get("c") != campaign_id
        or not isinstance(decoded.get("a"), str)
    ):
        raise bad
    try:
        return _checked(decoded["a"], "CampaignMember", "page_token")
    except FieldValidationError:
        raise bad from None


class CampaignMemberService:
    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    def _person(self, body: AddCampaignMemberInput) -> tuple[str, str, str]:
        """(CampaignMember field, id, request field) of the lead or contact."""
        if body.lead_id is not None:
            return "LeadId", _checked(body.lead_id, "Lead", "lead_id"), "lead_id"
        assert body.contact_id is not None  # the model requires one of them
        return "ContactId", _checked(body.contact_id, "Contact", "contact_id"), "contact_id"

    def add(self, campaign_id: str, body: AddCampaignMemberInput) -> CampaignMemberResult:
        campaign = _checked(campaign_id, "Campaign", "campaign_id")
        field, person, param = self._person(body)
        values: dict[str, Any] = {"CampaignId": campaign, field: person}
        if body.status is not None:
            values["Status"] = body.status
        # Not all-or-none: the read runs after a refused create too, and finds the existing member.
        request = CompositeRequest(all_or_none=False)
        request.create("CampaignMember", values, "write")
        where = soql.And([soql.Eq("CampaignId", campaign), soql.Eq(field, person)])
        request.query(soql.select("CampaignMember", MEMBER_FIELDS, where, limit=1), "member")
        response = self.client.composite(request)
        written = response.by_ref("write")
        rows = (response.by_ref("member").body or {}).get("records") or []
        if written.ok and rows:
            return CampaignMemberResult(id=rows[0]["Id"], created=True, record=rows[0])
        error = written.error()
        duplicate = error is not None and error.errors and error.errors[0].error_code == "DUPLICATE_VALUE"
        if not duplicate or not rows:
            raise (
                self._refusal(error, param, campaign)
                if error is not None
                else SalesforceError(
                    502, [SalesforceErrorItem("UNEXPECTED_RESPONSE", "no member in the answer")]
                )
            )
        member = rows[0]
        if body.status is None or member.get("Status") == body.status:
            return CampaignMemberResult(id=member["Id"], created=False, record=member)
        update = CompositeRequest(all_or_none=True)
        update.update("CampaignMember", member["Id"], {"Status": body.status}, "write")
        update.query(soql.select("CampaignMember", MEMBER_FIELDS, soql.Eq("Id", member["Id"])), "member")
        answer = self.client.composite(update)
        try:
            answer.raise_for_ref("write")
        except SalesforceError as exc:
            raise self._refusal(exc, param, campaign) from None
        records = (answer.by_ref("member").body or {}).get("records") or [member]
        return CampaignMemberResult(id=member["Id"], created=False, record=records[0])

    def _statuses(self, campaign: str) -> list[str]:
        """The campaign's member statuses (one more call, on the bad-status path only)."""
        where = soql.Eq("CampaignId", campaign)
        statement = soql.select(
            "CampaignMemberStatus", ["Label"], where, order_by=[soql.OrderBy("SortOrder")]
        )
        try:
            return [str(row.get("Label")) for row in self.client.query_page(statement).records]
        except SalesforceError:
            return []

    def _refusal(self, error: SalesforceError, param: str, campaign: str) -> Exception:
        item = error.errors[0] if error.errors else None
        code = item.error_code if item else ""
        if item is not None and "Status" in item.fields:
            statuses = self._statuses(campaign)
            allowed = f"; its statuses: {', '.join(statuses)}" if statuses else f" ({item.message})"
            return FieldValidationError(
                [FieldProblem("status", "invalid_value", f"not a member status of this campaign{allowed}")]
            )
        if code == "CANNOT_UPDATE_CONVERTED_LEAD":
            return ConvertedLeadMemberError(
                "The lead is converted: add its contact (the lead's ConvertedContactId) instead.",
                fields=["lead_id"],
            )
        if code in ("INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED", "FIELD_INTEGRITY_EXCEPTION"):
            return RecordNotFoundError(
                f"The campaign or the {param.removesuffix('_id')} does not exist, or the connected user "
                "cannot see it.",
                fields=["campaign_id", param],
            )
        return error

    def remove(self, campaign_id: str, member_id: str) -> RemoveCampaignMemberResult:
        campaign = _checked(campaign_id, "Campaign", "campaign_id")
        prefix = member_id[:3]
        kinds = {"00v": "CampaignMember", "00Q": "Lead", "003": "Contact"}
        sobject = kinds.get(prefix)
        if sobject is None:
            raise FieldValidationError(
                [
                    FieldProblem(
                        "member_id",
                        "wrong_object",
                        f"{member_id[:18]!r} is not a CampaignMember (00v), Lead (00Q) or Contact (003) id",
                    )
                ]
            )
        checked = _checked(member_id, sobject, "member_id")
        if sobject == "CampaignMember":
            target: str | None = checked
        else:
            field = "LeadId" if sobject == "Lead" else "ContactId"
            where = soql.And([soql.Eq("CampaignId", campaign), soql.Eq(field, checked)])
            rows = self.client.query_page(soql.select("CampaignMember", ["Id"], where, limit=1)).records
            target = str(rows[0]["Id"]) if rows else None
        if target is None:
            return RemoveCampaignMemberResult(id=None, removed=False)
        try:
            self.client.delete("CampaignMember", target)
        except SalesforceError as exc:
            codes = {item.error_code for item in exc.errors}
            if codes & {"ENTITY_IS_DELETED", "NOT_FOUND"}:
                return RemoveCampaignMemberResult(id=target, removed=False)
            raise
        return RemoveCampaignMemberResult(id=target, removed=True)

    def list(self, campaign_id: str, limit: int, page_token: str | None) -> CampaignMembersPage:
        campaign = _checked(campaign_id, "Campaign", "campaign_id")
        if not 1 <= limit <= MAX_MEMBERS_PAGE:
            raise InvalidInputError(f"limit must be 1 to {MAX_MEMBERS_PAGE}", fields=["limit"])
        where: soql.Condition = soql.Eq("CampaignId", campaign)
        if page_token is not None:
            where = soql.And([where, soql.Gt("Id", _after_id(campaign, page_token))])
        statement = soql.select(
            "CampaignMember", MEMBER_FIELDS, where, order_by=[soql.OrderBy("Id")], limit=limit + 1
        )
        rows = self.client.query_page(statement).records
        members = rows[:limit]
        token = _page_token(campaign, str(members[-1]["Id"])) if len(rows) > limit else None
        return CampaignMembersPage(campaign_id=campaign, members=members, next_page_token=token)
