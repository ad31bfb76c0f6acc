"""What each named lazy-import seam of the layer saves (docs/ARCHITECTURE.md, "Cold start: the lazy seams").

A seam is a place where the layer imports a module when it is first needed instead of at import.
For each seam, a fresh interpreter (bytecode cached, like the layer) imports the handler of a
function that does NOT need the seam's modules (and what its first request loads anyway), then
imports them, and reports the CPU time of that last step: what such a function would pay at every
cold start without the seam. The best
of several runs is reported (higher figures are other processes on the machine).

Usage: python bench/bench_lazy_seams.py [--reps N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "core"

FIRST_REQUEST = [
    "boto3",
    "sfconnector.stores.connections",
    "sfconnector.stores.tokens",
    "sfconnector.oauth.provider",
]
"""What a function's first request has loaded anyway (the ports of a connection's client)."""

# (seam, function whose handler is imported first, modules loaded before (its first request's),
#  modules the seam defers, when they load)
SEAMS: list[tuple[str, str, list[str], list[str], str]] = [
    (
        "ports built on first use (sfconnector.runtime)",
        "meta",
        [],
        [
            "boto3",
            "sfconnector.stores.connections",
            "sfconnector.stores.tokens",
            "sfconnector.oauth.provider",
            "sfconnector.events",
        ],
        "the first request that needs a store or a Salesforce client (never in the documents function)",
    ),
    (
        "attachment kinds (sfconnector.api.registry -> sfconnector.api.attachments)",
        "accounts",
        [],
        ["sfconnector.api.attachments"],
        "the attachments and documents functions' import",
    ),
    (
        "the API documents (OpenAPI models, Swagger UI, the connections router in api.meta)",
        "accounts",
        [],
        [
            "aws_lambda_powertools.event_handler.openapi.models",
            "aws_lambda_powertools.event_handler.openapi.swagger_ui.html",
            "sfconnector.models.errors",
            "sfconnector.api.connections",
        ],
        "GET /openapi.json, /docs (documents function)",
    ),
    (
        "token refresh (oauth.flow, the refresh lock, events)",
        "accounts",
        FIRST_REQUEST,
        ["sfconnector.oauth.flow", "sfconnector.stores.refresh_lock", "sfconnector.events"],
        "an expired access token",
    ),
    (
        "Idempotency-Key (Powertools idempotency, api.idempotency)",
        "accounts",
        FIRST_REQUEST,
        ["sfconnector.api.idempotency", "sfconnector.stores.idempotency"],
        "a create sent with an Idempotency-Key",
    ),
    (
        "URL download and staging (urlfetch, staging)",
        "attachments",
        FIRST_REQUEST,
        ["sfconnector.urlfetch", "sfconnector.staging"],
        "an attachment added from a URL, or content too big to return inline",
    ),
    (
        "the find-all condition guard (salesforce.condition)",
        "associations",
        FIRST_REQUEST,
        ["sfconnector.salesforce.condition"],
        "POST associations/find_all",
    ),
]

CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path[:0] = {paths!r}
    import app  # the handler module, as Lambda imports it
    for name in {preload!r}:
        __import__(name)
    before = set(sys.modules)
    start = time.process_time()
    for name in {modules!r}:
        __import__(name)
    spent = time.process_time() - start
    print(json.dumps({{"ms": spent * 1000, "modules": len(set(sys.modules) - before)}}))
    """
)


def measure(function: str, preload: list[str], modules: list[str]) -> tuple[float, int]:
    paths = [str(ROOT / "functions" / function), str(LAYER)]
    code = CHILD.format(paths=paths, preload=preload, modules=modules)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return float(result["ms"]), int(result["modules"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    measure("accounts", [], ["json"])  # warm the bytecode caches
    print(f"python {sys.version.split()[0]}; best of {args.reps} runs; CPU ms of the deferred imports")
    print(f"{'seam':<86} {'after':<13} {'saves ms':>8} {'modules':>7}  loaded by")
    print("-" * 160)
    for seam, function, preload, modules, when in SEAMS:
        runs = [measure(function, preload, modules) for _ in range(args.reps)]
        best = min(ms for ms, _ in runs)
        count = runs[0][1]
        print(f"{seam:<86} {function:<13} {best:8.1f} {count:7d}  {when}")


if __name__ == "__main__":
    main()
