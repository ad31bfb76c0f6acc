"""SQS event sources of the local stack: the template's SQS events are read, and a source invokes
its function with Lambda's SQS event, deleting what the function handled and keeping what its
partial batch response names (or the whole batch when the invocation fails)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from devstack.config import REPO_ROOT
from devstack.lambdas import FunctionRuntime
from devstack.sqs_events import SqsEventSource
from devstack.template import FunctionSpec, SqsEventSpec, read_template

from tests.unit.devstack.conftest import write_function

HANDLER = """
    import json, os, pathlib

    def lambda_handler(event, context):
        log = pathlib.Path(os.environ["LAMBDA_TASK_ROOT"]) / "calls.jsonl"
        with log.open("a") as out:
            out.write(json.dumps(event) + "\\n")
        bodies = [r["body"] for r in event["Records"]]
        if "crash" in bodies:
            raise RuntimeError("crashed")
        return {"batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "retry"
        ]}
"""


def test_the_template_relays_through_an_sqs_event_source() -> None:
    template = read_template(
        REPO_ROOT / "template.yaml", stack_name="stk", region="us-east-1", account_id="123456789012"
    )
    (relay,) = [e for e in template.sqs_events if e.function_id == "RelayFunction"]
    assert (relay.queue_id, relay.batch_size, relay.report_failures) == ("RelayQueue", 10, True)
    assert not [e for e in template.unsupported_events if e.startswith("RelayFunction")]


def _source(tmp_path: Path, moto_url: str, session: boto3.session.Session) -> tuple[SqsEventSource, Any, str]:
    function = write_function(tmp_path, "Relay", HANDLER)
    runtime = FunctionRuntime(
        functions={function.logical_id: function},
        base_environment=lambda spec: {},
        region="us-east-1",
        account_id="123456789012",
    )
    sqs = session.client("sqs", endpoint_url=moto_url)
    url = sqs.create_queue(QueueName=f"relay-{tmp_path.name[-8:]}", Attributes={"VisibilityTimeout": "0"})[
        "QueueUrl"
    ]
    spec = SqsEventSpec(
        function_id="Relay", event_name="Changes", queue_id="Q", batch_size=10, report_failures=True
    )
    source = SqsEventSource(
        spec=spec,
        function=function,
        sqs=sqs,
        queue_url=url,
        queue_arn="arn:aws:sqs:us-east-1:123456789012:relay",
        region="us-east-1",
        invoke=runtime.invoke,
        log=lambda _: None,
        wait_seconds=0,
    )
    return source, sqs, url


def _calls(function: FunctionSpec) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (function.code_dir / "calls.jsonl").read_text().splitlines()]


def _left(sqs: Any, url: str) -> list[str]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return sorted(m["Body"] for m in got)


@pytest.mark.parametrize(
    ("bodies", "left"),
    [(["a", "retry", "b"], ["retry"]), (["a", "crash"], ["a", "crash"]), (["a", "b"], [])],
)
def test_a_batch_is_deleted_but_for_what_the_function_reports_or_all_of_it_on_a_crash(
    tmp_path: Path, moto_url: str, session: boto3.session.Session, bodies: list[str], left: list[str]
) -> None:
    source, sqs, url = _source(tmp_path, moto_url, session)
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    assert source.poll_once() == len(bodies)
    (event,) = _calls(source.function)
    assert sorted(r["body"] for r in event["Records"]) == sorted(bodies)
    assert {(r["eventSource"], r["eventSourceARN"]) for r in event["Records"]} == {
        ("aws:sqs", "arn:aws:sqs:us-east-1:123456789012:relay")
    }
    assert _left(sqs, url) == left


def test_a_started_source_invokes_on_its_own_and_stops_with_the_stack(
    tmp_path: Path, moto_url: str, session: boto3.session.Session
) -> None:
    source, sqs, url = _source(tmp_path, moto_url, session)
    source.wait_seconds = 1
    source.start()
    sqs.send_message(QueueUrl=url, MessageBody="a")
    deadline = time.monotonic() + 10
    while not (source.function.code_dir / "calls.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    source.stop()
    assert [r["body"] for c in _calls(source.function) for r in c["Records"]] == ["a"]
    assert source._thread is not None
    assert not source._thread.is_alive()
