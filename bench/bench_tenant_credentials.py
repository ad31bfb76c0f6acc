"""What tenant-scoped credentials add to an action: the first request of a container (AssumeRole
with the session tag, a botocore session and a Secrets Manager client for the tenant, the secret
read with them) and warm requests (credentials, client and secret cached).

Each mode runs the ``get`` action through the leads function's real handler against the
in-process emulator and moto (bench/bench_actions.py's harness): ``function role`` reads the
secret with the function's own credentials (TENANT_ACCESS_ROLE_ARN unset), ``tenant role`` through
the tenant-access role. A "first request" is the first one of a fresh runtime (every port built
again) in a process whose imports are already done, so it isolates what tenancy adds to a cold
start from the imports every cold start pays. AWS here is moto in-process: a real STS AssumeRole
adds its network round trip (typically 10-30 ms in-region) to the first request's AWS time.

Usage: python bench/bench_tenant_credentials.py [--reps 30] [--warm 200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is the path

from bench.bench_actions import (
    CLOCK,
    _Context,
    api_event,
    environment,
    insert,
    load_function,
    p95,
    time_botocore,
)


def _measure(handler: Any, path: str, reps: int, warm: int, role: str | None) -> dict[str, Any]:
    from sfconnector.runtime import Runtime, get_runtime, set_runtime

    http = get_runtime().http
    if role:
        os.environ["TENANT_ACCESS_ROLE_ARN"] = role
    else:
        os.environ.pop("TENANT_ACCESS_ROLE_ARN", None)
    first: list[float] = []
    first_aws: list[float] = []
    warm_ms: list[float] = []
    assumed = 0
    for _ in range(reps):
        runtime = set_runtime(Runtime(http=http))
        CLOCK.reset()
        started = time.perf_counter()
        response = handler(api_event("GET", path), _Context())
        first.append((time.perf_counter() - started) * 1000)
        first_aws.append(CLOCK.aws * 1000)
        if response["statusCode"] != 200:
            raise SystemExit(f"HTTP {response['statusCode']}: {response.get('body')}")
        for _ in range(warm // reps):
            started = time.perf_counter()
            handler(api_event("GET", path), _Context())
            warm_ms.append((time.perf_counter() - started) * 1000)
        credentials = runtime.tenant_credentials
        assumed += credentials.assumed if credentials is not None else 0
    return {
        "first_med": statistics.median(first),
        "first_p95": p95(first),
        "first_aws": statistics.median(first_aws),
        "warm_med": statistics.median(warm_ms),
        "warm_p95": p95(warm_ms),
        "assume_per_container": assumed / reps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=30, help="fresh runtimes per mode")
    parser.add_argument("--warm", type=int, default=300, help="warm requests per mode (spread over the reps)")
    args = parser.parse_args()
    out = sys.stdout
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        time_botocore()
        with environment() as admin:
            import boto3

            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": ["sts:AssumeRole", "sts:TagSession"],
                    }
                ],
            }
            role = boto3.client("iam").create_role(
                RoleName="bench-TenantAccessRole", AssumeRolePolicyDocument=json.dumps(trust)
            )["Role"]["Arn"]
            lead = insert(admin, "Lead", {"LastName": "Bench", "Company": "Tenancy"})
            handler = load_function("leads").lambda_handler
            path = f"/connections/bench-conn/leads/{lead}"
            handler(api_event("GET", path), _Context())  # imports and first-use work of the process
            rows = {
                "function role": _measure(handler, path, args.reps, args.warm, None),
                "tenant role": _measure(handler, path, args.reps, args.warm, role),
            }
    print(
        f"python {platform.python_version()} on {platform.platform()}; AWS = moto in-process; "
        f"{args.reps} fresh runtimes and {args.warm} warm requests per mode",
        file=out,
    )
    header = (
        f"{'mode':<14} {'first med':>9} {'first p95':>9} {'first AWS':>9} {'warm med':>8} {'warm p95':>8} "
        f"{'AssumeRole/container':>20}"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for mode, r in rows.items():
        print(
            f"{mode:<14} {r['first_med']:>9.2f} {r['first_p95']:>9.2f} {r['first_aws']:>9.2f} "
            f"{r['warm_med']:>8.2f} {r['warm_p95']:>8.2f} {r['assume_per_container']:>20.1f}",
            file=out,
        )
    base, scoped = rows["function role"], rows["tenant role"]
    first = scoped["first_med"] - base["first_med"]
    warm = scoped["warm_med"] - base["warm_med"]
    print(
        f"\nadded by tenant-scoped credentials (moto): first request {first:+.2f} ms median, "
        f"warm request {warm:+.2f} ms median",
        file=out,
    )


if __name__ == "__main__":
    main()
