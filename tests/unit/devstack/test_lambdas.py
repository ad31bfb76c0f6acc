"""The in-process Lambda runtime: isolation between functions, context, errors, timeouts."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from devstack.lambdas import FunctionRuntime, function_name_from_arn
from devstack.template import FunctionSpec

from tests.unit.devstack.conftest import write_function

ECHO = """
    import os
    import helper

    def lambda_handler(event, context):
        return {
            "event": event,
            "who": helper.NAME,
            "env": os.environ.get("WHO"),
            "function_name": context.function_name,
            "memory": context.memory_limit_in_mb,
            "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "lambda_name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            "task_root": os.environ["LAMBDA_TASK_ROOT"],
        }
"""


def _runtime(*specs: FunctionSpec) -> FunctionRuntime:
    errors: list[str] = []
    runtime = FunctionRuntime(
        functions={s.logical_id: s for s in specs},
        base_environment=lambda spec: {"WHO": spec.logical_id},
        region="us-east-1",
        account_id="123456789012",
        on_error=errors.append,
    )
    runtime.errors = errors  # type: ignore[attr-defined]
    return runtime


def _with_helper(root: Path, name: str) -> FunctionSpec:
    spec = write_function(root, name, ECHO, memory=256)
    (spec.code_dir / "helper.py").write_text(f"NAME = {name!r}\n")
    return spec


def test_same_named_modules_of_two_functions_do_not_collide(tmp_path: Path) -> None:
    one, two = _with_helper(tmp_path, "One"), _with_helper(tmp_path, "Two")
    runtime = _runtime(one, two)
    first = runtime.invoke(one, {"n": 1}, request_id="r-1")
    second = runtime.invoke(two, {"n": 2})
    assert first.ok
    assert second.ok
    assert first.value["who"] == "One"
    assert second.value["who"] == "Two"
    assert first.value["event"] == {"n": 1}
    assert first.value["function_name"] == "test-One"
    assert first.value["memory"] == 256
    assert first.value["request_id"] == "r-1"
    assert 0 < first.value["remaining_ms"] <= 3000
    assert first.value["task_root"] == str(one.code_dir)
    # The plain "helper" name is not left in sys.modules for the next function to pick up.
    assert "helper" not in sys.modules


def test_each_invocation_sees_its_own_function_environment(tmp_path: Path) -> None:
    one, two = _with_helper(tmp_path, "One"), _with_helper(tmp_path, "Two")
    runtime = _runtime(one, two)
    results: dict[str, object] = {}

    def call(spec: FunctionSpec) -> None:
        for _ in range(20):
            value = runtime.invoke(spec, {}).value
            if value["env"] != spec.logical_id or value["lambda_name"] != spec.function_name:
                results[spec.logical_id] = value
                return
        results.setdefault(spec.logical_id, "ok")

    threads = [threading.Thread(target=call, args=(spec,)) for spec in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"One": "ok", "Two": "ok"}
    # Outside an invocation the process environment is untouched.
    assert os.environ.get("AWS_LAMBDA_FUNCTION_NAME") is None


def test_unhandled_error_is_reported_with_its_type(tmp_path: Path) -> None:
    spec = write_function(
        tmp_path, "Boom", "def lambda_handler(event, context):\n    raise KeyError('nope')\n"
    )
    runtime = _runtime(spec)
    result = runtime.invoke(spec, {})
    assert not result.ok
    assert result.error_type == "KeyError"
    assert "Traceback" in runtime.errors[0]  # type: ignore[attr-defined]


def test_import_error_and_non_serialisable_result(tmp_path: Path) -> None:
    broken = write_function(tmp_path, "Broken", "import does_not_exist_anywhere\n")
    unserialisable = write_function(
        tmp_path, "Obj", "def lambda_handler(event, context):\n    return object()\n"
    )
    runtime = _runtime(broken, unserialisable)
    result = runtime.invoke(broken, {})
    assert result.error_type == "Runtime.ImportModuleError"
    assert "does_not_exist_anywhere" in (result.error_message or "")
    assert runtime.invoke(unserialisable, {}).error_type == "Runtime.MarshalError"


def test_timeout_is_enforced(tmp_path: Path) -> None:
    spec = write_function(
        tmp_path, "Slow", "import time\ndef lambda_handler(event, context):\n    time.sleep(2)\n", timeout=0.3
    )
    result = _runtime(spec).invoke(spec, {})
    assert result.timed_out
    assert result.error_type == "Sandbox.Timedout"
    assert result.duration_ms < 1500


def test_function_lookup_by_deployed_name_or_arn(tmp_path: Path) -> None:
    spec = write_function(tmp_path, "Poller", "def lambda_handler(e, c):\n    return 1\n")
    runtime = _runtime(spec)
    assert runtime.by_name("test-Poller") is spec
    assert runtime.by_name("Poller") is spec
    assert runtime.by_name("other") is None
    assert (
        function_name_from_arn("arn:aws:lambda:us-east-1:123456789012:function:test-Poller:live")
        == "test-Poller"
    )
    assert function_name_from_arn("arn:aws:sqs:us-east-1:123456789012:queue") is None
