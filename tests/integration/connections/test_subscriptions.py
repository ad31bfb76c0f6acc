"""Subscriptions through the connections function's handler: moto (DynamoDB, Secrets Manager,
EventBridge Scheduler) and the Salesforce emulator over HTTP.

What a workflow platform sees: a subscription is refused with a 4xx naming the field whenever it
could never fire as asked; an accepted one exists with its connection's poll schedule; the
schedule follows the subscriptions, the connection's status and its deletion.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from sfconnector.models.subscriptions import Subscription
from sfconnector.runtime import reset_runtime
from sfconnector.stores.connections import ConnectionRepository
from sfconnector.stores.subscriptions import SubscriptionRepository

from tests.fixtures.actions import load_function, seed_connection
from tests.fixtures.aws import SchedulerEnv
from tests.integration.connections.apigw import lambda_context
from tests.integration.connections.harness import ConnectionsApi, Result


@pytest.fixture
def api(connections: ConnectionsApi, scheduler: SchedulerEnv) -> ConnectionsApi:
    return connections


@pytest.fixture
def cid(api: ConnectionsApi) -> str:
    return seed_connection(api.aws, api.emulator, "conn-subs").connection_id


def _subscribe(api: ConnectionsApi, cid: str, body: dict[str, Any]) -> Result:
    return api.call("POST", f"/connections/{cid}/subscriptions", body)


def _created(api: ConnectionsApi, cid: str, body: dict[str, Any]) -> dict[str, Any]:
    result = _subscribe(api, cid, body)
    assert result.status == 201, result.body
    data: dict[str, Any] = result.json()
    return data


def _error(result: Result, status: int) -> dict[str, Any]:
    assert result.status == status, result.body
    error: dict[str, Any] = result.json()["error"]
    return error


def _schedule(scheduler: SchedulerEnv, cid: str) -> dict[str, Any] | None:
    return scheduler.schedules().get(f"poll-{cid}")


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------ lifecycle


def test_subscribe_list_get_pause_resume_delete(
    api: ConnectionsApi, cid: str, scheduler: SchedulerEnv
) -> None:
    assert _schedule(scheduler, cid) is None
    before = datetime.now(UTC).replace(microsecond=0)
    sub = _created(api, cid, {"trigger": "leads.created", "fields": ["email", "LastName"]})
    assert sub["connection_id"] == cid
    assert sub["trigger"] == "leads.created"
    assert sub["kind"] == "created"
    assert sub["family"] == "leads"
    assert sub["sobject"] == "Lead"
    assert sub["fields"] == ["Email", "LastName"]  # the describe's spelling
    assert sub["status"] == "active"
    assert sub["ignore_own_changes"] is False
    assert sub["params"] == {}
    assert len(sub["subscription_id"]) == 32
    assert datetime.fromisoformat(sub["start_at"]) >= before  # "now" by default: no history

    schedule = _schedule(scheduler, cid)
    assert schedule is not None
    assert schedule["State"] == "ENABLED"
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["Target"]["Arn"] == scheduler.poller_function_arn
    assert schedule["Target"]["Input"] == f'{{"connection_id":"{cid}"}}'

    second = _created(api, cid, {"trigger": "accounts.updated", "ignore_own_changes": True})
    listed = api.call("GET", f"/connections/{cid}/subscriptions").json()["subscriptions"]
    assert [s["subscription_id"] for s in listed] == [sub["subscription_id"], second["subscription_id"]]
    one = api.call("GET", f"/connections/{cid}/subscriptions/{second['subscription_id']}")
    assert one.status == 200
    assert one.json()["ignore_own_changes"] is True

    path = f"/connections/{cid}/subscriptions/{sub['subscription_id']}"
    paused = api.call("PATCH", path, {"status": "paused"})
    assert paused.status == 200, paused.body
    assert paused.json()["status"] == "paused"
    assert _schedule(scheduler, cid)["State"] == "ENABLED"  # type: ignore[index]  # one still active
    api.call("PATCH", f"/connections/{cid}/subscriptions/{second['subscription_id']}", {"status": "paused"})
    assert _schedule(scheduler, cid)["State"] == "DISABLED"  # type: ignore[index]  # nothing to poll
    resumed = api.call("PATCH", path, {"status": "active"}).json()
    assert resumed["status"] == "active"
    assert resumed["resumed_at"] is not None  # the poller delivers the changes from then on
    assert _schedule(scheduler, cid)["State"] == "ENABLED"  # type: ignore[index]

    deleted = api.call("DELETE", path)
    assert deleted.status == 200, deleted.body
    assert deleted.json() == {
        "connection_id": cid,
        "subscription_id": sub["subscription_id"],
        "deleted": True,
        "schedule_deleted": False,
    }
    assert _error(api.call("GET", path), 404)["code"] == "subscription_not_found"
    assert _error(api.call("DELETE", path), 404)["fields"] == ["subscription_id"]
    last = api.call("DELETE", f"/connections/{cid}/subscriptions/{second['subscription_id']}")
    assert last.json()["schedule_deleted"] is True
    assert _schedule(scheduler, cid) is None


def test_backfill_start_is_kept(api: ConnectionsApi, cid: str) -> None:
    start = (datetime.now(UTC) - timedelta(days=7)).replace(microsecond=0)
    sub = _created(api, cid, {"trigger": "cases.created", "start": start.isoformat()})
    assert datetime.fromisoformat(sub["start_at"]) == start


def test_describes_come_from_the_cache(api: ConnectionsApi, cid: str) -> None:
    calls = api.emulator.api_calls()
    _created(api, cid, {"trigger": "opportunities.created"})
    assert api.emulator.api_calls() == calls + 1  # the Opportunity describe
    _created(api, cid, {"trigger": "opportunities.updated", "fields": ["Name", "Amount"]})
    body = {"trigger": "opportunities.field_matched", "params": {"field": "StageName", "value": "Closed Won"}}
    _created(api, cid, body)
    assert api.emulator.api_calls() == calls + 1  # same object: cached
    _created(api, cid, {"trigger": "custom_objects.record_created", "params": {"sobject": "Invoice__c"}})
    assert api.emulator.api_calls() == calls + 2
    # Reading, pausing and deleting never ask Salesforce.
    subs = api.call("GET", f"/connections/{cid}/subscriptions").json()["subscriptions"]
    for sub in subs:
        path = f"/connections/{cid}/subscriptions/{sub['subscription_id']}"
        assert api.call("PATCH", path, {"status": "paused"}).status == 200
        assert api.call("DELETE", path).status == 200
    assert api.emulator.api_calls() == calls + 2


def test_custom_object_and_field_matched_params_are_normalised(api: ConnectionsApi, cid: str) -> None:
    custom = _created(
        api, cid, {"trigger": "custom_objects.record_updated", "params": {"sobject": "invoice__c"}}
    )
    assert custom["sobject"] == "Invoice__c"
    assert custom["params"] == {"sobject": "Invoice__c"}
    matched = _created(
        api,
        cid,
        {
            "trigger": "opportunities.field_matched",
            "params": {"field": "amount", "value": "1000", "mode": "equals"},
        },
    )
    assert matched["params"] == {"field": "Amount", "value": 1000, "mode": "equals"}
    assert matched["sobject"] == "Opportunity"
    default_mode = _created(
        api, cid, {"trigger": "cases.field_matched", "params": {"field": "Status", "value": "Closed"}}
    )
    assert default_mode["params"]["mode"] == "changed_to"


def test_entered_list_view(api: ConnectionsApi, cid: str) -> None:
    with api.emulator.rest_client() as rest:
        views = rest.get("/sobjects/Account/listviews").json()["listviews"]
    view_id = views[0]["id"]
    sub = _created(api, cid, {"trigger": "accounts.entered_list_view", "params": {"list_view_id": view_id}})
    assert sub["params"] == {"list_view_id": view_id}
    with api.emulator.rest_client() as rest:
        contact_views = rest.get("/sobjects/Contact/listviews").json()["listviews"]
    wrong = _subscribe(
        api,
        cid,
        {"trigger": "accounts.entered_list_view", "params": {"list_view_id": contact_views[0]["id"]}},
    )
    error = _error(wrong, 422)
    assert error["fields"] == ["params.list_view_id"]
    assert "not a list view of Account" in error["message"]


def test_patch_changes_what_is_watched(api: ConnectionsApi, cid: str) -> None:
    sub = _created(
        api,
        cid,
        {"trigger": "custom_objects.record_created", "params": {"sobject": "Invoice__c"}, "fields": ["Name"]},
    )
    path = f"/connections/{cid}/subscriptions/{sub['subscription_id']}"
    changed = api.call("PATCH", path, {"fields": None, "ignore_own_changes": True})
    assert changed.status == 200, changed.body
    assert changed.json()["fields"] is None
    assert changed.json()["ignore_own_changes"] is True
    assert changed.json()["updated_at"] >= sub["updated_at"]
    bad = api.call("PATCH", path, {"params": {"sobject": "Account"}})
    assert _error(bad, 422)["fields"] == ["params.sobject"]
    bad_fields = api.call("PATCH", path, {"fields": ["Nope__c"]})
    assert _error(bad_fields, 422)["fields"] == ["fields"]
    assert api.call("GET", path).json()["fields"] is None  # refused changes changed nothing
    empty = api.call("PATCH", path, {})
    assert _error(empty, 422)["code"] == "invalid_request"
    unknown = api.call("PATCH", path, {"trigger": "leads.created"})
    assert "trigger" in _error(unknown, 422)["fields"]


# ------------------------------------------------------------------------------------ refusals


_TOO_OLD = _iso(-timedelta(days=31))
_FUTURE = _iso(timedelta(days=1))


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        ({"trigger": "leads.creatd"}, "trigger", "did you mean leads.created"),
        ({"trigger": "accounts.created", "params": {"sobject": "Account"}}, "params.sobject", "Extra inputs"),
        (
            {"trigger": "custom_objects.record_created", "params": {"sobject": "Account"}},
            "params.sobject",
            "standard object",
        ),
        ({"trigger": "custom_objects.record_created", "params": {}}, "params.sobject", "required"),
        (
            {"trigger": "custom_objects.record_created", "params": {"sobject": "Nothing__c"}},
            "params.sobject",
            "no sObject Nothing__c",
        ),
        ({"trigger": "accounts.field_matched", "params": {"field": "Rating"}}, "params.value", "required"),
        (
            {"trigger": "accounts.field_matched", "params": {"field": "Ratin", "value": "Hot"}},
            "params.field",
            "did you mean Rating",
        ),
        (
            {"trigger": "accounts.field_matched", "params": {"field": "NumberOfEmployees", "value": "many"}},
            "params.value",
            "whole number",
        ),
        (
            {
                "trigger": "opportunities.field_matched",
                "params": {"field": "ForecastCategory", "value": "Maybe"},
            },
            "params.value",
            "restricted picklist",
        ),
        (
            {
                "trigger": "opportunities.field_matched",
                "params": {"field": "StageName", "value": "x", "mode": "sometimes"},
            },
            "params.mode",
            "changed_to",
        ),
        (
            {"trigger": "accounts.field_matched", "params": {"field": "BillingAddress", "value": "x"}},
            "params.field",
            "cannot be watched",
        ),
        (
            {"trigger": "accounts.entered_list_view", "params": {"list_view_id": "00B000000000000AAA"}},
            "params.list_view_id",
            "not a list view",
        ),
        (
            {"trigger": "accounts.entered_list_view", "params": {"list_view_id": "not an id"}},
            "params.list_view_id",
            "pattern",
        ),
        (
            {"trigger": "accounts.field_matched", "params": {"field": "Rating", "value": ["Hot", "Warm"]}},
            "params.value",
            "valid string",
        ),
        ({"trigger": "leads.created", "start": _TOO_OLD}, "start", "30 days"),
        ({"trigger": "leads.created", "start": _FUTURE}, "start", "future"),
        ({"trigger": "leads.created", "start": "2026-11-30T10:00:00"}, "start", "timezone"),
        ({"trigger": "leads.created", "start": "last week"}, "start", "datetime"),
        ({"trigger": "leads.created", "fields": ["Emial"]}, "fields", "did you mean Email"),
        ({"trigger": "leads.created", "fields": []}, "fields", "at least 1"),
        ({"trigger": "leads.created", "ignore_own_changes": "maybe"}, "ignore_own_changes", "boolean"),
        ({"trigger": "leads.created", "colour": "red"}, "colour", "Extra inputs"),
        ({"params": {}}, "trigger", "required"),
    ],
)
def test_refusals_name_the_field(
    api: ConnectionsApi, cid: str, body: dict[str, Any], field: str, needle: str
) -> None:
    error = _error(_subscribe(api, cid, body), 422)
    assert field in error["fields"], error
    assert needle.lower() in error["message"].lower(), error
    assert api.call("GET", f"/connections/{cid}/subscriptions").json()["subscriptions"] == []


def test_refused_without_a_usable_connection(api: ConnectionsApi, scheduler: SchedulerEnv) -> None:
    body = {"trigger": "leads.created"}
    unknown = _error(_subscribe(api, "conn-nobody", body), 404)
    assert unknown["code"] == "connection_not_found"
    assert unknown["fields"] == ["connection_id"]
    assert (
        _error(api.call("GET", "/connections/conn-nobody/subscriptions"), 404)["code"]
        == "connection_not_found"
    )
    assert (
        _error(api.call("GET", "/connections/bad%20id/subscriptions"), 404)["code"] == "connection_not_found"
    )

    pending = api.create()["connection_id"]  # authorisation never completed
    error = _error(_subscribe(api, pending, body), 409)
    assert error["code"] == "connection_not_authorized"
    assert error["fields"] == ["connection_id"]

    deleted = seed_connection(api.aws, api.emulator, "conn-gone").connection_id
    assert api.call("DELETE", f"/connections/{deleted}").status == 200
    assert _error(_subscribe(api, deleted, body), 404)["code"] == "connection_not_found"
    assert scheduler.schedules() == {}


def test_unknown_subscription_ids(api: ConnectionsApi, cid: str) -> None:
    for sid in ("0" * 32, "not-a-subscription"):
        path = f"/connections/{cid}/subscriptions/{sid}"
        for method, body in (("GET", None), ("PATCH", {"status": "paused"}), ("DELETE", None)):
            error = _error(api.call(method, path, body), 404)
            assert error["code"] == "subscription_not_found"
            assert error["fields"] == ["subscription_id"]


# ------------------------------------------------------------------------------------- polling


def test_poll_interval(api: ConnectionsApi, cid: str, scheduler: SchedulerEnv) -> None:
    polling = api.call("GET", f"/connections/{cid}/polling")
    assert polling.status == 200, polling.body
    assert polling.json() == {
        "connection_id": cid,
        "interval_minutes": 1,
        "subscriptions": 0,
        "active_subscriptions": 0,
        "schedule": None,
    }
    # Chosen before the first subscription: the schedule is created with it.
    assert api.call("PUT", f"/connections/{cid}/polling", {"interval_minutes": 5}).status == 200
    assert scheduler.schedules() == {}
    _created(api, cid, {"trigger": "tasks.created"})
    assert _schedule(scheduler, cid)["ScheduleExpression"] == "rate(5 minutes)"  # type: ignore[index]
    changed = api.call("PUT", f"/connections/{cid}/polling", {"interval_minutes": 60})
    assert changed.json()["schedule"] == {
        "name": f"poll-{cid}",
        "state": "ENABLED",
        "expression": "rate(60 minutes)",
    }
    assert _schedule(scheduler, cid)["ScheduleExpression"] == "rate(60 minutes)"  # type: ignore[index]
    for bad in (0, 61, "often", None):
        error = _error(api.call("PUT", f"/connections/{cid}/polling", {"interval_minutes": bad}), 422)
        assert error["fields"] == ["interval_minutes"]
    assert _error(api.call("PUT", "/connections/conn-nobody/polling", {"interval_minutes": 5}), 404)[
        "code"
    ] == ("connection_not_found")


# ---------------------------------------------------------------------- connection lifecycle


def test_deleting_the_connection_deletes_subscriptions_cursors_and_schedule(
    api: ConnectionsApi, cid: str, scheduler: SchedulerEnv
) -> None:
    _created(api, cid, {"trigger": "leads.created"})
    _created(api, cid, {"trigger": "leads.updated"})
    api.call("PUT", f"/connections/{cid}/polling", {"interval_minutes": 10})
    # The poller's items under the connection (cursor, seen-set, lease), as it writes them.
    ddb = boto3.client("dynamodb", region_name=api.aws.region)
    for sk in ("CURSOR#Lead", "CURSOR#Lead#SEEN", "POLL_LEASE"):
        ddb.put_item(TableName=api.aws.table_name, Item={"pk": {"S": f"CONNECTION#{cid}"}, "sk": {"S": sk}})
    other = seed_connection(api.aws, api.emulator, "conn-other").connection_id
    _created(api, other, {"trigger": "leads.created"})
    assert _schedule(scheduler, cid) is not None

    deleted = api.call("DELETE", f"/connections/{cid}")
    assert deleted.status == 200, deleted.body
    assert _schedule(scheduler, cid) is None
    left = [item for item in api.table_items() if item["pk"]["S"] == f"CONNECTION#{cid}"]
    assert left == []
    # Another connection is untouched.
    assert _schedule(scheduler, other) is not None
    assert len(api.call("GET", f"/connections/{other}/subscriptions").json()["subscriptions"]) == 1


def test_needs_reauth_disables_the_schedule_and_reauthorisation_enables_it(
    api: ConnectionsApi, scheduler: SchedulerEnv
) -> None:
    cid = api.connect(name="Acme polling")
    _created(api, cid, {"trigger": "contacts.created"})
    assert _schedule(scheduler, cid)["State"] == "ENABLED"  # type: ignore[index]

    # An admin revokes the app's access in Salesforce; the next use finds out.
    api.emulator.revoke_refresh_token(api.secret(cid)["refresh_token"])
    api.emulator.expire_sessions()
    flagged = api.call("GET", f"/connections/{cid}/objects/Account/fields")
    assert _error(flagged, 401)["code"] == "connection_needs_reauth"
    assert api.get(cid)["status"] == "needs_reauth"
    assert _schedule(scheduler, cid)["State"] == "DISABLED"  # type: ignore[index]
    # Subscriptions stay; a new one is refused until the connection is authorised again.
    assert len(api.call("GET", f"/connections/{cid}/subscriptions").json()["subscriptions"]) == 1
    assert (
        _error(_subscribe(api, cid, {"trigger": "contacts.updated"}), 401)["code"]
        == "connection_needs_reauth"
    )

    again = api.call("POST", f"/connections/{cid}/reauthorize", {})
    assert api.callback(api.consent(again.json()["authorize_url"])).outcome == "connected"
    assert _schedule(scheduler, cid)["State"] == "ENABLED"  # type: ignore[index]
    assert api.call("GET", f"/connections/{cid}/polling").json()["schedule"]["state"] == "ENABLED"


def test_a_connection_flagged_elsewhere_gets_its_schedule_disabled(
    api: ConnectionsApi, cid: str, scheduler: SchedulerEnv
) -> None:
    """An action function flags the connection (it manages no schedules); the next use of the
    connection where schedules are managed disables the schedule."""
    _created(api, cid, {"trigger": "events.created"})
    repo = ConnectionRepository(
        lambda: boto3.client("dynamodb", region_name=api.aws.region), api.aws.table_name
    )
    repo.update(cid, status="needs_reauth", status_reason="invalid_grant: expired access/refresh token")
    # The action function also dropped the dead tokens.
    sm = boto3.client("secretsmanager", region_name=api.aws.region)
    secret_id = f"{api.aws.secret_prefix}{cid}"
    secret = json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
    secret.update(access_token=None, refresh_token=None)
    sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps(secret))
    reset_runtime()  # a cold container: no cached secret or describe
    assert _schedule(scheduler, cid)["State"] == "ENABLED"  # type: ignore[index]
    used = api.call("GET", f"/connections/{cid}/objects/Event/fields")
    assert _error(used, 401)["code"] == "connection_needs_reauth"
    assert _schedule(scheduler, cid)["State"] == "DISABLED"  # type: ignore[index]
    # A new subscription is refused outright (no Salesforce call needed to know).
    refused = _subscribe(api, cid, {"trigger": "events.updated"})
    assert _error(refused, 401)["fields"] == ["connection_id"]


# -------------------------------------------------------------------------------------- sample


def test_sample_events_are_the_envelopes_a_subscriber_receives(api: ConnectionsApi, cid: str) -> None:
    sqs = boto3.client("sqs", region_name=api.aws.region)
    queue_url = sqs.create_queue(QueueName="trigger-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    boto3.client("sns", region_name=api.aws.region).subscribe(
        TopicArn=api.aws.topic_arn, Protocol="sqs", Endpoint=queue_arn
    )
    sub = _created(api, cid, {"trigger": "leads.created", "fields": ["FirstName", "LastName", "Company"]})
    # A person creates a lead in Salesforce.
    lead = api.emulator.dml(
        "insert", "Lead", {"FirstName": "Ada", "LastName": "Sample", "Company": "Engines"}
    )
    lead_id = lead.get("id") or lead["Id"]

    calls = api.emulator.api_calls()
    path = f"/connections/{cid}/subscriptions/{sub['subscription_id']}/sample"
    result = api.call("POST", path + "?limit=2")
    assert result.status == 200, result.body
    assert api.emulator.api_calls() == calls + 1  # one query
    sample = result.json()
    assert sample["published"] is False
    assert sample["count"] == len(sample["events"]) <= 2
    newest = sample["events"][0]
    assert newest["specversion"] == "1.0"
    assert newest["type"] == "leads.created"
    assert newest["subject"] == lead_id
    assert newest["source"] == f"salesforce/{api.emulator.org_id}"
    assert newest["connection_id"] == cid
    assert newest["subscription_id"] == sub["subscription_id"]
    assert newest["sobject"] == "Lead"
    assert newest["data"]["LastName"] == "Sample"
    assert "Email" not in newest["data"]  # trimmed to the subscription's fields
    # The same change sampled again is the same event (its id is stable).
    assert api.call("POST", path + "?limit=2").json()["events"][0]["id"] == newest["id"]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)

    bad = api.call("POST", path + "?limit=0")
    assert "limit" in _error(bad, 422)["fields"]
    missing = api.call("POST", f"/connections/{cid}/subscriptions/{'0' * 32}/sample")
    assert _error(missing, 404)["code"] == "subscription_not_found"


def test_sample_of_an_entered_list_view(api: ConnectionsApi, cid: str) -> None:
    with api.emulator.rest_client() as rest:
        views = rest.get("/sobjects/Account/listviews").json()["listviews"]
    view_id = next(v["id"] for v in views if v["developerName"] == "Hot_Accounts")
    sub = _created(api, cid, {"trigger": "accounts.entered_list_view", "params": {"list_view_id": view_id}})
    result = api.call("POST", f"/connections/{cid}/subscriptions/{sub['subscription_id']}/sample?limit=3")
    assert result.status == 200, result.body
    events = result.json()["events"]
    assert events
    assert all(e["event_type"] == "entered" and e["data"]["Rating"] == "Hot" for e in events)


# ------------------------------------------------------------------------------------- events/

EVENTS = Path(__file__).resolve().parents[3] / "events"


def test_sample_events_of_the_subscriptions_routes_work(api: ConnectionsApi) -> None:
    """events/connections-subscriptions-*.json and connections-polling-*.json, as `sam local
    invoke` would send them, against a connection with the events' id."""
    handler = load_function("connections").lambda_handler
    events = {
        p.stem: json.loads(p.read_text())
        for p in sorted(EVENTS.glob("connections-*.json"))
        if p.stem.startswith(("connections-subscriptions-", "connections-polling-"))
    }
    assert len(events) == 8
    cid = events["connections-subscriptions-get"]["pathParameters"]["connection_id"]
    sid = events["connections-subscriptions-get"]["pathParameters"]["subscription_id"]
    # Owned by the events' caller (their IAM identity is the tenant).
    owner = events["connections-subscriptions-get"]["requestContext"]["identity"]["userArn"]
    seed_connection(api.aws, api.emulator, cid, tenant_id=owner)

    def run(name: str) -> tuple[int, Any]:
        answer = handler(events[name], lambda_context())
        return answer["statusCode"], json.loads(answer["body"])

    status, created = run("connections-subscriptions-create")
    assert status == 201, created
    assert created["trigger"] == "leads.created"
    # The other events name a subscription created earlier with this id.
    repo = SubscriptionRepository(
        lambda: boto3.client("dynamodb", region_name=api.aws.region), api.aws.table_name
    )
    repo.put(Subscription.model_validate({**created, "subscription_id": sid}))
    assert run("connections-subscriptions-list")[0] == 200
    assert run("connections-subscriptions-get")[1]["subscription_id"] == sid
    assert run("connections-subscriptions-pause")[1]["status"] == "paused"
    status, sample = run("connections-subscriptions-sample")
    assert status == 200, sample
    assert sample["count"] <= 3
    assert run("connections-polling-set")[1]["interval_minutes"] == 5
    assert run("connections-polling-get")[1]["schedule"]["expression"] == "rate(5 minutes)"
    assert run("connections-subscriptions-delete")[1]["deleted"] is True


