"""``python -m devstack.demo`` (``make demo``): the spec's four "popular automations" and issue 19's
lead conversion (New Lead → Find Lead → Convert Lead → Add to Campaign), each driven by a real
trigger event.

Run it while ``make run`` is up (it reads ``API_PORT``, or ``API_URL``). Like a workflow engine, the
demo subscribes through the connector's public HTTP API (``POST /connections/{cid}/subscriptions``),
attaches one SQS queue per automation to the SNS topic with a filter policy on its subscription, and
runs the automation's actions (routes from ``GET /catalog``) when its event arrives on the queue.
The changes that fire the triggers are made by another Salesforce user, written straight to the
emulator through its admin API (``POST /__emulator__/dml``) as a person working in Salesforce would.

The loop guard: the automations subscribe with ``ignore_own_changes``, so their own write-backs do
not fire them again. A witness subscription (without the flag) on the write-backs' triggers proves
the poller did see those writes, and only then are the automation queues counted (none expected).

Every request is printed with the Salesforce API calls it cost (the connector's
``X-Salesforce-Api-Calls`` header; the emulator's usage counter for the totals, since the poller
shares it). Waits are bounded; the demo deletes what it created and exits non-zero if an
automation or the loop guard failed.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx

from devstack.config import DEFAULT_API_PORT
from devstack.events import sns_delivery_policy
from devstack.stack import FAKE_CREDENTIALS

_SHOWN_FIELDS = 5
SALES_USERNAME_HINT = "sam.seller@"
"""The emulator's second user ("a Salesforce user", docs/emulator.md); found by its id in the org."""


class DemoError(RuntimeError):
    """A step failed in a way that makes the rest of its automation meaningless."""


@dataclass
class Queue:
    """An SQS queue in moto subscribed to the topic with a filter policy, as a subscriber makes it."""

    name: str
    url: str
    arn: str
    subscription_arn: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    """Events received again with an id already seen (dropped)."""


@dataclass
class Automation:
    number: int
    title: str
    flow: str
    trigger: str
    fields: list[str]
    fire: Callable[[], str]
    """The Salesforce user's change; returns the record id the event must name."""
    run: Callable[[dict[str, Any]], None]
    """The automation's actions, given the event."""
    write_back_trigger: str
    """The trigger the automation's own write-back fires (the loop the guard prevents)."""
    subscription_id: str = ""
    queue: Queue | None = None
    record_id: str = ""
    event: dict[str, Any] | None = None
    arrived: float | None = None
    changed_at: float | None = None
    """When the Salesforce user's change was sent (monotonic); latency runs from here to arrival."""
    calls_in_flight: int | None = None
    """Salesforce calls the emulator counted between the change and the event's arrival."""
    polls_in_flight: int | None = None
    """Poll cycles of the connection that ran between the change and the event's arrival."""
    action_calls: int = 0
    ok: bool = False
    after_write_back: int = 0

    @property
    def latency(self) -> float:
        """Seconds from sending the change to seeing its event on the subscriber's queue."""
        if self.arrived is None or self.changed_at is None:
            return float("nan")
        return self.arrived - self.changed_at

    @property
    def sobject(self) -> str:
        return str((self.event or {}).get("sobject") or "")

    def delivery_note(self, relayed: list[str]) -> str:
        """How the event came and what Salesforce calls its delivery cost, as far as the counters show."""
        way = "relay (Event Relay -> RelayFunction)" if self.sobject in relayed else "poller"
        if self.polls_in_flight == 0 and self.sobject in relayed:
            way += ", no poll cycle ran meanwhile"
        elif self.polls_in_flight is not None:
            way += f", {self.polls_in_flight} poll cycle(s) ran meanwhile"
        calls = "?" if self.calls_in_flight is None else str(self.calls_in_flight)
        return f"delivered by the {way}; Salesforce calls counted meanwhile (every automation's): {calls}"


