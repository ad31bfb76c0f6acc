"""The template's IAM roles, built offline and enforced in moto.

* :func:`template_roles` expands the SAM template with the SAM translator (offline: no S3 code URIs,
  no managed-policy lookups), takes every ``AWS::IAM::Role`` it yields (the functions' generated
  roles, with SAM policy templates such as ``DynamoDBCrudPolicy`` expanded, and any role the
  template declares itself), attaches the template's managed and standalone policies, and resolves
  the intrinsics, so the documents are the ones CloudFormation would deploy.
* :func:`provision_roles` creates those roles in moto IAM (as :func:`iam_policy.moto_document`
  narrows them to what moto can enforce), assumes them and returns each function's credentials:
  with ``INITIAL_NO_AUTH_ACTION_COUNT`` at 0 a function then fails on a missing action exactly as it
  would deployed.
* :class:`OperationRecorder` records the boto3 operations each function performs, for
  :func:`iam_policy.check` (resources and conditions, which moto does not enforce).

Nothing here is specific to this connector: a role added to the template is covered as it is.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.cfn import NO_VALUE, ResolveContext, TemplateError, load_template_text, resolve
from devstack.iam_policy import Account, Operation, moto_document, request_marker, requests_for
from devstack.template import _parameter_values

# The AWS managed policies SAM attaches to function roles (their documents, for the static check).
AWS_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "service-role/AWSLambdaBasicExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            }
        ],
    },
    # An SQS event source (the relay function): what Lambda's poller does with the function's role.
    "service-role/AWSLambdaSQSQueueExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                ],
                "Resource": "*",
            }
        ],
    },
    "AWSXrayWriteOnlyAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:GetSamplingStatisticSummaries",
                ],
                "Resource": "*",
            }
        ],
    },
}


@dataclass(frozen=True)
class TemplateRoles:
    """Each role's resolved policy documents, and which role each function runs as."""

    roles: dict[str, list[dict[str, Any]]]
    functions: dict[str, str]
    names: dict[str, str] = field(default_factory=dict)
    """Each role's name (its RoleName, or what CloudFormation's would be like)."""
    trust: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each role's trust policy (who may assume it), resolved."""

    def function_policies(self) -> dict[str, list[dict[str, Any]]]:
        return {function: self.roles[role] for function, role in self.functions.items()}


_translated: dict[tuple[str, str], dict[str, Any]] = {}
"""Translations by (template text, region): the translator takes about a second."""


def translate(raw: Mapping[str, Any], region: str) -> dict[str, Any]:
    """The SAM template as CloudFormation (what ``sam deploy`` sends), offline."""
    import boto3
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

    template = copy.deepcopy(dict(raw))
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        for uri in ("CodeUri", "ContentUri"):
            if isinstance(props.get(uri), str):  # sam package would upload these
                props[uri] = f"s3://local-code/{props[uri]}"

    def no_managed_policy_names() -> dict[str, str]:
        raise TemplateError("policies must be ARNs or documents (no managed-policy name lookups offline)")

    translated: dict[str, Any] = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name=region)
    ).translate(template, parameter_values={}, get_managed_policy_map=no_managed_policy_names)
    return translated


