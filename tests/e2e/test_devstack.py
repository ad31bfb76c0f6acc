"""The local stack end to end: ``python -m devstack`` as a subprocess on free ports, used over HTTP,
stopped with SIGINT, and nothing left behind; then started again on the same ports."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
READY_LINE = "Local stack ready"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _refused(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


class StackProcess:
    """``python -m devstack`` with its stdout collected line by line."""

    def __init__(self, ports: dict[str, int], extra_env: dict[str, str] | None = None) -> None:
        self.ports = ports
        self.marker = f"DEVSTACK_E2E_RUN={uuid.uuid4().hex}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({name: str(port) for name, port in ports.items()})
        env.update(extra_env or {})
        env["PYTHONUNBUFFERED"] = "1"
        key, _, value = self.marker.partition("=")
        env[key] = value
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no line containing {text!r}; output so far:\n{self.output}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:  # never leave it running, even when the test fails
                self.process.kill()
                self.process.wait(5)
            self._reader.join(5)


@pytest.fixture
def ports() -> dict[str, int]:
    return {"API_PORT": _free_port(), "SF_EMULATOR_PORT": _free_port(), "MOTO_PORT": _free_port()}


@pytest.fixture
def stack(ports: dict[str, int]) -> Iterator[StackProcess]:
    process = StackProcess(ports, {"SCHEDULE_SPEEDUP": "600"})
    try:
        yield process
    finally:
        process.stop()


def _assert_gone(stack: StackProcess) -> None:
    for name, port in stack.ports.items():
        assert _refused(port), f"{name} {port} still accepts connections after the stop"
    assert _processes_with(stack.marker) == [], "a process of the stopped stack is still alive"


def test_local_stack_end_to_end(stack: StackProcess, ports: dict[str, int]) -> None:
    stack.wait_for(READY_LINE)
    api = f"http://127.0.0.1:{ports['API_PORT']}"
    moto = f"http://127.0.0.1:{ports['MOTO_PORT']}"
    output = stack.output
    # The start-up banner: ports, the demo Connected App, the signature note, the demo tenants' keys.
    assert f"http://127.0.0.1:{ports['SF_EMULATOR_PORT']}" in output
    assert "client_id: " in output
    assert "client_secret: " in output
    assert "The functions' own AWS calls ARE IAM-enforced" in output
    assert "verified against moto's IAM users" in output
    tenant_keys = re.findall(r"AWS_ACCESS_KEY_ID=(\S+)\s+AWS_SECRET_ACCESS_KEY=(\S+)", output)
    assert len(tenant_keys) == 2, output

    health = httpx.get(f"{api}/__devstack__/health").json()
    assert health["status"] == "ready"
    assert health["import_errors"] == {}
    assert health["iam_enforced"] is True  # each function on its own template role (docs/security.md)

    # The demo connection was made through the real OAuth endpoints and is connected.
    connection_id = health["demo_connection_id"]
    assert connection_id, output
    assert f"connection_id: {connection_id}" in output
    connection = httpx.get(f"{api}/connections/{connection_id}").json()
    assert connection["status"] == "connected"
    assert connection["name"] == "demo"
    # The OAuth code in the callback's query string is not printed.
    callback_lines = [line for line in stack.lines if "/oauth/callback?" in line]
    assert callback_lines
    assert all("code=***" in line for line in callback_lines)

    # A request signed by a demo tenant (verified against moto's IAM users) is that tenant: the
    # demo connection (the unsigned local developer's) is invisible to it; a bad signature is a 403.
    def signed(method: str, url: str, key: str, secret: str) -> httpx.Response:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        request = AWSRequest(method=method, url=url)
        SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(request)
        return httpx.request(method, url, headers=dict(request.headers))

    (key, secret), _ = tenant_keys
    mine = signed("GET", f"{api}/connections", key, secret)
    assert mine.status_code == 200, mine.text
    assert connection_id not in {c["connection_id"] for c in mine.json()["connections"]}
    assert signed("GET", f"{api}/connections/{connection_id}", key, secret).status_code == 404
    forged = signed("GET", f"{api}/connections", key, "not-" + secret)
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "INVALID_SIGNATURE"

    # Unknown routes answer like API Gateway (with the template's GatewayResponses: the API's shape).
    missing = httpx.get(f"{api}/no/such/route")
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN"

    # An action through the stage-prefixed URL, as the deployed API is called.
    staged = httpx.get(f"{api}/v1/connections/{connection_id}/objects/Lead/fields")
    assert staged.status_code == 200, staged.text

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    catalog = httpx.get(f"{api}/catalog")
    actions = {a["key"]: a for a in catalog.json()["actions"]} if catalog.status_code == 200 else {}
    if "leads.create" in actions:
        # A real action: create a lead, then read it back, on the catalog's routes.
        base = f"{api}{actions['leads.create']['route'].replace('{connection_id}', connection_id)}"
        created = httpx.post(base, json={"LastName": "Okafor", "Company": "E2E Energy"})
        assert created.status_code == 201, created.text
        lead_id = created.json()["id"]
        fetched = httpx.get(f"{base}/{lead_id}")
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["record"]["Company"] == "E2E Energy"

    # Events: whatever reaches the SNS topic is delivered to the local queue and printed.
    sns = session.client("sns", endpoint_url=moto)
    topic = next(
        t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith("trigger-events")
    )
    sns.publish(
        TopicArn=topic,
        Message=json.dumps(
            {"type": "salesforce.lead.created", "subject": "00Q5e2e", "data": {"LastName": "Okafor"}}
        ),
    )
    stack.wait_for("salesforce.lead.created", timeout=15)
    assert "LastName=Okafor" in stack.output
    events = httpx.get(f"{api}/__devstack__/events").json()
    assert events[-1]["message"]["subject"] == "00Q5e2e"

    # Schedules created at run time in EventBridge Scheduler (moto) fire their Lambda target.
    scheduler = session.client("scheduler", endpoint_url=moto)
    function_name = "sfconnector-local-ConnectionsFunction"
    scheduler.create_schedule(
        Name="e2e-tick",
        ScheduleExpression="rate(1 minute)",  # every 0.1 s at SCHEDULE_SPEEDUP=600
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "Input": "{}",
        },
    )
    stack.wait_for("schedule default/e2e-tick fired -> ConnectionsFunction", timeout=15)
    scheduler.delete_schedule(Name="e2e-tick")

    # A subscription made through the API creates the connection's poll schedule, which fires the
    # poller; deleting the last subscription deletes the schedule.
    subscribed = httpx.post(
        f"{api}/connections/{connection_id}/subscriptions", json={"trigger": "leads.created"}
    )
    assert subscribed.status_code == 201, subscribed.text
    group = "sfconnector-local-polling"
    fired = stack.wait_for(f"schedule {group}/poll-{connection_id} fired -> PollerFunction", timeout=30)
    assert "ok" in fired, fired
    polling = httpx.get(f"{api}/connections/{connection_id}/polling").json()
    # `make run` relays Lead for the demo connection (docs/realtime.md): its only subscription is then
    # served by the relay, and the schedule runs at the reconciliation interval instead of every minute.
    relayed = httpx.get(f"{api}/__devstack__/health").json().get("realtime_relayed") or []
    assert "Lead" in relayed, relayed
    assert polling["schedule"] == {
        "name": f"poll-{connection_id}",
        "state": "ENABLED",
        "expression": "rate(15 minutes)",
    }
    sid = subscribed.json()["subscription_id"]
    assert httpx.delete(f"{api}/connections/{connection_id}/subscriptions/{sid}").status_code == 200
    assert scheduler.list_schedules(GroupName=group)["Schedules"] == []

    # Server-to-server connections (docs/connecting-salesforce.md, section 8): the documented
    # command makes both, connected at once, and an action runs on each (on the functions' roles).
    from devstack.server_connections import connect

    emulator = f"http://127.0.0.1:{ports['SF_EMULATOR_PORT']}"
    for flow in ("jwt_bearer", "client_credentials"):
        made = connect(flow, api_url=api, emulator_url=emulator)
        assert (made["status"], made["flow"]) == ("connected", flow)
        fields = httpx.get(f"{api}/connections/{made['connection_id']}/objects/Lead/fields")
        assert fields.status_code == 200, fields.text

    # Every AWS call the functions made on their roles, checked against the template's policies
    # with their resources and conditions (moto enforced the actions as they ran).
    iam = httpx.get(f"{api}/__devstack__/iam").json()
    assert iam["enforced"] is True
    assert {"ConnectionsFunction", "OAuthCallbackFunction", "PollerFunction"} <= set(iam["functions"])
    assert "scheduler:CreateSchedule" in iam["functions"]["ConnectionsFunction"]
    assert iam["findings"] == []

    assert stack.stop(signal.SIGINT) == 0
    assert "Stopped." in stack.output
    _assert_gone(stack)

    # A second run on the same ports starts cleanly (nothing stale, addresses reusable).
    again = StackProcess(ports)
    try:
        again.wait_for(READY_LINE)
        second = httpx.get(f"{api}/__devstack__/health").json()
        assert second["status"] == "ready"
        assert second["demo_connection_id"] not in (None, connection_id)  # fresh state, new connection
    finally:
        assert again.stop(signal.SIGTERM) == 0
    _assert_gone(again)


def test_busy_port_is_reported_clearly(ports: dict[str, int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", ports["API_PORT"]))
        blocker.listen()
        process = StackProcess(ports)
        try:
            assert process.process.wait(60) == 1
        finally:
            process.stop()
    assert f"port {ports['API_PORT']} on 127.0.0.1 is in use: set API_PORT" in process.output
    _assert_gone(process)


TRIGGERS = ("leads.created", "accounts.updated", "cases.updated", "line_items.created")


@pytest.mark.parametrize("realtime", ["1", "0"], ids=["relay", "polling"])
def test_make_demo_runs_the_five_automations_from_trigger_events(
    ports: dict[str, int], realtime: str
) -> None:
    # rate(1 minute) every 0.5 s: the demo's events come within a poll or two of each change.
    stack = StackProcess(ports, {"SCHEDULE_SPEEDUP": "120", "REALTIME": realtime})
    try:
        stack.wait_for(READY_LINE)
        api = f"http://127.0.0.1:{ports['API_PORT']}"
        connection_id = httpx.get(f"{api}/__devstack__/health").json()["demo_connection_id"]
        demo = subprocess.run(
            [sys.executable, "-m", "devstack.demo"],
            cwd=REPO,
            env={**os.environ, "API_PORT": str(ports["API_PORT"])},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        out = demo.stdout
        assert demo.returncode == 0, out + demo.stderr
        assert "5/5 automations succeeded; the loop guard held." in out
        for trigger in TRIGGERS:
            # The event came from the poller over SNS to the automation's own queue...
            assert re.search(rf"⚡ {re.escape(trigger)} \w+ \w{{18}} arrived on demo-", out), out
            # ... and the automation's write-back did not fire its trigger again.
            assert f"({trigger}): 0 event(s) after the write-back" in out
        # The zero counts mean something: the witness subscriptions (no ignore_own_changes) did
        # receive the demo's own write-backs from the same polls: four, and the fifth automation's
        # conversion (leads.updated) and campaign member (campaign_members.created).
        assert "received 6 event(s) of the demo's own writes" in out
        assert "campaign_members.created" in out
        assert out.count("✓") == 10  # five automations, five loop-guard checks
        # Issue 19's automation: the conversion and the campaign member cost one call each.
        assert re.search(r"/convert .*\n.*\[1 Salesforce API call\]", out), out
        assert re.search(r"/members .*\n.*\[1 Salesforce API call\]", out), out
        # Each step shows what it cost in Salesforce API calls.
        assert re.search(r"leads/find .*\n.*\[1 Salesforce API call\]", out), out
        # Per automation: the way its event came, the latency and the calls (relay: none to deliver).
        via = "relay" if realtime == "1" else "poll"
        for trigger in TRIGGERS:
            assert re.search(rf"\d  {re.escape(trigger)} +{via} +\d+\.\d s +\d+ +\d+", out), out
        if realtime == "1":
            assert re.search(r"\d  leads.created +relay +\d+\.\d s +0 ", out), out

        # `make run` printed each delivered trigger event (its event printer's queue).
        for trigger in TRIGGERS:
            line = stack.wait_for(f"] {trigger}  ", timeout=10)
            pattern = (
                rf"\[trigger [\d:]{{8}}\] {re.escape(trigger)}  \w+ \w{{18}}  subscription [0-9a-f]{{32}}"
            )
            assert re.fullmatch(pattern, line), line

        # The demo cleaned up: no subscription, no poll schedule, no queue of its own.
        listing = httpx.get(f"{api}/connections/{connection_id}/subscriptions").json()
        assert listing["subscriptions"] == []
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        moto = f"http://127.0.0.1:{ports['MOTO_PORT']}"
        scheduler = session.client("scheduler", endpoint_url=moto)
        assert scheduler.list_schedules(GroupName="sfconnector-local-polling")["Schedules"] == []
        sqs = session.client("sqs", endpoint_url=moto)
        assert sqs.list_queues(QueueNamePrefix="demo-").get("QueueUrls", []) == []
    finally:
        assert stack.stop(signal.SIGINT) == 0
    _assert_gone(stack)


def test_demo_without_a_running_stack_says_so(ports: dict[str, int]) -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "devstack.demo"],
        cwd=REPO,
        env={**os.environ, "API_PORT": str(ports["API_PORT"])},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert demo.returncode == 1
    assert f"not answering on http://127.0.0.1:{ports['API_PORT']}: start it with `make run`" in demo.stdout
