"""The one SOAP call the connector makes: ``convertLead()`` of the Partner API.

Why SOAP: Salesforce's REST API has no lead conversion resource; conversion is offered by the SOAP
API's ``convertLead()`` (and by Apex ``Database.convertLead``, which would mean installing code in
the customer's org). The SOAP call takes the OAuth access token as its session id, costs one API
call, and carries every option (status, account / contact to merge into, opportunity or not and its
name, owner, lead source overwrite, notification email). docs/api.md, "Convert lead".

The envelope is built here (values escaped) and the answer read with ElementTree from Salesforce's
own host; a document type declaration (entities) is refused before parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from sfconnector.salesforce.client import AccessToken, SalesforceClient
from sfconnector.salesforce.errors import SalesforceError, SalesforceErrorItem

__all__ = ["LeadConvertOutcome", "LeadConvertRequest", "convert_lead"]

_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_PARTNER = "urn:partner.soap.sforce.com"
_NS = f"{{{_PARTNER}}}"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


@dataclass(frozen=True)
class LeadConvertRequest:
    """One ``LeadConvert`` (the SOAP field names are in ``_ORDER``)."""

    lead_id: str
    converted_status: str
    account_id: str | None = None
    contact_id: str | None = None
    owner_id: str | None = None
    opportunity_name: str | None = None
    do_not_create_opportunity: bool = False
    overwrite_lead_source: bool = False
    send_notification_email: bool = False

    def elements(self) -> str:
        values: Mapping[str, str | bool | None] = {
            # The WSDL's sequence order: a strict SOAP parser insists on it.
            "accountId": self.account_id,
            "contactId": self.contact_id,
            "convertedStatus": self.converted_status,
            "doNotCreateOpportunity": self.do_not_create_opportunity,
            "leadId": self.lead_id,
            "opportunityName": self.opportunity_name,
            "overwriteLeadSource": self.overwrite_lead_source,
            "ownerId": self.owner_id,
            "sendNotificationEmail": self.send_notification_email,
        }
        out = []
        for name, value in values.items():
            if value is None:
                continue
            text = ("true" if value else "false") if isinstance(value, bool) else escape(value)
            out.append(f"<urn:{name}>{text}</urn:{name}>")
        return "".join(out)


@dataclass(frozen=True)
class LeadConvertOutcome:
    """A ``LeadConvertResult``: the ids, or Salesforce's errors (``success`` false)."""

    success: bool
    lead_id: str | None
    account_id: str | None
    contact_id: str | None
    opportunity_id: str | None
    errors: tuple[SalesforceErrorItem, ...] = ()


def _envelope(request: LeadConvertRequest, token: AccessToken) -> bytes:
    session = escape(token.access_token.get_secret_value())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{_ENV}" '
        f'xmlns:urn="{_PARTNER}"><soapenv:Header><urn:SessionHeader><urn:sessionId>{session}'
        "</urn:sessionId></urn:SessionHeader></soapenv:Header><soapenv:Body><urn:convertLead>"
        f"<urn:leadConverts>{request.elements()}</urn:leadConverts></urn:convertLead></soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def _text(element: ET.Element, name: str) -> str | None:
    child = element.find(f"{_NS}{name}")
    if child is None or child.get(_XSI_NIL) == "true":
        return None
    return (child.text or "").strip() or None


def _bad_answer(why: str) -> SalesforceError:
    return SalesforceError(502, [SalesforceErrorItem("UNEXPECTED_RESPONSE", f"convertLead answered {why}")])


def parse_outcome(body: bytes) -> LeadConvertOutcome:
    """The first ``result`` of a ``convertLeadResponse``."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise _bad_answer("a document type declaration")
    try:
        root = ET.fromstring(body)  # noqa: S314 - Salesforce's host, no DTD (refused above)
    except ET.ParseError:
        raise _bad_answer("something that is not XML") from None
    result = root.find(f".//{_NS}convertLeadResponse/{_NS}result")
    if result is None:
        raise _bad_answer("without a result")
    errors = tuple(
        SalesforceErrorItem(
            _text(error, "statusCode") or "UNKNOWN_EXCEPTION",
            _text(error, "message") or "",
            tuple((f.text or "").strip() for f in error.findall(f"{_NS}fields")),
        )
        for error in result.findall(f"{_NS}errors")
    )
    return LeadConvertOutcome(
        success=_text(result, "success") == "true",
        lead_id=_text(result, "leadId"),
        account_id=_text(result, "accountId"),
        contact_id=_text(result, "contactId"),
        opportunity_id=_text(result, "opportunityId"),
        errors=errors,
    )


def convert_lead(client: SalesforceClient, request: LeadConvertRequest) -> LeadConvertOutcome:
    """Convert one lead (one API call; the session in the envelope, rebuilt if the token is refreshed)."""
    version = client.api_version.removeprefix("v")
    response = client.request(
        "POST",
        f"/services/Soap/u/{version}",
        content=lambda token: _envelope(request, token),
        headers={
            "Content-Type": "text/xml; charset=UTF-8",
            "SOAPAction": "convertLead",
            "Accept": "text/xml",
        },
    )
    return parse_outcome(response.content)
