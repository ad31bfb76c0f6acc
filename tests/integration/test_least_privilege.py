"""Least privilege, proven: each function runs with its own template role's credentials while moto
enforces IAM (a missing action fails the call, as deployed), and every boto3 operation it performed
is then checked against that role's real policy, resources and conditions included
(``dynamodb:LeadingKeys``, ``iam:PassedToService``, the KMS calls a customer-managed key adds).

The paths are the real ones: the connections function connects an org through OAuth and creates a
subscription with its poll schedule; the poller runs a field-matched ``changed_to`` cycle (snapshot
store: BatchGetItem / BatchWriteItem); an action function creates a record with an Idempotency-Key.
"""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path

import pytest
from devstack.iam_policy import check
from sfconnector.runtime import get_runtime

from tests.fixtures.actions import ActionApi, FakeLambdaContext, load_function, seed_connection
from tests.fixtures.aws import AwsEnv, SchedulerEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.iam import TEMPLATE, IamRoles, account_of, operations, roles_for_test_resources
from tests.integration.connections.harness import CALLBACK_URL, ConnectionsApi, connections_environment
from tests.integration.triggers.harness import MARGIN, Poller, by_subscription

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def _poll(iam_roles: IamRoles, emulator: EmulatorHandle, connection_id: str) -> dict[str, object]:
    emulator.advance_clock(MARGIN + 2)
    with iam_roles.acting_as("PollerFunction"):
        get_runtime().poller_clock = lambda: emulator.now().timestamp()
        report: dict[str, object] = load_function("poller").lambda_handler(
            {"connection_id": connection_id}, FakeLambdaContext(function_name="poller")
        )
    return report


def _field_matched_cycle(
    iam_roles: IamRoles, aws: AwsEnv, emulator: EmulatorHandle
) -> list[dict[str, object]]:
    """An untracked field's changed_to subscription (the snapshot store) fires through the poller."""
    connection = seed_connection(aws, emulator, "conn-iam")
    poller = Poller(aws, emulator, connection)
    sub = poller.subscribe(
        "accounts.field_matched", params={"field": "AccountSource", "value": "Web", "mode": "changed_to"}
    )
    record = poller.query("SELECT Id FROM Account ORDER BY CreatedDate LIMIT 1")[0]["Id"]
    poller.write("update", "Account", {"AccountSource": "Phone Inquiry"}, id=record)
    first = _poll(iam_roles, emulator, connection.connection_id)
    assert (first["outcome"], first["events_failed"]) == ("polled", 0), first
    poller.write("update", "Account", {"AccountSource": "Web"}, id=record)
    second = _poll(iam_roles, emulator, connection.connection_id)
    assert (second["outcome"], second["events_failed"]) == ("polled", 0), second
    events = by_subscription(poller.drain()).get(sub.subscription_id, [])
    return events


def test_the_poller_runs_a_field_matched_cycle_on_its_role(
    iam_roles: IamRoles,
    aws: AwsEnv,
    scheduler: SchedulerEnv,
    sf_emulator: EmulatorHandle,
    fresh_runtime: None,
) -> None:
    events = _field_matched_cycle(iam_roles, aws, sf_emulator)
    assert [e["new_value"] for e in events] == ["Web"]
    performed = operations(iam_roles.recorder, "PollerFunction")
    assert {
        ("dynamodb", "BatchGetItem"),
        ("dynamodb", "BatchWriteItem"),
        ("sns", "PublishBatch"),
    } <= performed
    assert [str(f) for f in iam_roles.findings()] == []
    _assert_allowed_with_a_customer_key(iam_roles, aws, scheduler)


def _assert_allowed_with_a_customer_key(iam_roles: IamRoles, aws: AwsEnv, scheduler: SchedulerEnv) -> None:
    """With KmsKeyArn set, the same calls also need the key (kms:Decrypt / GenerateDataKey through
    the encrypting service): each role must have them, and only then."""
    with_key = roles_for_test_resources(aws, scheduler, KmsKeyArn=KMS_KEY)
    findings = check(iam_roles.recorder.calls, with_key.function_policies(), account_of(aws, KMS_KEY))
    assert [str(f) for f in findings] == []
    without_key_policy = check(
        iam_roles.recorder.calls, iam_roles.roles.function_policies(), account_of(aws, KMS_KEY)
    )
    assert {f.request.action for f in without_key_policy} >= {"kms:Decrypt", "kms:GenerateDataKey"}


def _without(action: str, tmp_path: Path, resource: str = "PollerFunction") -> Path:
    """template.yaml with ``action`` removed from ``resource``'s policy."""
    text = TEMPLATE.read_text(encoding="utf-8")
    start = text.index(f"\n  {resource}:\n")
    line = f"                - {action}\n"
    at = text.index(line, start)
    out = tmp_path / "template.yaml"
    out.write_text(text[:at] + text[at + len(line) :], encoding="utf-8")
    return out