def template_roles(
    path: Path,
    *,
    stack_name: str,
    region: str,
    account_id: str,
    parameter_overrides: Mapping[str, str] | None = None,
    ref: Callable[[str], Any],
    get_att: Callable[[str, str], Any],
) -> TemplateRoles:
    """Every role of the template at ``path`` with its resolved policy documents."""
    text = path.read_text(encoding="utf-8")
    cfn = _translated.get((text, region))
    if cfn is None:
        cfn = _translated[(text, region)] = translate(load_template_text(text), region)
    resources: dict[str, Any] = cfn["Resources"]
    ctx = ResolveContext(
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=_parameter_values(cfn.get("Parameters") or {}, parameter_overrides or {}),
        mappings=cfn.get("Mappings") or {},
        conditions=cfn.get("Conditions") or {},
        ref_resource=ref,
        get_att=lambda logical_id, attribute: role_arn(logical_id, attribute),
    )

    def role_arn(logical_id: str, attribute: str) -> Any:
        try:
            return get_att(logical_id, attribute)
        except TemplateError:
            # A role the lookups do not know (SAM's generated roles, in a trust policy): the name
            # provision_roles gives it.
            if resources.get(logical_id, {}).get("Type") != "AWS::IAM::Role" or attribute != "Arn":
                raise
            return f"arn:aws:iam::{account_id}:role/{role_name(stack_name, logical_id)}"

    def present(logical_id: str) -> bool:
        condition = resources[logical_id].get("Condition")
        return condition is None or ctx.condition(str(condition))

    def document(value: Any, where: str) -> dict[str, Any]:
        resolved = resolve(value, ctx, where)
        if not isinstance(resolved, dict):
            raise TemplateError(f"{where} is not a policy document")
        return resolved

    def managed(arn: Any, where: str) -> dict[str, Any] | None:
        if isinstance(arn, dict) and "Fn::If" in arn:
            condition, when_true, when_false = arn["Fn::If"]
            chosen = when_true if ctx.condition(str(condition)) else when_false
            return None if chosen == {"Ref": "AWS::NoValue"} else managed(chosen, where)
        if isinstance(arn, dict) and set(arn) == {"Ref"} and arn["Ref"] in resources:
            policy = resources[arn["Ref"]]
            if policy["Type"] != "AWS::IAM::ManagedPolicy":
                raise TemplateError(f"{where}: {arn['Ref']} is not a managed policy")
            return document(policy["Properties"]["PolicyDocument"], f"{arn['Ref']}.PolicyDocument")
        name = str(resolve(arn, ctx, where))
        marker = ":iam::aws:policy/"
        if marker in name and name.split(marker, 1)[1] in AWS_MANAGED_POLICIES:
            return AWS_MANAGED_POLICIES[name.split(marker, 1)[1]]
        raise TemplateError(f"{where}: managed policy {name} is unknown to the least-privilege check")

    roles: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, str] = {}
    trust: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role" or not present(logical_id):
            continue
        props = resource.get("Properties") or {}
        docs = [
            document(p["PolicyDocument"], f"{logical_id}.Policies[{i}]")
            for i, p in enumerate(props.get("Policies") or [])
            if resolve(p, ctx, f"{logical_id}.Policies[{i}]") is not NO_VALUE
        ]
        for i, arn in enumerate(props.get("ManagedPolicyArns") or []):
            attached = managed(arn, f"{logical_id}.ManagedPolicyArns[{i}]")
            if attached is not None:
                docs.append(attached)
        roles[logical_id] = docs
        given = resolve(props.get("RoleName"), ctx, f"{logical_id}.RoleName") if "RoleName" in props else None
        names[logical_id] = str(given) if given else role_name(stack_name, logical_id)
        if "AssumeRolePolicyDocument" in props:
            trust[logical_id] = document(
                props["AssumeRolePolicyDocument"], f"{logical_id}.AssumeRolePolicyDocument"
            )
    # Standalone policies attached to roles by name or reference.
    for logical_id, resource in resources.items():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            continue
        if not present(logical_id):
            continue
        props = resource.get("Properties") or {}
        targets = list(props.get("Roles") or []) + ([props["RoleName"]] if "RoleName" in props else [])
        for target in targets:
            role = target["Ref"] if isinstance(target, dict) and "Ref" in target else None
            if role in roles:
                roles[role].append(document(props["PolicyDocument"], f"{logical_id}.PolicyDocument"))

    functions: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function" or not present(logical_id):
            continue
        role = (resource.get("Properties") or {}).get("Role")
        if isinstance(role, dict) and "Fn::GetAtt" in role:
            functions[logical_id] = str(role["Fn::GetAtt"][0])
        else:
            raise TemplateError(f"{logical_id}.Role is not a role of the template")
    return TemplateRoles(roles=roles, functions=functions, names=names, trust=trust)


def standard_attributes(
    types: Mapping[str, str], refs: Mapping[str, str], *, region: str, account_id: str
) -> tuple[Callable[[str], Any], Callable[[str, str], Any]]:
    """``Ref`` and ``GetAtt`` for resources known by physical name (``refs``): the attributes
    CloudFormation derives from a name (ARNs, topic names), for tests that name resources themselves."""

    def ref(logical_id: str) -> Any:
        if logical_id not in refs:
            raise TemplateError(f"!Ref {logical_id}: no physical name given")
        return refs[logical_id]

    def get_att(logical_id: str, attribute: str) -> Any:
        kind, name = types.get(logical_id, ""), ref(logical_id)
        arns = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account_id}:table/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::SNS::Topic": name,
            "AWS::IAM::Role": f"arn:aws:iam::{account_id}:role/{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{region}:{account_id}:function:{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account_id}:function:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account_id}:log-group:{name}:*",
            "AWS::KMS::Key": name,
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account_id}:{name}",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return name.rsplit(":", 1)[-1]
        if kind == "AWS::SNS::Topic" and attribute == "TopicArn":
            return name
        raise TemplateError(f"!GetAtt {logical_id}.{attribute}: not derivable from its name")

    return ref, get_att


