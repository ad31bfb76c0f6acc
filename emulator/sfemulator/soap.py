"""The SOAP API's ``convertLead()`` call (Partner WSDL, ``POST /services/Soap/u/NN.0``).

Salesforce offers lead conversion over its SOAP API (and Apex); the REST API has no resource for it.
The emulator serves that one call: the session is the ``SessionHeader``'s ``sessionId`` (an OAuth
access token is a session id), each request is one API call, the answer is a ``convertLeadResponse``
with one ``result`` per ``leadConverts`` (a failed conversion is a result with ``success`` false and
its ``errors``, not a fault); faults are for the envelope: a bad session (``INVALID_SESSION_ID``), an
unknown call, malformed XML. Shapes follow the Partner WSDL (docs/emulator.md, "Lead conversion").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from sfemulator.convert import ConvertFailure, LeadConvert, convert_lead
from sfemulator.relay import Writer
from sfemulator.wire import Request, Response

if TYPE_CHECKING:
    from sfemulator.org import Org

__all__ = ["SOAP_PATH", "SoapApi"]

SOAP_PATH = re.compile(r"^/services/Soap/u/(\d{2,3}\.\d)(?:/[A-Za-z0-9]{15,18})?/?$")
_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_PARTNER = "urn:partner.soap.sforce.com"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_FIELDS = {
    "leadId": "lead_id",
    "convertedStatus": "converted_status",
    "accountId": "account_id",
    "contactId": "contact_id",
    "ownerId": "owner_id",
    "opportunityName": "opportunity_name",
}
_FLAGS = {
    "doNotCreateOpportunity": "do_not_create_opportunity",
    "overwriteLeadSource": "overwrite_lead_source",
    "sendNotificationEmail": "send_notification_email",
}
_MAX_CONVERTS = 200


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _fault(code: str, message: str, status: int = 500) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{_ENV}" '
        f'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="{_XSI}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{escape(f'{code}: {message}')}</faultstring>"
        f"</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(status, body.encode(), [("Content-Type", "text/xml;charset=UTF-8")])


def _parse(body: bytes) -> ET.Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("DOCTYPE is not allowed")
    return ET.fromstring(body)  # noqa: S314 - no DTD (refused above); expat of 3.13 caps expansion


def _element_text(parent: ET.Element, name: str) -> str | None:
    for child in parent.iter():
        if _local(child.tag) == name:
            if child.get(f"{{{_XSI}}}nil") == "true":
                return None
            return (child.text or "").strip() or None
    return None


def _lead_convert(element: ET.Element) -> LeadConvert:
    request = LeadConvert()
    for child in element:
        name = _local(child.tag)
        text = (child.text or "").strip() or None
        if child.get(f"{{{_XSI}}}nil") == "true":
            text = None
        if name in _FIELDS:
            setattr(request, _FIELDS[name], text)
        elif name in _FLAGS:
            setattr(request, _FLAGS[name], (text or "").lower() == "true")
    return request


def _result(ids: dict[str, Any] | None, lead_id: str | None, failure: ConvertFailure | None) -> str:
    def id_element(name: str, value: Any) -> str:
        return f"<{name}>{escape(str(value))}</{name}>" if value else f'<{name} xsi:nil="true"/>'

    ids = ids or {}
    parts = [id_element("accountId", ids.get("accountId")), id_element("contactId", ids.get("contactId"))]
    if failure is not None:
        fields = "".join(f"<fields>{escape(f)}</fields>" for f in failure.fields)
        parts.append(
            f"<errors>{fields}<message>{escape(failure.message)}</message>"
            f"<statusCode>{escape(failure.status_code)}</statusCode></errors>"
        )
    parts.append(id_element("leadId", ids.get("leadId") or lead_id))
    parts.append(id_element("opportunityId", ids.get("opportunityId")))
    parts.append(f"<success>{'false' if failure else 'true'}</success>")
    return "<result>" + "".join(parts) + "</result>"


class SoapApi:
    """The Partner SOAP endpoint of one org (only ``convertLead``)."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def handle(self, req: Request) -> Response:
        if req.method.upper() != "POST":
            return _fault("INVALID_REQUEST", "the SOAP API accepts POST only", 405)
        try:
            envelope = _parse(req.body or b"")
        except (ValueError, ET.ParseError):
            return _fault("INVALID_XML", "the request is not a well-formed SOAP envelope")
        session_id = _element_text(envelope, "sessionId")
        call = next(
            (child for body in envelope.iter(f"{{{_ENV}}}Body") for child in body),
            None,
        )
        org = self.org
        with org.lock:
            session = org.oauth.authenticate(f"Bearer {session_id}" if session_id else None)
            if session is None or not org.user_active(session.user_id):
                return _fault(
                    "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
                )
            if call is None or _local(call.tag) != "convertLead":
                name = _local(call.tag) if call is not None else "(none)"
                return _fault(
                    "UNKNOWN_EXCEPTION", f"The emulator's SOAP API serves convertLead only, not {name}"
                )
            converts = [c for c in call if _local(c.tag) == "leadConverts"]
            if not converts or len(converts) > _MAX_CONVERTS:
                return _fault("INVALID_BATCH_SIZE", f"convertLead takes 1 to {_MAX_CONVERTS} leadConverts")
            if not org.try_count_call():
                return _fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            client = _element_text(envelope, "client")  # the CallOptions header's client name
            org.writer = Writer.from_call(
                session.user_id, "soap", org.version, f"client={client}" if client else None
            )
            results = []
            for element in converts:
                request = _lead_convert(element)
                try:
                    ids = convert_lead(org, request, session.user_id)
                    results.append(_result(ids, request.lead_id, None))
                except ConvertFailure as failure:
                    results.append(_result(None, request.lead_id, failure))
            org.touch()
            used, limit = org.api_calls, org.config.daily_api_limit
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{_ENV}" '
            f'xmlns="{_PARTNER}" xmlns:xsi="{_XSI}"><soapenv:Header><LimitInfoHeader><limitInfo>'
            f"<current>{used}</current><limit>{limit}</limit><type>API REQUESTS</type></limitInfo>"
            f"</LimitInfoHeader></soapenv:Header><soapenv:Body><convertLeadResponse>{''.join(results)}"
            f"</convertLeadResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(200, body.encode(), [("Content-Type", "text/xml;charset=UTF-8")])