def test_a_scheduler_outage_stores_nothing(
    api: ConnectionsApi, cid: str, scheduler: SchedulerEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its schedule a subscription would never fire: the request fails (503, retryable)
    and the subscription is not kept."""
    from botocore.exceptions import ClientError
    from sfconnector.stores.schedules import PollSchedules

    def unavailable(self: PollSchedules, *args: object, **kwargs: object) -> None:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "CreateSchedule")

    monkeypatch.setattr(PollSchedules, "put", unavailable)
    result = _subscribe(api, cid, {"trigger": "leads.created"})
    error = _error(result, 503)
    assert error["code"] == "aws_unavailable"
    assert result.headers.get("Retry-After")
    assert api.call("GET", f"/connections/{cid}/subscriptions").json()["subscriptions"] == []
    monkeypatch.undo()
    assert _subscribe(api, cid, {"trigger": "leads.created"}).status == 201
    assert _schedule(scheduler, cid) is not None


def test_a_standard_object_the_org_hides_refuses_its_triggers(api: ConnectionsApi, cid: str) -> None:
    missing = json.dumps([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    api.emulator.add_fault(
        "error", status=404, path="sobjects/Product2/describe", body=missing, content_type="application/json"
    )
    error = _error(_subscribe(api, cid, {"trigger": "products.created"}), 422)
    assert error["fields"] == ["trigger"]
    assert "Product2" in error["message"]


def test_files_created_linked_object_is_resolved_to_its_key_prefix(api: ConnectionsApi, cid: str) -> None:
    """``linked_object`` is checked against the org and stored with its key prefix (what the poller
    compares FirstPublishLocationId with); a prefix the caller sends is never taken as given."""
    sub = _created(
        api, cid, {"trigger": "files.created", "params": {"linked_object": "account", "linked_prefix": "003"}}
    )
    assert sub["params"] == {"linked_object": "Account", "linked_prefix": "001"}
    every = _created(api, cid, {"trigger": "files.created"})
    assert every["params"] == {}
    error = _error(
        _subscribe(api, cid, {"trigger": "files.created", "params": {"linked_object": "Nope__c"}}), 422
    )
    assert error["fields"] == ["params.linked_object"]