def role_name(stack_name: str, logical_id: str) -> str:
    return f"{stack_name}-{logical_id}"[:64]


def provision_roles(
    iam: Any, sts: Any, roles: TemplateRoles, *, stack_name: str
) -> dict[str, dict[str, str]]:
    """Create the roles in moto IAM and assume each function's: its Lambda credentials (the
    variables the Lambda service sets) by function logical id. Call while IAM is not enforced."""
    import json

    lambda_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arns: dict[str, str] = {}
    for logical_id, documents in roles.roles.items():
        name = roles.names.get(logical_id) or role_name(stack_name, logical_id)
        trust = json.dumps(moto_trust(roles.trust.get(logical_id)) or lambda_trust)
        arns[logical_id] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        for i, doc in enumerate(documents):
            iam.put_role_policy(
                RoleName=name, PolicyName=f"p{i}", PolicyDocument=json.dumps(moto_document(doc))
            )
    credentials: dict[str, dict[str, str]] = {}
    for function, role in roles.functions.items():
        creds = sts.assume_role(RoleArn=arns[role], RoleSessionName=function[:64])["Credentials"]
        credentials[function] = {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }
    return credentials


def moto_trust(document: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A trust policy as moto can evaluate it: moto compares an AWS principal with the caller's
    ARN literally (an account's ``root`` never matches a role session) and knows no condition
    keys, so AWS principals become ``*`` and conditions go. What the template's trust adds
    (``aws:PrincipalArn`` of the stack's roles, a ``tenant`` session tag) is not proven here."""
    if document is None:
        return None
    out = []
    for statement in document.get("Statement", []):
        principal = statement.get("Principal")
        if isinstance(principal, dict) and "AWS" in principal:
            statement = {k: v for k, v in statement.items() if k != "Condition"}
            statement["Principal"] = {**principal, "AWS": "*"}
        out.append(statement)
    return {**document, "Statement": out}


def admin_credentials(iam: Any, name: str) -> dict[str, str]:
    """A moto IAM user allowed everything: the local stack's and the tests' own calls (creating
    resources, reading queues) once IAM is enforced. Call while IAM is not enforced."""
    import json

    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


@contextmanager
def iam_enforced() -> Iterator[None]:
    """moto authorises every request from here on (in this process: moto in-process or a
    ThreadedMotoServer); restored afterwards."""
    from moto.core.authorization import enable_iam_authentication
    from moto.iam.access_control import IAMRequestBase

    # moto recomputes SigV4 from the parsed request and gets EventBridge Scheduler's REST paths
    # wrong (SignatureDoesNotMatch on valid calls); signatures are not what this proves.
    check_signature = IAMRequestBase.check_signature
    IAMRequestBase.check_signature = lambda self: None  # type: ignore[method-assign]
    try:
        with enable_iam_authentication():
            yield
    finally:
        IAMRequestBase.check_signature = check_signature  # type: ignore[method-assign]


@dataclass
class OperationRecorder:
    """Records the boto3 operations each function performs: the function is ``current`` (set by
    the tests around an invocation) or, when unset, whatever ``function_of`` says for the calling
    thread (the local stack's invocation threads)."""

    calls: dict[str, list[Operation]] = field(default_factory=dict)
    current: str | None = None
    function_of: Callable[[], str | None] | None = None
    distinct_for: Account | None = None
    """When set, an operation is kept only if it needs an IAM request not seen yet for its
    function (bounded memory over a long ``make run``)."""
    own_key: Callable[[str], str | None] | None = None
    """The access key id of a function's own role credentials; when set, a call the function signs
    with other credentials (a role it assumed at run time: the tenant-access role) is kept apart
    in :attr:`assumed`, since it is authorised by that role's policy, not the function's."""
    assumed: dict[str, list[Operation]] = field(default_factory=dict)
    _seen: dict[str, set[tuple[str, str, str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: threading.local = field(default_factory=threading.local)

    def attach(self, events: Any) -> None:
        """Register on a botocore event system (a session's, before its clients are made)."""
        events.register("before-parameter-build", self._record, unique_id=f"iam-recorder-{id(self)}")
        events.register("before-sign", self._signed, unique_id=f"iam-recorder-sign-{id(self)}")

    def attach_process_wide(self) -> None:
        """Register on every botocore session this process creates from now on (and boto3's
        default session if it exists)."""
        import boto3
        from botocore.handlers import BUILTIN_HANDLERS

        BUILTIN_HANDLERS.append(("before-parameter-build", self._record))
        BUILTIN_HANDLERS.append(("before-sign", self._signed))
        if boto3.DEFAULT_SESSION is not None:
            self.attach(boto3.DEFAULT_SESSION.events)

    def _record(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        function = self.current
        if function is None and self.function_of is not None:
            function = self.function_of()
        if function is None:
            return
        operation = Operation(model.service_model.service_name, model.name, copy.deepcopy(dict(params)))
        if self.own_key is None:
            self.add(function, operation)
        else:  # decided when it is signed: by whose credentials
            self._pending.call = (function, operation)

    def _signed(self, request_signer: Any = None, **_: Any) -> None:
        call = getattr(self._pending, "call", None)
        if call is None or self.own_key is None:
            return  # a retry's new signature, or nothing recorded
        self._pending.call = None
        function, operation = call
        credentials = getattr(request_signer, "_credentials", None)
        key = getattr(credentials, "access_key", None)
        own = self.own_key(function)
        if key is not None and own is not None and key != own:
            with self._lock:
                self.assumed.setdefault(function, []).append(operation)
            return
        self.add(function, operation)

    def add(self, function: str, operation: Operation) -> None:
        """Record ``operation`` as made by ``function`` (also for calls made in another process)."""
        with self._lock:
            if self.distinct_for is not None:
                markers = {request_marker(r) for r in requests_for(operation, self.distinct_for)}
                seen = self._seen.setdefault(function, set())
                if markers <= seen:
                    return
                seen |= markers
            self.calls.setdefault(function, []).append(operation)


__all__ = [
    "AWS_MANAGED_POLICIES",
    "OperationRecorder",
    "TemplateRoles",
    "admin_credentials",
    "adopt_admin_key",
    "iam_enforced",
    "install_invocation_credentials",
    "provision_roles",
    "role_name",
    "standard_attributes",
    "template_roles",
    "translate",
]


def adopt_admin_key(
    iam: Any, *, user_name: str, access_key_id: str, secret_key: str, account_id: str
) -> None:
    """Make ``access_key_id``/``secret_key`` (the local stack's fixed fake credentials, which the demo,
    the e2e tests and a developer's AWS CLI use) the key of an IAM user allowed everything, so that
    everything but the functions keeps working once IAM is enforced. moto (in this process) only
    generates key ids, so the generated key is renamed in its backend."""
    from moto.iam.models import iam_backends

    admin_credentials(iam, user_name)
    (key,) = iam_backends[account_id]["aws"].get_user(user_name).access_keys
    key.access_key_id = access_key_id
    key.secret_access_key = secret_key


_credentials_installed = threading.Lock()
_installed = False


def install_invocation_credentials() -> None:
    """Every boto3 client in this process signs each request with the credentials in the *current
    thread's* environment (devstack.lambdas layers each invocation's environment over os.environ).

    The functions share one process, one boto3 default session and one layer runtime, whose clients
    would otherwise keep the credentials of whichever function built them: here each request is
    signed as the function that makes it, with its role's credentials, as in its own container.
    (A thread a handler starts itself does not inherit the overlay and signs as the stack's admin.)
    """
    global _installed
    from botocore.credentials import Credentials, EnvProvider, ReadOnlyCredentials

    class InvocationCredentials(Credentials):
        def __init__(self) -> None:  # the values are read at signing time
            self.method = "env"

        def _get(self, name: str) -> str | None:
            import os

            return os.environ.get(name) or None

        access_key = property(lambda self: self._get("AWS_ACCESS_KEY_ID"), lambda self, _: None)
        secret_key = property(lambda self: self._get("AWS_SECRET_ACCESS_KEY"), lambda self, _: None)
        token = property(lambda self: self._get("AWS_SESSION_TOKEN"), lambda self, _: None)

        def get_frozen_credentials(self) -> ReadOnlyCredentials:
            return ReadOnlyCredentials(self.access_key, self.secret_key, self.token)

    with _credentials_installed:
        if _installed:
            return
        load = EnvProvider.load

        def load_per_invocation(self: EnvProvider) -> Credentials | None:
            found = load(self)
            return InvocationCredentials() if found is not None else None

        EnvProvider.load = load_per_invocation  # type: ignore[method-assign]
        _installed = True
