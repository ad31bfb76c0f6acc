"""The local stack: moto server + the template's resources + the Salesforce emulator + the HTTP front,
schedules and the events subscriber, started and stopped as one.

Start-up order matters: moto first (resources are created in it and every function's environment
points at them), then the emulator, then the functions are imported (their cold start, so import
errors show before the first request), then the front, schedules, events and the demo connection.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3

from devstack.apigw import ApiContext, HttpRequest, RouteTable
from devstack.cfn import TemplateError, resolve
from devstack.config import ConfigError, StackConfig
from devstack.connection import relayed_objects
from devstack.events import EventPrinter
from devstack.front import FrontServer, Gateway
from devstack.lambdas import (
    FunctionLoadError,
    FunctionRuntime,
    InvocationResult,
    failure_record,
    layered_environ,
)
from devstack.resources import Resource, ResourceFactory, local_api_id
from devstack.sandbox import Sandboxes
from devstack.schedules import ScheduleClock, ScheduleRunner
from devstack.sigv4 import DemoTenant, KeyRing, SigV4Verifier, create_demo_tenants
from devstack.sqs_events import SqsEventSource
from devstack.template import FunctionSpec, StackTemplate, read_template

if TYPE_CHECKING:
    from devstack.iam import OperationRecorder, TemplateRoles
    from devstack.iam_policy import Account

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Never let a developer's real AWS configuration leak into the local stack.
_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")
LOCAL_POLL_SAFETY_MARGIN_SECONDS = 2


class StackError(RuntimeError):
    """The stack cannot start; the message says what to change."""


def check_port_free(host: str, port: int, variable: str) -> None:
    """Fail early and clearly when a configured port is taken (port 0 means any free port)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise StackError(f"port {port} on {host} is in use: set {variable} to a free port") from None
        raise
    finally:
        probe.close()


@dataclass
class EmulatorHandle:
    """The running Salesforce emulator and its demo Connected App."""

    base_url: str
    client_id: str
    client_secret: str
    stop: Callable[[], None]
    org_name: str = "demo org"
    redirect_uris: list[str] = field(default_factory=list)


def start_emulator(
    host: str, port: int, redirect_uris: list[str], aws_endpoint_url: str | None = None
) -> EmulatorHandle:
    """Start the emulator with its demo org in this process (a thread).

    ``redirect_uris`` are added to the demo Connected App's callback URLs, as a developer registers
    a deployment's ``OAuthCallbackUrl`` output on their real Connected App. ``aws_endpoint_url``
    (the stack's moto server) is where the org's Event Relay creates partner event sources and
    puts change events.
    """
    try:
        from sfemulator.org import DEFAULT_REDIRECT_URIS, OrgConfig
        from sfemulator.server import EmulatorServer, demo_org
    except ImportError as exc:
        raise StackError(f"the Salesforce emulator is not available: {exc}") from exc
    uris = list(dict.fromkeys([*DEFAULT_REDIRECT_URIS, *redirect_uris]))
    org = demo_org(OrgConfig(redirect_uris=uris, aws_endpoint_url=aws_endpoint_url))
    server = EmulatorServer(org, host=host, port=port)
    try:
        server.start()
    except OSError as exc:
        raise StackError(
            f"the emulator cannot listen on {host}:{port} ({exc}): set SF_EMULATOR_PORT"
        ) from exc
    app = server.demo_connected_app
    return EmulatorHandle(
        base_url=server.base_url.rstrip("/"),
        client_id=app.client_id,
        client_secret=app.client_secret,
        stop=server.stop,
        org_name=org.config.org_name,
        redirect_uris=uris,
    )


def _name_partner_event_buses_whole() -> None:
    """moto 5 reads an event bus name by its last ``/`` segment, which misses Event Relay's partner
    buses (``aws.partner/salesforce.com/<org>/<channel>``); AWS reads it whole. The server runs in
    this process, so its class is patched here (the tests' ``aws`` fixture does the same)."""
    try:
        from moto.events.models import EventsBackend
        from sfemulator.moto_events import whole_bus_name
    except ImportError:  # no emulator: no Event Relay either
        return
    EventsBackend._normalize_event_bus_arn = whole_bus_name  # type: ignore[method-assign,assignment]


