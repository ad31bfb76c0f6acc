"""Running the template's functions in this process, the way the Lambda runtime runs them.

* Each function's ``CodeUri`` directory is imported as its own package (``devstack_fn_<LogicalId>_<hash>``),
  so a dozen ``app.py`` files never collide; modules a function imports from its own directory are
  kept under that package too.
* Each function sees its own environment (template Globals + its Environment, resolved against the
  moto resources, plus the variables the Lambda runtime sets) through a per-thread layer over
  ``os.environ``: concurrent invocations of different functions do not see each other's values.
* The handler gets a JSON round-tripped event (what it would get over the wire) and a context with
  the Lambda attributes; the result must be JSON-serialisable, as Lambda requires. The function's
  ``Timeout`` is enforced: the caller gets a timeout, though Python cannot stop the thread itself
  (:mod:`devstack.sandbox` runs asynchronous invocations in worker processes it can stop).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import threading
import time
import traceback
import types
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.template import FunctionSpec

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
"""Lambda's limit for a synchronous request and response payload (bytes)."""

Handler = Callable[[Any, Any], Any]


class _LayeredEnviron(os._Environ[str]):
    """``os.environ`` with an optional per-thread overlay (the invoked function's environment).

    The overlay is a complete environment, so reads inside an invocation see exactly that function's
    variables; writes go to it too, persisting for that function like a warm container's.
    """

    def __init__(self, base: os._Environ[str]) -> None:
        super().__init__(
            base._data,  # type: ignore[attr-defined]
            base.encodekey,
            base.decodekey,
            base.encodevalue,
            base.decodevalue,
        )
        self._local = threading.local()

    def overlay(self) -> dict[str, str] | None:
        env: dict[str, str] | None = getattr(self._local, "env", None)
        return env

    @contextmanager
    def using(self, env: dict[str, str]) -> Iterator[None]:
        previous = self.overlay()
        self._local.env = env
        try:
            yield
        finally:
            self._local.env = previous

    def __getitem__(self, key: str) -> str:
        env = self.overlay()
        return env[key] if env is not None else super().__getitem__(key)

    def __setitem__(self, key: str, value: str) -> None:
        env = self.overlay()
        if env is not None:
            env[key] = value
        else:
            super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        env = self.overlay()
        if env is not None:
            del env[key]
        else:
            super().__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        env = self.overlay()
        return iter(list(env)) if env is not None else super().__iter__()

    def __len__(self) -> int:
        env = self.overlay()
        return len(env) if env is not None else super().__len__()

    def copy(self) -> dict[str, str]:
        env = self.overlay()
        return dict(env) if env is not None else super().copy()


_install_lock = threading.Lock()


def layered_environ() -> _LayeredEnviron:
    """Install (once) and return the layered ``os.environ``."""
    with _install_lock:
        if not isinstance(os.environ, _LayeredEnviron):
            os.environ = _LayeredEnviron(os.environ)  # noqa: B003 - same data, wrapped
        assert isinstance(os.environ, _LayeredEnviron)
        return os.environ


class LambdaContext:
    """The context object a Python Lambda handler receives (same attribute names)."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        request_id: str,
        region: str,
        account_id: str,
        deadline: float | None = None,
    ) -> None:
        self.function_name = spec.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn(spec.function_name, region, account_id)
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.function_name}"
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{today}/[$LATEST]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        # ``deadline`` (time.monotonic(), system-wide on Linux) when the invocation started elsewhere.
        self._deadline = time.monotonic() + spec.timeout_s if deadline is None else deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r})"


def function_arn(function_name: str, region: str, account_id: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"


def function_name_from_arn(arn: str) -> str | None:
    """``arn:aws:lambda:region:acct:function:NAME[:qualifier]`` -> NAME."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return parts[6]
    return None


@dataclass(frozen=True)
class InvocationResult:
    """What an invocation produced: a JSON value, or Lambda's error shape."""

    request_id: str
    duration_ms: float
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error_type is None


class FunctionLoadError(RuntimeError):
    """A function's code could not be imported (its init phase failed)."""


