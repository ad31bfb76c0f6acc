"""What running schedule firings in worker processes costs the local stack (devstack.sandbox).

The local stack runs each asynchronous invocation (the trigger poller's schedule firings) in a
worker process it can kill at the function's Timeout, instead of a thread it cannot stop. Printed:

* cold start: a new worker (spawned interpreter) importing the real poller function's code and
  answering its first invocation (an event naming no connection: the handler returns at once);
* warm invocation: the round trip through a warm worker against the same call in-process, for a
  function that returns at once (the cost per firing once warm);
* timeout: how long after its Timeout a runaway invocation is stopped.

Usage: python bench/bench_devstack_sandbox.py [--reps N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "local"), str(ROOT / "layers" / "core")]

from devstack.lambdas import FunctionRuntime  # noqa: E402
from devstack.sandbox import Sandboxes  # noqa: E402
from devstack.template import FunctionSpec  # noqa: E402


def _spec(name: str, code_dir: Path, timeout: float) -> FunctionSpec:
    return FunctionSpec(
        logical_id=name,
        function_name=f"bench-{name}",
        code_dir=code_dir,
        handler="app.lambda_handler",
        timeout_s=timeout,
        memory_mb=512,
    )


def _median_seconds(call: Callable[[], object], reps: int) -> float:
    call()  # warm
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        quick_dir = Path(tmp) / "quick"
        quick_dir.mkdir()
        (quick_dir / "app.py").write_text(
            textwrap.dedent("""
            import time
            def lambda_handler(event, context):
                if event.get("sleep"):
                    time.sleep(event["sleep"])
                return {"ok": True}
            """)
        )
        quick = _spec("Quick", quick_dir, 1.0)
        poller = _spec("Poller", ROOT / "functions" / "poller", 120.0)
        errors: list[str] = []  # the poller refuses the empty event: expected, not printed
        env = {"TABLE_NAME": "bench", "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench"}
        runtime = FunctionRuntime(
            {s.logical_id: s for s in (quick, poller)},
            lambda s: dict(env),
            "us-east-1",
            "123456789012",
            errors.append,
        )
        boxes = Sandboxes(runtime)
        try:
            colds = []
            for _ in range(3):
                started = time.perf_counter()
                boxes.invoke(poller, {})
                colds.append(time.perf_counter() - started)
                boxes.close()
                boxes = Sandboxes(runtime)
            print(
                f"cold start of the poller's worker (spawn + import + first answer): "
                f"best {min(colds) * 1000:.0f} ms, median {statistics.median(colds) * 1000:.0f} ms"
            )

            warm = _median_seconds(lambda: boxes.invoke(quick, {}), args.reps)
            inproc = _median_seconds(lambda: runtime.invoke(quick, {}), args.reps)
            print(
                f"warm invocation through a worker: median {warm * 1e6:.0f} us "
                f"(in-process thread: {inproc * 1e6:.0f} us), {args.reps} reps"
            )

            started = time.perf_counter()
            result = boxes.invoke(quick, {"sleep": 10})
            print(
                f"a 10 s invocation with a 1 s Timeout stopped after {time.perf_counter() - started:.2f} s "
                f"({result.error_type})"
            )
        finally:
            boxes.close()


if __name__ == "__main__":
    main()
