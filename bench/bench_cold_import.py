"""Cold import time and peak memory of every function, beside the bare stack.

Each measurement runs in a fresh interpreter (a Lambda cold start imports the handler module once
into a new process), laid out like Lambda: the function's directory and the layer's package on
``sys.path``. A measurement is the wall time of importing the handler module and the process's
peak RSS afterwards; each target is measured several times and the median is printed. The ratio
uses CPU time (``time.process_time``), which other processes on a shared machine disturb far less
than wall time; both are printed.

The bare stack is what any Powertools REST function on this stack imports before a line of its own
code: boto3, httpx, pydantic and Powertools (its REST resolver and Logger). The target is a
function import within 1.15x of it.

Usage: python bench/bench_cold_import.py [--reps N] [--only name,name]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
LAYER = ROOT / "layers" / "core"
TARGET_RATIO = 1.15

_PROBE = textwrap.dedent(
    """
    import json, resource, sys, time
    sys.path[:0] = {paths!r}
    t0, c0 = time.perf_counter(), time.process_time()
    {body}
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({{"seconds": elapsed, "cpu": cpu, "peak_kb": peak_kb, "modules": len(sys.modules)}}))
    """
)

BARE_STACK = """
import boto3
import httpx
import pydantic
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
"""

BARE_MINIMAL = """
import boto3
import httpx
import pydantic
import aws_lambda_powertools
"""


@dataclass
class Figure:
    name: str
    seconds: float
    cpu: float
    """CPU time of the import: on a shared machine it is steadier than wall time."""
    peak_mb: float
    modules: int


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    # What Lambda sets; no function may need more to be imported.
    env.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def _run_once(name: str, body: str, paths: list[str]) -> dict[str, float]:
    code = _PROBE.format(paths=paths, body=textwrap.dedent(body).strip())
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=str(ROOT),
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{name}: import failed:\n{out.stderr.strip()[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure_all(targets: list[tuple[str, str, list[str]]], reps: int) -> list[Figure]:
    """Round-robin over the targets, so a burst of load on the machine hits them all alike."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in targets}
    for _ in range(reps):
        for name, body, paths in targets:
            runs[name].append(_run_once(name, body, paths))
    return [
        Figure(
            name=name,
            seconds=statistics.median(r["seconds"] for r in runs[name]),
            cpu=statistics.median(r["cpu"] for r in runs[name]),
            peak_mb=statistics.median(r["peak_kb"] for r in runs[name]) / 1024,
            modules=int(statistics.median(r["modules"] for r in runs[name])),
        )
        for name, _, _ in targets
    ]


def _importtime(body: str, paths: list[str]) -> dict[str, int]:
    """Cumulative import time (us) per top-level import of ``body`` (``python -X importtime``)."""
    code = "import sys\n" + f"sys.path[:0] = {paths!r}\n" + textwrap.dedent(body).strip()
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=str(ROOT),
        check=False,
    )
    times: dict[str, int] = {}
    for line in out.stderr.splitlines():
        # "import time:   self [us] | cumulative | imported package"
        parts = line.split("|")
        if len(parts) != 3 or not parts[0].startswith("import time:"):
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        try:
            cumulative = int(parts[1].strip())
        except ValueError:
            continue
        if depth <= 2:
            times[name.strip()] = max(times.get(name.strip(), 0), cumulative)
    return times


def explain(name: str, paths: list[str]) -> None:
    """The modules a function imports beyond the bare stack, slowest first."""
    bare = _importtime(BARE_STACK, [str(LAYER)])
    mine = _importtime("import app", paths)
    extra = sorted(((us, mod) for mod, us in mine.items() if mod not in bare), reverse=True)[:12]
    print(f"  {name}: imported beyond the bare stack (cumulative ms, one run):")
    for us, mod in extra:
        print(f"    {us / 1000:8.1f}  {mod}")


def function_names() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS.glob("*/app.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated function names")
    args = parser.parse_args()
    names = function_names()
    if args.only:
        wanted = set(args.only.split(","))
        names = [n for n in names if n in wanted]

    print(f"python {platform.python_version()} on {platform.platform()}; {args.reps} runs each, median")
    paths = {name: [str(FUNCTIONS / name), str(LAYER)] for name in names}
    targets = [
        ("bare: boto3+httpx+pydantic+powertools", BARE_MINIMAL, [str(LAYER)]),
        ("bare: + Logger + APIGatewayRestResolver", BARE_STACK, [str(LAYER)]),
        *[(name, "import app", paths[name]) for name in names],
        # The functions import boto3 on first use, so their first request pays for it: shown too.
        *[(f"{name} +boto3", "import app\nimport boto3", paths[name]) for name in names],
    ]
    # Warm the OS file cache once so the first measured target is not penalised for it.
    measure_all(targets, 1)
    minimal, bare, *rest = measure_all(targets, args.reps)
    figures, with_boto3 = rest[: len(names)], rest[len(names) :]

    header = (
        f"{'target':<40} {'wall ms':>8} {'CPU ms':>7} {'x bare':>7} {'peak MB':>8} {'modules':>8}"
        f" {'+boto3 CPU':>11} {'x bare':>7} {'peak MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for fig in (minimal, bare):
        print(
            f"{fig.name:<40} {fig.seconds * 1000:>8.1f} {fig.cpu * 1000:>7.1f} {fig.cpu / bare.cpu:>7.2f}"
            f" {fig.peak_mb:>8.1f} {fig.modules:>8}"
        )
    for fig, full in zip(figures, with_boto3, strict=True):
        print(
            f"{fig.name:<40} {fig.seconds * 1000:>8.1f} {fig.cpu * 1000:>7.1f} {fig.cpu / bare.cpu:>7.2f}"
            f" {fig.peak_mb:>8.1f} {fig.modules:>8}"
            f" {full.cpu * 1000:>11.1f} {full.cpu / bare.cpu:>7.2f} {full.peak_mb:>8.1f}"
        )
    slow = [f for f in figures if f.cpu > TARGET_RATIO * bare.cpu]
    if slow:
        print(f"\nover {TARGET_RATIO}x the bare stack:")
        for fig in slow:
            explain(fig.name, paths[fig.name])
    if figures:
        worst = max(figures, key=lambda f: f.cpu)
        verdict = "met" if worst.cpu <= TARGET_RATIO * bare.cpu else "NOT met"
        print(
            f"\nslowest function: {worst.name} at {worst.cpu / bare.cpu:.2f}x the bare stack's CPU time "
            f"(target <= {TARGET_RATIO}x: {verdict})"
        )
        worst_full = max(with_boto3, key=lambda f: f.cpu)
        print(
            f"with boto3 (imported by the first request): {worst_full.name} at "
            f"{worst_full.cpu / bare.cpu:.2f}x the bare stack's CPU time"
        )


if __name__ == "__main__":
    main()
