"""The demo org's seed: users and a few dozen realistic records of every modelled object.

Everything goes through the same DML code as API writes (so derived fields, history rows and
validation are real), with timestamps spread over the past weeks; all of them lie in the past so a
poller starting "now" sees no seed record as new. The data is deterministic for a given clock start.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from typing import Any, Protocol

from sfemulator.clock import Clock, format_datetime
from sfemulator.dml import Dml
from sfemulator.ids import IdGenerator
from sfemulator.schema import Schema
from sfemulator.store import OrgData

__all__ = ["SALES_USERNAME", "SeedTarget", "seed_demo_org", "seed_users"]

DOMAIN = "acme-emulator.example"
USERS = [
    # (first, last, alias, title, department)
    ("Alex", "Admin", "aadmin", "Salesforce Administrator", "IT"),
    ("Integration", "User", "integ", "Integration User", "IT"),
    ("Sam", "Seller", "sseller", "Account Executive", "Sales"),
    ("Riley", "Rep", "rrep", "Sales Development Rep", "Sales"),
    ("Casey", "Support", "csupp", "Support Agent", "Support"),
]
# A person working in Salesforce (not the connection's user): tests write as this user to tell
# "someone changed it in Salesforce" from the connector's own writes.
SALES_USERNAME = f"sam.seller@{DOMAIN}"


class SeedTarget(Protocol):
    """What seeding needs of an org (the org satisfies it; seeding never imports the org)."""

    clock: Clock
    schema: Schema
    ids: IdGenerator
    data: OrgData
    dml: Dml
    admin_user_id: str
    integration_user_id: str


COMPANIES = [
    ("Acme Corporation", "Manufacturing", "San Francisco", "CA", "USA"),
    ("Globex Industries", "Energy", "Springfield", "OR", "USA"),
    ("Initech", "Technology", "Austin", "TX", "USA"),
    ("Umbrella Health", "Healthcare", "Raccoon City", "MO", "USA"),
    ("Stark Manufacturing", "Manufacturing", "New York", "NY", "USA"),
    ("Wayne Logistics", "Transportation", "Gotham", "NJ", "USA"),
    ("Cyberdyne Systems", "Electronics", "Sunnyvale", "CA", "USA"),
    ("Soylent Foods", "Food & Beverage", "Chicago", "IL", "USA"),
    ("Hooli", "Technology", "Palo Alto", "CA", "USA"),
    ("Vandelay Imports", "Retail", "New York", "NY", "USA"),
    ("Wonka Confectionery", "Food & Beverage", "London", None, "United Kingdom"),
    ("Tyrell Biotech", "Biotechnology", "Los Angeles", "CA", "USA"),
    ("Massive Dynamic", "Engineering", "Boston", "MA", "USA"),
    ("Oscorp Chemicals", "Chemicals", "New York", "NY", "USA"),
    ("Aperture Science", "Technology", "Cleveland", "OH", "USA"),
    ("Black Mesa Energy", "Energy", "Albuquerque", "NM", "USA"),
    ("Gringotts Banking", "Banking", "London", None, "United Kingdom"),
    ("Pied Piper", "Technology", "Palo Alto", "CA", "USA"),
    ("Dunder Mifflin Paper", "Retail", "Scranton", "PA", "USA"),
    ("Prestige Worldwide", "Entertainment", "Catalina", "CA", "USA"),
    ("Sterling Cooper Media", "Media", "New York", "NY", "USA"),
    ("Bluth Construction", "Construction", "Newport Beach", "CA", "USA"),
    ("Monarch Hospitality", "Hospitality", "Miami", "FL", "USA"),
    ("Nakatomi Trading", "Finance", "Tokyo", None, "Japan"),
    ("Gekko Capital", "Finance", "New York", "NY", "USA"),
    ("Duff Beverages", "Food & Beverage", "Springfield", "IL", "USA"),
    ("Krusty Entertainment", "Entertainment", "Springfield", "IL", "USA"),
    ("Planet Express Shipping", "Shipping", "New York", "NY", "USA"),
    ("Rekall Travel", "Recreation", "Denver", "CO", "USA"),
    ("Ollivander Retail", "Retail", "Edinburgh", None, "United Kingdom"),
]
FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "Lucas",
    "Mia",
    "Mason",
    "Amelia",
    "Ethan",
    "Harper",
    "Logan",
    "Evelyn",
    "Aiden",
    "Abigail",
    "Jackson",
    "Emily",
    "Sebastian",
    "Ella",
    "Mateo",
    "Chloe",
    "Jack",
    "Grace",
    "Owen",
    "Zoe",
    "Leo",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "O'Brien",
    "Nguyen",
]
TITLES = [
    "CEO",
    "CFO",
    "VP of Sales",
    "VP Engineering",
    "Director of IT",
    "Procurement Manager",
    "Chief Technology Officer",
    "Operations Manager",
    "Buyer",
    "Office Manager",
    "Director of Finance",
    "Head of Marketing",
]
PRODUCTS = [
    ("GenWatt Diesel 1000kW", "GC1060", "Hardware", 100000.0),
    ("GenWatt Diesel 200kW", "GC1020", "Hardware", 25000.0),
    ("GenWatt Propane 500kW", "GC5040", "Hardware", 50000.0),
    ("SLA: Bronze", "SL9020", "Services", 20000.0),
    ("SLA: Silver", "SL9030", "Services", 30000.0),
    ("SLA: Gold", "SL9040", "Services", 40000.0),
    ("Installation: Industrial - High", "IN7080", "Services", 85000.0),
    ("Installation: Portable", "IN7020", "Services", 5000.0),
    ("Cloud Monitoring (per unit/yr)", "SW3010", "Software", 1200.0),
    ("Analytics Add-on", "SW3020", "Software", 4800.0),
    ("Spare Parts Kit", "HW2010", "Hardware", 750.0),
    ("Legacy Turbine (discontinued)", "HW0001", "Hardware", 9999.0),
]
STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]
STREETS = ["Market", "Main", "Oak", "Pine"]
OPP_SUFFIXES = ["Generators", "Service Plan", "Expansion", "Renewal"]
CASE_SUBJECTS = [
    "Generator will not start",
    "Invoice discrepancy",
    "Request for maintenance visit",
    "Error code E42 on control panel",
    "Password reset for portal",
    "Shipment arrived damaged",
    "Noise from turbine",
    "Need copy of SLA",
    "Monitoring dashboard down",
    "Upgrade question",
]
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def seed_users(org: SeedTarget) -> None:
    """The org's users; the first is the admin (the default running user), the second runs integrations."""
    created = org.clock.now() - dt.timedelta(days=400)
    stamp = format_datetime(created)
    user_obj = org.schema.sobjects["User"]
    ids: list[str] = []
    for i, (first, last, alias, title, dept) in enumerate(USERS):
        uid = org.ids.new(user_obj.key_prefix)
        rec: dict[str, Any] = dict.fromkeys(user_obj.fields)
        rec.update(
            Id=uid,
            Username=f"{first.lower()}.{last.lower()}@{DOMAIN}",
            FirstName=first,
            LastName=last,
            Name=f"{first} {last}",
            Alias=alias,
            CommunityNickname=f"{first}{last}".lower(),
            Email=f"{first.lower()}.{last.lower()}@{DOMAIN}",
            Title=title,
            Department=dept,
            CompanyName="Acme Emulated Inc.",
            IsActive=True,
            TimeZoneSidKey="America/Los_Angeles",
            LocaleSidKey="en_US",
            LanguageLocaleKey="en_US",
            EmailEncodingKey="UTF-8",
            UserType="Standard",
            ReceivesInfoEmails=False,
            City="San Francisco",
            State="CA",
            Country="USA",
            CreatedDate=stamp,
            LastModifiedDate=stamp,
            SystemModstamp=stamp,
        )
        rec["CreatedById"] = rec["LastModifiedById"] = ids[0] if ids else uid
        if "Address" in rec:
            rec["Address"] = {
                "city": "San Francisco",
                "country": "USA",
                "geocodeAccuracy": None,
                "latitude": None,
                "longitude": None,
                "postalCode": None,
                "state": "CA",
                "street": None,
            }
        org.data.put("User", rec)
        ids.append(uid)
        if i == 0:
            org.admin_user_id = uid
        elif i == 1:
            org.integration_user_id = uid


