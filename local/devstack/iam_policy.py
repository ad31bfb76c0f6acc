"""IAM policy evaluation and the IAM requests behind boto3 operations: pure, no I/O.

moto enforces IAM on actions only: it authorises every call of DynamoDB, SNS, Secrets Manager
and Scheduler against the resource ``"*"`` (only S3, SQS, IAM and STS pass a real ARN) and treats
any ``Condition`` it cannot read from the request as unmet. So the local stack and the tests give
moto each role with resources widened to ``"*"`` and conditions removed (:func:`moto_document`),
and this module checks what moto cannot: each recorded operation becomes the :class:`Request`\\ s
AWS would authorise (action, resource ARN, condition keys such as ``dynamodb:LeadingKeys`` and
``iam:PassedToService``, and the KMS calls a customer-managed key adds), evaluated against the
role's real policies by :func:`decide` with AWS's rules (explicit deny wins, wildcards,
case-insensitive actions, ``ForAllValues``/``ForAnyValue``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["allowed", "denied", "implicit-deny"]

# Services whose requests moto authorises against the real resource ARN (moto/core/authorization.py,
# S3 and the services with ``_determine_resource``); for the others it passes "*".
MOTO_RESOURCE_AWARE = frozenset({"s3", "sqs", "iam", "sts"})


@dataclass(frozen=True)
class Request:
    """One authorisation AWS makes: an action on a resource with the request's condition keys."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __str__(self) -> str:
        keys = "".join(f" {k}={list(v)}" for k, v in sorted(self.context.items()))
        return f"{self.action} on {self.resource}{keys}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def statements(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every statement of the policy documents."""
    out: list[dict[str, Any]] = []
    for document in documents:
        out.extend(dict(s) for s in _as_list(document.get("Statement")))
    return out


