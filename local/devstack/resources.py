"""The template's AWS resources, created in moto from their own definitions.

Each supported resource type has a small translator from its CloudFormation properties to the
service API (the names mostly match; the few renames such as DynamoDB's ``SSEEnabled`` -> ``Enabled``
or S3 lifecycle ``ExpirationInDays`` -> ``Expiration.Days`` live here). Resources are created in
dependency order, and ``Ref`` / ``Fn::GetAtt`` of every resource resolve to the moto physical ids,
so function environments point at what really exists. Types that need no local counterpart (IAM
roles, log groups, alarms, permissions) get deterministic names and ARNs without being created.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devstack.cfn import ResolveContext, TemplateError, references, resolve
from devstack.lambdas import function_arn
from devstack.template import StackTemplate

if TYPE_CHECKING:
    from boto3.session import Session


@dataclass
class Resource:
    """A resource as the stack knows it after creation: its Ref value and attributes."""

    logical_id: str
    type: str
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    emulated: bool = True
    note: str = ""


Translator = Callable[["ResourceFactory", str, dict[str, Any]], Resource]


def _physical_name(stack_name: str, logical_id: str, *, lower: bool = False, limit: int = 255) -> str:
    # Deterministic stand-in for CloudFormation's "<stack>-<LogicalId>-<RANDOM>" names.
    name = f"{stack_name}-{logical_id}"
    return (name.lower() if lower else name)[:limit]


def _strings(values: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, dict | list):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out


@dataclass
class ResourceFactory:
    """Creates the template's resources in moto and answers Ref/GetAtt for them."""

    template: StackTemplate
    session: Session
    endpoint_url: str
    stack_name: str
    region: str
    account_id: str
    created: dict[str, Resource] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url, region_name=self.region)  # type: ignore[call-overload]

    # -- resolution -------------------------------------------------------------------------------

    def context(self) -> ResolveContext:
        return self.template.context(
            stack_name=self.stack_name,
            region=self.region,
            account_id=self.account_id,
            ref_resource=self.ref,
            get_att=self.get_att,
        )

    def _lookup(self, logical_id: str) -> Resource:
        if logical_id in self.created:
            return self.created[logical_id]
        implicit = self._implicit(logical_id)
        if implicit is not None:
            return implicit
        if logical_id in self.template.resources:
            raise TemplateError(f"{logical_id} is referenced before it exists (a dependency cycle?)")
        raise TemplateError(f"{logical_id} is not a resource or parameter of the template")

    def ref(self, logical_id: str) -> Any:
        return self._lookup(logical_id).ref

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self._lookup(logical_id)
        if attribute not in resource.attributes:
            raise TemplateError(
                f"!GetAtt {logical_id}.{attribute}: {resource.type} has no such attribute here"
            )
        return resource.attributes[attribute]

    def _implicit(self, logical_id: str) -> Resource | None:
        """Functions, APIs and the resources SAM generates for them (roles, stages)."""
        template = self.template
        if logical_id in template.functions:
            spec = template.functions[logical_id]
            arn = function_arn(spec.function_name, self.region, self.account_id)
            return Resource(logical_id, "AWS::Serverless::Function", spec.function_name, {"Arn": arn})
        if logical_id in template.apis:
            api_id = local_api_id(logical_id)
            return Resource(
                logical_id,
                "AWS::Serverless::Api",
                api_id,
                {"RootResourceId": "root", "Arn": f"arn:aws:apigateway:{self.region}::/restapis/{api_id}"},
            )
        if logical_id.endswith("Role") and logical_id[: -len("Role")] in template.functions:
            return self._iam_role(logical_id, {})
        return None

    # -- creation ---------------------------------------------------------------------------------

    def create_all(self) -> dict[str, Resource]:
        for logical_id in self._creation_order():
            spec = self.template.resources[logical_id]
            translator = _TRANSLATORS.get(spec.type)
            if spec.type == "AWS::IAM::Role":
                # Only the name matters locally; policies may name things moto does not model.
                name = resolve(spec.properties.get("RoleName"), self.context(), f"{logical_id}.RoleName")
                resource = self._iam_role(logical_id, {"RoleName": name} if name else {})
            elif translator is None:
                resource = self._placeholder(logical_id, spec.type)
            else:
                properties = resolve(spec.properties, self.context(), logical_id)
                try:
                    resource = translator(self, logical_id, properties)
                except TemplateError:
                    raise
                except Exception as exc:
                    raise TemplateError(f"cannot create {logical_id} ({spec.type}) in moto: {exc}") from exc
            self.created[logical_id] = resource
        return self.created

    def _creation_order(self) -> list[str]:
        pending = dict(self.template.resources)
        order: list[str] = []
        done: set[str] = set()
        while pending:
            ready = [
                lid
                for lid, spec in pending.items()
                if not ((references(spec.properties) & set(pending)) - {lid})
            ]
            if not ready:
                raise TemplateError(f"dependency cycle among {', '.join(sorted(pending))}")
            for lid in ready:
                order.append(lid)
                done.add(lid)
                del pending[lid]
        return order

    def _placeholder(self, logical_id: str, kind: str) -> Resource:
        service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "unknown"
        name = _physical_name(self.stack_name, logical_id)
        arn = f"arn:aws:{service}:{self.region}:{self.account_id}:{name}"
        if kind == "AWS::Serverless::LayerVersion":
            arn = f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{name}:1"
            return Resource(
                logical_id, kind, arn, {"Arn": arn}, emulated=False, note="code installed in the venv"
            )
        if kind in _NOT_NEEDED:
            return Resource(logical_id, kind, name, {"Arn": arn}, emulated=False, note="not needed locally")
        self.warnings.append(f"{logical_id} ({kind}) is not emulated by the local stack")
        return Resource(logical_id, kind, name, {"Arn": arn}, emulated=False, note="not emulated")

    def _iam_role(self, logical_id: str, props: Mapping[str, Any]) -> Resource:
        name = str(props.get("RoleName") or _physical_name(self.stack_name, logical_id, limit=64))
        arn = f"arn:aws:iam::{self.account_id}:role/{name}"
        return Resource(
            logical_id,
            "AWS::IAM::Role",
            name,
            {"Arn": arn, "RoleId": "AROA" + hashlib.sha256(name.encode()).hexdigest()[:17].upper()},
            emulated=False,
            note="placeholder: local schedules invoke the poller directly",
        )


