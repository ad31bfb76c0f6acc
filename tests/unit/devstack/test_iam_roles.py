"""The template's roles as devstack.iam builds them: SAM policy templates expanded, and roles or
policies a template adds later (a tenant-access role trusted by a function's role) covered as is."""

from __future__ import annotations

from pathlib import Path

from devstack.cfn import TemplateError
from devstack.iam import TemplateRoles, template_roles

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Tenancy: {Type: String, Default: "on"}
Conditions:
  WithTenancy: !Equals [!Ref Tenancy, "on"]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      BillingMode: PAY_PER_REQUEST
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: reader/
      Handler: app.handler
      Runtime: python3.13
      Policies:
        - DynamoDBReadPolicy: {TableName: !Ref Table}
  TenantRole:
    Type: AWS::IAM::Role
    Condition: WithTenancy
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {AWS: !GetAtt ReaderRole.Arn}
            Action: [sts:AssumeRole, sts:TagSession]
  TenantSecrets:
    Type: AWS::IAM::Policy
    Condition: WithTenancy
    Properties:
      PolicyName: secrets
      Roles: [!Ref TenantRole]
      PolicyDocument:
        Statement:
          - Effect: Allow
            Action: secretsmanager:GetSecretValue
            Resource: !Sub "arn:aws:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:t/*"
"""


def _table_arn(logical_id: str, attribute: str) -> str:
    if logical_id != "Table":
        raise TemplateError(f"{logical_id} is not known here")
    return f"arn:aws:dynamodb:eu-west-1:111122223333:table/s-{logical_id}"


def _roles(tmp_path: Path, tenancy: str) -> TemplateRoles:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")
    return template_roles(
        path,
        stack_name="s",
        region="eu-west-1",
        account_id="111122223333",
        parameter_overrides={"Tenancy": tenancy},
        ref=lambda logical_id: f"s-{logical_id}",
        get_att=_table_arn,
    )


def test_policy_templates_are_expanded_and_added_roles_are_covered(tmp_path: Path) -> None:
    roles = _roles(tmp_path, "on")
    assert roles.functions == {"Reader": "ReaderRole"}
    statements = [s for doc in roles.roles["ReaderRole"] for s in doc["Statement"]]
    read = next(s for s in statements if "dynamodb:GetItem" in s["Action"])
    assert "dynamodb:PutItem" not in read["Action"]
    assert read["Resource"][0] == "arn:aws:dynamodb:eu-west-1:111122223333:table/s-Table"
    (tenant,) = roles.roles["TenantRole"]
    assert tenant["Statement"][0]["Resource"] == "arn:aws:secretsmanager:eu-west-1:111122223333:secret:t/*"
    (trust,) = roles.trust["TenantRole"]["Statement"]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::111122223333:role/s-ReaderRole"}
    assert roles.names["TenantRole"] == "s-TenantRole"


def test_a_role_whose_condition_is_false_is_not_there(tmp_path: Path) -> None:
    assert set(_roles(tmp_path, "off").roles) == {"ReaderRole"}
