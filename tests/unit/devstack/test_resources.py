"""Resources created in a real moto server from the template's own definitions."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import boto3
import pytest
from devstack.cfn import TemplateError, resolve
from devstack.config import REPO_ROOT
from devstack.resources import ResourceFactory
from devstack.template import read_template

TEMPLATE = textwrap.dedent(
    """
    Parameters:
      Retention:
        Type: Number
        Default: 3
    Resources:
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: fn/
          Handler: app.handler
          Environment:
            Variables:
              TABLE: !Ref Table
              TABLE_ARN: !GetAtt Table.Arn
              TOPIC: !Ref Topic
              QUEUE_URL: !Ref Queue
              BUCKET: !Ref Bucket
              SELF: !GetAtt Fn.Arn
              ROLE: !GetAtt FnRole.Arn
              GROUP: !Ref Group
      Table:
        Type: AWS::DynamoDB::Table
        Properties:
          BillingMode: PAY_PER_REQUEST
          AttributeDefinitions:
            - {AttributeName: pk, AttributeType: S}
            - {AttributeName: sk, AttributeType: S}
            - {AttributeName: gsi1, AttributeType: S}
          KeySchema:
            - {AttributeName: pk, KeyType: HASH}
            - {AttributeName: sk, KeyType: RANGE}
          GlobalSecondaryIndexes:
            - IndexName: by-gsi1
              KeySchema: [{AttributeName: gsi1, KeyType: HASH}]
              Projection: {ProjectionType: ALL}
          StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
          TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
          SSESpecification: {SSEEnabled: true}
      Topic:
        Type: AWS::SNS::Topic
        Properties:
          TopicName: !Sub "${AWS::StackName}-events"
      Queue:
        Type: AWS::SQS::Queue
        Properties:
          VisibilityTimeout: 45
      Subscription:
        Type: AWS::SNS::Subscription
        Properties:
          TopicArn: !Ref Topic
          Protocol: sqs
          Endpoint: !GetAtt Queue.Arn
          RawMessageDelivery: true
      Bucket:
        Type: AWS::S3::Bucket
        Properties:
          BucketEncryption:
            ServerSideEncryptionConfiguration:
              - ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}
          LifecycleConfiguration:
            Rules:
              - {Id: Expire, Status: Enabled, ExpirationInDays: !Ref Retention}
      Secret:
        Type: AWS::SecretsManager::Secret
        Properties:
          Name: !Sub "${AWS::StackName}/app"
          SecretString: '{"k": "v"}'
      Group:
        Type: AWS::Scheduler::ScheduleGroup
        Properties: {}
      Alarm:
        Type: AWS::CloudWatch::Alarm
        Properties: {}
      Mystery:
        Type: AWS::Unknown::Thing
        Properties: {}
    """
)


def _factory(
    tmp_path: Path, moto_url: str, session: boto3.session.Session, text: str = TEMPLATE
) -> ResourceFactory:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    stack = f"t{uuid.uuid4().hex[:8]}"
    template = read_template(path, stack_name=stack, region="us-east-1", account_id="123456789012")
    return ResourceFactory(
        template=template,
        session=session,
        endpoint_url=moto_url,
        stack_name=stack,
        region="us-east-1",
        account_id="123456789012",
    )


def test_resources_exist_in_moto_as_the_template_defines_them(
    tmp_path: Path, moto_url: str, session: boto3.session.Session
) -> None:
    factory = _factory(tmp_path, moto_url, session)
    created = factory.create_all()
    stack = factory.stack_name

    ddb = factory.client("dynamodb")
    table = ddb.describe_table(TableName=f"{stack}-Table")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "by-gsi1"
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = ddb.describe_time_to_live(TableName=f"{stack}-Table")["TimeToLiveDescription"]
    assert ttl == {"AttributeName": "expires_at", "TimeToLiveStatus": "ENABLED"}
    assert created["Table"].attributes["StreamArn"].startswith("arn:aws:dynamodb:")

    s3 = factory.client("s3")
    bucket = created["Bucket"].ref
    assert bucket == f"{stack}-bucket"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules[0]["Expiration"] == {"Days": 3}
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    queue_url = created["Queue"].ref
    attributes = factory.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert attributes["Attributes"]["VisibilityTimeout"] == "45"

    # The subscription really delivers: a message published on the topic reaches the queue.
    factory.client("sns").publish(TopicArn=created["Topic"].ref, Message="hello")
    received = factory.client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)
    assert [m["Body"] for m in received["Messages"]] == ["hello"]  # raw delivery

    secret = factory.client("secretsmanager").get_secret_value(SecretId=f"{stack}/app")
    assert secret["SecretString"] == '{"k": "v"}'
    assert factory.client("scheduler").get_schedule_group(Name=f"{stack}-Group")["State"] == "ACTIVE"

    assert not created["Alarm"].emulated
    assert factory.warnings == ["Mystery (AWS::Unknown::Thing) is not emulated by the local stack"]


def test_function_environment_resolves_to_moto_physical_ids(
    tmp_path: Path, moto_url: str, session: boto3.session.Session
) -> None:
    factory = _factory(tmp_path, moto_url, session)
    created = factory.create_all()
    env = resolve(factory.template.functions["Fn"].environment, factory.context())
    stack = factory.stack_name
    assert env == {
        "TABLE": f"{stack}-Table",
        "TABLE_ARN": created["Table"].attributes["Arn"],
        "TOPIC": f"arn:aws:sns:us-east-1:123456789012:{stack}-events",
        "QUEUE_URL": created["Queue"].ref,
        "BUCKET": f"{stack}-bucket",
        "SELF": f"arn:aws:lambda:us-east-1:123456789012:function:{stack}-Fn",
        "ROLE": f"arn:aws:iam::123456789012:role/{stack}-FnRole",
        "GROUP": f"{stack}-Group",
    }


def test_bad_references_fail_with_the_name(
    tmp_path: Path, moto_url: str, session: boto3.session.Session
) -> None:
    text = TEMPLATE.replace("TopicName: !Sub", "DisplayName: !Ref Nowhere\n      TopicName: !Sub")
    factory = _factory(tmp_path, moto_url, session, text)
    with pytest.raises(TemplateError, match="Nowhere"):
        factory.create_all()


def test_repository_template_resources_are_created(moto_url: str, session: boto3.session.Session) -> None:
    stack = f"r{uuid.uuid4().hex[:8]}"
    template = read_template(
        REPO_ROOT / "template.yaml", stack_name=stack, region="us-east-1", account_id="123456789012"
    )
    factory = ResourceFactory(
        template=template,
        session=session,
        endpoint_url=moto_url,
        stack_name=stack,
        region="us-east-1",
        account_id="123456789012",
    )
    created = factory.create_all()
    kinds = {r.type for r in created.values() if r.emulated}
    assert {"AWS::DynamoDB::Table", "AWS::SNS::Topic", "AWS::S3::Bucket"} <= kinds
    assert factory.warnings == []
    for spec in template.functions.values():
        env = resolve(spec.environment, factory.context())
        assert all(isinstance(v, str) for v in env.values())
