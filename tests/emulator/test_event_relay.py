"""Change events from committed writes, relayed to a moto EventBridge partner bus and read from SQS.

moto runs in-process (``aws`` fixture): the emulator's delivery thread lives in the test process,
so ``mock_aws`` intercepts its boto3 calls once the org is told to use boto3's own endpoints
(``aws_endpoint_url=default``). The AWS side is what a user does: a bus named after the partner
event source, a rule on it into an SQS queue.
"""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest

from tests.emulator.cdc_helpers import channel, created_id, member, relay_config, tooling_query, where
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle

CLIENT_HEADER = {"Sforce-Call-Options": "client=sfconnector"}


@dataclass
class Relay:
    emulator: EmulatorHandle
    api: httpx.Client
    config_id: str
    channel_id: str
    source: str
    queue_url: str
    region: str

    def associate(self) -> None:
        """What the user (or the connector) does on AWS: a bus for the source, a rule into SQS."""
        events = boto3.client("events", region_name=self.region)
        events.create_event_bus(Name=self.source, EventSourceName=self.source)
        events.put_rule(
            Name="salesforce-changes",
            EventBusName=self.source,
            EventPattern=json.dumps({"source": [{"prefix": "aws.partner/salesforce.com"}]}),
        )
        arn = boto3.client("sqs", region_name=self.region).get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        events.put_targets(
            Rule="salesforce-changes", EventBusName=self.source, Targets=[{"Id": "q", "Arn": arn}]
        )

    def received(self, *, flush: bool = True) -> list[dict[str, Any]]:
        """Every EventBridge event that reached the queue so far (flushing the relay first)."""
        if flush:
            self.emulator.flush_relay()
        sqs = boto3.client("sqs", region_name=self.region)
        out: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def set_state(self, state: str, recovery: str | None = None) -> None:
        metadata: dict[str, Any] = {"state": state}
        if recovery is not None:
            metadata["relayOption"] = json.dumps({"ReplayRecovery": recovery}, separators=(",", ":"))
        response = self.api.patch(
            f"/tooling/sobjects/EventRelayConfig/{self.config_id}", json={"Metadata": metadata}
        )
        assert response.status_code == 204, response.text


def headers(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["detail"]["payload"]["ChangeEventHeader"] for e in events]


@pytest.fixture
def relay(aws: AwsEnv, sf_emulator: EmulatorHandle, api: httpx.Client) -> Iterator[Relay]:
    sf_emulator.configure(aws_endpoint_url="default")
    channel_id = channel(api)
    created_id(member(api, "Account", enrichedFields=[{"name": "Industry"}]))
    for entity in ("Contact", "Lead", "Opportunity"):
        created_id(member(api, entity))
    config_id = created_id(relay_config(api))
    queue_url = boto3.client("sqs", region_name=aws.region).create_queue(QueueName="relay")["QueueUrl"]
    source = f"aws.partner/salesforce.com/{sf_emulator.org_id}/{channel_id}"
    handle = Relay(sf_emulator, api, config_id, channel_id, source, queue_url, aws.region)
    sf_emulator.flush_relay()  # the partner event source exists once the relay's first job ran
    try:
        yield handle
    finally:
        sf_emulator.flush_relay()
        sf_emulator.reset()  # no relay, no AWS endpoint: nothing reaches AWS after moto stops


def new_account(api: httpx.Client, **fields: Any) -> str:
    response = api.post("/sobjects/Account", json={"Name": "Acme", **fields}, headers=CLIENT_HEADER)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_relay_config_creates_the_partner_event_source(relay: Relay) -> None:
    source = boto3.client("events", region_name=relay.region).describe_event_source(Name=relay.source)
    assert source["Name"] == relay.source
    assert source["State"] == "ACTIVE"


def test_nothing_arrives_before_association(relay: Relay) -> None:
    new_account(relay.api)
    assert relay.received() == []
    assert relay.emulator.relay_status()["worker"]["no_bus"] == 1
    relay.associate()
    account_id = new_account(relay.api, Name="After")
    assert [h["recordIds"] for h in headers(relay.received())] == [[account_id]]