@dataclass
class Demo:
    api_url: str
    client: httpx.Client
    salesforce_url: str
    sqs: Any
    sns: Any
    topic_arn: str
    timeout: float
    poll_period: float = 60.0
    out: Callable[[str], None] = print
    connection_id: str = ""
    own_user_id: str = ""
    own_username: str = ""
    sales_user_id: str = ""
    sales_username: str = ""
    routes: dict[str, tuple[str, str]] = field(default_factory=dict)
    triggers: dict[str, str] = field(default_factory=dict)
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    requests: int = 0
    action_calls: int = 0
    sales_user_calls: int = 0
    subscriptions: list[str] = field(default_factory=list)
    queues: list[Queue] = field(default_factory=list)
    witness: Queue | None = None
    witness_ids: list[str] = field(default_factory=list)
    results: list[Automation] = field(default_factory=list)
    relayed: list[str] = field(default_factory=list)
    """The objects the stack relays for the demo connection (empty: REALTIME=0, every trigger polls)."""
    # Records the Salesforce user made before the subscriptions (updated later).
    account_id: str = ""
    case_id: str = ""
    opportunity_id: str = ""
    pricebook_entry_id: str = ""
    product_id: str = ""
    campaign_id: str = ""

    # -- the connector's HTTP API ---------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One request to the connector, printed with its answer and its Salesforce API calls."""
        self.out(f"   → {method} {path}" + ("" if body is None else "  " + _compact(body)))
        response = self.client.request(method, f"{self.api_url}{path}", json=body)
        self.requests += 1
        header = response.headers.get("X-Salesforce-Api-Calls")
        cost = ""
        if header is not None and header.isdigit():
            self.action_calls += int(header)
            cost = f"   [{_calls(int(header))}]"
        try:
            payload: Any = response.json()
        except ValueError:
            payload = {"body": response.text[:200]}
        if response.is_success:
            self.out(f"   ← {response.status_code}  {_summary(payload)}{cost}")
            return payload if isinstance(payload, dict) else {"result": payload}
        self.out(f"   ← {response.status_code}  {_compact(payload)}{cost}")
        raise DemoError(f"{method} {path} answered {response.status_code}")

    def call(self, key: str, body: Any = None, **params: str) -> dict[str, Any]:
        """Run the catalog action ``key`` (e.g. ``leads.find``)."""
        if key not in self.routes:
            raise DemoError(f"the API has no action {key!r} (is its function in template.yaml?)")
        method, template = self.routes[key]
        path = template.replace("{connection_id}", self.connection_id)
        for name, value in params.items():
            path = path.replace("{" + name + "}", value)
        return self.request(method, path, body)

    def subscribe(self, trigger: str, fields: list[str], ignore_own_changes: bool) -> str:
        created = self.request(
            "POST",
            f"/connections/{self.connection_id}/subscriptions",
            {"trigger": trigger, "start": "now", "ignore_own_changes": ignore_own_changes, "fields": fields},
        )
        sid = str(created["subscription_id"])
        self.subscriptions.append(sid)
        return sid

    # -- the Salesforce user (emulator admin API: what a person does in Salesforce) --------------

    def salesforce_user(
        self, operation: str, sobject: str, fields: dict[str, Any], record_id: str = ""
    ) -> dict[str, Any]:
        verb = {"insert": "creates", "update": "updates", "delete": "deletes"}[operation]
        what = f"{sobject} {record_id}" if record_id else sobject
        self.out(f"   ✎ {self.sales_username} {verb} {what}  {_compact(fields, 120)}")
        body: dict[str, Any] = {
            "operation": operation,
            "sobject": sobject,
            "fields": fields,
            "username": self.sales_username,
        }
        if record_id:
            body["id"] = record_id
        response = self.client.post(f"{self.salesforce_url}/__emulator__/dml", json=body)
        if response.status_code not in (200, 201):
            raise DemoError(f"the emulator refused the {sobject} {operation}: {response.text[:200]}")
        result: dict[str, Any] = response.json()
        return result

    def salesforce_user_query(self, soql: str) -> list[dict[str, Any]]:
        """A query as the Salesforce user (their own session: one API call of theirs)."""
        token = self.client.post(
            f"{self.salesforce_url}/__emulator__/tokens", json={"username": self.sales_username}
        ).json()
        response = self.client.get(
            f"{token['instance_url']}/services/data/v62.0/query",
            params={"q": soql},
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        self.sales_user_calls += 1
        if response.status_code != 200:
            raise DemoError(f"the Salesforce user's query failed: {response.text[:200]}")
        return list(response.json()["records"])

    def usage(self) -> int | None:
        try:
            response = self.client.get(f"{self.salesforce_url}/__emulator__/usage")
            return int(response.json()["api_calls"]) if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def poll_schedule(self) -> tuple[int, bool]:
        """How often the connection's poll schedule fired so far, and whether a cycle is running
        (the local stack's schedule runner)."""
        try:
            schedules = self.client.get(f"{self.api_url}/__devstack__/schedules").json()
        except (httpx.HTTPError, ValueError):
            return 0, False
        name = f"poll-{self.connection_id}"
        mine = [s for s in schedules if str(s.get("schedule", "")).endswith(name)]
        return sum(int(s.get("fired", 0)) for s in mine), any(s.get("running") for s in mine)

    def poll_cycles(self) -> int:
        return self.poll_schedule()[0]

    # -- SQS subscribers -------------------------------------------------------------------------

    def queue(self, purpose: str, subscription_ids: list[str]) -> Queue:
        """A queue subscribed to the topic, receiving only the given subscriptions' events."""
        name = f"demo-{purpose}-{self.tag}"
        url = str(self.sqs.create_queue(QueueName=name)["QueueUrl"])
        arn = str(
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )
        policy = sns_delivery_policy(arn, [self.topic_arn])
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
        queue = Queue(name=name, url=url, arn=arn)
        self.queues.append(queue)
        filter_policy = {"subscription_id": subscription_ids}
        queue.subscription_arn = str(
            self.sns.subscribe(
                TopicArn=self.topic_arn,
                Protocol="sqs",
                Endpoint=arn,
                Attributes={"FilterPolicy": json.dumps(filter_policy), "RawMessageDelivery": "true"},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        )
        self.out(f"     SQS queue {name} ← SNS topic, filter policy {json.dumps(filter_policy)}")
        return queue

    def drain(self, queue: Queue) -> list[dict[str, Any]]:
        """What arrived on the queue since the last look (deleted once read)."""
        arrived: list[dict[str, Any]] = []
        seen = {e.get("id") for e in queue.received}
        while True:
            answer = self.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            for message in messages:
                event = json.loads(message["Body"])
                self.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
                # Delivery is at least once (the relay and a later poll may both send a change, with
                # the same id): a subscriber keeps the first of each id, as documented.
                if event.get("id") in seen:
                    queue.duplicates += 1
                    continue
                seen.add(event.get("id"))
                arrived.append(event)
            if not messages:
                break
        queue.received.extend(arrived)
        return arrived

    def wait_until(self, done: Callable[[], bool], queues: list[Queue]) -> bool:
        deadline = time.monotonic() + self.timeout
        while True:
            for queue in queues:
                self.drain(queue)
            if done():
                return True
            if time.monotonic() >= deadline:
                return False
            # Short: the arrival time is the latency the demo prints.
            time.sleep(0.1)

    # -- the run ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Records the Salesforce user has before the workflows exist (they fire nothing: start now)."""
        self.out("")
        self.out(
            f"Before the workflows exist, {self.sales_username} has an account, a case and an opportunity"
        )
        self.account_id = str(
            self.salesforce_user("insert", "Account", {"Name": f"Globex Solar (demo {self.tag})"})["id"]
        )
        self.case_id = str(
            self.salesforce_user(
                "insert", "Case", {"Subject": "Generator will not start", "Origin": "Phone", "Status": "New"}
            )["id"]
        )
        self.opportunity_id = str(
            self.salesforce_user(
                "insert",
                "Opportunity",
                {
                    "Name": f"Northwind Solar - Backup power ({self.tag})",
                    "StageName": "Prospecting",
                    "CloseDate": "2030-06-30",
                },
            )["id"]
        )
        entries = self.salesforce_user_query(
            "SELECT Id, Product2Id FROM PricebookEntry WHERE Product2.ProductCode = 'GC1020'"
            " AND Pricebook2.IsStandard = true LIMIT 1"
        )
        if not entries:
            raise DemoError("the demo org has no standard price book entry for product GC1020")
        self.campaign_id = str(
            self.salesforce_user(
                "insert",
                "Campaign",
                {"Name": f"Solar Expo 2030 ({self.tag})", "Type": "Trade Show", "IsActive": True},
            )["id"]
        )
        self.pricebook_entry_id = str(entries[0]["Id"])
        self.product_id = str(entries[0]["Product2Id"])
        self.out(
            f"   (the price book entry of GC1020, looked up by {self.sales_username}: 1 API call of theirs)"
        )

    def automations(self) -> list[Automation]:
        return [
            Automation(
                1,
                "Auto-route new leads and prevent duplicates",
                "New Lead → Find Lead → Upsert Lead",
                "leads.created",
                ["FirstName", "LastName", "Company", "Email", "Status"],
                self._new_lead,
                self._route_lead,
                "leads.updated",
            ),
            Automation(
                2,
                "Sync accounts into a standard format",
                "Updated Account → Update Account",
                "accounts.updated",
                ["Name", "Industry", "BillingCountry"],
                self._account_edited,
                self._standardise_account,
                "accounts.updated",
            ),
            Automation(
                3,
                "Notify and collaborate on case updates",
                "Updated Case → New Comment in Case",
                "cases.updated",
                ["CaseNumber", "Subject", "Status", "Priority"],
                self._case_escalated,
                self._comment_case,
                "cases.comment_created",
            ),
            Automation(
                4,
                "Keep opportunity products aligned",
                "New Opportunity Line Item → Find Opportunity Line Item → Update Opportunity Line Item",
                "line_items.created",
                ["OpportunityId", "Product2Id", "Quantity", "UnitPrice"],
                self._line_item_added,
                self._align_line_item,
                "line_items.updated",
            ),
            Automation(
                5,
                "Convert qualified leads and enrol them in a campaign",
                "New Lead → Find Lead → Convert Lead → Add to Campaign",
                "leads.created",
                ["FirstName", "LastName", "Company", "Email", "Rating"],
                self._qualified_lead,
                self._convert_lead,
                "campaign_members.created",
            ),
        ]

    # The Salesforce user's changes.

    def _new_lead(self) -> str:
        fields = {
            "FirstName": "Maya",
            "LastName": "Ng",
            "Company": "  northwind solar ",
            "Email": f"maya.ng+{self.tag}@northwind-solar.example",
        }
        return str(self.salesforce_user("insert", "Lead", fields)["id"])

    def _qualified_lead(self) -> str:
        fields = {
            "FirstName": "Ravi",
            "LastName": "Patel",
            "Company": "Helios Farms",
            "Email": f"ravi.patel+{self.tag}@helios-farms.example",
            "Rating": "Hot",
        }
        return str(self.salesforce_user("insert", "Lead", fields)["id"])

    def _account_edited(self) -> str:
        fields = {"Name": "  globex solar  ", "Industry": "energy", "BillingCountry": "usa"}
        self.salesforce_user("update", "Account", fields, self.account_id)
        return self.account_id

    def _case_escalated(self) -> str:
        self.salesforce_user("update", "Case", {"Status": "Escalated", "Priority": "High"}, self.case_id)
        return self.case_id

    def _line_item_added(self) -> str:
        fields = {
            "OpportunityId": self.opportunity_id,
            "PricebookEntryId": self.pricebook_entry_id,
            "Quantity": 2,
            "UnitPrice": 25000,
        }
        return str(self.salesforce_user("insert", "OpportunityLineItem", fields)["id"])

    # The automations' actions (through the connector's API).

    def _route_lead(self, event: dict[str, Any]) -> None:
        data = event["data"]
        found = self.call("leads.find", {"criteria": {"Email": data["Email"]}})
        if not found.get("found") or found.get("id") != event["subject"]:
            raise DemoError("the new lead was not found by its email")
        upserted = self.call(
            "leads.upsert",
            {
                "match_field": "Email",
                "record": {
                    "Email": data["Email"],
                    "Company": _title(data["Company"]),
                    "Status": "Working - Contacted",
                },
            },
        )
        if upserted.get("created") is not False or upserted.get("id") != event["subject"]:
            raise DemoError("the upsert should have updated the same lead, not created one")
        self.out("   ✓ one lead, found by its email and updated in place (routed): no duplicate")

    def _convert_lead(self, event: dict[str, Any]) -> None:
        data = event["data"]
        found = self.call("leads.find", {"criteria": {"Email": data["Email"]}, "fields": ["Id", "Rating"]})
        if not found.get("found") or found.get("id") != event["subject"]:
            raise DemoError("the new lead was not found by its email")
        converted = self.call(
            "leads.convert",
            {
                "converted_status": "Closed - Converted",
                "opportunity_name": f"{data['Company']} - first order",
            },
            record_id=event["subject"],
        )
        if not (
            converted.get("account_id") and converted.get("contact_id") and converted.get("opportunity_id")
        ):
            raise DemoError("the conversion did not answer an account, a contact and an opportunity")
        member = self.call(
            "campaigns.add_member",
            {"contact_id": converted["contact_id"], "status": "Responded"},
            campaign_id=self.campaign_id,
        )
        if member.get("record", {}).get("ContactId") != converted["contact_id"]:
            raise DemoError("the new contact is not a member of the campaign")
        self.out(
            "   ✓ lead converted (account, contact, opportunity) and its contact enrolled in the campaign"
        )

    def _standardise_account(self, event: dict[str, Any]) -> None:
        data = event["data"]
        standard = {
            "Name": _title(data["Name"]),
            "Industry": _title(data["Industry"]),
            "BillingCountry": _COUNTRIES.get(
                str(data["BillingCountry"]).strip().lower(), data["BillingCountry"]
            ),
        }
        updated = self.call("accounts.update", standard, record_id=event["subject"])
        if updated.get("record", {}).get("Name") != standard["Name"]:
            raise DemoError("the account was not standardised")
        self.out(
            f"   ✓ the account reads back in the standard format: {standard['Name']},"
            f" {standard['Industry']}, {standard['BillingCountry']}"
        )

    def _comment_case(self, event: dict[str, Any]) -> None:
        data = event["data"]
        body = (
            f"Case {data.get('CaseNumber')} is now {data.get('Status')} (priority {data.get('Priority')}):"
            " the on-call engineer is notified. (automated note)"
        )
        comment = self.call("cases.add_comment", {"CommentBody": body}, record_id=event["subject"])
        if comment.get("record", {}).get("ParentId") != event["subject"]:
            raise DemoError("the comment is not attached to the case")
        self.out("   ✓ the case carries a standardised internal comment")

    def _align_line_item(self, event: dict[str, Any]) -> None:
        data = event["data"]
        found = self.call(
            "line_items.find",
            {"criteria": {"OpportunityId": data["OpportunityId"], "Product2Id": data["Product2Id"]}},
        )
        if not found.get("found") or found.get("id") != event["subject"]:
            raise DemoError("the new line item was not found on its opportunity")
        updated = self.call(
            "line_items.update",
            {"Quantity": 3, "Description": "Quantity aligned with the signed quote"},
            record_id=event["subject"],
        )
        quantity = updated.get("record", {}).get("Quantity")
        if quantity != 3:
            raise DemoError(f"the line item's quantity reads {quantity}, not 3")
        self.out("   ✓ line item aligned with the quote: Quantity 2 → 3")

    def run(self) -> bool:
        automations = self.automations()
        self.results = automations
        for trigger in {t for a in automations for t in (a.trigger, a.write_back_trigger)}:
            if trigger not in self.triggers:
                raise DemoError(f"the catalog has no trigger {trigger!r}")
        self.prepare()

        self.out("")
        self.out("The workflows subscribe (ignore_own_changes: their own write-backs must not fire them)")
        for automation in automations:
            self.out(f"   {automation.number}. {self.triggers[automation.trigger]} ({automation.trigger})")
            automation.subscription_id = self.subscribe(automation.trigger, automation.fields, True)
            automation.queue = self.queue(
                f"{automation.number}-{automation.trigger.replace('.', '-')}", [automation.subscription_id]
            )
        self.out("   Witness of the loop guard: the write-backs' triggers, without ignore_own_changes")
        for trigger in dict.fromkeys(a.write_back_trigger for a in automations):
            self.witness_ids.append(self.subscribe(trigger, ["CreatedById", "LastModifiedById"], False))
        self.witness = self.queue("witness", self.witness_ids)

        # The updates must not share the second of the records' creation: Salesforce stamps have
        # second precision, and a record whose LastModifiedDate equals its CreatedDate was not modified.
        _next_second()
        self.out("")
        self.out(f"{self.sales_username} works in Salesforce (emulator admin API: no connector, no API call)")
        usage_at_change = self.usage()
        cycles_at_change = self.poll_cycles()
        for automation in automations:
            try:
                automation.changed_at = time.monotonic()
                automation.record_id = automation.fire()
            except DemoError as exc:
                self.out(f"   ✗ {exc}")
        period = self.timeout
        self.out("")
        if self.relayed:
            self.out(
                "Waiting for the trigger events on the SQS queues (relayed in real time:"
                f" {', '.join(self.relayed)}; the rest is polled every {self.poll_period:g} s;"
                f" at most {period:.0f} s)"
            )
        else:
            self.out(
                f"Waiting for the trigger events on the SQS queues (the connection is polled every"
                f" {self.poll_period:g} s; at most {period:.0f} s)"
            )
            if self.poll_period >= 10:
                self.out(
                    "   (`SCHEDULE_SPEEDUP=60 make run` polls every second: the demo then takes seconds)"
                )

        def events_in() -> bool:
            for automation in automations:
                if automation.event is None and automation.queue is not None:
                    for event in automation.queue.received:
                        if event.get("subject") == automation.record_id:
                            automation.event = event
                            automation.arrived = time.monotonic()
                            usage = self.usage()
                            if usage is not None and usage_at_change is not None:
                                automation.calls_in_flight = usage - usage_at_change
                            automation.polls_in_flight = self.poll_cycles() - cycles_at_change
            return all(a.event is not None for a in automations if a.record_id)

        self.wait_until(events_in, [a.queue for a in automations if a.queue is not None])

        # Salesforce stamps records to the second, and a record's version (part of every trigger's
        # event id, relayed or polled) is its LastModifiedDate: a write-back within the same second
        # as the user's change is the same version, one change to every trigger. A relayed event
        # can arrive well inside that second, so the write-backs wait for it to pass; otherwise the
        # loop guard's witness could not tell a write-back from the change that caused it.
        sent = [a.changed_at for a in automations if a.changed_at is not None]
        if sent:
            time.sleep(max(0.0, 1.1 - (time.monotonic() - max(sent))))

        for automation in automations:
            self.out("")
            self.out(f"{automation.number}. {automation.title}")
            self.out(f"   ({automation.flow})")
            if not automation.record_id:
                self.out("   ✗ the Salesforce user's change failed")
                continue
            event = automation.event
            if event is None:
                self.out(
                    f"   ✗ no {automation.trigger} event for {automation.record_id} within {period:.0f} s:"
                    " is the poller firing? (`make run` prints `[schedule] ... poll-<cid> fired`)"
                )
                continue
            queue = automation.queue.name if automation.queue else "?"
            self.out(
                f"   ⚡ {event['type']} {event['sobject']} {event['subject']} arrived on {queue}"
                f" {automation.latency:.1f} s after the change (event id {event['id']})"
            )
            self.out(f"     {automation.delivery_note(self.relayed)}")
            self.out(f"     data: {_compact(_record(event['data']), 140)}")
            calls_before = self.action_calls
            try:
                automation.run(event)
                automation.ok = True
            except DemoError as exc:
                self.out(f"   ✗ stopped: {exc}")
            automation.action_calls = self.action_calls - calls_before

        return self.loop_guard(automations)

    def loop_guard(self, automations: list[Automation]) -> bool:
        done = [a for a in automations if a.ok]
        self.out("")
        self.out("Loop guard: do the workflows' own write-backs fire them again?")
        if not done or self.witness is None:
            self.out("   ✗ nothing to check: no automation wrote back")
            return False
        expected = {a.write_back_trigger for a in done}

        def own(event: dict[str, Any]) -> bool:
            data = event.get("data") or {}
            actor = (
                data.get("CreatedById")
                if event.get("event_type") == "created"
                else data.get("LastModifiedById")
            )
            return bool(actor) and str(actor)[:15] == self.own_user_id[:15]

        witness = self.witness

        def witnessed() -> bool:
            return expected <= {e["type"] for e in witness.received if own(e)}

        if not self.wait_until(witnessed, [witness]):
            seen = sorted({e["type"] for e in witness.received if own(e)})
            self.out(
                f"   ✗ the witness saw {seen or 'none'} of the write-backs within {self.timeout:.0f} s:"
                " the loop guard is not proven"
            )
            return False
        own_events = [e for e in witness.received if own(e)]
        self.out(
            f"   the witness subscriptions received {len(own_events)} event(s) of the demo's own writes"
            f" (by {self.own_username}): "
            + ", ".join(sorted({f"{e['type']} {e['subject']}" for e in own_events}))
        )
        # Whatever the write-backs would fire is published by the cycle that published the
        # witness events (one query per sObject serves every subscription on it): once that
        # cycle has finished, every batch it published is on the queues.
        cycles, _ = self.poll_schedule()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            fired, running = self.poll_schedule()
            if fired > cycles or not running:
                break
            time.sleep(0.1)
        held = True
        for automation in done:
            assert automation.queue is not None
            assert automation.event is not None
            self.drain(automation.queue)
            fired_by = automation.event["id"]
            # Two automations start from New Lead: the other one's lead is the Salesforce user's
            # change, not a write-back.
            others = {a.record_id for a in automations if a is not automation}
            automation.after_write_back = sum(
                1
                for e in automation.queue.received
                if e.get("id") != fired_by and e.get("subject") not in others
            )
            verdict = "✓" if automation.after_write_back == 0 else "✗"
            held = held and automation.after_write_back == 0
            self.out(
                f"   {verdict} {self.triggers[automation.trigger]} ({automation.trigger}): "
                f"{automation.after_write_back} event(s) after the write-back"
            )
        return held

    def cleanup(self) -> None:
        self.out("")
        self.out("Clean-up: the demo's subscriptions and queues")
        for sid in list(self.subscriptions):
            try:
                self.request("DELETE", f"/connections/{self.connection_id}/subscriptions/{sid}")
                self.subscriptions.remove(sid)
            except (DemoError, httpx.HTTPError) as exc:
                self.out(f"   ✗ {exc}")
        for queue in self.queues:
            try:
                if queue.subscription_arn:
                    self.sns.unsubscribe(SubscriptionArn=queue.subscription_arn)
                self.sqs.delete_queue(QueueUrl=queue.url)
            except Exception as exc:  # clean-up goes on with the next queue
                self.out(f"   ✗ queue {queue.name}: {exc}")
        self.out(f"   {len(self.queues)} SQS queues and their SNS subscriptions deleted")


_COUNTRIES = {"usa": "United States", "us": "United States", "uk": "United Kingdom", "fr": "France"}


def _title(value: Any) -> str:
    return " ".join(word.capitalize() for word in str(value).split())


def _next_second() -> None:
    time.sleep(1.05 - (time.time() % 1.0))


def _calls(n: int) -> str:
    return f"{n} Salesforce API call{'s' if n != 1 else ''}"


def _compact(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, separators=(", ", ": "), default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Fields every record has: not what a reader of the demo looks at.
_SYSTEM_FIELDS = {
    "attributes", "Id", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
    "SystemModstamp", "IsDeleted", "LastViewedDate", "LastReferencedDate", "LastActivityDate",
}  # fmt: skip


def _record(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in _SYSTEM_FIELDS}


def _value(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary(payload: Any) -> str:
    """The interesting part of an answer on one line."""
    if not isinstance(payload, dict):
        return _compact(payload)
    parts: list[str] = []
    for key in ("subscription_id", "trigger", "found", "match_count", "created", "id", "schedule_deleted"):
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
    return "  ".join(parts) or _compact(payload)


def _latency_table(demo: Demo) -> None:
    """Per automation: change-to-event latency and the Salesforce calls of its delivery and actions."""
    arrived = [a for a in demo.results if a.event is not None]
    if not arrived:
        return
    print("")
    mode = (
        f"relay on for {', '.join(demo.relayed)}" if demo.relayed else "relay off (REALTIME=0): polling only"
    )
    print(f"Latency and Salesforce calls per automation ({mode})")
    print("   #  trigger              via     latency  trigger calls*  action calls")
    for a in arrived:
        via = "relay" if a.sobject in demo.relayed else "poll"
        calls = "?" if a.calls_in_flight is None else str(a.calls_in_flight)
        print(
            f"   {a.number}  {a.trigger:<20} {via:<7} {a.latency:6.1f} s  {calls:>14}  {a.action_calls:>12}"
        )
    print("   * counted by the emulator between the change and the event's arrival, for every automation's")
    print("     delivery at once (their changes are made together): 0 means no call at all")
    duplicates = sum(q.duplicates for q in demo.queues)
    if duplicates:
        print(
            f"   {duplicates} event(s) came twice with the same id (a relay redelivery or a reconciliation)"
            " and were dropped by id, as a subscriber does"
        )


def _aws(moto_url: str) -> tuple[Any, Any]:
    """SQS and SNS clients of the stack's moto server (its fake credentials, never a real account)."""
    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    return session.client("sqs", endpoint_url=moto_url), session.client("sns", endpoint_url=moto_url)


def _poll_period(client: httpx.Client, api_url: str, connection_id: str, speedup: float) -> float:
    """Real seconds between two polls of the connection: its interval at the stack's speed-up."""
    try:
        answer = client.get(f"{api_url}/connections/{connection_id}/polling").json()
        interval = int(answer["interval_minutes"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        interval = 1
    return interval * 60 / max(speedup, 0.001)


def _timeout(period: float) -> float:
    """Long enough for two polls and the safety margin (``DEMO_TIMEOUT_SECONDS`` overrides it)."""
    explicit = os.environ.get("DEMO_TIMEOUT_SECONDS")
    if explicit:
        return float(explicit)
    return max(20.0, 2 * period + 15)


def _setup(client: httpx.Client, api_url: str) -> Demo | str:
    """The demo wired to the running stack, or why it cannot start."""
    try:
        health = client.get(f"{api_url}/__devstack__/health").json()
    except (httpx.HTTPError, ValueError):
        return f"The local stack is not answering on {api_url}: start it with `make run` first."
    if health.get("status") != "ready":
        return "The local stack is still starting: wait for 'Local stack ready' and try again."
    salesforce_url, moto_url = health.get("salesforce_url"), health.get("moto_url")
    connection_id = health.get("demo_connection_id")
    if not salesforce_url or not moto_url:
        return "The local stack runs without the Salesforce emulator or moto: see the `make run` output."
    if not connection_id:
        return "There is no demo connection (see the `make run` output: DEMO_CONNECTION=0?)."
    connection = client.get(f"{api_url}/connections/{connection_id}").json()
    if connection.get("status") != "connected":
        return f"The demo connection is {connection.get('status')!r}, not connected."
    catalog = client.get(f"{api_url}/catalog")
    if catalog.status_code != 200:
        return f"GET /catalog answered {catalog.status_code}: is the meta function in template.yaml?"
    org = client.get(f"{salesforce_url}/__emulator__/org").json()
    sales_user_id = str(org.get("sales_user_id") or "")
    users = {str(u.get("id")): str(u.get("username")) for u in org.get("users", []) if isinstance(u, dict)}
    sales_username = users.get(sales_user_id) or next(
        (name for name in users.values() if name.startswith(SALES_USERNAME_HINT)), ""
    )
    if not sales_username:
        return "The emulator's org names no second Salesforce user (sales_user_id)."
    sqs, sns = _aws(moto_url)
    topics = [t["TopicArn"] for t in sns.list_topics().get("Topics", [])]
    topic = next((t for t in topics if t.endswith("trigger-events")), None)
    if topic is None:
        return "The stack has no trigger-events SNS topic (template.yaml)."
    speedup = float(health.get("schedule_speedup") or 1)
    period = _poll_period(client, api_url, str(connection_id), speedup)
    demo = Demo(
        api_url=api_url,
        client=client,
        salesforce_url=str(salesforce_url),
        sqs=sqs,
        sns=sns,
        topic_arn=topic,
        timeout=_timeout(period),
        poll_period=period,
        connection_id=str(connection_id),
        own_user_id=str(connection.get("user_id") or ""),
        own_username=str(connection.get("username") or ""),
        sales_user_id=sales_user_id,
        sales_username=sales_username,
    )
    demo.relayed = [str(o) for o in health.get("realtime_relayed") or []]
    body = catalog.json()
    demo.routes = {a["key"]: (a["method"], a["route"]) for a in body.get("actions", [])}
    demo.triggers = {t["key"]: t["title"] for t in body.get("triggers", [])}
    if not demo.own_user_id:
        return "The demo connection names no Salesforce user (user_id): ignore_own_changes cannot work."
    return demo


def main() -> int:
    api_url = (
        os.environ.get("API_URL") or f"http://127.0.0.1:{os.environ.get('API_PORT') or DEFAULT_API_PORT}"
    ).rstrip("/")
    with httpx.Client(timeout=30.0) as client:
        demo = _setup(client, api_url)
        if isinstance(demo, str):
            print(demo)
            return 1
        print(f"Popular automations driven by trigger events, through the local API at {api_url}")
        print(
            f"(connection 'demo' = {demo.connection_id}, Salesforce user {demo.own_username};"
            f" changes in Salesforce by {demo.sales_username}; → is one HTTP request to the connector)"
        )
        started = datetime.now(UTC)
        usage_before = demo.usage()
        cycles_before = demo.poll_cycles()
        guard_ok = False
        try:
            guard_ok = demo.run()
        except DemoError as exc:
            print(f"   ✗ stopped: {exc}")
        except httpx.HTTPError as exc:
            print(f"   ✗ the local stack stopped answering: {exc}")
        finally:
            try:
                demo.cleanup()
            except httpx.HTTPError as exc:
                print(f"   ✗ clean-up stopped: {exc}")
        succeeded = sum(1 for a in demo.results if a.ok)
        _latency_table(demo)
        usage_after = demo.usage()
        cycles = demo.poll_cycles() - cycles_before
        seconds = (datetime.now(UTC) - started).total_seconds()
        print("")
        print(
            f"Done in {seconds:.0f} s: {demo.requests} requests to the connector,"
            f" {_calls(demo.action_calls)} by its actions"
        )
        if usage_before is not None and usage_after is not None:
            rest = usage_after - usage_before - demo.action_calls - demo.sales_user_calls
            print(f"      the poller ({cycles} cycles) and the subscriptions' describes: {_calls(rest)}")
        total = len(demo.results) or 4
        guard = "the loop guard held" if guard_ok else "the loop guard FAILED"
        print(f"{succeeded}/{total} automations succeeded; {guard}.")
        return 0 if succeeded == total and guard_ok else 1


if __name__ == "__main__":
    sys.exit(main())