class _MotoServer:
    """moto's ThreadedMotoServer, with a bind failure reported instead of a hang."""

    def __init__(self, host: str, port: int) -> None:
        from moto.server import ThreadedMotoServer

        _name_partner_event_buses_whole()

        self._error: BaseException | None = None
        server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        original = server._server_entry

        def entry() -> None:
            try:
                original()
            except BaseException as exc:  # surfaced by start(), not lost in the thread
                self._error = exc
                server._server_ready_event.set()

        server._server_entry = entry  # type: ignore[method-assign]
        self._server = server

    def start(self) -> int:
        self._server.start()
        if self._error is not None:
            raise StackError(f"moto server could not start: {self._error}")
        return int(self._server.get_host_and_port()[1])

    def stop(self) -> None:
        self._server.stop()


@dataclass
class LocalStack:
    """Everything ``make run`` starts."""

    config: StackConfig
    log: Callable[[str], None] = print
    template: StackTemplate | None = None
    resources: dict[str, Resource] = field(default_factory=dict)
    emulator: EmulatorHandle | None = None
    emulator_error: str | None = None
    runtime: FunctionRuntime | None = None
    front: FrontServer | None = None
    schedules: ScheduleRunner | None = None
    events: EventPrinter | None = None
    demo_connection_id: str | None = None
    demo_connection_note: str | None = None
    demo_realtime: dict[str, Any] | None = None
    """The answer of the demo connection's realtime PUT (None: REALTIME=0 or it failed)."""
    demo_realtime_note: str | None = None
    warnings: list[str] = field(default_factory=list)
    role_credentials: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    iam_enforced: bool = False
    iam_recorder: OperationRecorder | None = None
    iam_check: tuple[TemplateRoles, Account] | None = None
    import_errors: dict[str, str] = field(default_factory=dict)
    tenants: list[DemoTenant] = field(default_factory=list)
    """The demo tenants: moto IAM users whose SigV4-signed requests the front verifies."""
    moto_url: str = ""
    api_url: str = ""
    ready: threading.Event = field(default_factory=threading.Event)
    _moto: _MotoServer | None = None
    _stops: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    # -- start -------------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        try:
            template = read_template(config.template, **self._deployment())
        except TemplateError as exc:
            raise StackError(f"{config.template}: {exc}") from exc
        self.template = template
        for host_port, variable in (
            (config.api_port, "API_PORT"),
            (config.sf_emulator_port, "SF_EMULATOR_PORT"),
            (config.moto_port, "MOTO_PORT"),
        ):
            check_port_free(config.host, host_port, variable)

        self._moto = _MotoServer(config.host, config.moto_port)
        moto_port = self._moto.start()
        self._stops.append(("moto", self._moto.stop))
        self.moto_url = f"http://{config.host}:{moto_port}"
        self._isolate_aws_environment()

        session = boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=config.region,
        )
        factory = ResourceFactory(
            template=template,
            session=session,
            endpoint_url=self.moto_url,
            stack_name=config.stack_name,
            region=config.region,
            account_id=config.account_id,
        )
        try:
            self.resources = factory.create_all()
        except TemplateError as exc:
            raise StackError(str(exc)) from exc
        self.warnings.extend(factory.warnings)
        if config.enforce_iam:
            self._enforce_iam(factory)

        try:
            self.front = FrontServer(config.host, config.api_port)
        except OSError as exc:
            raise StackError(
                f"the API cannot listen on {config.host}:{config.api_port} ({exc}): set API_PORT"
            ) from exc
        self._stops.append(("front", self.front.stop))
        self.api_url = f"http://{config.host}:{self.front.port}"

        try:
            self.emulator = start_emulator(
                config.host, config.sf_emulator_port, self.callback_urls(), aws_endpoint_url=self.moto_url
            )
            self._stops.append(("emulator", self.emulator.stop))
        except StackError as exc:
            self.emulator_error = str(exc)
            self.warnings.append(str(exc))

        env_overrides = config.function_env_overrides()
        context = factory.context()

        def base_environment(spec: FunctionSpec) -> dict[str, str]:
            env = self._globals_env(spec, context)
            # What the Lambda service sets: the function's role credentials (docs/security.md).
            env.update(self.role_credentials.get(spec.logical_id, {}))
            env.update(self.local_overrides())
            env.update(env_overrides.get("Parameters", {}))
            env.update(env_overrides.get(spec.logical_id, {}))
            env.update(env_overrides.get(spec.function_name, {}))
            return env

        self.runtime = FunctionRuntime(
            functions=template.functions,
            base_environment=base_environment,
            region=config.region,
            account_id=config.account_id,
            on_error=self.log,
        )
        for spec in template.functions.values():
            try:
                self.runtime.environment(spec)
            except TemplateError as exc:
                raise StackError(f"{spec.logical_id} environment: {exc}") from exc
            try:
                self.runtime.handler(spec)
            except FunctionLoadError as exc:
                self.import_errors[spec.logical_id] = str(exc)

        routes = RouteTable(template.routes)
        self.warnings.extend(f"route declared twice: {c}" for c in routes.conflicts())
        apis = {
            api_id: ApiContext(api=api, api_id=local_api_id(api_id), account_id=config.account_id)
            for api_id, api in template.apis.items()
        }
        # Signed requests are verified against moto's IAM users (two demo tenants); an unsigned
        # one is the local developer, the stack's default tenant.
        keys = KeyRing()
        self.tenants = create_demo_tenants(factory.client("iam"), keys)
        verifier = SigV4Verifier(iam=factory.client("iam"), keys=keys, account_id=config.account_id)
        gateway = Gateway(routes=routes, runtime=self.runtime, apis=apis, log=self.log, verifier=verifier)
        gateway.admin.update(
            {
                "health": self._health,
                "routes": lambda _: [r.model_dump() for r in template.routes],
                "events": lambda _: self.events.recent() if self.events else [],
                "schedules": lambda _: self.schedules.describe() if self.schedules else [],
                "iam": self._iam_report,
            }
        )
        self.front.gateway = gateway
        self.front.start()

        # Schedule firings are Lambda's asynchronous invocations: each in a worker process that is
        # killed at the function's Timeout, as Lambda ends a timed-out poll cycle.
        sandboxes = Sandboxes(
            self.runtime, on_aws_calls=self._record_worker_calls if self.iam_recorder else None
        )
        self._stops.append(("sandboxes", sandboxes.close))
        self.schedules = ScheduleRunner(
            runtime=self.runtime,
            invoke=sandboxes.invoke,
            on_failure=self._failure_destination(factory.client("sqs"), context),
            clock=ScheduleClock(speedup=config.schedule_speedup),
            region=config.region,
            account_id=config.account_id,
            stack_name=config.stack_name,
            scheduler_client=factory.client("scheduler"),
            log=self.log,
        )
        self.schedules.add_template_schedules(template.schedules)
        self.schedules.start()
        self._stops.append(("schedules", self.schedules.stop))

        # SQS event sources (the relay's RelayQueue): a thread per event, invoking in a worker as
        # Lambda's event source mapping invokes (synchronously, batches up to BatchSize).
        for sqs_event in template.sqs_events:
            queue = self.resources.get(sqs_event.queue_id)
            if not sqs_event.enabled or queue is None or sqs_event.function_id not in template.functions:
                continue
            source = SqsEventSource(
                spec=sqs_event,
                function=template.functions[sqs_event.function_id],
                sqs=factory.client("sqs"),
                queue_url=str(queue.ref),
                queue_arn=str(queue.attributes.get("Arn", "")),
                region=config.region,
                invoke=sandboxes.invoke,
                log=self.log,
            )
            source.start()
            self._stops.append((f"sqs {source.label}", source.stop))

        topics = [str(r.ref) for r in self.resources.values() if r.type == "AWS::SNS::Topic"]
        if topics:
            self.events = EventPrinter(
                sqs=factory.client("sqs"),
                sns=factory.client("sns"),
                queue_name=f"{config.stack_name}-event-printer",
                topic_arns=topics,
                region=config.region,
                account_id=config.account_id,
                log=self.log,
            )
            self.events.setup()
            self.events.start()
            self._stops.append(("events", self.events.stop))

        if config.demo_connection:
            self._ensure_demo_connection()
            self._ensure_demo_realtime()
        self.ready.set()

    def _deployment(self) -> dict[str, Any]:
        """Where the template is deployed to: what its intrinsics resolve against."""
        config = self.config
        return {
            "stack_name": config.stack_name,
            "region": config.region,
            "account_id": config.account_id,
            "parameter_overrides": config.parameter_overrides,
        }

    def _enforce_iam(self, factory: ResourceFactory) -> None:
        """The template's roles in moto IAM, each function's assumed, and moto enforcing IAM from
        now on; the stack's own fake credentials become an IAM user allowed everything."""
        from devstack.iam import (
            OperationRecorder,
            adopt_admin_key,
            iam_enforced,
            install_invocation_credentials,
            provision_roles,
            template_roles,
        )
        from devstack.iam_policy import Account
        from devstack.lambdas import invoking_function

        config = self.config
        try:
            roles = template_roles(
                config.template, **self._deployment(), ref=factory.ref, get_att=factory.get_att
            )
        except TemplateError as exc:
            raise StackError(f"IAM roles of {config.template}: {exc} (ENFORCE_IAM=0 runs without)") from exc
        iam = factory.client("iam")
        self.role_credentials = provision_roles(
            iam, factory.client("sts"), roles, stack_name=config.stack_name
        )
        adopt_admin_key(
            iam,
            user_name=f"{config.stack_name}-admin",
            access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            account_id=config.account_id,
        )
        install_invocation_credentials()
        assert self.template is not None
        partition_keys = {
            str(factory.ref(logical_id)): str(key["AttributeName"])
            for logical_id, spec in self.template.resources.items()
            if spec.type == "AWS::DynamoDB::Table"
            for key in spec.properties.get("KeySchema") or []
            if key.get("KeyType") == "HASH"
        }
        self.iam_check = (roles, Account(config.region, config.account_id, partition_keys))
        own = {f: c.get("AWS_ACCESS_KEY_ID") for f, c in self.role_credentials.items()}
        self.iam_recorder = OperationRecorder(
            function_of=invoking_function, distinct_for=self.iam_check[1], own_key=own.get
        )
        self.iam_recorder.attach_process_wide()
        enforcement = contextlib.ExitStack()
        enforcement.enter_context(iam_enforced())
        self._stops.append(("iam enforcement", enforcement.close))
        self.iam_enforced = True

    def _isolate_aws_environment(self) -> None:
        """Point every AWS SDK call of this process at moto, with fake credentials."""
        environ = layered_environ()
        for name in _UNSET:
            environ.pop(name, None)
        environ.update(FAKE_CREDENTIALS)
        environ["AWS_DEFAULT_REGION"] = self.config.region
        environ["AWS_REGION"] = self.config.region
        environ["AWS_ENDPOINT_URL"] = self.moto_url
        environ["AWS_EC2_METADATA_DISABLED"] = "true"
        environ["AWS_CONFIG_FILE"] = os.devnull
        environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

    def _failure_destination(
        self, sqs: Any, context: Any
    ) -> Callable[[FunctionSpec, Any, InvocationResult], None]:
        """Delivers a failed asynchronous invocation's record to the function's OnFailure queue
        (``EventInvokeConfig``), as Lambda does once its retries (none here) are exhausted."""
        config = self.config

        def deliver(spec: FunctionSpec, event: Any, result: InvocationResult) -> None:
            if spec.on_failure is None:
                return
            arn = str(resolve(spec.on_failure, context, f"{spec.logical_id}.EventInvokeConfig"))
            url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
            record = failure_record(spec, event, result, region=config.region, account_id=config.account_id)
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
            self.log(f"[lambda] {spec.logical_id} {result.request_id}: failure record sent to {arn}")

        return deliver

    def _globals_env(self, spec: FunctionSpec, context: Any) -> dict[str, str]:
        resolved = resolve(spec.environment, context, f"{spec.logical_id}.Environment.Variables")
        out: dict[str, str] = {}
        for name, value in resolved.items():
            if isinstance(value, bool):
                out[name] = "true" if value else "false"
            elif isinstance(value, str | int | float):
                out[name] = str(value)
            else:
                raise TemplateError(f"{spec.logical_id}: environment variable {name} is not a scalar")
        return out

    def callback_urls(self) -> list[str]:
        """The OAuth callback URLs this front answers on (with and without each API's stage)."""
        assert self.front is not None
        assert self.template is not None
        urls: list[str] = []
        for host in (self.config.host, "localhost"):
            base = f"http://{host}:{self.front.port}"
            urls.append(f"{base}/oauth/callback")
            urls.extend(f"{base}/{api.stage_name}/oauth/callback" for api in self.template.apis.values())
        return list(dict.fromkeys(urls))

    def local_overrides(self) -> dict[str, str]:
        """Variables only the local stack sets: they point the connector at the emulator.

        A deployment leaves them unset (the connector then talks to login.salesforce.com).
        """
        # Metrics would print one CloudWatch EMF JSON line per request over the access log.
        overrides = {
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
            # The poller's window ends 15 s before now because a real org may still be committing
            # rows stamped in the last seconds; the emulator commits each write before it answers
            # (late commits only when injected), so locally a change arrives with the next poll.
            "POLL_SAFETY_MARGIN_SECONDS": str(LOCAL_POLL_SAFETY_MARGIN_SECONDS),
        }
        if self.emulator is not None:
            overrides.update(
                {
                    "SF_LOGIN_URL_PRODUCTION": self.emulator.base_url,
                    "SF_LOGIN_URL_SANDBOX": self.emulator.base_url,
                    # The emulator's exact origins are the only non-Salesforce hosts allowed.
                    "SALESFORCE_LOCAL_ORIGINS": self.emulator.base_url,
                    "ALLOW_INSECURE_LOOPBACK_LOGIN": "true",
                }
            )
        return overrides

    def _ensure_demo_connection(self) -> None:
        from devstack.connection import DemoConnectionError, ensure_demo_connection

        if self.emulator is None:
            self.demo_connection_note = "skipped: the emulator is not running"
            return
        self.log("Connecting the demo org through OAuth (POST /connections, consent, /oauth/callback):")
        try:
            self.demo_connection_id = ensure_demo_connection(
                api_url=self.api_url,
                client_id=self.emulator.client_id,
                client_secret=self.emulator.client_secret,
            )
        except DemoConnectionError as exc:
            self.demo_connection_note = str(exc)
            self.warnings.append(f"demo connection: {exc}")

    def _ensure_demo_realtime(self) -> None:
        from devstack.connection import DemoConnectionError, enable_demo_realtime

        if not self.demo_connection_id:
            return
        if not self.config.realtime:
            self.demo_realtime_note = "off (REALTIME=0): every trigger polls"
            return
        self.log(
            f"Real-time triggers for the demo connection (PUT /connections/{self.demo_connection_id}"
            "/realtime):"
        )
        try:
            self.demo_realtime = enable_demo_realtime(
                api_url=self.api_url, connection_id=self.demo_connection_id
            )
        except DemoConnectionError as exc:
            self.demo_realtime_note = f"not set up: {exc}"
            self.warnings.append(f"demo realtime: {exc}")

    def _record_worker_calls(self, spec: FunctionSpec, calls: list[tuple[str, str, dict[str, Any]]]) -> None:
        """The AWS calls a worker process made (a schedule firing), for the IAM report."""
        from devstack.iam_policy import Operation

        if self.iam_recorder is not None:
            for service, operation, params in calls:
                self.iam_recorder.add(spec.logical_id, Operation(service, operation, params))

    def _iam_report(self, _: HttpRequest) -> dict[str, Any]:
        """Every AWS call the functions made so far, checked against their roles' real policies
        (resources and conditions, which moto does not enforce): docs/security.md."""
        from devstack.iam_policy import check

        if self.iam_recorder is None or self.iam_check is None:
            return {"enforced": False, "functions": {}, "findings": []}
        roles, account = self.iam_check
        calls = {name: list(ops) for name, ops in self.iam_recorder.calls.items()}
        return {
            "enforced": self.iam_enforced,
            "functions": {
                name: sorted({f"{op.service}:{op.operation}" for op in ops}) for name, ops in calls.items()
            },
            "findings": [str(f) for f in check(calls, roles.function_policies(), account)],
            # Signed with a role the function assumed at run time (the tenant-access role): moto
            # enforced its actions; its tag conditions are not checked (docs/security.md).
            "assumed": {
                name: sorted({f"{op.service}:{op.operation}" for op in ops})
                for name, ops in self.iam_recorder.assumed.items()
            },
        }

    def _health(self, _: HttpRequest) -> dict[str, Any]:
        template = self.template
        return {
            "status": "ready" if self.ready.is_set() else "starting",
            "api_url": self.api_url,
            "salesforce_url": self.emulator.base_url if self.emulator else None,
            "moto_url": self.moto_url,
            "functions": sorted(template.functions) if template else [],
            "routes": len(template.routes) if template else 0,
            "import_errors": self.import_errors,
            "demo_connection_id": self.demo_connection_id,
            "realtime_relayed": relayed_objects(self.demo_realtime),
            "schedule_speedup": self.config.schedule_speedup,
            "iam_enforced": self.iam_enforced,
        }

    # -- stop --------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything that was started, newest first; safe to call twice."""
        while self._stops:
            name, stop = self._stops.pop()
            try:
                stop()
            except Exception as exc:  # keep stopping the rest
                print(f"devstack: stopping {name} failed: {exc}", file=sys.stderr)
        self.ready.clear()
        self.iam_enforced = False


def load_config(env: dict[str, str] | None = None) -> StackConfig:
    try:
        return StackConfig.from_env(dict(os.environ) if env is None else env)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def quiet_libraries() -> None:
    """moto's werkzeug server logs every request; the front prints its own one-line log."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with contextlib.suppress(Exception):
        logging.getLogger("botocore").setLevel(logging.WARNING)
