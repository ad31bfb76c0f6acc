"""Schedules fire their functions: template events, and Scheduler schedules created in moto at run time."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from devstack.lambdas import FunctionRuntime, failure_record, function_arn
from devstack.sandbox import Sandboxes
from devstack.schedules import ScheduleClock, ScheduleRunner, scheduled_event, scheduler_input
from devstack.template import FunctionSpec, ScheduleSpec

from tests.unit.devstack.conftest import write_function

RECORDER = """
    import json, os, pathlib

    def lambda_handler(event, context):
        log = pathlib.Path(os.environ["LAMBDA_TASK_ROOT"]) / "calls.jsonl"
        with log.open("a") as out:
            out.write(json.dumps(event) + "\\n")
        return {"ok": True}
"""


def _calls(spec: FunctionSpec) -> list[Any]:
    log = spec.code_dir / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def recorder(tmp_path: Path) -> FunctionSpec:
    return write_function(tmp_path, "Poller", RECORDER)


@pytest.fixture
def make_runner(recorder: FunctionSpec) -> Iterator[Callable[..., ScheduleRunner]]:
    runners: list[ScheduleRunner] = []

    def make(
        speedup: float = 600.0, scheduler_client: Any = None, log: list[str] | None = None
    ) -> ScheduleRunner:
        runtime = FunctionRuntime(
            functions={recorder.logical_id: recorder},
            base_environment=lambda spec: {},
            region="us-east-1",
            account_id="123456789012",
        )
        runner = ScheduleRunner(
            runtime=runtime,
            clock=ScheduleClock(speedup=speedup),
            region="us-east-1",
            account_id="123456789012",
            stack_name="stk",
            scheduler_client=scheduler_client,
            log=(log.append if log is not None else lambda _: None),
            tick_seconds=0.02,
            poll_seconds=0.1,
        )
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.stop()


def test_template_schedule_fires_with_the_speedup(
    recorder: FunctionSpec, make_runner: Callable[..., ScheduleRunner]
) -> None:
    runner = make_runner(speedup=600)  # rate(1 minute) -> every 0.1 s
    lines = runner.add_template_schedules(
        (
            ScheduleSpec(
                function_id="Poller", event_name="Tick", kind="Schedule", expression="rate(1 minute)"
            ),
            ScheduleSpec(
                function_id="Poller",
                event_name="Off",
                kind="Schedule",
                expression="rate(1 minute)",
                enabled=False,
            ),
        )
    )
    assert lines == ["Poller.Tick: rate(1 minute) -> Poller", "Poller.Off: rate(1 minute) (disabled)"]
    started = time.monotonic()
    runner.start()
    assert _wait_for(lambda: len(_calls(recorder)) >= 3)
    assert time.monotonic() - started >= 0.25  # not all at once: on the sped-up grid
    event = _calls(recorder)[0]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/stk-PollerTick"]


def test_schedule_v2_input_gets_context_attributes(
    recorder: FunctionSpec, make_runner: Callable[..., ScheduleRunner]
) -> None:
    runner = make_runner(speedup=1200)
    runner.add_template_schedules(
        (
            ScheduleSpec(
                function_id="Poller",
                event_name="V2",
                kind="ScheduleV2",
                expression="rate(1 minute)",
                input='{"arn": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>"}',
            ),
        )
    )
    runner.start()
    assert _wait_for(lambda: len(_calls(recorder)) >= 1)
    event = _calls(recorder)[0]
    assert event["arn"] == "arn:aws:scheduler:us-east-1:123456789012:schedule/default/stk-PollerV2"
    assert datetime.strptime(event["at"], "%Y-%m-%dT%H:%M:%SZ")


def test_scheduler_schedules_in_moto_fire_until_deleted(
    recorder: FunctionSpec,
    make_runner: Callable[..., ScheduleRunner],
    moto_url: str,
    session: boto3.session.Session,
) -> None:
    client = session.client("scheduler", endpoint_url=moto_url, region_name="us-east-1")
    log: list[str] = []
    runner = make_runner(speedup=600, scheduler_client=client, log=log)
    client.create_schedule(
        Name="conn-1",
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": function_arn(recorder.function_name, "us-east-1", "123456789012"),
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "Input": json.dumps({"connection_id": "c-1"}),
        },
    )
    client.create_schedule(
        Name="elsewhere",
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:sqs:us-east-1:123456789012:q", "RoleArn": "arn:aws:iam::123456789012:role/r"},
    )
    runner.start()
    assert _wait_for(lambda: len(_calls(recorder)) >= 2)
    assert _calls(recorder)[0] == {"connection_id": "c-1"}
    assert any("elsewhere" in line and "not a function of this stack" in line for line in log)

    client.delete_schedule(Name="conn-1")
    time.sleep(0.3)  # one poll of moto
    count = len(_calls(recorder))
    time.sleep(0.4)
    assert len(_calls(recorder)) <= count + 1  # at most one already in flight
    client.delete_schedule(Name="elsewhere")


def test_one_time_schedule_fires_once_and_is_deleted_after_completion(
    recorder: FunctionSpec,
    make_runner: Callable[..., ScheduleRunner],
    moto_url: str,
    session: boto3.session.Session,
) -> None:
    client = session.client("scheduler", endpoint_url=moto_url, region_name="us-east-1")
    runner = make_runner(speedup=600, scheduler_client=client)
    soon = (datetime.now(UTC) + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S")
    client.create_schedule(
        Name="once",
        ScheduleExpression=f"at({soon})",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={
            "Arn": function_arn(recorder.function_name, "us-east-1", "123456789012"),
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
        },
    )
    runner.start()
    assert _wait_for(lambda: len(_calls(recorder)) == 1)
    assert _calls(recorder) == [{}]  # no Input: an empty event
    assert _wait_for(lambda: not [s for s in client.list_schedules()["Schedules"] if s["Name"] == "once"])
    time.sleep(0.3)
    assert len(_calls(recorder)) == 1


def test_event_builders() -> None:
    when = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    event = scheduled_event("arn:rule", when, "eu-west-1", "111122223333")
    assert event["time"] == "2026-03-02T08:00:00Z"
    assert event["account"] == "111122223333"
    assert scheduler_input(None, schedule_arn="a", when=when) == {}
    assert scheduler_input("plain text", schedule_arn="a", when=when) == "plain text"
    assert scheduler_input('{"n": "<aws.scheduler.attempt-number>"}', schedule_arn="a", when=when) == {
        "n": "1"
    }


POLLER = """
    def lambda_handler(event, context):
        if event.get("skip"):
            return {"connection_id": "c-1", "outcome": "skipped", "reason": "connection_needs_reauth"}
        return {"connection_id": "c-1", "outcome": "polled", "salesforce_calls": 1, "records_seen": 4,
                "events_published": 5, "events_failed": 0, "error": None}