class _Seeder:
    def __init__(self, org: SeedTarget) -> None:
        self.org = org
        self.rng = random.Random(20240520)
        self.now = org.clock.now().replace(microsecond=0)
        users = [u["Id"] for u in org.data.iter("User", include_deleted=False)]
        self.admin = org.admin_user_id
        self.sellers = users[2:4] or [self.admin]
        self.support = users[4] if len(users) > 4 else self.admin

    def ago(self, max_days: float, min_days: float = 0.02) -> dt.datetime:
        seconds = self.rng.uniform(min_days * 86400, max_days * 86400)
        return self.now - dt.timedelta(seconds=int(seconds))

    def insert(self, sobject: str, values: dict[str, Any], when: dt.datetime, user: str | None = None) -> str:
        sobj = self.org.schema.sobjects[sobject]
        return self.org.dml.insert(sobj, values, user_id=user or self.admin, stamp=when)

    def update(
        self, sobject: str, rid: str, values: dict[str, Any], when: dt.datetime, user: str | None = None
    ) -> None:
        sobj = self.org.schema.sobjects[sobject]
        self.org.dml.update(sobj, rid, values, user_id=user or self.admin, stamp=when)

    def later(self, after: dt.datetime) -> dt.datetime:
        span = max((self.now - after).total_seconds() - 3600, 60)
        return after + dt.timedelta(seconds=int(self.rng.uniform(60, span)))

    def run(self) -> None:
        rng = self.rng
        accounts: list[tuple[str, dt.datetime]] = []
        for i, (name, industry, city, state, country) in enumerate(COMPANIES):
            when = self.ago(60, 2)
            values: dict[str, Any] = {
                "Name": name,
                "Industry": industry,
                "Type": rng.choice(
                    ["Customer - Direct", "Customer - Channel", "Prospect", "Technology Partner"]
                ),
                "Rating": rng.choice(["Hot", "Warm", "Cold", None]),
                "BillingStreet": f"{rng.randint(1, 999)} {rng.choice(STREETS)} Street",
                "BillingCity": city,
                "BillingState": state,
                "BillingPostalCode": f"{rng.randint(10000, 99999)}",
                "BillingCountry": country,
                "Phone": f"(415) 555-{1000 + i:04d}",
                "Website": "https://www." + name.lower().split()[0].replace("&", "") + ".example",
                "AnnualRevenue": float(rng.choice([5, 12, 48, 150, 900]) * 1_000_000),
                "NumberOfEmployees": rng.choice([40, 250, 1200, 5400, 30000]),
                "AccountNumber": f"CD{451000 + i}",
                "OwnerId": rng.choice(self.sellers),
                "Tier__c": rng.choice(["Platinum", "Gold", "Silver", "Bronze"]),
                "Description": f"{name} is a {industry.lower()} company headquartered in {city}.",
            }
            if i < 24:
                values["External_Id__c"] = f"ACC-{i + 1:04d}"
            if i in (4, 5):
                values["ParentId"] = accounts[0][0]
            rid = self.insert("Account", values, when)
            accounts.append((rid, when))
        for rid, when in accounts[::3]:
            self.update("Account", rid, {"Rating": rng.choice(["Hot", "Warm", "Cold"])}, self.later(when))
        for rid, when in accounts[1::5]:
            self.update("Account", rid, {"Industry": "Technology", "Rating": "Hot"}, self.later(when))

        contacts: list[tuple[str, str, dt.datetime]] = []
        n = 0
        for acct, acct_when in accounts:
            for _ in range(2):
                first, last = FIRST[n % len(FIRST)], LAST[(n * 7) % len(LAST)]
                when = acct_when + dt.timedelta(hours=rng.randint(1, 48))
                values = {
                    "FirstName": first,
                    "LastName": last,
                    "AccountId": acct,
                    "Title": TITLES[n % len(TITLES)],
                    "Email": f"{first.lower()}.{last.lower().replace(chr(39), '')}{n}@example.com",
                    "Phone": f"(212) 555-{2000 + n:04d}",
                    "MailingCity": rng.choice(["Boston", "Denver", "Seattle", "Austin"]),
                    "LeadSource": rng.choice(["Web", "Phone Inquiry", "Partner Referral", "Other"]),
                    "Salutation": rng.choice(["Mr.", "Ms.", "Dr."]),
                    "External_Id__c": f"CON-{n + 1:04d}",
                }
                rid = self.insert("Contact", values, min(when, self.now - dt.timedelta(hours=3)))
                contacts.append((rid, acct, when))
                n += 1
        for rid, _acct, when in contacts[::6]:
            self.update(
                "Contact",
                rid,
                {"Title": "VP of Sales"},
                self.later(min(when, self.now - dt.timedelta(hours=3))),
            )

        for i in range(40):
            first, last = FIRST[(i * 3) % len(FIRST)], LAST[(i * 5 + 3) % len(LAST)]
            today = i >= 37
            when = self.now - dt.timedelta(minutes=30 + 20 * (i - 37)) if today else self.ago(45, 1)
            values = {
                "FirstName": first,
                "LastName": last,
                "Company": f"{last} {rng.choice(['Consulting', 'Holdings', 'Labs', 'Partners', 'Group'])}",
                "Email": f"{first.lower()}.{last.lower().replace(chr(39), '')}.lead{i}@example.org",
                "Status": rng.choice(
                    ["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"]
                ),
                "LeadSource": rng.choice(["Web", "Phone Inquiry", "Purchased List", "Other"]),
                "Rating": rng.choice(["Hot", "Warm", "Cold", None]),
                "Industry": rng.choice(["Technology", "Finance", "Retail", "Healthcare"]),
                "State": rng.choice(["CA", "NY", "TX", "WA"]),
                "Country": "USA",
                "OwnerId": rng.choice(self.sellers),
                "External_Id__c": f"LEAD-{i + 1:04d}",
            }
            self.insert("Lead", values, when)

        products: list[tuple[str, float, bool]] = []
        catalog_when = self.now - dt.timedelta(days=90)
        for i, (name, code, family, price) in enumerate(PRODUCTS):
            active = i != len(PRODUCTS) - 1
            rid = self.insert(
                "Product2",
                {
                    "Name": name,
                    "ProductCode": code,
                    "Family": family,
                    "IsActive": active,
                    "Description": f"{name} ({family})",
                    "QuantityUnitOfMeasure": "Each",
                },
                catalog_when,
            )
            products.append((rid, price, active))
        standard = self.insert(
            "Pricebook2",
            {"Name": "Standard Price Book", "IsActive": True, "Description": "Standard prices"},
            catalog_when,
        )
        std_rec = dict(self.org.data.get(standard)[1])  # type: ignore[index]
        std_rec["IsStandard"] = True
        self.org.data.put("Pricebook2", std_rec)
        partner = self.insert(
            "Pricebook2",
            {"Name": "Partner Price Book", "IsActive": True, "Description": "Channel partner prices"},
            catalog_when,
        )
        std_entries: dict[str, str] = {}
        partner_entries: dict[str, str] = {}
        for rid, price, active in products:
            std_entries[rid] = self.insert(
                "PricebookEntry",
                {"Pricebook2Id": standard, "Product2Id": rid, "UnitPrice": price, "IsActive": active},
                catalog_when,
            )
        for rid, price, active in products[:6]:
            partner_entries[rid] = self.insert(
                "PricebookEntry",
                {
                    "Pricebook2Id": partner,
                    "Product2Id": rid,
                    "UnitPrice": round(price * 0.85, 2),
                    "IsActive": active,
                },
                catalog_when,
            )

        opps: list[tuple[str, str, dt.datetime]] = []
        for i in range(36):
            acct, acct_when = accounts[i % len(accounts)]
            when = acct_when + dt.timedelta(hours=rng.randint(2, 200))
            when = min(when, self.now - dt.timedelta(hours=2))
            stage = STAGES[i % len(STAGES)]
            close = (self.now + dt.timedelta(days=rng.randint(-60, 90))).date()
            values = {
                "Name": f"{COMPANIES[i % len(COMPANIES)][0]} - {rng.choice(OPP_SUFFIXES)}",
                "AccountId": acct,
                "StageName": stage,
                "CloseDate": close.isoformat(),
                "Type": rng.choice(
                    ["New Customer", "Existing Customer - Upgrade", "Existing Customer - Replacement"]
                ),
                "LeadSource": rng.choice(["Web", "Partner Referral", "Phone Inquiry"]),
                "OwnerId": rng.choice(self.sellers),
                "NextStep": rng.choice(["Send proposal", "Schedule demo", "Negotiate terms", None]),
            }
            if i % 3 == 0:
                values["External_Id__c"] = f"OPP-{i + 1:04d}"
            if i >= 20:
                values["Amount"] = float(rng.choice([15000, 42000, 75000, 120000, 250000]))
            rid = self.insert("Opportunity", values, when)
            opps.append((rid, acct, when))
        for rid, _acct, when in opps[:20]:
            use_partner = rid == opps[1][0]
            entries = partner_entries if use_partner else std_entries
            chosen = rng.sample([p for p in products if p[2] and p[0] in entries], k=rng.randint(1, 3))
            for prod, price, _active in chosen:
                self.insert(
                    "OpportunityLineItem",
                    {
                        "OpportunityId": rid,
                        "PricebookEntryId": entries[prod],
                        "Quantity": float(rng.randint(1, 5)),
                        "UnitPrice": price if not use_partner else round(price * 0.85, 2),
                        "ServiceDate": (when.date() + dt.timedelta(days=30)).isoformat(),
                    },
                    when + dt.timedelta(minutes=10),
                )
        for rid, _acct, when in opps[:30:3]:
            stage = self.org.data.get(rid)[1]["StageName"]  # type: ignore[index]
            nxt = STAGES[min(STAGES.index(stage) + 1, 8)]
            self.update("Opportunity", rid, {"StageName": nxt}, self.later(when + dt.timedelta(minutes=20)))
        for i, (rid, acct, when) in enumerate(opps[:30]):
            acct_contacts = [c for c in contacts if c[1] == acct]
            if not acct_contacts:
                continue
            self.insert(
                "OpportunityContactRole",
                {
                    "OpportunityId": rid,
                    "ContactId": acct_contacts[i % len(acct_contacts)][0],
                    "Role": rng.choice(["Decision Maker", "Economic Buyer", "Evaluator", "Influencer"]),
                    "IsPrimary": True,
                },
                when + dt.timedelta(minutes=5),
            )

        cases: list[tuple[str, dt.datetime]] = []
        for i in range(30):
            contact, acct, c_when = contacts[(i * 3) % len(contacts)]
            when = min(c_when + dt.timedelta(days=rng.randint(1, 20)), self.now - dt.timedelta(hours=1))
            values = {
                "Subject": CASE_SUBJECTS[i % len(CASE_SUBJECTS)],
                "Description": "Customer reported: " + CASE_SUBJECTS[i % len(CASE_SUBJECTS)].lower() + ".",
                "ContactId": contact,
                "Status": rng.choice(["New", "Working", "Escalated"]),
                "Priority": rng.choice(["High", "Medium", "Low"]),
                "Origin": rng.choice(["Phone", "Email", "Web"]),
                "Type": rng.choice(["Mechanical", "Electrical", "Electronic", "Other"]),
                "Reason": rng.choice(["Installation", "Performance", "Breakdown", "Feedback"]),
                "OwnerId": self.support,
            }
            rid = self.insert("Case", values, when, self.support)
            cases.append((rid, when))
        for rid, when in cases[::3]:
            self.update("Case", rid, {"Status": "Closed"}, self.later(when), self.support)
        for i in range(40):
            case, when = cases[i % len(cases)]
            self.insert(
                "CaseComment",
                {
                    "ParentId": case,
                    "CommentBody": rng.choice(
                        [
                            "Called the customer, waiting for logs.",
                            "Technician scheduled for Tuesday.",
                            "Customer confirmed the fix works.",
                            "Escalated to engineering.",
                            "Sent replacement part.",
                        ]
                    ),
                    "IsPublished": i % 2 == 0,
                },
                self.later(when),
                self.support,
            )

        for i in range(40):
            contact, acct, c_when = contacts[(i * 5) % len(contacts)]
            what = opps[i % len(opps)][0] if i % 2 else acct
            when = self.later(c_when)
            due = (self.now + dt.timedelta(days=rng.randint(-20, 20))).date()
            self.insert(
                "Task",
                {
                    "Subject": rng.choice(["Call", "Email", "Send Quote", "Follow up on proposal"]),
                    "WhoId": contact,
                    "WhatId": what,
                    "ActivityDate": due.isoformat(),
                    "Status": rng.choice(["Not Started", "In Progress", "Completed"]),
                    "Priority": rng.choice(["High", "Normal", "Low"]),
                    "OwnerId": rng.choice(self.sellers),
                    "Description": "Auto-generated demo task.",
                },
                when,
            )
        for i in range(30):
            contact, acct, c_when = contacts[(i * 7) % len(contacts)]
            start = (self.now + dt.timedelta(days=rng.randint(-30, 30))).replace(minute=0, second=0)
            all_day = i % 10 == 0
            values = {
                "Subject": rng.choice(["Meeting", "Demo", "Site visit", "Quarterly review"]),
                "WhoId": contact,
                "WhatId": acct,
                "Location": rng.choice(["Zoom", "Customer site", "HQ"]),
                "OwnerId": rng.choice(self.sellers),
            }
            if all_day:
                values.update(IsAllDayEvent=True, ActivityDate=start.date().isoformat())
            else:
                values.update(
                    ActivityDateTime=format_datetime(start), DurationInMinutes=rng.choice([30, 60, 90])
                )
            self.insert("Event", values, self.later(c_when))

        parents = [a for a, _ in accounts[:4]] + [o for o, _, _ in opps[:4]] + [c for c, _ in cases[:4]]
        for i, parent in enumerate(parents):
            if i % 3 == 2:
                name, body, ctype = f"logo-{i}.png", TINY_PNG, "image/png"
            else:
                name, ctype = f"notes-{i}.txt", "text/plain"
                body = f"Meeting notes #{i}\nAll good.\n".encode()
            self.insert(
                "Attachment",
                {
                    "ParentId": parent,
                    "Name": name,
                    "Body": base64.b64encode(body).decode("ascii"),
                    "ContentType": ctype,
                },
                self.ago(20, 1),
            )
        items: list[tuple[str, dt.datetime]] = []
        feed_parents = [a for a, _ in accounts[:8]] + [o for o, _, _ in opps[:6]] + [c for c, _ in cases[:6]]
        for parent in feed_parents:
            when = self.ago(20, 1)
            rid = self.insert(
                "FeedItem",
                {
                    "ParentId": parent,
                    "Body": rng.choice(
                        [
                            "Great call with the customer today!",
                            "Contract sent for signature.",
                            "Heads up: renewal is coming up next month.",
                            "Logged the outage report here.",
                        ]
                    ),
                },
                when,
                rng.choice(self.sellers),
            )
            items.append((rid, when))
        for i in range(30):
            item, when = items[i % len(items)]
            self.insert(
                "FeedComment",
                {
                    "FeedItemId": item,
                    "CommentBody": rng.choice(["Nice work!", "Thanks for the update.", "+1", "On it."]),
                },
                self.later(when),
                rng.choice(self.sellers),
            )

        statuses = ["Draft", "Sent", "Paid", "Overdue", "Void"]
        for i in range(25):
            acct, acct_when = accounts[i % len(accounts)]
            issue = (self.now - dt.timedelta(days=rng.randint(5, 60))).date()
            status = statuses[i % len(statuses)]
            self.insert(
                "Invoice__c",
                {
                    "Name": f"Invoice {2024_0001 + i}",
                    "Invoice_Number__c": f"INV-2024-{i + 1:04d}",
                    "Account__c": acct,
                    "Opportunity__c": opps[i % len(opps)][0],
                    "Amount__c": float(rng.choice([1200, 4800, 15000, 42000])),
                    "Status__c": status,
                    "Issue_Date__c": issue.isoformat(),
                    "Due_Date__c": (issue + dt.timedelta(days=30)).isoformat(),
                    "Paid__c": status == "Paid",
                    "Customer_Email__c": f"billing{i}@example.com",
                },
                self.later(acct_when),
            )
        # Salesforce Files, after the records above (they keep their ids) and before the campaigns:
        # each account of the first few gets a file published to it; the first file has a second version.
        for i, (acct, acct_when) in enumerate(accounts[:3]):
            body = f"Account plan #{i}\nGoals, contacts, next steps.\n".encode()
            when = self.later(acct_when)
            version = self.insert(
                "ContentVersion",
                {
                    "Title": f"Account plan {i + 1}",
                    "PathOnClient": f"account-plan-{i + 1}.txt",
                    "VersionData": base64.b64encode(body).decode("ascii"),
                    "FirstPublishLocationId": acct,
                },
                when,
            )
            if i == 0:
                document = self.org.data.records["ContentVersion"][version]["ContentDocumentId"]
                self.insert(
                    "ContentVersion",
                    {
                        "PathOnClient": "account-plan-1.txt",
                        "VersionData": base64.b64encode(body + b"Signed off.\n").decode("ascii"),
                        "ContentDocumentId": document,
                        "ReasonForChange": "Signed off",
                    },
                    self.later(when),
                )
        self._campaigns()

    def _campaigns(self) -> None:
        """Two campaigns with members (seeded last: the records above keep their ids)."""
        leads = [r["Id"] for r in self.org.data.iter("Lead", include_deleted=False)]
        contacts = [r["Id"] for r in self.org.data.iter("Contact", include_deleted=False)]
        start = self.now.date()
        specs = [
            ("Spring Product Webinar", "Webinar", "In Progress", -20, 10, leads[:8], contacts[:4]),
            ("Partner Summit", "Conference", "Planned", 30, 32, leads[8:12], contacts[4:10]),
        ]
        for name, kind, status, begins, ends, member_leads, member_contacts in specs:
            when = self.ago(40, 25)
            campaign = self.insert(
                "Campaign",
                {
                    "Name": name,
                    "Type": kind,
                    "Status": status,
                    "IsActive": True,
                    "StartDate": (start + dt.timedelta(days=begins)).isoformat(),
                    "EndDate": (start + dt.timedelta(days=ends)).isoformat(),
                    "BudgetedCost": 5000.0,
                },
                when,
            )
            if kind == "Webinar":  # a campaign's own statuses beside the two every campaign gets
                for order, (label, responded) in enumerate((("Registered", False), ("Attended", True)), 3):
                    self.insert(
                        "CampaignMemberStatus",
                        {
                            "CampaignId": campaign,
                            "Label": label,
                            "SortOrder": order,
                            "HasResponded": responded,
                        },
                        when,
                    )
            for field, people in (("LeadId", member_leads), ("ContactId", member_contacts)):
                for person in people:
                    status_value = self.rng.choice(["Sent", "Sent", "Responded"])
                    self.insert(
                        "CampaignMember",
                        {"CampaignId": campaign, field: person, "Status": status_value},
                        self.later(when),
                    )


def seed_demo_org(org: SeedTarget) -> None:
    seed_users(org)
    _Seeder(org).run()
