"""Asynchronous invocations in worker processes, stopped at the function's Timeout as Lambda stops them.

Lambda ends an invocation that outruns its ``Timeout`` and discards its execution environment:
nothing of it runs on. A Python thread cannot be stopped, so an in-process invocation that times
out keeps running (a poll cycle would go on publishing and writing its cursors while the next one
starts). The local stack therefore runs what Lambda runs asynchronously (schedule firings: the
trigger poller) here instead:

* each concurrent invocation of a function gets a worker process (``spawn``: a fresh interpreter
  that imports the function's code once, its init phase), kept warm for the next invocation like
  an execution environment;
* a worker that has not answered by the deadline is killed, and the caller gets Lambda's
  ``Sandbox.Timedout``; the next invocation starts a new worker (a cold start);
* the context's ``get_remaining_time_in_millis()`` counts down from the invocation's start
  (the deadline crosses the process boundary as ``time.monotonic()``, system-wide on Linux).

A worker's output goes to the stack's stdout and stderr, as the in-process functions' does.
"""

from __future__ import annotations

import contextlib
import copy
import json
import multiprocessing
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from devstack.lambdas import (
    FunctionLoadError,
    FunctionRuntime,
    InvocationResult,
    LambdaContext,
    import_handler,
    invocation_result,
    run_handler,
    timed_out,
    trace_id,
)
from devstack.template import FunctionSpec

INIT_TIMEOUT_S = 30.0
"""How long a new worker may take to import its function. Lambda allows 10 s; a dev machine
running tests beside the stack imports boto3 and the connector slower than a Lambda does."""


AwsCall = tuple[str, str, dict[str, Any]]
"""One AWS SDK call a worker's invocation made: service, operation, parameters (bodies left out)."""


def _record_aws_calls() -> list[AwsCall]:
    """Collect this process's botocore calls (the stack checks them against the function's role,
    as it does for the functions it runs in-process)."""
    from botocore.handlers import BUILTIN_HANDLERS

    calls: list[AwsCall] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        kept = {k: v for k, v in params.items() if k not in ("Body", "Message", "PublishBatchRequestEntries")}
        calls.append((model.service_model.service_name, model.name, copy.deepcopy(kept)))

    BUILTIN_HANDLERS.append(("before-parameter-build", record))
    return calls


def _serve(
    conn: Connection,
    spec: FunctionSpec,
    env: dict[str, str],
    region: str,
    account_id: str,
    record_calls: bool = False,
) -> None:
    """A worker process: the function's environment, its code imported once, then invocations
    until the stack closes the pipe."""
    os.environ.clear()
    os.environ.update(env)
    calls = _record_aws_calls() if record_calls else None
    init_error: dict[str, Any] | None = None
    try:
        handler = import_handler(spec)
    except FunctionLoadError as exc:
        init_error = {"error": ("Runtime.ImportModuleError", str(exc)), "trace": traceback.format_exc()}
    conn.send("ready")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        payload, request_id, deadline, trace = message
        if init_error is not None:
            conn.send((init_error, []))
            continue
        context = LambdaContext(
            spec, request_id=request_id, region=region, account_id=account_id, deadline=deadline
        )
        os.environ["_X_AMZN_TRACE_ID"] = trace
        outcome = run_handler(handler, payload, context)
        made: list[AwsCall] = []
        if calls is not None:
            made, calls[:] = list(calls), []
        conn.send((outcome, made))


@dataclass(eq=False)  # one worker is one process: identity, hashable
class _Worker:
    process: BaseProcess
    conn: Connection

    def kill(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


class Sandboxes:
    """Worker processes of the stack's functions: :meth:`invoke` runs one invocation in one."""

    def __init__(
        self,
        runtime: FunctionRuntime,
        *,
        init_timeout_s: float = INIT_TIMEOUT_S,
        on_aws_calls: Callable[[FunctionSpec, list[AwsCall]], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.on_aws_calls = on_aws_calls
        """Given the AWS calls of each finished invocation (recorded in the worker only when set)."""
        self.init_timeout_s = init_timeout_s
        self.cold_starts = 0
        self.killed = 0
        self._context = multiprocessing.get_context("spawn")
        self._idle: dict[str, list[_Worker]] = {}
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"Sandboxes(workers={len(self._all)}, cold_starts={self.cold_starts}, killed={self.killed})"

    def _start(self, spec: FunctionSpec) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve,
            args=(
                child,
                spec,
                dict(self.runtime.environment(spec)),
                self.runtime.region,
                self.runtime.account_id,
                self.on_aws_calls is not None,
            ),
            name=f"lambda-{spec.logical_id}",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        with self._lock:
            self._all.add(worker)
            self.cold_starts += 1
        try:
            ready = parent.poll(self.init_timeout_s) and parent.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self._discard(worker)
            raise FunctionLoadError(
                f"{spec.logical_id}: its worker did not finish its init phase "
                f"within {self.init_timeout_s:.0f} s"
            )
        return worker

    def _take(self, spec: FunctionSpec) -> _Worker:
        with self._lock:
            if self._closed:
                raise FunctionLoadError("the stack is stopping")
            idle = self._idle.setdefault(spec.logical_id, [])
            while idle:
                worker = idle.pop()
                if worker.process.is_alive():
                    return worker
                self._all.discard(worker)
        return self._start(spec)

    def _give_back(self, spec: FunctionSpec, worker: _Worker) -> None:
        with self._lock:
            if not self._closed:
                self._idle.setdefault(spec.logical_id, []).append(worker)
                return
        self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.kill()

    def invoke(self, spec: FunctionSpec, event: Any, *, request_id: str | None = None) -> InvocationResult:
        """One invocation in a worker of ``spec``, ended at its Timeout (the worker then killed)."""
        request_id = request_id or str(uuid.uuid4())
        payload = json.loads(json.dumps(event))
        on_error = self.runtime.on_error
        try:
            worker = self._take(spec)
        except FunctionLoadError as exc:
            return invocation_result(
                spec, request_id, 0.0, {"error": ("Runtime.ImportModuleError", str(exc))}, on_error
            )
        started = time.monotonic()
        try:
            worker.conn.send((payload, request_id, started + spec.timeout_s, trace_id()))
            answered = worker.conn.poll(spec.timeout_s)
            outcome, made = worker.conn.recv() if answered else (None, [])
        except (EOFError, OSError):
            # The worker died mid-invocation (os._exit, a crash, killed by the stack's stop).
            self._discard(worker)
            code = worker.process.exitcode
            error = {
                "error": ("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited ({code})")
            }
            return invocation_result(spec, request_id, (time.monotonic() - started) * 1000, error, on_error)
        duration = (time.monotonic() - started) * 1000
        if outcome is None:
            with self._lock:
                self.killed += 1
            self._discard(worker)
            return timed_out(spec, request_id, duration, spec.timeout_s, on_error)
        self._give_back(spec, worker)
        if made and self.on_aws_calls is not None:
            self.on_aws_calls(spec, made)
        return invocation_result(spec, request_id, duration, outcome, on_error)

    def close(self) -> None:
        """Stop every worker (idle ones asked to exit, busy ones killed): none outlives the stack."""
        with self._lock:
            self._closed = True
            idle = [w for workers in self._idle.values() for w in workers]
            self._idle.clear()
            busy = self._all - set(idle)
            self._all.clear()
        for worker in idle:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            worker.process.join(2)
            worker.kill()
        for worker in busy:
            worker.kill()

    def workers(self) -> int:
        with self._lock:
            return len(self._all)