def test_an_action_removed_from_the_pollers_policy_is_caught(
    iam_roles: IamRoles,
    aws: AwsEnv,
    scheduler: SchedulerEnv,
    sf_emulator: EmulatorHandle,
    fresh_runtime: None,
    tmp_path: Path,
) -> None:
    _field_matched_cycle(iam_roles, aws, sf_emulator)
    for action in ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:Query"):
        narrowed = roles_for_test_resources(aws, scheduler, _without(action, tmp_path))
        findings = check(iam_roles.recorder.calls, narrowed.function_policies(), account_of(aws))
        assert {(f.function, f.request.action) for f in findings} == {("PollerFunction", action)}, action


def test_the_connections_function_connects_and_subscribes_on_its_role(
    iam_roles: IamRoles,
    aws: AwsEnv,
    scheduler: SchedulerEnv,
    sf_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with connections_environment(monkeypatch, sf_emulator):
        app = sf_emulator.register_app("Workflow connector", [CALLBACK_URL])
        api = ConnectionsApi(sf_emulator, aws, str(app["client_id"]), str(app["client_secret"]))
        with iam_roles.acting_as("ConnectionsFunction"):
            started = api.create()
        location = api.consent(started["authorize_url"])
        with iam_roles.acting_as("OAuthCallbackFunction"):
            page = api.callback(location)
        assert page.outcome == "connected", page.body
        cid = str(started["connection_id"])
        with iam_roles.acting_as("ConnectionsFunction"):
            created = api.call("POST", f"/connections/{cid}/subscriptions", {"trigger": "leads.created"})
            assert created.status == 201, created.body
            assert api.call("GET", f"/connections/{cid}").status == 200
    assert f"poll-{cid}" in scheduler.schedules()
    performed = operations(iam_roles.recorder, "ConnectionsFunction")
    assert {("secretsmanager", "CreateSecret"), ("scheduler", "CreateSchedule")} <= performed
    assert ("secretsmanager", "PutSecretValue") in operations(iam_roles.recorder, "OAuthCallbackFunction")
    assert [str(f) for f in iam_roles.findings()] == []
    _assert_allowed_with_a_customer_key(iam_roles, aws, scheduler)


def test_the_connections_function_sets_realtime_up_and_down_on_its_role(
    iam_roles: IamRoles,
    aws: AwsEnv,
    sf_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PUT / DELETE /connections/{id}/realtime: the partner bus and the rule on it, within the
    statements scoped to aws.partner/salesforce.com/*. The emulator reaches no AWS here: the test
    creates the partner event source as Salesforce would (as admin), between two PUTs."""
    import boto3

    account = account_of(aws).account_id
    monkeypatch.setenv("RELAY_QUEUE_ARN", f"arn:aws:sqs:{aws.region}:{account}:sfconnector-test-relay")
    monkeypatch.setenv("REALTIME_SOURCE_WAIT_SECONDS", "0")
    with connections_environment(monkeypatch, sf_emulator):
        cid = seed_connection(aws, sf_emulator, "conn-iam-rt").connection_id
        api = ConnectionsApi(sf_emulator, aws, "unused", "unused")
        body = {"enabled": True, "objects": ["Account"]}
        with iam_roles.acting_as("ConnectionsFunction"):
            first = api.call("PUT", f"/connections/{cid}/realtime", body)
        assert first.status == 200, first.body
        source = first.json()["realtime"]["source_name"]
        assert first.json()["realtime"]["association"] == "pending"
        boto3.client("events", region_name=aws.region).create_partner_event_source(
            Name=source, Account=account
        )
        with iam_roles.acting_as("ConnectionsFunction"):
            second = api.call("PUT", f"/connections/{cid}/realtime", body)
            assert second.status == 200, second.body
            assert second.json()["realtime"]["association"] == "associated"
            gone = api.call("DELETE", f"/connections/{cid}/realtime")
            assert gone.status == 200, gone.body
    performed = operations(iam_roles.recorder, "ConnectionsFunction")
    assert {("events", "CreateEventBus"), ("events", "PutRule"), ("events", "PutTargets")} <= performed
    assert {("events", "RemoveTargets"), ("events", "DeleteRule"), ("events", "DeleteEventBus")} <= performed
    assert [str(f) for f in iam_roles.findings()] == []


def test_the_connections_function_binds_a_hand_made_relay_and_shows_its_health_on_its_role(
    iam_roles: IamRoles,
    aws: AwsEnv,
    sf_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PUT with ``manual`` (a relay set up by hand, its bus and rule made as the stack would):
    the bus found, the rules into the relay queue listed; GET reads the relay's figures; DELETE
    unbinds. The partner event source and bus are made as admin."""
    import boto3

    from tests.integration.triggers.test_relay_manual import hand_made_relay

    account = account_of(aws).account_id
    queue = f"arn:aws:sqs:{aws.region}:{account}:sfconnector-test-relay"
    monkeypatch.setenv("RELAY_QUEUE_ARN", queue)
    with connections_environment(monkeypatch, sf_emulator):
        cid = seed_connection(aws, sf_emulator, "conn-iam-manual").connection_id
        source = hand_made_relay(sf_emulator, aws, ["AccountChangeEvent"])
        events = boto3.client("events", region_name=aws.region)
        # The emulator may have made it already (as Salesforce does), through this process's moto.
        with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
            events.create_partner_event_source(Name=source, Account=account)
        events.create_event_bus(Name=source, EventSourceName=source)
        events.put_rule(Name="stack-RelayRule", EventBusName=source, EventPattern='{"account": ["1"]}')
        events.put_targets(Rule="stack-RelayRule", EventBusName=source, Targets=[{"Id": "q", "Arn": queue}])
        api = ConnectionsApi(sf_emulator, aws, "unused", "unused")
        body = {"enabled": True, "manual": {"source": source, "associate": False}}
        with iam_roles.acting_as("ConnectionsFunction"):
            bound = api.call("PUT", f"/connections/{cid}/realtime", body)
            assert bound.status == 200, bound.body
            view = api.call("GET", f"/connections/{cid}/realtime")
            assert view.status == 200, view.body
            gone = api.call("DELETE", f"/connections/{cid}/realtime")
            assert gone.status == 200, gone.body
    performed = operations(iam_roles.recorder, "ConnectionsFunction")
    assert {
        ("events", "DescribeEventBus"),
        ("events", "ListRuleNamesByTarget"),
        ("dynamodb", "Query"),
    } <= performed
    assert [str(f) for f in iam_roles.findings()] == []


def test_an_action_function_creates_idempotently_on_its_role(
    iam_roles: IamRoles, aws: AwsEnv, sf_emulator: EmulatorHandle, fresh_runtime: None
) -> None:
    connection = seed_connection(aws, sf_emulator, "conn-iam-actions")
    api = ActionApi(connection.connection_id)
    for _ in range(2):
        with iam_roles.acting_as("AccountsFunction"):
            created = api.post(
                "accounts", {"Name": "Least Privilege Ltd"}, headers={"Idempotency-Key": "lp-1"}
            )
        assert created.status == 201, created
    assert created.headers.get("Idempotent-Replayed") == "true"
    # The connection's tokens are read with the tenant-access role's session (tenant-scoped
    # credentials, docs/security.md), which the function's own role may only assume.
    assert ("secretsmanager", "GetSecretValue") not in operations(iam_roles.recorder, "AccountsFunction")
    assumed = {(op.service, op.operation) for op in iam_roles.recorder.assumed.get("AccountsFunction", [])}
    assert ("secretsmanager", "GetSecretValue") in assumed
    assert ("sts", "AssumeRole") in operations(iam_roles.recorder, "AccountsFunction")
    assert [str(f) for f in iam_roles.findings()] == []


def test_attachments_stage_big_content_in_s3_on_their_role(
    iam_roles: IamRoles, aws: AwsEnv, sf_emulator: EmulatorHandle, fresh_runtime: None
) -> None:
    """S3 is where moto checks resources too: the object key must be under attachments/. The
    presigned URL is signed with the role's credentials, so the role must be allowed to read it
    (checked statically: moto cannot authorise query-string signatures)."""
    connection = seed_connection(aws, sf_emulator, "conn-iam-files")
    account = sf_emulator.dml("insert", "Account", {"Name": "Files Ltd"})["id"]
    content = bytes(range(256)) * 20
    body = {"ParentId": account, "Name": "big.bin", "Body": base64.b64encode(content).decode()}
    attachment = sf_emulator.dml("insert", "Attachment", body)["id"]
    with iam_roles.acting_as("AttachmentsFunction"):
        get_runtime().install(attachment_inline_limit=1024)
        answer = ActionApi(connection.connection_id).get(f"attachments/{attachment}/content")
    assert answer.status == 200, answer
    assert answer.body["size"] == len(content)
    assert {("s3", "PutObject"), ("s3", "GetObject")} <= operations(iam_roles.recorder, "AttachmentsFunction")
    assert [str(f) for f in iam_roles.findings()] == []


def test_bulk_jobs_and_their_watcher_run_on_their_roles(
    iam_roles: IamRoles, aws: AwsEnv, sf_emulator: EmulatorHandle, fresh_runtime: None
) -> None:
    """The bulk function starts an ingest job from a tenant's CSV in the payload bucket and streams a
    query's records into bulk-results/ (multipart upload); the watcher reads the watch list and
    publishes the finished events."""
    import importlib.util
    import time

    import boto3
    from sfconnector.actions.bulk import BulkSettings
    from sfconnector.models.tenancy import tenant_key

    from tests.fixtures.actions import FUNCTIONS
    from tests.fixtures.aws import TEST_TENANT

    connection = seed_connection(aws, sf_emulator, "conn-iam-bulk")
    api = ActionApi(connection.connection_id)
    key = f"tenants/{tenant_key(TEST_TENANT)}/bulk-inputs/leads.csv"
    boto3.client("s3", region_name=aws.region).put_object(
        Bucket=aws.bucket, Key=key, Body=b"LastName,Company\nIam,Least Privilege Ltd\n"
    )
    with iam_roles.acting_as("BulkFunction"):
        get_runtime().install(bulk_settings=BulkSettings(query_page_records=10))
        ingest = api.post("bulk/jobs", {"object": "Lead", "operation": "insert", "input_key": key})
        assert ingest.status == 201, ingest
        query = api.post("bulk/queries", {"object": "Account", "fields": ["Id", "Name"]})
        assert query.status == 201, query
        for job in (ingest.body["id"], query.body["id"]):
            while not api.get(f"bulk/jobs/{job}").body["finished"]:
                time.sleep(0.05)
        records = api.get(f"bulk/jobs/{query.body['id']}/results/records")
        assert records.status == 200, records
    spec = importlib.util.spec_from_file_location("bulk_watcher_iam", FUNCTIONS / "bulk" / "watcher.py")
    assert spec is not None
    assert spec.loader is not None
    watcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(watcher)
    with iam_roles.acting_as("BulkWatcherFunction"):
        report = watcher.lambda_handler({}, FakeLambdaContext(function_name="bulk-watcher"))
    assert report["finished"] == 2, report
    assert {("s3", "GetObject"), ("s3", "CreateMultipartUpload"), ("s3", "UploadPart")} <= operations(
        iam_roles.recorder, "BulkFunction"
    )
    assert {("dynamodb", "Query"), ("sns", "Publish")} <= operations(
        iam_roles.recorder, "BulkWatcherFunction"
    )
    assert [str(f) for f in iam_roles.findings()] == []


def test_the_relay_publishes_re_reads_and_marks_on_its_role(
    iam_roles: IamRoles,
    aws: AwsEnv,
    scheduler: SchedulerEnv,
    sf_emulator: EmulatorHandle,
    fresh_runtime: None,
) -> None:
    """An ordinary change event (source binding, connection, subscriptions, relayed-seen read and
    write, PublishBatch), a gap event (the secret, a Salesforce re-read) and an overflow (the
    reconcile marker) and the prompt poll an entered list view asks for (a one-time schedule,
    passing the scheduler role), each through the relay's handler on its own role."""
    from tests.integration.triggers.relay_harness import Relay, row_of

    connection = seed_connection(aws, sf_emulator, "conn-iam-relay")
    poller = Poller(aws, sf_emulator, connection)
    poller.subscribe("leads.created")
    poller.subscribe("leads.updated")
    view = sf_emulator.put_list_view("Account", "Iam_Relay", columns=["Name"], orderBy="Name")
    poller.subscribe("accounts.entered_list_view", params={"list_view_id": view["id"]})  # a prompt poll
    relay = Relay(aws, sf_emulator, connection)
    record = poller.write("insert", "Lead", {"LastName": "Ng", "Company": "Northwind"})
    sf_emulator.advance_clock(5)
    poller.write("update", "Lead", {"Title": "CTO"}, id=record)
    row = row_of(poller, "Lead", record)
    account = poller.write("insert", "Account", {"Name": "Northwind"})
    bodies = [
        relay.event("CREATE", "Account", [account], row_of(poller, "Account", account)),
        relay.event("CREATE", "Lead", [record], row),
        relay.event("GAP_UPDATE", "Lead", [record], row),
        relay.event("GAP_OVERFLOW", "Lead", ["000000000000000AAA"], row),
    ]
    with iam_roles.acting_as("RelayFunction"):
        _, failed = relay.deliver(bodies)
    assert failed == []
    assert sorted(m["body"]["type"] for m in poller.drain()) == ["leads.created", "leads.updated"]
    performed = operations(iam_roles.recorder, "RelayFunction")
    assert {
        ("dynamodb", "BatchGetItem"),
        ("dynamodb", "PutItem"),
        ("dynamodb", "UpdateItem"),
        ("secretsmanager", "GetSecretValue"),
        ("sns", "PublishBatch"),
        ("scheduler", "CreateSchedule"),
    } <= performed
    assert [str(f) for f in iam_roles.findings()] == []
    _assert_allowed_with_a_customer_key(iam_roles, aws, scheduler)
