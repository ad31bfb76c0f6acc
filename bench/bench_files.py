"""A large Salesforce File to a record and back, with the connector's peak memory.

The Salesforce emulator and moto's S3 (server mode) run as separate processes, so this process holds
the connector only: :class:`sfconnector.actions.files.FileService` with its real ports (the
Salesforce client over HTTP, the payload stager over S3). For each size it

1. writes the file into the payload bucket (``uploads/``; not measured),
2. ``add``: streams it from S3 into Salesforce's multipart ContentVersion insert,
3. ``get_content``: streams VersionData from Salesforce into an S3 multipart upload (presigned URL),
4. downloads the staged object and compares SHA-256 with the original.

Prints per size and phase: seconds, MB/s, the Python heap's peak (tracemalloc) and the process's
peak resident memory above its level before the phase (VmRSS sampled every 5 ms). The target is a
peak that does not grow with the file. Never asserts on time.

    python bench/bench_files.py [--sizes-mb 10 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "bench-payloads"
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def _process(args: list[str], ready_url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        _wait(ready_url)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measured(work: Callable[[], T]) -> tuple[T, float, int, int]:
    """``work()``'s result, seconds, Python heap peak (bytes) and RSS peak above the start (bytes)."""
    base = _rss_kb()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_kb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    tracemalloc.start()
    sampler.start()
    started = time.perf_counter()
    try:
        result = work()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, elapsed, heap_peak, (peak[0] - base) * 1024


def _write_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with path.open("wb") as out:
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[10, 100])
    args = parser.parse_args()

    sf_port, s3_port = _free_port(), _free_port()
    s3_url = f"http://127.0.0.1:{s3_port}"
    emulator = [sys.executable, "-m", "sfemulator", "--port", str(sf_port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "emulator")}
    moto = [sys.executable, "-m", "moto.server", "-p", str(s3_port)]
    with _process(emulator, f"http://127.0.0.1:{sf_port}/services/data", env), _process(moto, s3_url):
        run(f"http://127.0.0.1:{sf_port}", s3_url, args.sizes_mb)


def run(sf_url: str, s3_url: str, sizes_mb: list[int]) -> None:
    import boto3
    from botocore.config import Config
    from sfconnector.actions.files import FileService
    from sfconnector.salesforce.client import SalesforceClient, StaticTokenProvider
    from sfconnector.staging import PayloadStager

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=s3_url, config=config)
    s3.create_bucket(Bucket=BUCKET)
    request = urllib.request.Request(
        f"{sf_url}/__emulator__/tokens",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        token: dict[str, Any] = json.loads(answer.read())
    client = SalesforceClient(StaticTokenProvider(token["access_token"], token["instance_url"]))
    parent = client.create("Account", {"Name": "Bench Files"})
    stager = PayloadStager(BUCKET, s3=s3)
    service = FileService(client, connection_id="conn-bench", stager=stager)

    print(f"{'size':>7} {'phase':<12} {'seconds':>8} {'MB/s':>7} {'heap peak':>10} {'RSS peak':>9}  calls")
    with tempfile.TemporaryDirectory() as tmp:
        for size_mb in sizes_mb:
            one_size(service, client, s3, parent, Path(tmp), size_mb)


def one_size(service: Any, client: Any, s3: Any, parent: str, tmp: Path, size_mb: int) -> None:
    from sfconnector.models.files import AddFileInput

    size = size_mb * 1024 * 1024
    path = tmp / f"file-{size_mb}.bin"
    original = _write_file(path, size)
    key = f"uploads/bench-{size_mb}.bin"
    s3.upload_file(str(path), BUCKET, key)
    path.unlink()

    def line(phase: str, seconds: float, heap: int, rss: int, calls: int) -> None:
        print(
            f"{size_mb:>5}MB {phase:<12} {seconds:>8.2f} {size / seconds / 1e6:>7.1f} "
            f"{heap / 2**20:>8.1f}MB {rss / 2**20:>7.1f}MB  {calls}"
        )

    before = client.api_calls
    request = AddFileInput(parent_id=parent, name=f"bench-{size_mb}.bin", s3_key=key)
    added, secs, heap, rss = measured(lambda: service.add(request))
    line("add", secs, heap, rss, client.api_calls - before)
    before = client.api_calls
    content, secs, heap, rss = measured(lambda: service.get_content(added.document_id))
    line("get_content", secs, heap, rss, client.api_calls - before)
    staged_key = str(content.download_url).split(f"/{BUCKET}/", 1)[1].split("?", 1)[0]
    digest = hashlib.sha256()
    for chunk in s3.get_object(Bucket=BUCKET, Key=staged_key)["Body"].iter_chunks(1024 * 1024):
        digest.update(chunk)
    same = "identical" if digest.hexdigest() == original else "DIFFERENT"
    print(f"{size_mb:>5}MB round trip: sha256 {same} ({original[:16]}...), {content.size} bytes")


if __name__ == "__main__":
    main()
