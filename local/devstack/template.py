"""The SAM template as the local stack needs it: functions, API routes, schedules, other resources.

Nothing here is specific to this connector: routes, functions and schedules are whatever
``template.yaml`` declares, so adding one there makes it appear locally with no change here.
SAM's ``Globals`` are merged into each function the way the SAM translator does it (maps merged
with the function's own keys winning, lists concatenated, scalars overridden).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from devstack.cfn import ResolveContext, TemplateError, load_template, resolve

IMPLICIT_API_ID = "ServerlessRestApi"
"""Logical id SAM gives the API it creates for Api events without a RestApiId."""

_FUNCTION_TYPE = "AWS::Serverless::Function"
_API_TYPE = "AWS::Serverless::Api"
_SCHEDULE_TYPES = ("Schedule", "ScheduleV2")
_HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ApiSpec(_Frozen):
    """One REST API (``AWS::Serverless::Api`` or SAM's implicit API)."""

    logical_id: str
    stage_name: str
    binary_media_types: tuple[str, ...] = ()
    default_authorizer: str | None = None


AuthKind = Literal["AWS_IAM", "NONE", "OTHER"]


class RouteSpec(_Frozen):
    """One Api event: ``method path`` served by a function."""

    api_id: str
    path: str
    method: str
    function_id: str
    event_name: str
    auth: AuthKind
    authorizer: str | None = None

    @property
    def public(self) -> bool:
        return self.auth == "NONE"


class ScheduleSpec(_Frozen):
    """A Schedule (EventBridge rule) or ScheduleV2 (EventBridge Scheduler) event of a function."""

    function_id: str
    event_name: str
    kind: Literal["Schedule", "ScheduleV2"]
    expression: str
    timezone: str = "UTC"
    input: str | None = None
    enabled: bool = True
    name: str | None = None


class SqsEventSpec(_Frozen):
    """An SQS event of a function (an event source mapping): the queue's logical id, the batch."""

    function_id: str
    event_name: str
    queue_id: str
    batch_size: int = 10
    report_failures: bool = False
    """``FunctionResponseTypes: [ReportBatchItemFailures]``: the answer names the messages to retry."""
    enabled: bool = True


class FunctionSpec(_Frozen):
    """An ``AWS::Serverless::Function`` with Globals merged in."""

    logical_id: str
    function_name: str
    code_dir: Path
    handler: str
    runtime: str | None = None
    memory_mb: int = 128
    timeout_s: float = 3
    architectures: tuple[str, ...] = ("x86_64",)
    # Kept unresolved: it refers to resources that exist only once moto is up.
    environment: dict[str, Any] = {}
    on_failure: Any = None
    """``EventInvokeConfig.DestinationConfig.OnFailure.Destination`` of an SQS destination
    (unresolved): where a failed asynchronous invocation's record goes."""

    @property
    def handler_module(self) -> str:
        module, _, _ = self.handler.rpartition(".")
        return module

    @property
    def handler_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


class ResourceSpec(_Frozen):
    """Any other resource (table, topic, bucket, queue, secret...), properties unresolved."""

    logical_id: str
    type: str
    properties: dict[str, Any] = {}


class StackTemplate(_Frozen):
    """Everything the local stack reads from the template."""

    path: Path
    parameters: dict[str, Any]
    mappings: dict[str, Any]
    conditions: dict[str, Any]
    functions: dict[str, FunctionSpec]
    apis: dict[str, ApiSpec]
    routes: tuple[RouteSpec, ...]
    schedules: tuple[ScheduleSpec, ...]
    resources: dict[str, ResourceSpec]
    sqs_events: tuple[SqsEventSpec, ...] = ()
    unsupported_events: tuple[str, ...] = ()

    def context(
        self, *, stack_name: str, region: str, account_id: str, ref_resource: Any = None, get_att: Any = None
    ) -> ResolveContext:
        return ResolveContext(
            stack_name=stack_name,
            region=region,
            account_id=account_id,
            parameters=self.parameters,
            mappings=self.mappings,
            conditions=self.conditions,
            ref_resource=ref_resource,
            get_att=get_att,
        )


def sam_merge(global_value: Any, local_value: Any) -> Any:
    """Merge a Globals value into a resource value as the SAM translator does."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        # Intrinsic functions are values, not maps to merge into.
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return copy.deepcopy(local_value)
        merged = copy.deepcopy(global_value)
        for key, value in local_value.items():
            merged[key] = sam_merge(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return copy.deepcopy(global_value) + copy.deepcopy(local_value)
    return copy.deepcopy(local_value)


def _is_intrinsic(value: Mapping[str, Any]) -> bool:
    if len(value) != 1:
        return False
    key = str(next(iter(value)))
    return key in {"Ref", "Condition"} or key.startswith("Fn::")


def _parameter_values(raw: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    unknown = set(overrides) - set(raw)
    if unknown:
        raise TemplateError(f"parameter overrides name unknown parameters: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, spec in raw.items():
        spec = spec or {}
        if name in overrides:
            value: Any = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no Default: set it with PARAMETER_OVERRIDES")
        allowed = spec.get("AllowedValues")
        if allowed is not None and str(value) not in {str(a) for a in allowed}:
            raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        kind = str(spec.get("Type", "String"))
        if kind == "Number":
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise TemplateError(f"parameter {name}={value!r} is not a number") from None
            for bound, check in (("MinValue", number.__ge__), ("MaxValue", number.__le__)):
                if bound in spec and not check(float(spec[bound])):
                    raise TemplateError(f"parameter {name}={value!r} violates {bound} {spec[bound]}")
            value = str(value)
        elif kind.startswith("List<") or kind == "CommaDelimitedList":
            value = [v.strip() for v in str(value).split(",")] if isinstance(value, str) else list(value)
        else:
            value = str(value)
        values[name] = value
    return values


def parse_parameter_overrides(text: str) -> dict[str, str]:
    """``Key=Value Key2="value with spaces"`` as ``sam --parameter-overrides`` takes it."""
    pairs: dict[str, str] = {}
    for match in re.finditer(r'(\w+)=("([^"]*)"|\'([^\']*)\'|(\S*))', text):
        pairs[match.group(1)] = next(g for g in match.groups()[2:] if g is not None)
    leftover = re.sub(r'(\w+)=("([^"]*)"|\'([^\']*)\'|(\S*))', "", text).strip()
    if leftover:
        raise TemplateError(f"cannot read parameter overrides near {leftover!r} (use Key=Value pairs)")
    return pairs


def _as_int(value: Any, where: str) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise TemplateError(f"{where}: {value!r} is not a number") from None


def _api_spec(logical_id: str, properties: Mapping[str, Any], ctx: ResolveContext) -> ApiSpec:
    # Only what the local front serves by: the rest (AccessLogSetting...) names resources.
    wanted = {k: v for k, v in properties.items() if k in ("StageName", "Auth", "BinaryMediaTypes")}
    props = resolve(wanted, ctx, logical_id)
    auth = props.get("Auth") or {}
    media = tuple(str(m) for m in props.get("BinaryMediaTypes") or ())
    return ApiSpec(
        logical_id=logical_id,
        stage_name=str(props.get("StageName", "Prod")),
        # The template writes "/" as "~1" (it is a JSON pointer in the API definition).
        binary_media_types=tuple(m.replace("~1", "/") for m in media),
        default_authorizer=auth.get("DefaultAuthorizer"),
    )


def _route_auth(event_props: Mapping[str, Any], api: ApiSpec) -> tuple[AuthKind, str | None]:
    authorizer = (event_props.get("Auth") or {}).get("Authorizer", api.default_authorizer)
    if authorizer is None or authorizer == "NONE":
        return "NONE", None
    if authorizer == "AWS_IAM":
        return "AWS_IAM", authorizer
    return "OTHER", str(authorizer)


def _schedule_spec(function_id: str, event_name: str, kind: str, props: Mapping[str, Any]) -> ScheduleSpec:
    where = f"{function_id}.Events.{event_name}"
    if kind == "Schedule":
        expression = props.get("Schedule")
        enabled = props.get("Enabled", True) and str(props.get("State", "ENABLED")).upper() == "ENABLED"
        timezone = "UTC"
    else:
        expression = props.get("ScheduleExpression")
        enabled = str(props.get("State", "ENABLED")).upper() == "ENABLED"
        timezone = str(props.get("ScheduleExpressionTimezone") or "UTC")
    if not isinstance(expression, str):
        raise TemplateError(f"{where}: the schedule expression must be a string")
    raw_input = props.get("Input")
    return ScheduleSpec(
        function_id=function_id,
        event_name=event_name,
        kind="Schedule" if kind == "Schedule" else "ScheduleV2",
        expression=expression,
        timezone=timezone,
        input=None if raw_input is None else str(raw_input),
        enabled=bool(enabled),
        name=props.get("Name"),
    )


def _sqs_spec(
    function_id: str, event_name: str, props: Mapping[str, Any], ctx: ResolveContext
) -> SqsEventSpec:
    where = f"{function_id}.Events.{event_name}"
    queue = props.get("Queue")
    # The queue is read, not resolved: it exists only once moto is up.
    if not (
        isinstance(queue, dict)
        and isinstance(queue.get("Fn::GetAtt"), list)
        and queue["Fn::GetAtt"][1:] == ["Arn"]
    ):
        raise TemplateError(f"{where}: Queue must be !GetAtt <queue>.Arn of a queue of the template")
    resolved = resolve({k: v for k, v in props.items() if k != "Queue"}, ctx, where)
    batch = int(resolved.get("BatchSize", 10))
    if not 1 <= batch <= 10:
        raise TemplateError(
            f"{where}: BatchSize {batch} is outside 1-10 (the local stack reads standard queues)"
        )
    return SqsEventSpec(
        function_id=function_id,
        event_name=event_name,
        queue_id=str(queue["Fn::GetAtt"][0]),
        batch_size=batch,
        report_failures="ReportBatchItemFailures" in (resolved.get("FunctionResponseTypes") or []),
        enabled=bool(resolved.get("Enabled", True)),
    )


def read_template(
    path: Path,
    *,
    stack_name: str,
    region: str,
    account_id: str,
    parameter_overrides: Mapping[str, str] | None = None,
) -> StackTemplate:
    """Read ``path`` into a :class:`StackTemplate` (resources are not created here)."""
    raw = load_template(path)
    base_dir = path.parent
    parameters = _parameter_values(raw.get("Parameters") or {}, parameter_overrides or {})
    mappings = raw.get("Mappings") or {}
    conditions = raw.get("Conditions") or {}
    ctx = ResolveContext(
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=parameters,
        mappings=mappings,
        conditions=conditions,
    )
    globals_ = raw.get("Globals") or {}
    function_globals = globals_.get("Function") or {}
    api_globals = globals_.get("Api") or {}

    functions: dict[str, FunctionSpec] = {}
    apis: dict[str, ApiSpec] = {}
    resources: dict[str, ResourceSpec] = {}
    function_props: dict[str, dict[str, Any]] = {}

    for logical_id, resource in raw["Resources"].items():
        if not isinstance(resource, dict) or "Type" not in resource:
            raise TemplateError(f"resource {logical_id} has no Type")
        if "Condition" in resource and not ctx.condition(str(resource["Condition"])):
            continue
        kind = str(resource["Type"])
        properties = resource.get("Properties") or {}
        if kind == _FUNCTION_TYPE:
            function_props[logical_id] = sam_merge(function_globals, properties)
        elif kind == _API_TYPE:
            apis[logical_id] = _api_spec(logical_id, sam_merge(api_globals, properties), ctx)
        else:
            resources[logical_id] = ResourceSpec(logical_id=logical_id, type=kind, properties=properties)

    routes: list[RouteSpec] = []
    schedules: list[ScheduleSpec] = []
    sqs_events: list[SqsEventSpec] = []
    unsupported: list[str] = []
    for logical_id, props in function_props.items():
        functions[logical_id] = _function_spec(logical_id, props, ctx, base_dir, stack_name)
        for event_name, event in (props.get("Events") or {}).items():
            event_type = str(event.get("Type"))
            event_props = event.get("Properties") or {}
            where = f"{logical_id}.Events.{event_name}"
            if event_type == "Api":
                # RestApiId names a resource: it is read, not resolved (resources do not exist yet).
                resolved = resolve({k: v for k, v in event_props.items() if k != "RestApiId"}, ctx, where)
                api_ref = event_props.get("RestApiId")
                if api_ref is None:
                    api_id = IMPLICIT_API_ID
                    if api_id not in apis:
                        apis[api_id] = _api_spec(api_id, api_globals, ctx)
                elif isinstance(api_ref, dict) and isinstance(api_ref.get("Ref"), str):
                    api_id = api_ref["Ref"]
                else:
                    raise TemplateError(f"{where}: RestApiId must be !Ref of an AWS::Serverless::Api")
                if api_id not in apis:
                    raise TemplateError(f"{where}: RestApiId {api_id} is not an AWS::Serverless::Api")
                method = str(resolved.get("Method", "")).upper()
                if method not in _HTTP_METHODS:
                    raise TemplateError(f"{where}: unsupported Method {resolved.get('Method')!r}")
                route_path = str(resolved.get("Path", ""))
                if not route_path.startswith("/"):
                    raise TemplateError(f"{where}: Path must start with '/'")
                auth, authorizer = _route_auth(resolved, apis[api_id])
                routes.append(
                    RouteSpec(
                        api_id=api_id,
                        path=route_path,
                        method=method,
                        function_id=logical_id,
                        event_name=event_name,
                        auth=auth,
                        authorizer=authorizer,
                    )
                )
            elif event_type in _SCHEDULE_TYPES:
                resolved = resolve(event_props, ctx, where)
                schedules.append(_schedule_spec(logical_id, event_name, event_type, resolved))
            elif event_type == "SQS":
                sqs_events.append(_sqs_spec(logical_id, event_name, event_props, ctx))
            else:
                unsupported.append(f"{where} ({event_type})")

    return StackTemplate(
        path=path,
        parameters=parameters,
        mappings=mappings,
        conditions=conditions,
        functions=functions,
        apis=apis,
        routes=tuple(routes),
        schedules=tuple(schedules),
        resources=resources,
        unsupported_events=tuple(unsupported),
        sqs_events=tuple(sqs_events),
    )


def _function_spec(
    logical_id: str, props: Mapping[str, Any], ctx: ResolveContext, base_dir: Path, stack_name: str
) -> FunctionSpec:
    where = logical_id
    code_uri = props.get("CodeUri")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{where}: the local stack needs CodeUri to be a local directory")
    handler = resolve(props.get("Handler"), ctx, f"{where}.Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{where}: Handler must look like 'module.function'")
    name = props.get("FunctionName")
    function_name = str(resolve(name, ctx, f"{where}.FunctionName")) if name else f"{stack_name}-{logical_id}"
    environment = (props.get("Environment") or {}).get("Variables") or {}
    if not isinstance(environment, dict):
        raise TemplateError(f"{where}: Environment.Variables must be a mapping")
    architectures = resolve(props.get("Architectures") or ["x86_64"], ctx, where)
    on_failure = ((props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure")
    if on_failure and on_failure.get("Type") != "SQS":
        raise TemplateError(f"{where}: the local stack delivers OnFailure destinations of Type SQS only")
    return FunctionSpec(
        logical_id=logical_id,
        function_name=function_name,
        code_dir=(base_dir / code_uri).resolve(),
        handler=handler,
        runtime=props.get("Runtime"),
        memory_mb=_as_int(resolve(props.get("MemorySize", 128), ctx, where), f"{where}.MemorySize"),
        timeout_s=float(resolve(props.get("Timeout", 3), ctx, where)),
        architectures=tuple(str(a) for a in architectures),
        environment=dict(environment),
        on_failure=on_failure.get("Destination") if on_failure else None,
    )
