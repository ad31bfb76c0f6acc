"""The IAM evaluation the least-privilege check relies on (devstack.iam_policy): AWS's rules for the
parts moto does not enforce (resources, conditions), on the template's own statement shapes."""

from __future__ import annotations

import pytest
from devstack.iam_policy import (
    Account,
    Operation,
    Request,
    UnsupportedCondition,
    check,
    decide,
    moto_document,
    requests_for,
)

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/state"
ACCOUNT = Account("us-east-1", "123456789012", {"state": "pk"})
CONNECTION_ITEMS = {
    "Effect": "Allow",
    "Action": ["dynamodb:GetItem", "dynamodb:BatchWriteItem", "dynamodb:Scan"],
    "Resource": TABLE,
    "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONNECTION#*"]}},
}


def _batch_write(*pks: str) -> Operation:
    writes = [{"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": "x"}}}} for pk in pks]
    return Operation("dynamodb", "BatchWriteItem", {"RequestItems": {"state": writes}})


def test_leading_keys_must_all_match_the_condition() -> None:
    (ok,) = requests_for(_batch_write("CONNECTION#a", "CONNECTION#b"), ACCOUNT)
    (mixed,) = requests_for(_batch_write("CONNECTION#a", "IDEMPOTENCY#k"), ACCOUNT)
    assert ok.context == {"dynamodb:LeadingKeys": ("CONNECTION#a", "CONNECTION#b")}
    assert decide([CONNECTION_ITEMS], ok) == "allowed"
    assert decide([CONNECTION_ITEMS], mixed) == "implicit-deny"


def test_for_all_values_holds_with_no_keys_as_on_aws() -> None:
    # A Scan carries no leading key: ForAllValues is then vacuously true (the classic pitfall),
    # so only leaving Scan out of the action list keeps it out.
    (scan,) = requests_for(Operation("dynamodb", "Scan", {"TableName": "state"}), ACCOUNT)
    assert decide([CONNECTION_ITEMS], scan) == "allowed"


def test_an_explicit_deny_wins_and_actions_match_case_insensitively() -> None:
    request = Request("dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": ("CONNECTION#a",)})
    allow_all = {"Effect": "Allow", "Action": "DynamoDB:*", "Resource": "*"}
    deny = {"Effect": "Deny", "NotAction": "sns:*", "Resource": TABLE}
    assert decide([allow_all], request) == "allowed"
    assert decide([allow_all, deny], request) == "denied"


def test_passing_the_scheduler_role_needs_the_service_condition() -> None:
    pass_role = {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": "arn:aws:iam::123456789012:role/scheduler",
        "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
    }
    create = Operation(
        "scheduler",
        "CreateSchedule",
        {
            "Name": "poll-c",
            "GroupName": "g",
            "Target": {"RoleArn": "arn:aws:iam::123456789012:role/scheduler"},
        },
    )
    schedule, passed = requests_for(create, ACCOUNT)
    assert schedule.resource == "arn:aws:scheduler:us-east-1:123456789012:schedule/g/poll-c"
    assert decide([pass_role], passed) == "allowed"
    assert decide([pass_role], Request(passed.action, passed.resource)) == "implicit-deny"


def test_a_customer_key_adds_the_kms_calls_of_each_encrypting_service() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    account = Account("us-east-1", "123456789012", kms_key_arn=key)
    get = Operation("secretsmanager", "GetSecretValue", {"SecretId": "stack/connections/c"})
    batch = Operation("sns", "PublishBatch", {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t"})
    assert [str(r) for r in requests_for(get, account)][1:] == [
        f"kms:Decrypt on {key} kms:ViaService=['secretsmanager.us-east-1.amazonaws.com']"
    ]
    actions = [r.action for r in requests_for(batch, account)]
    assert actions == ["sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"]  # PublishBatch is sns:Publish


def test_check_names_the_function_the_call_and_the_missing_permission() -> None:
    findings = check(
        {"PollerFunction": [_batch_write("CONNECTION#a")]},
        {"PollerFunction": [{"Statement": [{**CONNECTION_ITEMS, "Action": ["dynamodb:GetItem"]}]}]},
        ACCOUNT,
    )
    assert [str(f) for f in findings] == [
        "PollerFunction: dynamodb.BatchWriteItem needs dynamodb:BatchWriteItem on "
        f"{TABLE} dynamodb:LeadingKeys=['CONNECTION#a'] (implicit-deny)"
    ]


def test_an_unknown_condition_operator_is_refused_not_guessed() -> None:
    statement = {**CONNECTION_ITEMS, "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01"}}}
    with pytest.raises(UnsupportedCondition, match="DateLessThan"):
        decide([statement], Request("dynamodb:GetItem", TABLE))


def test_moto_gets_what_it_can_enforce() -> None:
    document = {
        "Statement": [
            CONNECTION_ITEMS,
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/trigger-events/*"},
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:aws:sns:us-east-1:1:t"},
        ]
    }
    statements = moto_document(document)["Statement"]
    # moto names a transaction's action after the operation; AWS checks each item (GetItem here)
    assert statements[0] == {
        "Effect": "Allow",
        "Action": [*CONNECTION_ITEMS["Action"], "dynamodb:TransactGetItems"],
        "Resource": ["*"],
    }
    assert statements[1]["Resource"] == ["arn:aws:s3:::b/trigger-events/*"]  # moto checks S3 ARNs
    assert statements[2]["Action"] == ["sns:Publish", "sns:PublishBatch"]  # moto's name for the batch