@dataclass
class FunctionRuntime:
    """Loads and invokes the template's functions in-process."""

    functions: Mapping[str, FunctionSpec]
    base_environment: Callable[[FunctionSpec], dict[str, str]]
    region: str
    account_id: str
    on_error: Callable[[str], None] = lambda text: print(text, file=sys.stderr)
    _handlers: dict[str, Handler] = field(default_factory=dict)
    _environments: dict[str, dict[str, str]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def by_name(self, function_name: str) -> FunctionSpec | None:
        """The function a deployed name (or a logical id) refers to."""
        for spec in self.functions.values():
            if function_name in (spec.function_name, spec.logical_id):
                return spec
        return None

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        with self._lock:
            if spec.logical_id not in self._environments:
                env = _base_copy()
                env.update(self.base_environment(spec))
                env.update(
                    {
                        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout_s)),
                        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
                        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
                        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python'}",
                        "AWS_REGION": self.region,
                        "AWS_DEFAULT_REGION": self.region,
                        "LAMBDA_TASK_ROOT": str(spec.code_dir),
                        "_HANDLER": spec.handler,
                        # sam local sets this; Powertools (tracer, metrics) then behave as off-Lambda.
                        "AWS_SAM_LOCAL": "true",
                    }
                )
                self._environments[spec.logical_id] = env
            return self._environments[spec.logical_id]

    def handler(self, spec: FunctionSpec) -> Handler:
        """The function's handler, importing its code on first use (its cold start)."""
        with self._lock:
            cached = self._handlers.get(spec.logical_id)
            if cached is not None:
                return cached
            with layered_environ().using(self.environment(spec)):
                handler = import_handler(spec)
            self._handlers[spec.logical_id] = handler
            return handler

    def invoke(
        self, spec: FunctionSpec, event: Any, *, request_id: str | None = None, wait_s: float | None = None
    ) -> InvocationResult:
        """Invoke synchronously; the event is JSON round-tripped like Lambda's wire payload.

        ``wait_s`` (default: the function's Timeout) is how long the caller waits; API Gateway's
        29-second integration timeout can be shorter than the function's own.
        """
        request_id = request_id or str(uuid.uuid4())
        started = time.monotonic()
        payload = json.loads(json.dumps(event))
        outcome: dict[str, Any] = {}

        def run() -> None:
            env = self.environment(spec)
            try:
                handler = self.handler(spec)
            except FunctionLoadError as exc:
                outcome["error"] = ("Runtime.ImportModuleError", str(exc))
                outcome["trace"] = traceback.format_exc()
                return
            context = LambdaContext(
                spec, request_id=request_id, region=self.region, account_id=self.account_id
            )
            env["_X_AMZN_TRACE_ID"] = trace_id()
            with layered_environ().using(env):
                outcome.update(run_handler(handler, payload, context))

        worker = threading.Thread(target=run, name=f"{_THREAD_PREFIX}{spec.logical_id}", daemon=True)
        worker.start()
        waited = spec.timeout_s if wait_s is None else min(wait_s, spec.timeout_s)
        worker.join(waited)
        duration = (time.monotonic() - started) * 1000
        if worker.is_alive():
            return timed_out(spec, request_id, duration, waited, self.on_error)
        return invocation_result(spec, request_id, duration, outcome, self.on_error)


def failure_record(
    spec: FunctionSpec, event: Any, result: InvocationResult, *, region: str, account_id: str
) -> dict[str, Any]:
    """What Lambda sends to an on-failure destination for a failed asynchronous invocation (the
    invocation record: request, condition, the error as the function's response)."""
    error: dict[str, Any] = {"errorMessage": result.error_message or ""}
    if result.error_type:
        error["errorType"] = result.error_type
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": function_arn(spec.function_name, region, account_id) + ":$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 1,  # MaximumRetryAttempts 0: the local stack never retries
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error,
    }


