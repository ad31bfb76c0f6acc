"""``python -m devstack`` (``make run``): start the local stack, print how to use it, run until stopped."""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from devstack.apigw import RouteTable
from devstack.config import ConfigError
from devstack.connection import realtime_lines
from devstack.stack import LocalStack, StackError, load_config, quiet_libraries
from devstack.template import RouteSpec, StackTemplate

READY_LINE = "Local stack ready"
"""Printed once everything is up (the end-to-end test and scripts wait for it)."""

_print_lock = threading.Lock()


def say(text: str = "") -> None:
    """Print whole lines from any thread without interleaving."""
    with _print_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _route_lines(template: StackTemplate) -> list[str]:
    """One line per function: how many routes, under which path, which are public."""
    by_function: dict[str, list[RouteSpec]] = {}
    for route in template.routes:
        by_function.setdefault(route.function_id, []).append(route)
    width = max((len(f) for f in by_function), default=0) + 2
    lines: list[str] = []
    for function_id, routes in sorted(by_function.items()):
        segments = [[p for p in r.path.split("/") if p] for r in routes]
        common: list[str] = []
        for column in zip(*segments, strict=False):
            if len(set(column)) != 1:
                break
            common.append(column[0])
        if len(common) >= 2:
            where = "/" + "/".join(common) + ("/..." if any(len(s) > len(common) for s in segments) else "")
        else:
            groups: dict[str, set[str]] = {}
            for route in routes:
                groups.setdefault(route.path.split("/")[1], set()).add(route.path)
            where = ", ".join(
                next(iter(paths)) if len(paths) == 1 else f"/{first}/..."
                for first, paths in sorted(groups.items())
            )
        public = sorted({r.path for r in routes if r.public})
        note = f"  (public: {', '.join(public)})" if public else ""
        count = f"{len(routes)} route{'s' if len(routes) != 1 else ''}"
        lines.append(f"  {function_id:<{width}}{count:<11}{where}{note}")
    return lines


def _curl_examples(stack: LocalStack) -> list[str]:
    """Requests worth pasting, for the routes this template really serves (ANY/{proxy+} included)."""
    assert stack.template is not None
    api = stack.api_url
    routes = RouteTable(stack.template.routes)
    cid = stack.demo_connection_id or "CONNECTION_ID"
    json_header = "-H 'Content-Type: application/json'"
    candidates = [
        ("GET", "/catalog", f"curl -s {api}/catalog | head -c 600; echo"),
        ("GET", "/connections", f"curl -s {api}/connections"),
        (
            "POST",
            f"/connections/{cid}/leads",
            f"curl -s -X POST {api}/connections/{cid}/leads {json_header} "
            """-d '{"LastName": "Ng", "Company": "Acme Energy"}'""",
        ),
        (
            "POST",
            f"/connections/{cid}/leads/find",
            f"curl -s -X POST {api}/connections/{cid}/leads/find {json_header} "
            """-d '{"criteria": {"Company": "Acme Energy"}}'""",
        ),
    ]
    examples = [f"curl -s {api}/__devstack__/health"]
    examples.extend(line for method, path, line in candidates if routes.match(method, path) is not None)
    return examples