def test_create_update_delete_undelete_in_salesforce_shape(relay: Relay, sf_emulator: EmulatorHandle) -> None:
    relay.associate()
    api = relay.api
    account_id = new_account(api, Industry="Energy", Phone="555-0100", BillingCity="Paris")
    assert (
        api.patch(f"/sobjects/Account/{account_id}", json={"Phone": None, "Rating": "Hot"}).status_code == 204
    )
    assert api.delete(f"/sobjects/Account/{account_id}").status_code == 204
    sf_emulator.dml("undelete", "Account", id=account_id, username=sf_emulator.sales_username)
    events = relay.received()

    assert [e["detail-type"] for e in events] == ["AccountChangeEvent"] * 4
    assert {e["source"] for e in events} == {relay.source}
    created, updated, deleted, undeleted = (e["detail"]["payload"] for e in events)
    head = created["ChangeEventHeader"]
    assert head["changeType"] == "CREATE"
    assert head["entityName"] == "Account"
    assert head["recordIds"] == [account_id]
    assert head["changeOrigin"] == f"com/salesforce/api/rest/{sf_emulator.api_version[1:]};client=sfconnector"
    assert head["commitUser"] == sf_emulator.admin_user_id
    assert head["sequenceNumber"] == 1
    assert created["Name"] == "Acme"
    assert created["BillingAddress"] == {"City": "Paris"}
    assert {"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById"} <= set(created)
    assert not {"SystemModstamp", "IsDeleted", "Id", "Fax"} & set(created)

    change = updated["ChangeEventHeader"]
    assert change["changeType"] == "UPDATE"
    assert change["changeOrigin"] == ""  # no Sforce-Call-Options on that call
    assert sorted(change["changedFields"]) == ["LastModifiedDate", "Phone", "Rating"]
    assert change["nulledFields"] == ["Phone"]
    # The changed fields, LastModifiedDate and the member's enriched field; never old values.
    assert set(updated) == {"ChangeEventHeader", "Phone", "Rating", "LastModifiedDate", "Industry"}
    assert updated["Phone"] is None
    assert updated["Industry"] == "Energy"

    assert deleted["ChangeEventHeader"]["changeType"] == "DELETE"
    assert set(deleted) == {"ChangeEventHeader"}
    back = undeleted["ChangeEventHeader"]
    assert back["changeType"] == "UNDELETE"
    assert back["commitUser"] == sf_emulator.sales_user_id
    assert set(undeleted) == {"ChangeEventHeader", "LastModifiedDate", "LastModifiedById"}

    replay_ids = [e["detail"]["event"]["replayId"] for e in events]
    assert replay_ids == sorted(set(replay_ids))
    commits = [h["commitNumber"] for h in headers(events)]
    assert commits == sorted(set(commits))
    assert len({h["transactionKey"] for h in headers(events)}) == 4
    stamps = [h["commitTimestamp"] for h in headers(events)]
    assert all(isinstance(s, int) and s > 1_600_000_000_000 for s in stamps)


def test_identical_changes_in_one_transaction_merge(relay: Relay) -> None:
    relay.associate()
    ids = [new_account(relay.api, Name=f"Acme {n}") for n in range(3)]
    relay.received()
    body = {
        "allOrNone": True,
        "records": [{"attributes": {"type": "Account"}, "id": i, "Rating": "Warm"} for i in ids],
    }
    assert relay.api.patch("/composite/sobjects", json=body).status_code == 200
    events = relay.received()
    assert len(events) == 1
    head = events[0]["detail"]["payload"]["ChangeEventHeader"]
    assert head["changeType"] == "UPDATE"
    assert head["recordIds"] == ids
    assert events[0]["detail"]["payload"]["Rating"] == "Warm"


def test_a_converted_lead_is_one_transaction(relay: Relay, sf_emulator: EmulatorHandle) -> None:
    relay.associate()
    lead = relay.api.post(
        "/sobjects/Lead", json={"LastName": "Hopper", "FirstName": "Grace", "Company": "Navy"}
    )
    lead_id = lead.json()["id"]
    relay.received()
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader><urn:sessionId>'
        f"{sf_emulator.access_token()}</urn:sessionId></urn:SessionHeader><urn:CallOptions><urn:client>"
        "sfconnector</urn:client></urn:CallOptions></soapenv:Header><soapenv:Body><urn:convertLead>"
        f"<urn:leadConverts><urn:leadId>{lead_id}</urn:leadId><urn:convertedStatus>Closed - Converted"
        "</urn:convertedStatus></urn:leadConverts></urn:convertLead></soapenv:Body></soapenv:Envelope>"
    )
    answer = httpx.post(
        f"{sf_emulator.base_url}/services/Soap/u/{sf_emulator.api_version[1:]}",
        content=envelope.encode(),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "convertLead"},
    )
    assert answer.status_code == 200, answer.text
    assert ET.fromstring(answer.content) is not None  # noqa: S314 - the test's own emulator
    found = headers(relay.received())
    kinds = {(h["entityName"], h["changeType"]) for h in found}
    assert kinds == {
        ("Account", "CREATE"),
        ("Contact", "CREATE"),
        ("Opportunity", "CREATE"),
        ("Lead", "UPDATE"),
    }
    assert len({h["transactionKey"] for h in found}) == 1
    assert sorted(h["sequenceNumber"] for h in found) == [1, 2, 3, 4]
    assert {h["changeOrigin"] for h in found} == {
        f"com/salesforce/api/soap/{sf_emulator.api_version[1:]};client=sfconnector"
    }
    lead_event = next(h for h in found if h["entityName"] == "Lead")
    assert "IsConverted" in lead_event["changedFields"]


