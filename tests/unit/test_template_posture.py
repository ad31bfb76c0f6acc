"""template.yaml's posture as a deployer sees it: access logs without secrets, every log group with
the retention parameter, reserved concurrency where it matters, and the optional customer-managed
key reaching every store (checkov checks the rest: `make checkov`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from devstack.cfn import load_template
from devstack.iam import template_roles

from tests.fixtures.iam import ACCOUNT_ID

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def _template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _functions(resources: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}


def test_the_access_log_is_json_without_query_strings_or_headers() -> None:
    api = _template()["Resources"]["ConnectorApi"]["Properties"]
    setting = api["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = re.findall(r"\$context\.[A-Za-z.]+", setting["Format"])
    assert "$context.requestId" in fields
    assert "$context.status" in fields
    # The callback's ?code=...&state=... are secrets; headers carry the SigV4 Authorization.
    for secret in ("querystring", "header", "authorization", "requestoverride", "$input", "$method"):
        assert secret not in setting["Format"].lower()
    assert "$context.path" in fields  # the path without its query string


def test_every_function_logs_to_its_own_group_with_the_retention_parameter() -> None:
    resources = _template()["Resources"]
    groups = {k: v for k, v in resources.items() if v["Type"] == "AWS::Logs::LogGroup"}
    for name, function in _functions(resources).items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    assert groups["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_public_callback_and_the_poller_have_reserved_concurrency() -> None:
    resources = _template()["Resources"]
    callback = resources["OAuthCallbackFunction"]["Properties"]
    assert [e["Properties"]["Path"] for e in callback["Events"].values()] == ["/oauth/callback"]
    assert callback["ReservedConcurrentExecutions"]["Fn::If"][1] == {
        "Ref": "OAuthCallbackReservedConcurrency"
    }
    poller = resources["PollerFunction"]["Properties"]
    assert poller["ReservedConcurrentExecutions"]["Fn::If"][1] == {"Ref": "PollerReservedConcurrency"}


def test_a_customer_key_encrypts_every_store_and_every_role_that_touches_one_may_use_it() -> None:
    template = _template()
    resources = template["Resources"]
    key = {"Ref": "KmsKeyArn"}
    sse = resources["StateTable"]["Properties"]["SSESpecification"]
    assert sse["KMSMasterKeyId"]["Fn::If"][1] == key
    assert resources["TriggerEventsTopic"]["Properties"]["KmsMasterKeyId"]["Fn::If"][1] == key
    (rule,) = resources["PayloadBucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::If"][1] == key
    assert template["Globals"]["Function"]["Environment"]["Variables"]["SECRETS_KMS_KEY_ID"] == key

    def names(ref: str) -> str:
        return f"sfconnector-test-{ref}"

    def attribute(logical_id: str, attribute: str) -> str:
        return f"arn:aws:test:::{logical_id}/{attribute}"

    def kms_actions(kms_key: str) -> dict[str, set[str]]:
        roles = template_roles(
            TEMPLATE,
            stack_name="sfconnector-test",
            region="us-east-1",
            account_id=ACCOUNT_ID,
            parameter_overrides={"KmsKeyArn": kms_key},
            ref=names,
            get_att=attribute,
        )
        return {
            function: {
                a
                for doc in docs
                for s in doc["Statement"]
                for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
                if a.startswith("kms:") and s.get("Resource") == kms_key
            }
            for function, docs in roles.function_policies().items()
        }

    with_key = kms_actions(KEY)
    assert with_key.pop("MetaFunction") == set()  # touches no store
    assert all(actions == {"kms:Decrypt", "kms:GenerateDataKey"} for actions in with_key.values())
    assert all(actions == set() for actions in kms_actions("").values())
