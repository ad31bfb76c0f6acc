"""Upsert by a field that is not an External ID (Lead.Email), sent by many invocations at once.

Each thread is its own "container" (its own Powertools app and handler, as Lambda runs one request
per container at a time); they share the runtime, hence the lock's DynamoDB (moto, its conditional
writes made atomic as DynamoDB's are) and talk to the emulator over HTTP. Before the match lock,
20 parallel upserts of one new Email created several Leads in most trials, and every later upsert
of that Email answered 409.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from sfconnector.api.app import build_family_app, build_lambda_handler
from sfconnector.runtime import get_runtime
from sfconnector.stores.locks import MatchLock, match_value_key

from tests.fixtures.actions import ActionApi, FakeLambdaContext, api_gateway_event
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import OrgReader

PARALLEL = 20


def _handlers(count: int) -> list[Callable[[dict[str, Any], Any], dict[str, Any]]]:
    return [build_lambda_handler(build_family_app("leads")) for _ in range(count)]


def _upsert_event(connection_id: str, email: str, last_name: str) -> dict[str, Any]:
    body = {
        "match_field": "Email",
        "record": {"Email": email, "LastName": last_name, "Company": "Parallel Inc"},
    }
    return api_gateway_event("PUT", f"/connections/{connection_id}/leads/upsert", body)


def _in_parallel(
    handlers: list[Callable[[dict[str, Any], Any], dict[str, Any]]], events: list[dict[str, Any]]
) -> list[tuple[int, dict[str, Any], float]]:
    """Every event through its own handler at once: (status, body, seconds) per event."""
    barrier = threading.Barrier(len(events))
    results: list[tuple[int, dict[str, Any], float] | None] = [None] * len(events)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            started = time.perf_counter()
            raw = handlers[i](events[i], FakeLambdaContext(function_name="leads-function"))
            results[i] = (int(raw["statusCode"]), json.loads(raw["body"]), time.perf_counter() - started)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    done = [r for r in results if r is not None]
    assert len(done) == len(events)
    return done


def _leads(org: OrgReader, email: str) -> list[dict[str, Any]]:
    return org.query(f"SELECT Id, LastName FROM Lead WHERE Email = '{email}'")  # noqa: S608


def _ddb(aws: AwsEnv) -> Any:
    return boto3.client("dynamodb", region_name=aws.region)


class _CountingLock(MatchLock):
    takes = 0

    def take(self, key: tuple[str, str]) -> str | None:
        self.takes += 1
        return super().take(key)


def _lock_items(aws: AwsEnv) -> list[dict[str, Any]]:
    items = _ddb(aws).scan(TableName=aws.table_name)["Items"]
    return [i for i in items if i["sk"]["S"].startswith("MATCH_LOCK#")]


def test_parallel_upserts_of_one_new_email_make_one_lead(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader, aws: AwsEnv
) -> None:
    action_api.post("leads/find", {"criteria": {"Email": "warm@the.describe"}})
    handlers = _handlers(PARALLEL)
    for trial in range(4):
        email = f"Parallel.{trial}@Example.com"
        # Two spellings of one address: Salesforce matches e-mail without case, so does the lock.
        events = [
            _upsert_event(action_api.connection_id, email if i % 2 else email.lower(), f"Writer {i}")
            for i in range(PARALLEL)
        ]
        before = sf_emulator.api_calls()
        results = _in_parallel(handlers, events)
        # The lock costs no Salesforce call: a lookup and one composite write per upsert.
        assert sf_emulator.api_calls() - before == 2 * PARALLEL
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [200] * (PARALLEL - 1) + [201], [b for _, b, _ in results]
        leads = _leads(org, email)
        assert len(leads) == 1, f"trial {trial}: {len(leads)} leads for one Email"
        assert {body["id"] for _, body, _ in results} == {leads[0]["Id"]}
        assert _lock_items(aws) == []

    # And the automation goes on working: a later upsert updates that one record.
    again = action_api.put(
        "leads/upsert",
        {"match_field": "Email", "record": {"Email": "parallel.0@example.com", "LastName": "Later"}},
    )
    assert again.status == 200, again
    assert [lead["LastName"] for lead in _leads(org, "parallel.0@example.com")] == ["Later"]


def test_existing_duplicates_stay_a_409_naming_them_and_nothing_is_written(
    action_api: ActionApi, sf_emulator: EmulatorHandle, org: OrgReader
) -> None:
    twins = sorted(
        sf_emulator.dml(
            "insert", "Lead", {"LastName": f"Twin {i}", "Company": "T", "Email": "twin@example.com"}
        )["id"]
        for i in (1, 2)
    )
    results = _in_parallel(
        _handlers(4), [_upsert_event(action_api.connection_id, "twin@example.com", "Third") for _ in range(4)]
    )
    for status, body, _ in results:
        assert status == 409, body
        assert body["error"]["code"] == "ambiguous_match"
        assert sorted(body["error"]["details"]["candidate_ids"]) == twins
    assert len(_leads(org, "twin@example.com")) == 2


def test_upserts_of_different_emails_do_not_wait_for_each_other(
    action_api: ActionApi, org: OrgReader, aws: AwsEnv
) -> None:
    """The lock is per value: while one address's lock is held (an upsert of it in flight), an
    upsert of another address goes through, and one of the same address waits, then answers a
    503 to retry (bounded wait) without writing anything."""
    lock = MatchLock(_ddb(aws), aws.table_name, wait_seconds=0.3)
    get_runtime().install(match_lock=lock)
    cid = action_api.connection_id
    with lock.held(cid, match_value_key("Lead", "Email", "busy@example.com")):
        other = action_api.put(
            "leads/upsert",
            {
                "match_field": "Email",
                "record": {"Email": "free@example.com", "LastName": "Free", "Company": "F"},
            },
        )
        assert other.status == 201, other
        same = action_api.put(
            "leads/upsert",
            {
                "match_field": "Email",
                "record": {"Email": "BUSY@example.com", "LastName": "Busy", "Company": "B"},
            },
        )
        assert same.status == 503, same
        assert same.error["code"] == "busy"
        assert same.error["fields"] == ["match_field"]
        assert same.headers.get("Retry-After") == "1"
    assert _leads(org, "busy@example.com") == []
    # Released: the same upsert now goes through.
    again = action_api.put(
        "leads/upsert",
        {"match_field": "Email", "record": {"Email": "busy@example.com", "LastName": "Busy", "Company": "B"}},
    )
    assert again.status == 201, again


def test_a_lock_whose_holder_died_expires(action_api: ActionApi, org: OrgReader, aws: AwsEnv) -> None:
    clock = [time.time()]
    lock = MatchLock(_ddb(aws), aws.table_name, ttl_seconds=5, wait_seconds=0.2, clock=lambda: clock[0])
    get_runtime().install(match_lock=lock)
    key = (
        "CONNECTION#" + action_api.connection_id,
        "MATCH_LOCK#" + match_value_key("Lead", "Email", "d@x.io"),
    )
    assert lock.take(key) is not None  # taken, never given back: its holder died
    record = {"Email": "d@x.io", "LastName": "After", "Company": "D"}
    assert action_api.put("leads/upsert", {"match_field": "Email", "record": record}).status == 503
    clock[0] += 7
    assert action_api.put("leads/upsert", {"match_field": "Email", "record": record}).status == 201


def test_an_external_id_upsert_takes_no_lock_and_one_call(
    action_api: ActionApi, sf_emulator: EmulatorHandle, aws: AwsEnv
) -> None:
    lock = _CountingLock(_ddb(aws), aws.table_name)
    get_runtime().install(match_lock=lock)
    action_api.post("accounts/find", {"criteria": {"Name": "warm the describe"}})
    before = sf_emulator.api_calls()
    response = action_api.put(
        "accounts/upsert", {"match_field": "External_Id__c", "record": {"External_Id__c": "X-1", "Name": "X"}}
    )
    assert response.status == 201, response
    assert sf_emulator.api_calls() - before == 1
    assert lock.takes == 0
    # A Lead by Email does take it (once, no contention).
    lead = {"Email": "counted@example.com", "LastName": "C", "Company": "C"}
    assert action_api.put("leads/upsert", {"match_field": "Email", "record": lead}).status == 201
    assert lock.takes == 1