def trace_id() -> str:
    """An X-Ray trace header value, as Lambda sets ``_X_AMZN_TRACE_ID`` per invocation."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"


def run_handler(handler: Handler, payload: Any, context: Any) -> dict[str, Any]:
    """Call the handler as the Lambda runtime does: ``{"value": ...}`` (JSON-serialisable, at most
    6 MB), or ``{"error": (type, message), "trace": ...}`` for Lambda's error result."""
    try:
        value = handler(payload, context)
    except Exception as exc:  # a handler's unhandled error is Lambda's error result
        return {"error": (type(exc).__name__, str(exc)), "trace": traceback.format_exc()}
    try:
        encoded = json.dumps(value)
    except (TypeError, ValueError) as exc:
        return {"error": ("Runtime.MarshalError", f"Unable to marshal response: {exc}")}
    if len(encoded.encode()) > MAX_SYNC_PAYLOAD:
        return {"error": ("Function.ResponseSizeTooLarge", "the response exceeds Lambda's 6 MB limit")}
    return {"value": json.loads(encoded)}


def timed_out(
    spec: FunctionSpec, request_id: str, duration_ms: float, waited: float, on_error: Callable[[str], None]
) -> InvocationResult:
    message = f"Task timed out after {waited:.2f} seconds"
    on_error(f"{spec.logical_id} {request_id}: {message}")
    return InvocationResult(request_id, duration_ms, None, "Sandbox.Timedout", message, timed_out=True)


def invocation_result(
    spec: FunctionSpec,
    request_id: str,
    duration_ms: float,
    outcome: Mapping[str, Any],
    on_error: Callable[[str], None],
) -> InvocationResult:
    """The result of a finished invocation (:func:`run_handler`'s outcome); errors are reported."""
    if "error" in outcome:
        error_type, message = outcome["error"]
        trace = outcome.get("trace", "")
        on_error(f"{spec.logical_id} {request_id}: {error_type}: {message}\n{trace}".rstrip())
        return InvocationResult(request_id, duration_ms, None, error_type, message)
    return InvocationResult(request_id, duration_ms, outcome.get("value"))


_THREAD_PREFIX = "lambda-"


def invoking_function() -> str | None:
    """The logical id of the function whose invocation runs on the calling thread, if any."""
    name = threading.current_thread().name
    return name.removeprefix(_THREAD_PREFIX) if name.startswith(_THREAD_PREFIX) else None


def _base_copy() -> dict[str, str]:
    environ = layered_environ()
    # The real process environment, whatever the current thread's overlay is.
    return {environ.decodekey(k): environ.decodevalue(v) for k, v in environ._data.items()}  # type: ignore[attr-defined]


_import_lock = threading.Lock()


def package_name(spec: FunctionSpec) -> str:
    """A module name unique to the function and its code directory."""
    digest = hashlib.sha256(str(spec.code_dir).encode()).hexdigest()[:8]
    return f"devstack_fn_{spec.logical_id}_{digest}"


def import_handler(spec: FunctionSpec) -> Handler:
    code_dir = spec.code_dir
    if not code_dir.is_dir():
        raise FunctionLoadError(f"CodeUri {code_dir} of {spec.logical_id} is not a directory")
    package = package_name(spec)
    with _import_lock:
        if package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = [str(code_dir)]
            module.__file__ = str(code_dir / "__init__.py")
            sys.modules[package] = module
        before = set(sys.modules)
        # Lambda puts the code directory first on sys.path: sibling modules import by plain name.
        sys.path.insert(0, str(code_dir))
        try:
            module = importlib.import_module(f"{package}.{spec.handler_module}")
        except Exception as exc:
            raise FunctionLoadError(
                f"cannot import {spec.handler_module} from {code_dir}: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            sys.path.remove(str(code_dir))
            _namespace_sibling_modules(before, code_dir, package)
    handler = getattr(module, spec.handler_attribute, None)
    if not callable(handler):
        raise FunctionLoadError(f"{spec.handler} of {spec.logical_id} is not a callable")
    return handler  # type: ignore[no-any-return]


def _namespace_sibling_modules(before: set[str], code_dir: Path, package: str) -> None:
    """Move modules imported by plain name from ``code_dir`` under the function's package."""
    for name in set(sys.modules) - before:
        if name == package or name.startswith(package + "."):
            continue
        location = getattr(sys.modules[name], "__file__", None)
        if location and Path(location).resolve().is_relative_to(code_dir):
            sys.modules[f"{package}.{name}"] = sys.modules.pop(name)