def _glob(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    # IAM wildcards: * any run, ? one character; nothing else is special.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.fullmatch(regex, value, flags) is not None


def _matches_action(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_glob(p, action, case_sensitive=False) for p in _as_list(statement["NotAction"]))
    return any(_glob(p, action, case_sensitive=False) for p in _as_list(statement.get("Action")))


def _matches_resource(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(_glob(p, resource) for p in _as_list(statement["NotResource"]))
    return any(_glob(p, resource) for p in _as_list(statement.get("Resource")))


_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringNotEquals": lambda want, got: want != got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: _glob(want, got),
    "StringNotLike": lambda want, got: not _glob(want, got),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: _glob(want, got),
    "ArnNotLike": lambda want, got: not _glob(want, got),
    "Bool": lambda want, got: want.lower() == got.lower(),
}
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotLike"}


class UnsupportedCondition(ValueError):
    """A condition operator this evaluator does not know: never guess an authorisation."""


def _condition_holds(
    operator: str, key: str, wanted: Sequence[str], context: Mapping[str, tuple[str, ...]]
) -> bool:
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    values = context.get(key)
    if op == "Null":
        return (values is None or not values) == (str(wanted[0]).lower() == "true")
    compare = _STRING_OPS.get(op)
    if compare is None:
        raise UnsupportedCondition(f"condition operator {operator!r} is not supported")
    if qualifier == "ForAllValues":
        # AWS: true when the key is absent or empty (every one of no values matches).
        return all(any(compare(w, v) for w in wanted) for v in values or ())
    if qualifier == "ForAnyValue":
        return any(any(compare(w, v) for w in wanted) for v in values or ())
    if qualifier:
        raise UnsupportedCondition(f"condition qualifier {qualifier!r} is not supported")
    if not values:
        return if_exists or op in _NEGATED
    if op in _NEGATED:
        return all(compare(w, values[0]) for w in wanted)
    return any(compare(w, values[0]) for w in wanted)


def _conditions_hold(statement: Mapping[str, Any], context: Mapping[str, tuple[str, ...]]) -> bool:
    for operator, block in (statement.get("Condition") or {}).items():
        for key, wanted in block.items():
            if not _condition_holds(operator, key, [str(w) for w in _as_list(wanted)], context):
                return False
    return True


def decide(policy_statements: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    """AWS's identity-policy evaluation of one request (no SCPs, boundaries or resource policies)."""
    allowed = False
    for statement in policy_statements:
        if not (
            _matches_action(statement, request.action) and _matches_resource(statement, request.resource)
        ):
            continue
        if not _conditions_hold(statement, request.context):
            continue
        if statement.get("Effect") == "Deny":
            return "denied"
        allowed = True
    return "allowed" if allowed else "implicit-deny"


# API operations whose IAM action has another name (AWS's service authorization reference).
IAM_ACTION_OF = {
    ("sns", "PublishBatch"): "sns:Publish",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    # A multipart upload is authorised as s3:PutObject (AbortMultipartUpload has its own action).
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
}
# moto authorises those operations under their API name: the moto copy of a policy allows both.
_MOTO_ALIASES: dict[str, list[str]] = {}
for (_service, _operation), _action in IAM_ACTION_OF.items():
    _MOTO_ALIASES.setdefault(_action.lower(), []).append(f"{_service}:{_operation}")
# DynamoDB authorises a transaction item by item (PutItem, UpdateItem, ... on each item's table and
# keys: :func:`_dynamodb` checks that); moto asks for the operation's name instead.
for _item_action, _transaction in (
    ("dynamodb:putitem", "dynamodb:TransactWriteItems"),
    ("dynamodb:updateitem", "dynamodb:TransactWriteItems"),
    ("dynamodb:deleteitem", "dynamodb:TransactWriteItems"),
    ("dynamodb:conditioncheckitem", "dynamodb:TransactWriteItems"),
    ("dynamodb:getitem", "dynamodb:TransactGetItems"),
):
    _MOTO_ALIASES.setdefault(_item_action, []).append(_transaction)


def moto_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document as moto can enforce it: Allow statements only, conditions removed, resources
    widened to "*" for the services moto authorises against "*" (the rest is :func:`decide`'s)."""
    out: list[dict[str, Any]] = []
    for statement in statements([document]):
        if statement.get("Effect") != "Allow":
            continue  # a conditional Deny cannot be enforced without its condition
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        actions += [alias for a in actions for alias in _MOTO_ALIASES.get(a.lower(), [])]
        if not actions:
            continue
        widened = any(a.split(":", 1)[0].lower() not in MOTO_RESOURCE_AWARE for a in actions)
        resources = ["*"] if widened else [str(r) for r in _as_list(statement.get("Resource"))]
        out.append({"Effect": "Allow", "Action": actions, "Resource": resources})
    return {"Version": "2012-10-17", "Statement": out or [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}


# ---- boto3 operations -> IAM requests -------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One boto3 call a function made (service as boto3 names it, operation as the API names it)."""

    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Account:
    """Where the resources live, to build their ARNs; ``partition_keys`` maps a table name to its
    partition key attribute (for ``dynamodb:LeadingKeys``)."""

    region: str
    account_id: str
    partition_keys: Mapping[str, str] = field(default_factory=dict)
    kms_key_arn: str | None = None
    """The customer-managed key encrypting secrets, topic and bucket, when the template sets one."""


_DDB_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_KEY_CONDITION = re.compile(r"(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)")


def _attribute_value(value: Mapping[str, Any]) -> str:
    for kind in ("S", "N", "B"):
        if kind in value:
            return str(value[kind])
    return ""


def _dynamodb(op: Operation, account: Account) -> list[Request]:
    def table_arn(name: str) -> str:
        if name.startswith("arn:"):
            return name
        return f"arn:aws:dynamodb:{account.region}:{account.account_id}:table/{name}"

    def request(action: str, table: str, keys: Iterable[Mapping[str, Any]] | None) -> Request:
        context: dict[str, tuple[str, ...]] = {}
        key_name = account.partition_keys.get(table)
        if keys is not None and key_name:
            context["dynamodb:LeadingKeys"] = tuple(
                sorted({_attribute_value(k[key_name]) for k in keys if key_name in k})
            )
        return Request(f"dynamodb:{action}", table_arn(table), context)

    p = op.params
    name = op.operation
    if name in ("GetItem", "DeleteItem", "UpdateItem"):
        return [request(name, str(p["TableName"]), [p.get("Key", {})])]
    if name == "PutItem":
        return [request(name, str(p["TableName"]), [p.get("Item", {})])]
    if name == "Query":
        table = str(p["TableName"])
        key_name = account.partition_keys.get(table, "")
        values = p.get("ExpressionAttributeValues") or {}
        aliases = p.get("ExpressionAttributeNames") or {}
        leading = [
            {key_name: values[placeholder]}
            for attr, placeholder in _KEY_CONDITION.findall(str(p.get("KeyConditionExpression", "")))
            if aliases.get(attr, attr) == key_name and placeholder in values
        ]
        return [request(name, table, leading)]
    if name == "BatchGetItem":
        return [request(name, t, list(spec.get("Keys", []))) for t, spec in p["RequestItems"].items()]
    if name == "BatchWriteItem":
        out = []
        for table, writes in p["RequestItems"].items():
            keys = [
                w.get("PutRequest", {}).get("Item") or w.get("DeleteRequest", {}).get("Key") or {}
                for w in writes
            ]
            out.append(request(name, table, keys))
        return out
    if name in ("TransactWriteItems", "TransactGetItems"):
        out = []
        for item in p.get("TransactItems", []):
            for kind, spec in item.items():
                action = "GetItem" if kind == "Get" else _DDB_ITEM_ACTIONS[kind]
                out.append(
                    request(action, str(spec["TableName"]), [spec.get("Key") or spec.get("Item") or {}])
                )
        return out
    if "TableName" in p:  # Scan, DescribeTable...: no leading keys
        return [request(name, str(p["TableName"]), None)]
    return [Request(f"dynamodb:{name}", "*")]


def _secret_arn(secret_id: str, account: Account) -> str:
    if secret_id.startswith("arn:"):
        return secret_id
    # Secrets Manager appends "-" and six random characters to the name.
    return f"arn:aws:secretsmanager:{account.region}:{account.account_id}:secret:{secret_id}-AbCdEf"


def _kms(actions: Sequence[str], service: str, account: Account) -> list[Request]:
    if not account.kms_key_arn:
        return []
    via = (f"{service}.{account.region}.amazonaws.com",)
    return [Request(f"kms:{a}", account.kms_key_arn, {"kms:ViaService": via}) for a in actions]


# What a customer-managed key adds to each call (the caller's own KMS permissions; DynamoDB uses
# the table's grant instead, so its callers need none).
_SECRETS_KMS = {
    "GetSecretValue": ("Decrypt",),
    "PutSecretValue": ("GenerateDataKey",),
    "CreateSecret": ("GenerateDataKey",),
}
_S3_KMS = {"PutObject": ("GenerateDataKey",), "GetObject": ("Decrypt",)}
_SNS_KMS = ("GenerateDataKey", "Decrypt")


def _events_arn(p: Mapping[str, Any], account: Account) -> str:
    """An EventBridge operation's resource: its rule (``rule/<bus>/<rule>``, the default bus's
    rules without the bus) or its event bus, by name or ARN (a partner bus's name has slashes)."""
    base = f"arn:aws:events:{account.region}:{account.account_id}"
    rule = p.get("Rule") or (p.get("Name") if "EventBusName" in p or "EventPattern" in p else None)
    bus = str(p.get("EventBusName") or "default")
    bus = bus.split(":event-bus/", 1)[-1] if bus.startswith("arn:") else bus
    if rule is not None:
        return f"{base}:rule/{rule}" if bus == "default" else f"{base}:rule/{bus}/{rule}"
    name = p.get("Name")
    if name is None:
        return "*"
    return str(name) if str(name).startswith("arn:") else f"{base}:event-bus/{name}"


def requests_for(op: Operation, account: Account) -> list[Request]:
    """The IAM requests AWS authorises for one boto3 operation."""
    p = op.params
    service, name = op.service, op.operation
    aliased = IAM_ACTION_OF.get((service, name))
    if aliased is not None:
        name = aliased.split(":", 1)[1]
    if service == "dynamodb":
        return _dynamodb(op, account)
    if service == "secretsmanager":
        secret = str(p.get("SecretId") or p.get("Name") or "*")
        out = [Request(f"secretsmanager:{name}", _secret_arn(secret, account))]
        if name == "CreateSecret" and p.get("Tags"):
            out.append(Request("secretsmanager:TagResource", _secret_arn(secret, account)))
        return out + _kms(_SECRETS_KMS.get(name, ()), "secretsmanager", account)
    if service == "sns":
        arn = str(p.get("TopicArn") or p.get("TargetArn") or "*")
        return [Request(f"sns:{name}", arn)] + (_kms(_SNS_KMS, "sns", account) if name == "Publish" else [])
    if service == "s3":
        bucket, key = p.get("Bucket"), p.get("Key")
        resource = f"arn:aws:s3:::{bucket}/{key}" if key is not None else f"arn:aws:s3:::{bucket}"
        return [Request(f"s3:{name}", resource), *_kms(_S3_KMS.get(name, ()), "s3", account)]
    if service == "scheduler":
        group = p.get("GroupName") or "default"
        arn = f"arn:aws:scheduler:{account.region}:{account.account_id}:schedule/{group}/{p.get('Name', '*')}"
        out = [Request(f"scheduler:{name}", arn)]
        role = (p.get("Target") or {}).get("RoleArn")
        if role:
            out.append(
                Request("iam:PassRole", str(role), {"iam:PassedToService": ("scheduler.amazonaws.com",)})
            )
        return out
    if service == "events":
        return [Request(f"events:{name}", _events_arn(p, account))]
    if service == "sts" and "RoleArn" in p:
        out = [Request(f"sts:{name}", str(p["RoleArn"]))]
        if p.get("Tags") or p.get("TransitiveTagKeys"):
            out.append(Request("sts:TagSession", str(p["RoleArn"])))
        return out
    return [Request(f"{service}:{name}", "*")]


def request_marker(request: Request) -> tuple[str, str, str]:
    """A hashable identity of a request (its context is a mapping)."""
    return (request.action, request.resource, repr(sorted(request.context.items())))


@dataclass(frozen=True)
class Finding:
    """A call the function made that its role does not allow."""

    function: str
    operation: Operation
    request: Request
    decision: Decision

    def __str__(self) -> str:
        call = f"{self.operation.service}.{self.operation.operation}"
        return f"{self.function}: {call} needs {self.request} ({self.decision})"


def check(
    recorded: Mapping[str, Iterable[Operation]],
    policies: Mapping[str, Sequence[Mapping[str, Any]]],
    account: Account,
) -> list[Finding]:
    """Every recorded operation of every function against that function's policy documents."""
    findings: list[Finding] = []
    for function, operations in recorded.items():
        function_statements = statements(policies.get(function, ()))
        seen: set[tuple[str, str, str]] = set()
        for op in operations:
            for request in requests_for(op, account):
                marker = request_marker(request)
                if marker in seen:
                    continue
                seen.add(marker)
                decision = decide(function_statements, request)
                if decision != "allowed":
                    findings.append(Finding(function, op, request, decision))
    return findings


__all__ = [
    "Account",
    "Decision",
    "Finding",
    "Operation",
    "Request",
    "UnsupportedCondition",
    "check",
    "decide",
    "moto_document",
    "request_marker",
    "requests_for",
    "statements",
]