"""


def _runtime_of(function: FunctionSpec) -> FunctionRuntime:
    return FunctionRuntime(
        functions={function.logical_id: function},
        base_environment=lambda spec: {},
        region="us-east-1",
        account_id="123456789012",
        on_error=lambda _: None,
    )


def _poll_runner(
    runtime: FunctionRuntime, log: list[str], schedule_input: str, **options: Any
) -> ScheduleRunner:
    """PollerFunction fired every 0.1 s (rate(1 minute) at 600x) with ``schedule_input``."""
    runner = ScheduleRunner(
        runtime=runtime,
        clock=ScheduleClock(speedup=600),
        region="us-east-1",
        account_id="123456789012",
        stack_name="stk",
        log=log.append,
        tick_seconds=0.02,
        **options,
    )
    runner.add_template_schedules(
        (
            ScheduleSpec(
                function_id="PollerFunction",
                event_name="Poll",
                kind="ScheduleV2",
                expression="rate(1 minute)",
                input=schedule_input,
            ),
        )
    )
    return runner


@pytest.mark.parametrize(
    ("schedule_input", "said"),
    [
        ("{}", "ok: 1 Salesforce call, 4 records, 5 events published)"),
        ('{"skip": true}', "ok: skipped (connection_needs_reauth))"),
    ],
)
def test_a_poll_firing_says_what_the_poll_did(tmp_path: Path, schedule_input: str, said: str) -> None:
    poller = write_function(tmp_path, "PollerFunction", POLLER)
    log: list[str] = []
    runner = _poll_runner(_runtime_of(poller), log, schedule_input)
    runner.start()
    try:
        assert _wait_for(lambda: any("fired -> PollerFunction" in line for line in log))
    finally:
        runner.stop()
    fired = next(line for line in log if "fired -> PollerFunction" in line)
    assert fired.endswith(said), fired
    # The runner reports the invocation while it runs, and its end (make demo waits on it).
    assert _wait_for(lambda: runner.describe()[0]["running"] is False)


def test_a_firing_that_times_out_is_stopped_and_reported_to_the_on_failure_destination(
    tmp_path: Path,
) -> None:
    """The stack's schedule firings run in worker processes (devstack.sandbox): a poll that outruns
    its Timeout is stopped there, and its invocation record goes where EventInvokeConfig's
    OnFailure says, once (no retries)."""
    slow = write_function(
        tmp_path,
        "PollerFunction",
        "import time\ndef lambda_handler(event, context):\n    time.sleep(event.get('sleep', 0))\n"
        "    return {'outcome': 'polled'}\n",
        timeout=0.5,
    )
    runtime = _runtime_of(slow)
    sandboxes = Sandboxes(runtime)
    failures: list[dict[str, Any]] = []
    log: list[str] = []
    runner = _poll_runner(
        runtime,
        log,
        '{"connection_id": "c-1", "sleep": 5}',  # the next firing waits for this one
        invoke=sandboxes.invoke,
        on_failure=lambda spec, event, result: failures.append(
            failure_record(spec, event, result, region="us-east-1", account_id="123456789012")
        ),
    )
    runner.start()
    try:
        assert _wait_for(lambda: len(failures) >= 1, timeout=10)
    finally:
        runner.stop()
        sandboxes.close()
    fired = next(line for line in log if "fired -> PollerFunction" in line)
    assert "Sandbox.Timedout: Task timed out after 0.50 seconds" in fired
    record = failures[0]
    assert record["requestPayload"] == {"connection_id": "c-1", "sleep": 5}
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert (
        record["requestContext"]["functionArn"]
        == function_arn("test-PollerFunction", "us-east-1", "123456789012") + ":$LATEST"
    )
    assert record["responsePayload"]["errorType"] == "Sandbox.Timedout"
    assert sandboxes.killed >= 1