def test_bulk_ingest_rows_are_relayed(relay: Relay) -> None:
    relay.associate()
    api = relay.api
    job = api.post(
        "/jobs/ingest", json={"contentType": "CSV", "object": "Account", "operation": "insert"}
    ).json()
    api.put(
        f"/jobs/ingest/{job['id']}/batches", content=b"Name\nOne\nTwo\n", headers={"Content-Type": "text/csv"}
    )
    api.patch(f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    for _ in range(200):
        if api.get(f"/jobs/ingest/{job['id']}").json()["state"] == "JobComplete":
            break
        time.sleep(0.02)
    names = sorted(e["detail"]["payload"].get("Name") for e in relay.received())
    assert names == ["One", "Two"]


def test_stopped_relay_sends_nothing_and_earliest_replays_what_was_stored(relay: Relay) -> None:
    relay.associate()
    first = new_account(relay.api, Name="Before stop")
    relay.set_state("STOP")
    status = relay.api.get("/tooling/query", params={"q": "SELECT Status FROM EventRelayFeedback"}).json()
    assert status["records"][0]["Status"] == "STOPPED"
    during = new_account(relay.api, Name="While stopped")
    received = relay.received()
    assert [h["recordIds"] for h in headers(received)] == [[first]]

    relay.set_state("RUN", "LATEST")
    assert relay.received() == []  # LATEST: only what comes next
    relay.set_state("STOP")
    relay.set_state("RUN", "EARLIEST")  # EARLIEST: everything stored within 72 hours
    replayed = [h["recordIds"] for h in headers(relay.received())]
    assert replayed == [[first], [during]]


def test_paused_relay_keeps_its_position(relay: Relay) -> None:
    relay.associate()
    relay.set_state("PAUSE")
    waiting = new_account(relay.api, Name="While paused")
    assert relay.received() == []
    relay.set_state("RUN")
    assert [h["recordIds"] for h in headers(relay.received())] == [[waiting]]


def test_drop_duplicate_and_reorder_faults(relay: Relay, sf_emulator: EmulatorHandle) -> None:
    relay.associate()
    sf_emulator.add_relay_fault("drop", count=1)
    lost = new_account(relay.api, Name="Lost")
    kept = new_account(relay.api, Name="Kept")
    assert [h["recordIds"] for h in headers(relay.received())] == [[kept]]
    assert lost != kept

    sf_emulator.add_relay_fault("duplicate", count=1)
    twice = new_account(relay.api, Name="Twice")
    events = relay.received()
    assert [h["recordIds"] for h in headers(events)] == [[twice], [twice]]
    assert len({e["detail"]["event"]["replayId"] for e in events}) == 1
    assert len({e["id"] for e in events}) == 2

    sf_emulator.add_relay_fault("reorder", count=1)
    one = new_account(relay.api, Name="One")
    two = new_account(relay.api, Name="Two")
    events = relay.received()
    assert [h["recordIds"] for h in headers(events)] == [[two], [one]]
    replay_ids = [e["detail"]["event"]["replayId"] for e in events]
    assert replay_ids[0] > replay_ids[1]
    assert sf_emulator.relay_status()["counts"]["dropped"] == 1


def test_delay_fault_holds_an_event_back(relay: Relay, sf_emulator: EmulatorHandle) -> None:
    relay.associate()
    sf_emulator.add_relay_fault("delay", seconds=1.5, count=1)
    late = new_account(relay.api, Name="Late")
    assert relay.received(flush=False) == []
    assert [h["recordIds"] for h in headers(relay.received())] == [[late]]


def test_gap_and_overflow_faults(relay: Relay, sf_emulator: EmulatorHandle) -> None:
    relay.associate()
    account_id = new_account(relay.api)
    relay.received()
    sf_emulator.add_relay_fault("gap", count=1)
    relay.api.patch(f"/sobjects/Account/{account_id}", json={"Rating": "Hot"})
    gap = relay.received()[0]["detail"]["payload"]
    assert set(gap) == {"ChangeEventHeader"}
    assert gap["ChangeEventHeader"]["changeType"] == "GAP_UPDATE"
    assert gap["ChangeEventHeader"]["recordIds"] == [account_id]

    sf_emulator.add_relay_fault("overflow", count=1)
    relay.api.patch(f"/sobjects/Account/{account_id}", json={"Rating": "Cold"})
    overflow = headers(relay.received())
    assert [(h["changeType"], h["entityName"], h["recordIds"]) for h in overflow] == [
        ("GAP_OVERFLOW", "Account", ["000000000000000AAA"])
    ]


def test_seeded_drop_rate_is_repeatable(relay: Relay, sf_emulator: EmulatorHandle) -> None:
    relay.associate()
    sf_emulator.add_relay_fault("drop", rate=0.5)
    for n in range(8):
        new_account(relay.api, Name=f"Acme {n}")
    arrived = sorted(e["detail"]["payload"]["Name"] for e in relay.received())
    dropped = sf_emulator.relay_status()["counts"]["dropped"]
    assert 0 < dropped < 8
    assert len(arrived) == 8 - dropped


def test_delivery_allocation_is_counted_and_shown_in_limits(
    relay: Relay, sf_emulator: EmulatorHandle
) -> None:
    relay.associate()
    sf_emulator.configure(event_delivery_limit=2)
    for n in range(3):
        new_account(relay.api, Name=f"Acme {n}")
    assert len(relay.received()) == 2
    limits = relay.api.get("/limits").json()["DailyDeliveredPlatformEvents"]
    assert limits == {"Max": 2, "Remaining": 0}
    counts = sf_emulator.relay_status()["counts"]
    assert counts["over_allocation"] == 1
    assert counts["stored"] == 3  # stored past the allocation, replayable within the retention

    sf_emulator.advance_clock(24 * 3600 + 1)  # the rolling window moves on
    with sf_emulator.rest_client() as fresh:  # yesterday's session has expired
        new_account(fresh, Name="Next day")
    assert [e["detail"]["payload"]["Name"] for e in relay.received()] == ["Next day"]


def test_an_unreachable_aws_shows_in_the_relay_feedback(
    aws: AwsEnv, sf_emulator: EmulatorHandle, api: httpx.Client
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    sf_emulator.configure(aws_endpoint_url=closed)
    try:
        channel(api)
        created_id(member(api, "Account"))
        config_id = created_id(relay_config(api))
        sf_emulator.flush_relay()
        soql = where("Status, ErrorCode, ErrorTime", "EventRelayFeedback", "EventRelayConfigId", config_id)
        feedback = tooling_query(api, soql)[0]
        assert feedback["Status"] == "ERROR"
        assert feedback["ErrorCode"] == "DELIVERY_FAILED"
        assert feedback["ErrorTime"] is not None
        assert sf_emulator.relay_status()["worker"]["failed"] == 1
    finally:
        sf_emulator.reset()


def test_a_rolled_back_transaction_sends_nothing(relay: Relay) -> None:
    relay.associate()
    body = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Account"}, "Name": "Fine"},
            {"attributes": {"type": "Account"}, "Name": None},  # Name is required: the whole call rolls back
        ],
    }
    assert relay.api.post("/composite/sobjects", json=body).status_code == 200
    assert relay.received() == []
    assert relay.emulator.relay_status()["counts"]["stored"] == 0


