"""Request rate of the Salesforce emulator over loopback with keep-alive connections.

The emulator runs in its own process (as `make emulator` runs it), so client and server do not share
a GIL; a few client threads each hold one keep-alive connection and send simple authenticated REST
GETs (one record by id, then /limits). Prints requests/s; never asserts on time.

    python bench/bench_emulator.py [--seconds 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit


def _start_emulator() -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "SF_EMULATOR_PORT": "0", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfemulator", "--daily-api-limit", "100000000"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("base_url: "):
        proc.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return proc, line.removeprefix("base_url: ")


def _call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def _run(host: str, port: int, path: str, token: str, seconds: float, threads: int) -> tuple[int, int, float]:
    counts = [0] * threads
    errors = [0] * threads
    stop = threading.Event()

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        while not stop.is_set():
            status, _ = _call(conn, "GET", path, headers=headers)
            if status == 200:
                counts[i] += 1
            else:
                errors[i] += 1
        conn.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts), sum(errors), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    proc, base_url = _start_emulator()
    try:
        split = urlsplit(base_url)
        host, port = split.hostname or "127.0.0.1", split.port or 80
        admin = http.client.HTTPConnection(host, port, timeout=30)
        _, raw = _call(admin, "POST", "/__emulator__/tokens", b"{}", {"Content-Type": "application/json"})
        token = json.loads(raw)["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        _, raw = _call(
            admin, "GET", "/services/data/v62.0/query?q=SELECT+Id+FROM+Account+LIMIT+1", headers=auth
        )
        record_id = json.loads(raw)["records"][0]["Id"]
        scenarios = [
            ("GET sobjects/Account/{id}", f"/services/data/v62.0/sobjects/Account/{record_id}"),
            ("GET limits", "/services/data/v62.0/limits"),
        ]
        print(f"emulator request rate ({args.threads} keep-alive client threads, {args.seconds:.0f} s each)")
        for label, path in scenarios:
            ok, failed, elapsed = _run(host, port, path, token, args.seconds, args.threads)
            print(f"  {label:<32} {ok / elapsed:8.0f} requests/s  ({ok} ok, {failed} failed)")
        _, raw = _call(admin, "GET", "/__emulator__/usage")
        print(f"  API calls counted by the emulator: {json.loads(raw)['api_calls']}")
        admin.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
