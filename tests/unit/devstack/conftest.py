"""Fixtures for the local stack's unit tests: a real moto server and throwaway Lambda functions."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from devstack.template import FunctionSpec
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on a free port (the same server mode the stack runs)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def write_function(
    root: Path, name: str, code: str, *, timeout: float = 3, memory: int = 128
) -> FunctionSpec:
    """A function directory with an app.py holding ``code``, and its spec."""
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "app.py").write_text(textwrap.dedent(code))
    return FunctionSpec(
        logical_id=name,
        function_name=f"test-{name}",
        code_dir=directory,
        handler="app.lambda_handler",
        runtime="python3.13",
        memory_mb=memory,
        timeout_s=timeout,
    )