def test_compound_fields_nest_as_salesforce_sends_them(relay: Relay) -> None:
    relay.associate()
    created = relay.api.post(
        "/sobjects/Contact", json={"FirstName": "Ada", "LastName": "Byron", "MailingCity": "London"}
    )
    contact_id = created.json()["id"]
    relay.api.patch(f"/sobjects/Contact/{contact_id}", json={"LastName": "Lovelace", "MailingCity": None})
    create, update = (e["detail"]["payload"] for e in relay.received())
    assert create["Name"] == {"FirstName": "Ada", "LastName": "Byron"}
    assert create["MailingAddress"] == {"City": "London"}
    head = update["ChangeEventHeader"]
    assert sorted(head["changedFields"]) == ["LastModifiedDate", "MailingAddress.City", "Name.LastName"]
    assert head["nulledFields"] == ["MailingAddress.City"]
    assert update["Name"] == {"LastName": "Lovelace"}
    assert update["MailingAddress"] == {"City": None}


def test_events_older_than_72_hours_are_not_replayed(relay: Relay, sf_emulator: EmulatorHandle) -> None:
    relay.associate()
    new_account(relay.api, Name="Old")
    relay.received()
    sf_emulator.advance_clock(72 * 3600 + 60)
    with sf_emulator.rest_client() as fresh:
        recent = new_account(fresh, Name="Recent")
        relay.api = fresh
        relay.received()
        relay.set_state("STOP")
        relay.set_state("RUN", "EARLIEST")
        assert [h["recordIds"] for h in headers(relay.received())] == [[recent]]