_NOT_NEEDED = {
    "AWS::IAM::Policy",
    "AWS::IAM::InstanceProfile",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SecretsManager::ResourcePolicy",
    "AWS::Logs::MetricFilter",
    "AWS::Logs::SubscriptionFilter",
    "AWS::CloudWatch::CompositeAlarm",
    "AWS::IAM::ManagedPolicy",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::ApplicationInsights::Application",
    "AWS::ResourceGroups::Group",
}


def local_api_id(logical_id: str) -> str:
    """A stable 10-character REST API id for an API of the template."""
    digest = "".join(c for c in logical_id.lower() if c.isalnum())
    return (digest + "0123456789")[:10]


# -- translators --------------------------------------------------------------------------------


def _dynamodb_table(factory: ResourceFactory, logical_id: str, props: dict[str, Any]) -> Resource:
    ddb = factory.client("dynamodb")
    name = str(props.get("TableName") or _physical_name(factory.stack_name, logical_id))
    params: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for key in ("ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "TableClass"):
        if key in props:
            params[key] = props[key]
    if params["BillingMode"] == "PROVISIONED" and "ProvisionedThroughput" not in params:
        raise TemplateError(f"{logical_id}: PROVISIONED tables need ProvisionedThroughput")
    if "StreamSpecification" in props:
        params["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    sse = props.get("SSESpecification")
    if sse:
        params["SSESpecification"] = {
            "Enabled": bool(sse.get("SSEEnabled", False)),
            **{k: sse[k] for k in ("SSEType", "KMSMasterKeyId") if k in sse},
        }
    if props.get("Tags"):
        params["Tags"] = props["Tags"]
    described = ddb.create_table(**params)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and pitr.get("PointInTimeRecoveryEnabled"):
        try:
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        except Exception as exc:  # a moto gap must not stop the stack: backups change nothing locally
            factory.warnings.append(f"{logical_id}: point-in-time recovery not set in moto ({exc})")
    attributes = {"Arn": described["TableArn"]}
    if "LatestStreamArn" in described:
        attributes["StreamArn"] = described["LatestStreamArn"]
    return Resource(logical_id, "AWS::DynamoDB::Table", name, attributes)


def _simple_table(factory: ResourceFactory, logical_id: str, props: dict[str, Any]) -> Resource:
    key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    kind = {"String": "S", "Number": "N", "Binary": "B"}[key.get("Type", "String")]
    translated: dict[str, Any] = {
        "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": kind}],
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "BillingMode": "PROVISIONED" if props.get("ProvisionedThroughput") else "PAY_PER_REQUEST",
    }
    for name in ("TableName", "ProvisionedThroughput", "SSESpecification"):
        if name in props:
            translated[name] = props[name]
    resource = _dynamodb_table(factory, logical_id, translated)
    resource.type = "AWS::Serverless::SimpleTable"
    return resource


