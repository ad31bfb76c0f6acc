"""The local stack relays for the demo connection: a Lead created in the emulator reaches a subscriber's
SQS queue through Event Relay -> the stack's moto EventBridge -> RelayQueue -> RelayFunction -> SNS,
within seconds, with no poll cycle and no Salesforce API call for the delivery.

``python -m devstack`` runs as a subprocess on free ports (moto in server mode, the emulator over HTTP);
SCHEDULE_SPEEDUP=0.01 puts the connection's first poll 100 minutes away, so whatever arrives came
through the relay. Stopped with SIGINT; nothing is left behind.
"""

from __future__ import annotations

import json
import signal
import time

import boto3
import httpx
import pytest
from devstack.events import subscriber_queue

from tests.e2e.test_devstack import READY_LINE, StackProcess, _assert_gone, _free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def _usage(salesforce_url: str) -> int:
    return int(httpx.get(f"{salesforce_url}/__emulator__/usage").json()["api_calls"])


def _polls(api: str, connection_id: str) -> list[dict[str, object]]:
    schedules = httpx.get(f"{api}/__devstack__/schedules").json()
    return [s for s in schedules if str(s.get("schedule", "")).endswith(f"poll-{connection_id}")]


def test_a_lead_reaches_the_subscriber_through_the_relay_without_a_poll() -> None:
    ports = {"API_PORT": _free_port(), "SF_EMULATOR_PORT": _free_port(), "MOTO_PORT": _free_port()}
    stack = StackProcess(ports, {"SCHEDULE_SPEEDUP": "0.01"})
    try:
        stack.wait_for(READY_LINE)
        assert "relayed      Lead, Account, Case, OpportunityLineItem, CampaignMember" in stack.output
        assert "polling      CaseComment (unsupported)" in stack.output
        api = f"http://127.0.0.1:{ports['API_PORT']}"
        health = httpx.get(f"{api}/__devstack__/health").json()
        cid, salesforce_url = health["demo_connection_id"], health["salesforce_url"]
        assert "Lead" in health["realtime_relayed"]

        created = httpx.post(
            f"{api}/connections/{cid}/subscriptions",
            json={"trigger": "leads.created", "start": "now", "fields": ["LastName", "Company"]},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        sid = created.json()["subscription_id"]

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        moto = health["moto_url"]
        sqs, sns = session.client("sqs", endpoint_url=moto), session.client("sns", endpoint_url=moto)
        topic = next(
            t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith("trigger-events")
        )
        url = subscriber_queue(sqs, sns, topic, "relay-e2e", [sid])

        # The stack picks the new poll schedule up from moto's Scheduler within a second.
        deadline = time.monotonic() + 10
        while not _polls(api, cid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _polls(api, cid), "the subscription made no poll schedule"
        calls_before = _usage(salesforce_url)
        org = httpx.get(f"{salesforce_url}/__emulator__/org").json()
        seller = next(u["username"] for u in org["users"] if u["id"] == org["sales_user_id"])
        started = time.monotonic()
        lead = httpx.post(
            f"{salesforce_url}/__emulator__/dml",
            json={
                "operation": "insert",
                "sobject": "Lead",
                "fields": {"LastName": "Relay", "Company": "Fast Co"},
                "username": seller,
            },
        ).json()["id"]

        events: list[dict[str, object]] = []
        while not events and time.monotonic() - started < 10:
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            events += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        latency = time.monotonic() - started

        assert [(e["type"], e["subject"]) for e in events] == [("leads.created", lead)], events
        assert events[0]["data"]["Company"] == "Fast Co"  # type: ignore[index]
        assert latency < 5, f"{latency:.1f} s"
        # No poll cycle ran (the schedule has not fired), and the delivery cost no Salesforce call.
        assert sum(int(s["fired"]) for s in _polls(api, cid)) == 0  # type: ignore[call-overload]
        assert _usage(salesforce_url) == calls_before
        assert "RelayFunction" in stack.output
        # GET shows the relay at work: the change, its lag from its commit time (2 counted calls).
        relay = httpx.get(f"{api}/connections/{cid}/realtime", timeout=30).json()["relay"]
        assert (relay["changes_relayed"], relay["last_change"]["sobject"]) == (1, "Lead"), relay
        assert 0 <= relay["lag"]["last_seconds"] < 5, relay
    finally:
        assert stack.stop(signal.SIGINT) == 0
    _assert_gone(stack)
