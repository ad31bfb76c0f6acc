"""``python -m devstack.demo`` (``make demo``): a scripted tour of the spec's "popular automations".

Run it while ``make run`` is up (it reads ``API_PORT``, or ``API_URL``). Every step is a plain HTTP
request to the local API, printed with its answer and the number of Salesforce API calls it cost
(read from the emulator's usage counter). Routes come from ``GET /catalog`` by action key, so the
tour follows the catalog rather than hard-coding URLs.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from devstack.config import DEFAULT_API_PORT

_SHOWN_FIELDS = 5


class TourError(RuntimeError):
    """A step failed in a way that makes the rest of its scenario meaningless."""


@dataclass
class Tour:
    api_url: str
    client: httpx.Client
    out: Callable[[str], None] = print
    connection_id: str = ""
    salesforce_url: str | None = None
    routes: dict[str, tuple[str, str]] = field(default_factory=dict)
    requests: int = 0
    api_calls: int = 0
    failures: int = 0
    account_id: str | None = None

    # -- plumbing ----------------------------------------------------------------------------------

    def _usage(self) -> int | None:
        if not self.salesforce_url:
            return None
        try:
            response = self.client.get(f"{self.salesforce_url}/__emulator__/usage")
            return int(response.json()["api_calls"]) if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def call(self, key: str, body: Any = None, **params: str) -> dict[str, Any]:
        """Run the action ``key`` (e.g. ``leads.create``), print request and answer, return the JSON."""
        if key not in self.routes:
            raise TourError(f"the API has no action {key!r} (is its function in template.yaml?)")
        method, template = self.routes[key]
        path = template.replace("{connection_id}", self.connection_id)
        for name, value in params.items():
            path = path.replace("{" + name + "}", value)
        shown_body = "" if body is None else "  " + _compact(body)
        self.out(f"   → {method} {path}{shown_body}")
        before = self._usage()
        response = self.client.request(method, f"{self.api_url}{path}", json=body)
        after = self._usage()
        self.requests += 1
        cost = ""
        if before is not None and after is not None:
            used = after - before
            self.api_calls += used
            cost = f"   [{used} Salesforce API call{'s' if used != 1 else ''}]"
        try:
            payload: Any = response.json()
        except ValueError:
            payload = {"body": response.text[:200]}
        if response.is_success:
            self.out(f"   ← {response.status_code}  {_summary(payload)}{cost}")
            return payload if isinstance(payload, dict) else {"result": payload}
        self.failures += 1
        self.out(f"   ← {response.status_code}  {_compact(payload)}{cost}")
        raise TourError(f"{key} failed with {response.status_code}")

    def scenario(self, number: int, title: str, flow: str, steps: Callable[[], None]) -> None:
        self.out("")
        self.out(f"{number}. {title}")
        self.out(f"   ({flow})")
        try:
            steps()
        except TourError as exc:
            self.out(f"   ✗ stopped: {exc}")

    # -- the scenarios (the spec's "Popular automations", plus attachments) ---------------------------

    def leads(self) -> None:
        tag = secrets.token_hex(3)
        email = f"maya.ng+{tag}@northwind-solar.example"
        created = self.call(
            "leads.create",
            {"FirstName": "Maya", "LastName": "Ng", "Company": "Northwind Solar", "Email": email},
        )
        found = self.call("leads.find", {"criteria": {"Email": email}})
        if not found.get("found") or found.get("id") != created.get("id"):
            raise TourError("the new lead was not found by its email")
        upserted = self.call(
            "leads.upsert",
            {
                "match_field": "Email",
                "record": {"Email": email, "Company": "Northwind Solar Ltd", "Status": "Working - Contacted"},
            },
        )
        if upserted.get("created") is not False or upserted.get("id") != created.get("id"):
            raise TourError("the upsert should have updated the same lead, not created one")
        self.out("   ✓ one lead, found by email and updated in place: no duplicate")

    def accounts(self) -> None:
        created = self.call(
            "accounts.create", {"Name": "  globex solar  ", "Industry": "energy", "BillingCountry": "usa"}
        )
        account_id = str(created["id"])
        updated = self.call(
            "accounts.update",
            {"Name": "Globex Solar", "Industry": "Energy", "BillingCountry": "United States"},
            record_id=account_id,
        )
        if updated.get("record", {}).get("Name") != "Globex Solar":
            raise TourError("the account was not normalised")
        self.out("   ✓ the account now reads back in the standard format")
        self.account_id = account_id

    def cases(self) -> None:
        created = self.call(
            "cases.create",
            {"Subject": "Generator will not start", "Origin": "Web", "Priority": "High", "Status": "New"},
        )
        case_id = str(created["id"])
        self.call("cases.update", {"Status": "Working"}, record_id=case_id)
        comment = self.call(
            "cases.add_comment",
            {"CommentBody": "Status changed to Working: an engineer is assigned (automated note)."},
            record_id=case_id,
        )
        if comment.get("record", {}).get("ParentId") != case_id:
            raise TourError("the comment is not attached to the case")
        self.out("   ✓ the case carries a standardised internal comment")

    def line_items(self) -> None:
        product = self.call("products.find", {"criteria": {"ProductCode": "GC1020"}})
        if not product.get("found"):
            raise TourError("the demo org has no product GC1020")
        opportunity = self.call(
            "opportunities.create",
            {"Name": "Northwind Solar - Backup power", "StageName": "Prospecting", "CloseDate": "2030-06-30"},
        )
        opportunity_id = str(opportunity["id"])
        self.call(
            "line_items.create",
            {"OpportunityId": opportunity_id, "Product2Id": product["id"], "Quantity": 2, "UnitPrice": 25000},
        )
        found = self.call(
            "line_items.find",
            {"criteria": {"OpportunityId": opportunity_id, "Product2Id": product["id"]}},
        )
        if not found.get("found"):
            raise TourError("the new line item was not found")
        updated = self.call(
            "line_items.update",
            {"Quantity": 3, "Description": "Quantity aligned with the signed quote"},
            record_id=str(found["id"]),
        )
        self.out(f"   ✓ line item updated: Quantity {updated.get('record', {}).get('Quantity')}")

    def attachments(self) -> None:
        parent = self.account_id
        if parent is None:
            parent = str(self.call("accounts.create", {"Name": "Attachment demo account"})["id"])
        content = b"Quote Q-1042: 2 x GenWatt Diesel 200kW, delivery in June.\n"
        added = self.call(
            "attachments.add",
            {
                "parent_id": parent,
                "name": "quote-Q-1042.txt",
                "content_base64": base64.b64encode(content).decode(),
                "content_type": "text/plain",
            },
        )
        attachment_id = str(added["id"])
        ids = self.call("attachments.list_ids", parent_id=parent)
        if attachment_id not in ids.get("attachment_ids", []):
            raise TourError("the attachment is not listed on its parent")
        fetched = self.call("attachments.get_content", record_id=attachment_id)
        if fetched.get("content_base64") is not None:
            returned = base64.b64decode(fetched["content_base64"])
        elif fetched.get("download_url"):
            returned = self.client.get(str(fetched["download_url"])).content
        else:
            raise TourError("no content returned")
        if returned != content:
            raise TourError("the content came back different")
        self.out(f"   ✓ {len(content)} bytes went in and came back identical")


def _compact(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Fields every record has: not what a reader of the tour looks at.
_SYSTEM_FIELDS = {
    "attributes", "Id", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
    "SystemModstamp", "IsDeleted", "LastViewedDate", "LastReferencedDate", "LastActivityDate",
}  # fmt: skip


def _value(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary(payload: Any) -> str:
    """The interesting part of an action's answer on one line."""
    if not isinstance(payload, dict):
        return _compact(payload)
    parts: list[str] = []
    for key in ("found", "match_count", "created", "already_deleted", "count", "id"):
        if key in payload:
            parts.append(f"{key}={_value(payload[key])}")
    record = payload.get("record")
    if isinstance(record, dict):
        shown = [
            f"{k}={_value(v)}"
            for k, v in record.items()
            if k not in _SYSTEM_FIELDS and v not in (None, False, "") and not isinstance(v, dict | list)
        ]
        parts.extend(shown[:_SHOWN_FIELDS])
    for key in ("attachment_ids", "name", "size", "content_type"):
        if key in payload:
            parts.append(f"{key}={_value(payload[key], 60)}")
    return "  ".join(parts) or _compact(payload)