def _sns_topic(factory: ResourceFactory, logical_id: str, props: dict[str, Any]) -> Resource:
    sns = factory.client("sns")
    fifo = bool(props.get("FifoTopic"))
    default = _physical_name(factory.stack_name, logical_id, limit=251) + (".fifo" if fifo else "")
    name = str(props.get("TopicName") or default)
    attributes = _strings(
        {
            k: v
            for k, v in props.items()
            if k
            in {
                "DisplayName",
                "KmsMasterKeyId",
                "FifoTopic",
                "ContentBasedDeduplication",
                "SignatureVersion",
                "TracingConfig",
                "ArchivePolicy",
            }
        }
    )
    params: dict[str, Any] = {"Name": name, "Attributes": attributes}
    if props.get("Tags"):
        params["Tags"] = props["Tags"]
    arn = sns.create_topic(**params)["TopicArn"]
    for subscription in props.get("Subscription") or []:
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return Resource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})


def _sns_subscription(factory: ResourceFactory, logical_id: str, props: dict[str, Any]) -> Resource:
    sns = factory.client("sns")
    attributes = _strings(
        {
            k: v
            for k, v in props.items()
            if k
            in {"FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy", "DeliveryPolicy"}
        }
    )
    arn = sns.subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return Resource(logical_id, "AWS::SNS::Subscription", arn, {"Arn": arn})


_SQS_ATTRIBUTES = {
    "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue", "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize", "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy", "RedrivePolicy", "SqsManagedSseEnabled",
    "VisibilityTimeout",
}  # fmt: skip


def _sqs_queue(factory: ResourceFactory, logical_id: str, props: dict[str, Any]) -> Resource:
    sqs = factory.client("sqs")
    fifo = bool(props.get("FifoQueue"))
    default = _physical_name(factory.stack_name, logical_id, limit=75) + (".fifo" if fifo else "")
    name = str(props.get("QueueName") or default)
    attributes = _strings({k: v for k, v in props.items() if k in _SQS_ATTRIBUTES})
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = f"arn:aws:sqs:{factory.region}:{factory.account_id}:{name}"
    return Resource(logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Status": rule.get("Status", "Enabled")}
    if "Id" in rule:
        out["ID"] = rule["Id"]
    prefix = rule.get("Prefix")
    out["Filter"] = {"Prefix": prefix or ""}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    elif "ExpirationDate" in rule:
        out["Expiration"] = {"Date": rule["ExpirationDate"]}
    if "NoncurrentVersionExpirationInDays" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])
        }
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort:
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(abort["DaysAfterInitiation"])}
    return out


