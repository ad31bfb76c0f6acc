"""Asynchronous invocations in worker processes: stopped at the function's Timeout as Lambda stops
them (the in-process thread of a timed-out poller ran on), with the real remaining time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.lambdas import FunctionRuntime
from devstack.sandbox import Sandboxes
from devstack.template import FunctionSpec

from tests.unit.devstack.conftest import write_function

# Writes a line when it starts and one more per 0.1 s of work: what a poll cycle's publishes and
# cursor writes would be. A stopped invocation writes nothing after its Timeout.
SLOW = """
    import os, time

    CALLS = 0

    def lambda_handler(event, context):
        global CALLS
        CALLS += 1
        out = event["out"]
        with open(out, "a") as f:
            f.write(f"start {context.get_remaining_time_in_millis()} {os.getpid()} {os.environ['WHO']}\\n")
        for step in range(event["steps"]):
            time.sleep(0.1)
            with open(out, "a") as f:
                f.write(f"step {step} {context.get_remaining_time_in_millis()}\\n")
        return {"calls": CALLS, "pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis()}
"""


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[tuple[Sandboxes, FunctionSpec, list[str]]]:
    spec = write_function(tmp_path / "fn", "Slow", SLOW, timeout=1.0)
    errors: list[str] = []
    runtime = FunctionRuntime(
        functions={spec.logical_id: spec},
        base_environment=lambda s: {"WHO": s.logical_id},
        region="us-east-1",
        account_id="123456789012",
        on_error=errors.append,
    )
    boxes = Sandboxes(runtime)
    try:
        yield boxes, spec, errors
    finally:
        boxes.close()
        assert boxes.workers() == 0


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_timed_out_invocation_stops_at_its_timeout(
    sandboxes: tuple[Sandboxes, FunctionSpec, list[str]], tmp_path: Path
) -> None:
    boxes, spec, errors = sandboxes
    out = tmp_path / "slow.log"
    assert boxes.invoke(spec, {"out": str(tmp_path / "warm.log"), "steps": 0}).ok  # the cold start first
    started = time.monotonic()
    result = boxes.invoke(spec, {"out": str(out), "steps": 30})  # 3 s of work, 1 s Timeout
    waited = time.monotonic() - started
    assert result.timed_out
    assert result.error_type == "Sandbox.Timedout"
    assert 1.0 <= waited < 1.5
    assert errors == [f"Slow {result.request_id}: Task timed out after 1.00 seconds"]
    written = _lines(out)
    time.sleep(0.5)
    # Nothing of the invocation runs on: no step is written after the Timeout.
    assert _lines(out) == written
    assert 1 <= len(written) <= 11  # the start line, then at most 10 steps of 0.1 s
    assert boxes.killed == 1


def test_the_context_reports_the_real_remaining_time(
    sandboxes: tuple[Sandboxes, FunctionSpec, list[str]], tmp_path: Path
) -> None:
    boxes, spec, _ = sandboxes
    out = tmp_path / "quick.log"
    result = boxes.invoke(spec, {"out": str(out), "steps": 3})
    assert result.ok, result
    first = int(_lines(out)[0].split()[1])
    steps = [int(line.split()[2]) for line in _lines(out)[1:]]
    assert 500 <= first <= 1000  # less the time the invocation took to reach the worker
    # Each 0.1 s of work shows as at least 100 ms less remaining time (the writes take time too).
    for i, later in enumerate(steps):
        assert 100 * (i + 1) <= first - later <= 100 * (i + 1) + 1000, (i, first, steps)
    assert result.value["remaining_ms"] <= steps[-1]


def test_a_worker_stays_warm_and_a_timed_out_one_is_replaced(
    sandboxes: tuple[Sandboxes, FunctionSpec, list[str]], tmp_path: Path
) -> None:
    boxes, spec, _ = sandboxes
    out = str(tmp_path / "warm.log")
    first = boxes.invoke(spec, {"out": out, "steps": 0})
    second = boxes.invoke(spec, {"out": out, "steps": 0})
    assert (first.value["calls"], second.value["calls"]) == (1, 2)  # module state kept: warm
    assert first.value["pid"] == second.value["pid"]
    assert boxes.cold_starts == 1
    assert boxes.invoke(spec, {"out": out, "steps": 30}).timed_out
    third = boxes.invoke(spec, {"out": out, "steps": 0})
    assert third.ok
    assert third.value["calls"] == 1  # a fresh environment after the timeout: a cold start
    assert third.value["pid"] != first.value["pid"]
    assert boxes.cold_starts == 2


def test_errors_have_lambdas_shape(tmp_path: Path) -> None:
    spec = write_function(
        tmp_path,
        "Broken",
        "import os\ndef lambda_handler(event, context):\n    if event.get('exit'):\n        os._exit(3)\n"
        "    raise ValueError('no such record')\n",
    )
    errors: list[str] = []
    runtime = FunctionRuntime(
        {spec.logical_id: spec}, lambda s: {}, "us-east-1", "123456789012", errors.append
    )
    boxes = Sandboxes(runtime)
    try:
        raised = boxes.invoke(spec, {})
        assert (raised.error_type, raised.error_message) == ("ValueError", "no such record")
        exited = boxes.invoke(spec, {"exit": True})
        assert exited.error_type == "Runtime.ExitError"
        assert boxes.invoke(spec, {}).error_type == "ValueError"  # a new worker after the exit
    finally:
        boxes.close()
    assert boxes.workers() == 0