def _connection_id(client: httpx.Client, api_url: str, health: dict[str, Any]) -> str:
    if health.get("demo_connection_id"):
        return str(health["demo_connection_id"])
    listing = client.get(f"{api_url}/connections").json()
    for item in listing.get("connections", []):
        if item.get("name") == "demo" and item.get("status") == "connected":
            return str(item["connection_id"])
    raise TourError("there is no connected 'demo' connection (see the `make run` output)")


def main() -> int:
    api_url = (
        os.environ.get("API_URL") or f"http://127.0.0.1:{os.environ.get('API_PORT') or DEFAULT_API_PORT}"
    )
    api_url = api_url.rstrip("/")
    with httpx.Client(timeout=30.0) as client:
        try:
            health = client.get(f"{api_url}/__devstack__/health").json()
        except (httpx.HTTPError, ValueError):
            print(f"The local stack is not answering on {api_url}: start it with `make run` first.")
            return 1
        tour = Tour(api_url=api_url, client=client, salesforce_url=health.get("salesforce_url"))
        try:
            tour.connection_id = _connection_id(client, api_url, health)
            catalog = client.get(f"{api_url}/catalog")
            if catalog.status_code == 403:
                raise TourError("the API serves no GET /catalog (is the meta function in template.yaml?)")
            if catalog.status_code != 200:
                raise TourError(f"GET /catalog answered {catalog.status_code}: {catalog.text[:200]}")
            tour.routes = {a["key"]: (a["method"], a["route"]) for a in catalog.json()["actions"]}
        except TourError as exc:
            print(f"Cannot start the tour: {exc}")
            return 1
        print(f"Popular automations, through the local API at {api_url}")
        print(f"(connection 'demo' = {tour.connection_id}; every arrow is one HTTP request)")
        tour.scenario(
            1, "Auto-route new leads and prevent duplicates", "New Lead → Find Lead → Upsert Lead", tour.leads
        )
        tour.scenario(
            2, "Sync accounts into a standard format", "Updated Account → Update Account", tour.accounts
        )
        tour.scenario(
            3, "Notify and collaborate on case updates", "Updated Case → New Comment in Case", tour.cases
        )
        tour.scenario(
            4,
            "Keep opportunity products aligned",
            "New Opportunity Line Item → Find Opportunity Line Item → Update Opportunity Line Item",
            tour.line_items,
        )
        tour.scenario(
            5,
            "Attachment round trip",
            "Add Attachment → Get Attachment IDs → Get Attachment Content",
            tour.attachments,
        )
        print("")
        calls = f", {tour.api_calls} Salesforce API calls" if tour.salesforce_url else ""
        verdict = "all steps succeeded" if tour.failures == 0 else f"{tour.failures} step(s) failed"
        print(f"Done: {tour.requests} requests{calls}; {verdict}.")
        return 0 if tour.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