def _s3_bucket(factory: ResourceFactory, logical_id: str, props: dict[str, Any]) -> Resource:
    s3 = factory.client("s3")
    name = str(
        props.get("BucketName") or _physical_name(factory.stack_name, logical_id, lower=True, limit=63)
    )
    params: dict[str, Any] = {"Bucket": name}
    if factory.region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": factory.region}
    s3.create_bucket(**params)
    encryption = props.get("BucketEncryption")
    if encryption:
        rules = [
            {
                **({"BucketKeyEnabled": bool(r["BucketKeyEnabled"])} if "BucketKeyEnabled" in r else {}),
                # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSide...
                "ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"],
            }
            for r in encryption["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
    lifecycle = props.get("LifecycleConfiguration")
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in lifecycle.get("Rules", [])]},
        )
    versioning = props.get("VersioningConfiguration")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
    cors = props.get("CorsConfiguration")
    if cors:
        cors_rules = []
        for rule in cors.get("CorsRules", []):
            translated = {k: v for k, v in rule.items() if k not in {"Id", "MaxAge"}}
            if "Id" in rule:
                translated["ID"] = rule["Id"]
            if "MaxAge" in rule:
                translated["MaxAgeSeconds"] = int(rule["MaxAge"])
            cors_rules.append(translated)
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": cors_rules})
    return Resource(
        logical_id,
        "AWS::S3::Bucket",
        name,
        {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{factory.region}.amazonaws.com",
        },
    )


def _secret(factory: ResourceFactory, logical_id: str, props: dict[str, Any]) -> Resource:
    client = factory.client("secretsmanager")
    name = str(props.get("Name") or _physical_name(factory.stack_name, logical_id))
    params: dict[str, Any] = {"Name": name}
    if "Description" in props:
        params["Description"] = props["Description"]
    if "SecretString" in props:
        params["SecretString"] = str(props["SecretString"])
    elif "GenerateSecretString" in props:
        generate = props["GenerateSecretString"]
        password = client.get_random_password(
            PasswordLength=int(generate.get("PasswordLength", 32)),
            ExcludeCharacters=str(generate.get("ExcludeCharacters", "")),
        )["RandomPassword"]
        template = generate.get("SecretStringTemplate")
        key = generate.get("GenerateStringKey")
        if template and key:
            data = json.loads(template)
            data[key] = password
            params["SecretString"] = json.dumps(data)
        else:
            params["SecretString"] = password
    arn = client.create_secret(**params)["ARN"]
    return Resource(logical_id, "AWS::SecretsManager::Secret", arn, {"Id": arn})


def _ssm_parameter(factory: ResourceFactory, logical_id: str, props: dict[str, Any]) -> Resource:
    name = str(props.get("Name") or f"/{factory.stack_name}/{logical_id}")
    factory.client("ssm").put_parameter(
        Name=name, Type=props.get("Type", "String"), Value=str(props["Value"]), Overwrite=True
    )
    return Resource(
        logical_id,
        "AWS::SSM::Parameter",
        name,
        {"Type": props.get("Type", "String"), "Value": props["Value"]},
    )


def _schedule_group(factory: ResourceFactory, logical_id: str, props: dict[str, Any]) -> Resource:
    name = str(props.get("Name") or _physical_name(factory.stack_name, logical_id, limit=64))
    arn = factory.client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
    return Resource(logical_id, "AWS::Scheduler::ScheduleGroup", name, {"Arn": arn})


def _schedule(factory: ResourceFactory, logical_id: str, props: dict[str, Any]) -> Resource:
    name = str(props.get("Name") or _physical_name(factory.stack_name, logical_id, limit=64))
    params: dict[str, Any] = {
        "Name": name,
        "ScheduleExpression": props["ScheduleExpression"],
        "FlexibleTimeWindow": props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
        "Target": props["Target"],
    }
    for key in ("GroupName", "Description", "State", "ScheduleExpressionTimezone", "StartDate", "EndDate"):
        if key in props:
            params[key] = props[key]
    arn = factory.client("scheduler").create_schedule(**params)["ScheduleArn"]
    return Resource(logical_id, "AWS::Scheduler::Schedule", name, {"Arn": arn})


_TRANSLATORS: dict[str, Translator] = {
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::Serverless::SimpleTable": _simple_table,
    "AWS::SNS::Topic": _sns_topic,
    "AWS::SNS::Subscription": _sns_subscription,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SSM::Parameter": _ssm_parameter,
    "AWS::Scheduler::ScheduleGroup": _schedule_group,
    "AWS::Scheduler::Schedule": _schedule,
}


def supported_types() -> set[str]:
    return set(_TRANSLATORS) | {"AWS::IAM::Role"}