def print_banner(stack: LocalStack) -> None:
    template = stack.template
    assert template is not None
    config = stack.config
    say("Salesforce connector: local stack (no Docker)")
    say(
        f"  template     {template.path}  ({len(template.functions)} functions, "
        f"{len(template.routes)} routes, {len(template.schedules)} schedule events)"
    )
    say(
        f"  API          {stack.api_url}   (API Gateway stand-in; the stage prefix /"
        f"{next(iter(template.apis.values())).stage_name if template.apis else 'v1'} also works)"
    )
    if stack.emulator is not None:
        say(f"  Salesforce   {stack.emulator.base_url}   (emulator, {stack.emulator.org_name})")
    else:
        say(f"  Salesforce   not running: {stack.emulator_error}")
    say(f"  AWS          {stack.moto_url}   (moto server; AWS_ENDPOINT_URL for the AWS CLI/SDKs)")
    say(f"  schedules    speed-up x{config.schedule_speedup:g} (SCHEDULE_SPEEDUP)")
    say()
    if stack.emulator is not None:
        say("Demo Connected App (emulator):")
        say(f"  client_id: {stack.emulator.client_id}")
        say(f"  client_secret: {stack.emulator.client_secret}")
        say()
    say("Resources (moto):")
    width = max((len(r.logical_id) for r in stack.resources.values()), default=20) + 2
    for resource in stack.resources.values():
        note = f"  ({resource.note})" if resource.note else ""
        say(f"  {resource.logical_id:<{width}}{resource.type:<32}{resource.ref}{note}")
    say()
    if template.routes:
        say(f"Routes ({len(template.routes)}; all of them: GET {stack.api_url}/__devstack__/routes):")
        for line in _route_lines(template):
            say(line)
        say("  SigV4: a signed request (service execute-api) is verified against moto's IAM users and")
        say("  acts as that user's tenant; a bad signature is a 403. An unsigned request acts as the")
        say("  local developer (the default tenant), so curl works; deployed, every route not marked")
        say("  (public) needs a signed request.")
        if stack.iam_enforced:
            say("  The functions' own AWS calls ARE IAM-enforced: each runs on its template role")
            report = f"{stack.api_url}/__devstack__/iam"
            say(f"  (ENFORCE_IAM=0 turns it off; resources and conditions checked: GET {report}).")
        say()
    if stack.tenants:
        say("Demo tenants (moto IAM users; sign with these keys to act as them):")
        for tenant in stack.tenants:
            say(f"  {tenant.name}: {tenant.user_arn}")
            keys = (
                f"AWS_ACCESS_KEY_ID={tenant.access_key_id} AWS_SECRET_ACCESS_KEY={tenant.secret_access_key}"
            )
            say(f"    {keys}")
        say()
    if template.schedules:
        say("Schedule events:")
        for spec in template.schedules:
            state = "" if spec.enabled else "  (disabled)"
            say(f"  {spec.function_id}.{spec.event_name}: {spec.expression}{state}")
        say()
    if template.sqs_events:
        say("SQS event sources:")
        for sqs in template.sqs_events:
            say(f"  {sqs.function_id}.{sqs.event_name}: {sqs.queue_id}, batches of up to {sqs.batch_size}")
        say()
    if stack.events is not None:
        say(
            f"Events: the SNS topic(s) deliver to SQS queue {stack.events.queue_name}; "
            "each message is printed below as it arrives."
        )
        say()
    if stack.demo_connection_id:
        say(f"Demo connection 'demo': connection_id: {stack.demo_connection_id}")
        if stack.demo_realtime is not None:
            say("  Real-time triggers (Event Relay -> RelayQueue -> RelayFunction; REALTIME=0 turns it off):")
            for line in realtime_lines(stack.demo_realtime):
                say(f"  {line}")
        elif stack.demo_realtime_note:
            say(f"  Real-time triggers: {stack.demo_realtime_note}")
    elif stack.demo_connection_note:
        say(f"Demo connection: not created ({stack.demo_connection_note})")
    for name, error in stack.import_errors.items():
        say(f"WARNING: {name} cannot be imported: {error}")
    for warning in stack.warnings:
        say(f"WARNING: {warning}")
    for event in template.unsupported_events:
        say(f"WARNING: event source not emulated locally: {event}")
    say()
    say("Try:")
    for example in _curl_examples(stack):
        say(f"  {example}")
    if stack.demo_connection_id:
        say("  make demo      (in another terminal: the popular automations, fired by trigger events)")
    say()


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
    try:
        config = load_config()
    except ConfigError as exc:
        say(f"devstack: {exc}")
        return 2

    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        # The first Ctrl-C stops cleanly (even mid start-up); a second one does not wait.
        if stop_requested.is_set():
            say("devstack: forced exit")
            os._exit(128 + signum)
        stop_requested.set()

    previous: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, request_stop)

    stack = LocalStack(config, log=say)
    try:
        say("Starting the local stack...")
        try:
            stack.start()
        except StackError as exc:
            say(f"devstack: {exc}")
            return 1
        print_banner(stack)
        say(f"{READY_LINE} on {stack.api_url} (Ctrl-C to stop)")
        while not stop_requested.wait(0.5):
            pass
        return 0
    finally:
        say("Stopping the local stack...")
        stack.stop()
        say("Stopped.")
        for signum, handler in previous.items():
            signal.signal(signum, handler)
