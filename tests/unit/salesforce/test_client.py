"""SalesforceClient behaviour against a scripted transport (see conftest.py for why it is scripted)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from sfconnector import API_VERSION
from sfconnector.salesforce.client import (
    DescribeCache,
    LimitInfo,
    RetryPolicy,
    SalesforceClient,
    StaticTokenProvider,
    reset_shared_http_client,
    shared_http_client,
)
from sfconnector.salesforce.composite import CompositeRequest
from sfconnector.salesforce.errors import (
    EntityDeletedError,
    MultipleMatchesError,
    NotFoundError,
    RequestLimitExceededError,
    SalesforceError,
    SalesforceTransportError,
    SalesforceUnavailableError,
    SessionExpiredError,
)
from sfconnector.salesforce.ids import InvalidIdError
from sfconnector.salesforce.soql import InvalidIdentifierError

from tests.unit.salesforce.fakes import (
    INSTANCE,
    TOKEN_1,
    TOKEN_2,
    FakeSalesforce,
    FakeTokens,
    Harness,
    invalid_session,
    load,
    sf_json,
    unavailable,
)

ACCOUNT_ID = "001dM00003jU9GyQAK"
BASE = f"/services/data/{API_VERSION}"


def _auth(request: httpx.Request) -> str:
    return request.headers["Authorization"]


# ------------------------------------------------------------------------------ session refresh


def test_session_expiry_refreshes_once_and_retries_once(harness: Harness) -> None:
    harness.sf.script(invalid_session(), sf_json(200, {"Id": ACCOUNT_ID}))

    record = harness.client.get_record("Account", ACCOUNT_ID)

    assert record == {"Id": ACCOUNT_ID}
    assert len(harness.tokens.refreshes) == 1
    assert harness.tokens.refreshes[0].access_token.get_secret_value() == TOKEN_1
    assert [_auth(r) for r in harness.sf.requests] == [f"Bearer {TOKEN_1}", f"Bearer {TOKEN_2}"]
    assert harness.sleeps == []


def test_second_invalid_session_raises_without_another_refresh(harness: Harness) -> None:
    harness.sf.script(invalid_session(), invalid_session(), sf_json(200, {}))

    with pytest.raises(SessionExpiredError) as caught:
        harness.client.get_record("Account", ACCOUNT_ID)

    assert caught.value.status == 401
    assert caught.value.error_code == "INVALID_SESSION_ID"
    assert len(harness.tokens.refreshes) == 1
    assert len(harness.sf.requests) == 2


def test_a_create_also_gets_its_one_refresh(harness: Harness) -> None:
    # A 401 means Salesforce did nothing, so re-sending the create after the refresh is safe.
    harness.sf.script(invalid_session(), sf_json(201, {"id": ACCOUNT_ID, "success": True, "errors": []}))

    assert harness.client.create("Account", {"Name": "Acme"}) == ACCOUNT_ID
    assert len(harness.sf.requests) == 2


def test_static_provider_cannot_refresh() -> None:
    sf = FakeSalesforce(default=invalid_session())
    client = SalesforceClient(
        StaticTokenProvider(TOKEN_1, INSTANCE), http=httpx.Client(transport=httpx.MockTransport(sf))
    )
    with pytest.raises(SessionExpiredError):
        client.limits()
    assert len(sf.requests) == 1


# -------------------------------------------------------------------------- retries and backoff


def test_get_is_retried_on_503_with_exponential_backoff(harness: Harness) -> None:
    harness.sf.script(unavailable(), unavailable(502), unavailable(504), sf_json(200, {"Id": ACCOUNT_ID}))

    assert harness.client.get_record("Account", ACCOUNT_ID)["Id"] == ACCOUNT_ID
    assert harness.sleeps == pytest.approx([0.2, 0.4, 0.8])
    assert len(harness.sf.requests) == 4


def test_retries_stop_after_max_attempts(harness: Harness) -> None:
    harness.sf.default = unavailable()

    with pytest.raises(SalesforceUnavailableError) as caught:
        harness.client.limits()

    assert len(harness.sf.requests) == 4
    assert harness.sleeps == pytest.approx([0.2, 0.4, 0.8])
    assert caught.value.status == 503


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=3.0)
    for attempt in range(1, 8):
        delays = [policy.delay(attempt) for _ in range(200)]
        cap = min(3.0, 2 ** (attempt - 1))
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) - min(delays) > cap / 4  # really spread out (full jitter)


def test_retries_stop_when_the_time_budget_is_spent() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    sf = FakeSalesforce(default=lambda request: (now.__setitem__(0, now[0] + 6.0), unavailable())[1])
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=5.0, jitter=lambda d: d, sleep=sleep)
    client = SalesforceClient(
        FakeTokens(),
        http=httpx.Client(transport=httpx.MockTransport(sf)),
        retry=replace(policy, budget=20.0, clock=lambda: now[0]),
    )
    with pytest.raises(SalesforceUnavailableError):
        client.limits()
    # Each attempt takes 6 s: 6 + 1 -> 13 + 2 -> 21 (+4 would start at 25 s, beyond the 20 s budget).
    assert sleeps == [1.0, 2.0]
    assert len(sf.requests) == 3


def test_retry_after_header_is_honoured(harness: Harness) -> None:
    harness.sf.script(
        httpx.Response(
            503, json=[{"errorCode": "SERVER_UNAVAILABLE", "message": "busy"}], headers={"Retry-After": "2"}
        ),
        sf_json(200, {"DailyApiRequests": {"Max": 15000, "Remaining": 14000}}),
    )
    harness.client.limits()
    assert harness.sleeps == [2.0]


def test_create_is_never_resent_after_503(harness: Harness) -> None:
    harness.sf.script(unavailable(), sf_json(201, {"id": ACCOUNT_ID}))

    with pytest.raises(SalesforceUnavailableError):
        harness.client.create("Account", {"Name": "Acme"})

    assert len(harness.sf.requests) == 1
    assert harness.sleeps == []


@pytest.mark.parametrize(
    ("failure", "timeout"),
    [
        (httpx.ReadTimeout("read timed out"), True),
        (httpx.ConnectError("connection refused"), False),
        (httpx.RemoteProtocolError("server disconnected"), False),
    ],
)
def test_create_is_never_resent_after_a_transport_error(
    harness: Harness, failure: Exception, timeout: bool
) -> None:
    harness.sf.script(failure, sf_json(201, {"id": ACCOUNT_ID}))

    with pytest.raises(SalesforceTransportError) as caught:
        harness.client.create("Account", {"Name": "Acme"})

    assert len(harness.sf.requests) == 1
    assert caught.value.timeout is timeout
    assert caught.value.status == 0


def test_get_is_retried_after_timeouts_and_connection_errors(harness: Harness) -> None:
    harness.sf.script(
        httpx.ConnectTimeout("connect timed out"),
        httpx.ConnectError("reset"),
        sf_json(200, {"Id": ACCOUNT_ID}),
    )
    assert harness.client.get_record("Account", ACCOUNT_ID)["Id"] == ACCOUNT_ID
    assert len(harness.sf.requests) == 3
    assert len(harness.sleeps) == 2


def test_persistent_timeouts_end_in_a_transport_error(harness: Harness) -> None:
    harness.sf.default = httpx.ReadTimeout("read timed out")
    with pytest.raises(SalesforceTransportError) as caught:
        harness.client.delete("Account", ACCOUNT_ID)
    assert len(harness.sf.requests) == 4
    assert "after 4 attempts" in str(caught.value)
    assert caught.value.error_code == "TIMEOUT"


@pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda c: c.update("Account", ACCOUNT_ID, {"Name": "B"}), "PATCH"),
        (lambda c: c.upsert("Account", "Ext__c", "E-1", {"Name": "B"}), "PATCH"),
        (lambda c: c.delete("Account", ACCOUNT_ID), "DELETE"),
    ],
)
def test_idempotent_writes_are_retried(harness: Harness, call: Any, method: str) -> None:
    ok = sf_json(200, {"id": ACCOUNT_ID, "success": True, "errors": [], "created": False})
    harness.sf.script(unavailable(), ok if method == "PATCH" else httpx.Response(204))
    call(harness.client)
    assert [r.method for r in harness.sf.requests] == [method, method]


def test_request_limit_exceeded_is_raised_at_once(harness: Harness) -> None:
    harness.sf.script(
        sf_json(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]),
        sf_json(200, {}),
    )
    with pytest.raises(RequestLimitExceededError) as caught:
        harness.client.get_record("Account", ACCOUNT_ID)
    assert len(harness.sf.requests) == 1
    assert harness.sleeps == []
    assert caught.value.status == 403


def test_raw_request_default_retry_rules(harness: Harness) -> None:
    harness.sf.default = unavailable()
    with pytest.raises(SalesforceUnavailableError):
        harness.client.request("POST", "sobjects/Account", json={})
    assert len(harness.sf.requests) == 1
    with pytest.raises(SalesforceUnavailableError):
        harness.client.request("POST", "sobjects/Account", json={}, retryable=True)
    assert len(harness.sf.requests) == 5


# ------------------------------------------------------------------------------------- limits


def test_limit_info_is_parsed_from_every_response(harness: Harness) -> None:
    harness.sf.script(
        sf_json(200, {}, {"Sforce-Limit-Info": "api-usage=18/15000"}),
        httpx.Response(
            404,
            json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            headers={"Sforce-Limit-Info": "api-usage=19/15000; per-app-api-usage=3/250(appName=conn)"},
        ),
    )
    harness.client.limits()
    assert harness.client.limit_info == LimitInfo(used=18, max=15000)
    with pytest.raises(NotFoundError):
        harness.client.get_record("Account", ACCOUNT_ID)
    assert harness.client.limit_info == LimitInfo(used=19, max=15000)
    assert harness.client.limit_info.remaining == 14981
    assert harness.client.api_calls == 2


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=18/15000", (18, 15000)),
        ("api-usage=5/100000; per-app-api-usage=2/250(appName=x)", (5, 100000)),
        ("per-app-api-usage=2/250(appName=x); api-usage=7/15000", (7, 15000)),
        ("API-USAGE = 1 / 2", (1, 2)),
        ("per-app-api-usage=2/250(appName=x)", None),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_limit_header_parsing(header: str | None, expected: tuple[int, int] | None) -> None:
    info = LimitInfo.parse(header)
    assert (None if info is None else (info.used, info.max)) == expected


# ------------------------------------------------------------------------------------ queries


def test_query_follows_next_records_url_lazily(harness: Harness) -> None:
    page1 = load("query.page1-with-nextRecordsUrl.v59.json")
    page2 = load("querymore.final-page.v60.json")
    harness.sf.script(sf_json(200, page1), sf_json(200, page2))

    records = harness.client.query("SELECT Id, Name FROM Account ORDER BY SystemModstamp")
    assert harness.sf.requests == []  # nothing is fetched before iteration

    first = [next(records) for _ in range(len(page1["records"]))]
    assert [r["Id"] for r in first] == [r["Id"] for r in page1["records"]]
    assert len(harness.sf.requests) == 1  # page 2 not fetched yet

    rest = list(records)
    assert [r["Id"] for r in rest] == [r["Id"] for r in page2["records"]]
    assert len(harness.sf.requests) == 2
    first_request, second_request = harness.sf.requests
    assert first_request.url.path == f"{BASE}/query"
    assert parse_qs(first_request.url.query.decode())["q"] == [
        "SELECT Id, Name FROM Account ORDER BY SystemModstamp"
    ]
    assert str(second_request.url) == INSTANCE + page1["nextRecordsUrl"]
    assert _auth(second_request) == f"Bearer {TOKEN_1}"


def test_batch_size_is_sent_with_every_page(harness: Harness) -> None:
    harness.sf.script(
        sf_json(
            200, {"totalSize": 2, "done": False, "nextRecordsUrl": f"{BASE}/query/01gx-1", "records": [{}]}
        ),
        sf_json(200, {"totalSize": 2, "done": True, "records": [{}]}),
    )
    assert len(list(harness.client.query("SELECT Id FROM Account", batch_size=300))) == 2
    assert [r.headers.get("Sforce-Query-Options") for r in harness.sf.requests] == ["batchSize=300"] * 2


def test_query_all_and_batch_size(harness: Harness) -> None:
    harness.sf.script(sf_json(200, {"totalSize": 1, "done": True, "records": [{"Id": ACCOUNT_ID}]}))
    assert list(harness.client.query_all("SELECT Id FROM Account", batch_size=500)) == [{"Id": ACCOUNT_ID}]
    request = harness.sf.requests[0]
    assert request.url.path == f"{BASE}/queryAll"
    assert request.headers["Sforce-Query-Options"] == "batchSize=500"
    with pytest.raises(ValueError, match="batch_size"):
        list(harness.client.query("SELECT Id FROM Account", batch_size=50))


def test_query_page_and_count(harness: Harness) -> None:
    harness.sf.script(
        sf_json(
            200,
            {"totalSize": 2086, "done": False, "nextRecordsUrl": f"{BASE}/query/01gx-2000", "records": []},
        ),
        sf_json(200, {"totalSize": 42, "done": True, "records": []}),
    )
    page = harness.client.query_page("SELECT Id FROM Account")
    assert (page.total_size, page.done, page.next_records_url) == (2086, False, f"{BASE}/query/01gx-2000")
    assert harness.client.count("SELECT COUNT() FROM Account") == 42


def test_very_long_query_travels_inside_a_composite(harness: Harness) -> None:
    soql = "SELECT Id FROM Account WHERE Name IN (" + ", ".join(f"'name {i}'" for i in range(2000)) + ")"  # noqa: S608
    harness.sf.script(
        sf_json(
            200,
            {
                "compositeResponse": [
                    {
                        "referenceId": "q",
                        "httpStatusCode": 200,
                        "httpHeaders": {},
                        "body": {"totalSize": 1, "done": True, "records": [{"Id": ACCOUNT_ID}]},
                    }
                ]
            },
        )
    )
    assert [r["Id"] for r in harness.client.query(soql)] == [ACCOUNT_ID]
    request = harness.sf.requests[0]
    assert request.method == "POST"
    assert request.url.path == f"{BASE}/composite"
    assert len(str(request.url)) < 200


def test_next_records_url_must_be_a_services_path(harness: Harness) -> None:
    with pytest.raises(ValueError, match="nextRecordsUrl"):
        harness.client.query_more("https://evil.example.com/steal")
    assert harness.sf.requests == []


# ---------------------------------------------------------------------------------- records


def test_crud_requests_are_shaped_like_salesforces_api(harness: Harness) -> None:
    harness.sf.script(
        sf_json(201, {"id": ACCOUNT_ID, "success": True, "errors": []}),
        sf_json(200, {"Id": ACCOUNT_ID, "Name": "Acme"}),
        httpx.Response(204),
        httpx.Response(204),
    )
    client = harness.client
    assert client.create("Account", {"Name": "Acme"}) == ACCOUNT_ID
    assert client.get_record("Account", ACCOUNT_ID, fields=["Id", "Name"])["Name"] == "Acme"
    client.update("Account", ACCOUNT_ID, {"Name": "Acme 2"})
    client.delete("Account", ACCOUNT_ID)
    methods = [(r.method, r.url.path) for r in harness.sf.requests]
    assert methods == [
        ("POST", f"{BASE}/sobjects/Account"),
        ("GET", f"{BASE}/sobjects/Account/{ACCOUNT_ID}"),
        ("PATCH", f"{BASE}/sobjects/Account/{ACCOUNT_ID}"),
        ("DELETE", f"{BASE}/sobjects/Account/{ACCOUNT_ID}"),
    ]
    assert harness.sf.requests[1].url.params["fields"] == "Id,Name"
    assert harness.sf.requests[0].read() == b'{"Name":"Acme"}'


def test_upsert_reports_created_and_updated(harness: Harness) -> None:
    harness.sf.script(
        sf_json(201, {"id": ACCOUNT_ID, "success": True, "errors": [], "created": True}),
        sf_json(200, {"id": ACCOUNT_ID, "success": True, "errors": [], "created": False}),
    )
    first = harness.client.upsert("Account", "Ext_Id__c", "A-1_b", {"Name": "Acme"})
    second = harness.client.upsert("Account", "Ext_Id__c", "A-1_b", {"Name": "Acme"})
    assert (first.id, first.created, second.created) == (ACCOUNT_ID, True, False)
    assert harness.sf.requests[0].method == "PATCH"
    assert harness.sf.requests[0].url.raw_path.decode() == f"{BASE}/sobjects/Account/Ext_Id__c/A-1_b"


@pytest.mark.parametrize("value", ["a/b", "ops@acme.inc", "x y", "100%", "Ünïcode", "a?b#c", "..", "v.1"])
def test_upsert_values_unsafe_in_a_url_travel_in_a_collections_body(harness: Harness, value: str) -> None:
    harness.sf.script(sf_json(200, [{"id": ACCOUNT_ID, "success": True, "errors": [], "created": True}]))
    result = harness.client.upsert("Account", "Ext_Id__c", value, {"Name": "Acme"})
    assert (result.id, result.created) == (ACCOUNT_ID, True)
    request = harness.sf.requests[0]
    assert (request.method, request.url.path) == ("PATCH", f"{BASE}/composite/sobjects/Account/Ext_Id__c")
    assert json.loads(request.read()) == {
        "allOrNone": True,
        "records": [{"attributes": {"type": "Account"}, "Name": "Acme", "Ext_Id__c": value}],
    }


def test_collections_upsert_errors(harness: Harness) -> None:
    duplicate = {
        "statusCode": "DUPLICATE_EXTERNAL_ID",
        "message": "Ext_Id__c: more than one record found for external id field: "
        "[001dM00003jU9GyQAK, 001dM00003jU9H7QAK]",
        "fields": ["Ext_Id__c"],
    }
    invalid = {
        "statusCode": "INVALID_EMAIL_ADDRESS",
        "message": "Email: invalid email address: x",
        "fields": ["Email"],
    }
    harness.sf.script(
        sf_json(200, [{"success": False, "created": False, "errors": [duplicate]}]),
        sf_json(200, [{"success": False, "created": False, "errors": [invalid]}]),
    )
    with pytest.raises(MultipleMatchesError) as caught:
        harness.client.upsert("Account", "Ext_Id__c", "a/b", {"Name": "x"})
    assert caught.value.candidate_ids == ["001dM00003jU9GyQAK", "001dM00003jU9H7QAK"]
    with pytest.raises(SalesforceError) as failed:
        harness.client.upsert("Contact", "Ext_Id__c", "a/b", {"Email": "x"})
    assert (failed.value.error_code, failed.value.fields) == ("INVALID_EMAIL_ADDRESS", ["Email"])


def test_upsert_needs_a_value(harness: Harness) -> None:
    with pytest.raises(ValueError, match="empty"):
        harness.client.upsert("Account", "Ext_Id__c", "", {"Name": "x"})
    assert harness.sf.requests == []


def test_upsert_with_several_matches_lists_the_candidates(harness: Harness) -> None:
    urls = [f"{BASE}/sobjects/Account/001dM00003jU9GyQAK", f"{BASE}/sobjects/Account/001dM00003jU9H7QAK"]
    harness.sf.script(sf_json(300, urls))
    with pytest.raises(MultipleMatchesError) as caught:
        harness.client.upsert("Account", "Ext_Id__c", "dup", {"Name": "Acme"})
    assert caught.value.candidate_ids == ["001dM00003jU9GyQAK", "001dM00003jU9H7QAK"]
    assert len(harness.sf.requests) == 1


def test_deleted_and_missing_records_raise_typed_errors(harness: Harness) -> None:
    harness.sf.script(
        sf_json(404, load("error.get-deleted-record-404-NOT_FOUND.v42.json")),
        sf_json(404, [{"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]),
    )
    with pytest.raises(NotFoundError):
        harness.client.get_record("Account", ACCOUNT_ID)
    with pytest.raises(EntityDeletedError):
        harness.client.update("Account", ACCOUNT_ID, {"Name": "x"})


def test_validation_errors_carry_code_and_fields(harness: Harness) -> None:
    harness.sf.script(
        sf_json(
            400,
            [
                {
                    "message": "Required fields are missing: [LastName]",
                    "errorCode": "REQUIRED_FIELD_MISSING",
                    "fields": ["LastName"],
                }
            ],
        )
    )
    with pytest.raises(SalesforceError) as caught:
        harness.client.create("Contact", {"FirstName": "Ada"})
    assert (caught.value.status, caught.value.error_code, caught.value.fields) == (
        400,
        "REQUIRED_FIELD_MISSING",
        ["LastName"],
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_record("Account", "001/../../limits"),
        lambda c: c.get_record("Account", "short"),
        lambda c: c.delete("Account", "001dM00003jU9GyQAK?x=1"),
        lambda c: c.get_record("Account; DROP", ACCOUNT_ID),
        lambda c: c.create("../sobjects/User", {}),
        lambda c: c.get_record("Account", ACCOUNT_ID, fields=["Name, (SELECT Id FROM Contacts)"]),
        lambda c: c.describe("Account/describe"),
    ],
)
def test_bad_names_and_ids_are_rejected_before_any_call(harness: Harness, call: Any) -> None:
    with pytest.raises((InvalidIdError, InvalidIdentifierError)):
        call(harness.client)
    assert harness.sf.requests == []


def test_the_token_never_goes_to_another_host(harness: Harness) -> None:
    with pytest.raises(ValueError, match="instance URL"):
        harness.client.request("GET", "https://attacker.example.com/services/data/v62.0/limits")
    assert harness.sf.requests == []
    harness.sf.script(sf_json(200, {}))
    harness.client.request("GET", f"{INSTANCE}/services/data/{API_VERSION}/limits")
    assert len(harness.sf.requests) == 1


def test_get_blob_returns_raw_bytes(harness: Harness) -> None:
    harness.sf.script(httpx.Response(200, content=b"\x89PNG\x00\xff", headers={"Content-Type": "image/png"}))
    assert harness.client.get_blob("sobjects/Attachment/00PdM000001xyz1QAA/Body") == b"\x89PNG\x00\xff"
    assert harness.sf.requests[0].headers["Accept"] == "*/*"


def test_html_5xx_body_is_summarised_not_echoed(harness: Harness) -> None:
    harness.sf.default = unavailable(500)
    with pytest.raises(SalesforceUnavailableError) as caught:
        harness.client.create("Account", {"Name": "x"})
    text = str(caught.value)
    assert "<html" not in text
    assert "Maintenance" not in text
    assert "HTTP 500" in text
    assert "text/html" in text


# ---------------------------------------------------------------------------------- describe


def test_describe_is_cached_per_org_and_sobject_with_a_ttl(harness: Harness) -> None:
    clock_value = [0.0]
    cache = DescribeCache(ttl=900, clock=lambda: clock_value[0])
    sf = FakeSalesforce(default=lambda req: sf_json(200, {"name": req.url.path.split("/")[-2], "fields": []}))
    http = httpx.Client(transport=httpx.MockTransport(sf))
    org_a = SalesforceClient(FakeTokens(), http=http, org_key="00DA", describe_cache=cache)
    org_b = SalesforceClient(FakeTokens(), http=http, org_key="00DB", describe_cache=cache)

    assert org_a.describe("Account")["name"] == "Account"
    assert org_a.describe("Account")["name"] == "Account"
    assert org_a.describe("account")["name"] == "Account"  # names are case-insensitive
    assert len(sf.requests) == 1
    org_b.describe("Account")
    org_a.describe("Contact")
    assert len(sf.requests) == 3
    cache.invalidate("00DA", "Contact")
    org_a.describe("Contact")
    org_a.describe("Account")
    org_b.describe("Account")
    assert len(sf.requests) == 4  # only the invalidated entry was fetched again
    clock_value[0] = 899.0
    org_a.describe("Account")
    assert len(sf.requests) == 4
    clock_value[0] = 900.0
    org_a.describe("Account")
    assert len(sf.requests) == 5


def test_describe_global_is_cached(harness: Harness) -> None:
    harness.sf.default = sf_json(200, {"sobjects": [{"name": "Account"}]})
    harness.client.describe_global()
    harness.client.describe_global()
    assert harness.sf.paths == [f"{BASE}/sobjects"]


def test_without_org_key_the_cache_is_keyed_by_instance() -> None:
    cache = DescribeCache()
    sf = FakeSalesforce(default=sf_json(200, {"name": "Account"}))
    http = httpx.Client(transport=httpx.MockTransport(sf))
    SalesforceClient(
        StaticTokenProvider("t", "https://a.my.salesforce.com"), http=http, describe_cache=cache
    ).describe("Account")
    SalesforceClient(
        StaticTokenProvider("t", "https://b.my.salesforce.com"), http=http, describe_cache=cache
    ).describe("Account")
    assert len(sf.requests) == 2


# --------------------------------------------------------------------------------- composite


def _composite_ok(*refs: str) -> httpx.Response:
    return sf_json(
        200,
        {
            "compositeResponse": [
                {
                    "referenceId": r,
                    "httpStatusCode": 200,
                    "httpHeaders": {},
                    "body": {"totalSize": 0, "done": True, "records": []},
                }
                for r in refs
            ]
        },
    )


def test_read_only_composite_is_retried_and_write_composite_is_not(harness: Harness) -> None:
    reads = CompositeRequest()
    reads.query("SELECT Id FROM Account", "a")
    reads.get("Account", ACCOUNT_ID, "b", fields=["Name"])
    harness.sf.script(unavailable(), _composite_ok("a", "b"))
    response = harness.client.composite(reads)
    assert response.by_ref("a").ok
    assert len(harness.sf.requests) == 2

    writes = CompositeRequest()
    writes.create("Account", {"Name": "Acme"}, "new")
    writes.get("Account", "@{new.id}", "read")
    harness.sf.script(unavailable(), _composite_ok("new", "read"))
    with pytest.raises(SalesforceUnavailableError):
        harness.client.composite(writes)
    assert len(harness.sf.requests) == 3


def test_composite_body_on_the_wire(harness: Harness) -> None:
    request = CompositeRequest(all_or_none=True)
    request.create("Account", {"Name": "Acme"}, "newAccount")
    request.get("Account", request_ref := "@{newAccount.id}", "readBack", fields=["Id", "Name"])
    harness.sf.script(_composite_ok("newAccount", "readBack"))
    harness.client.composite(request)
    sent = harness.sf.requests[0]
    body = json.loads(sent.read())
    assert body == {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{BASE}/sobjects/Account",
                "referenceId": "newAccount",
                "body": {"Name": "Acme"},
            },
            {
                "method": "GET",
                "url": f"{BASE}/sobjects/Account/{request_ref}?fields=Id%2CName",
                "referenceId": "readBack",
            },
        ],
    }


# ------------------------------------------------------------------------------ http client


def test_shared_http_client_is_one_pooled_instance() -> None:
    reset_shared_http_client()
    try:
        first = shared_http_client()
        assert shared_http_client() is first
        client = SalesforceClient(FakeTokens())
        assert client.http is first
        reset_shared_http_client()
        assert first.is_closed
        assert shared_http_client() is not first
    finally:
        reset_shared_http_client()


def test_timeouts_are_explicit_on_every_request(harness: Harness) -> None:
    seen: list[dict[str, Any]] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return sf_json(200, {})

    harness.sf.default = capture
    harness.client.limits()
    assert seen == [{"connect": 5.0, "read": 25.0, "write": 25.0, "pool": 5.0}]


# ---------------------------------------------------------------------------------- secrecy


def test_tokens_never_reach_logs_reprs_or_errors(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    harness.sf.script(
        invalid_session(),
        unavailable(),
        httpx.ConnectError(f"failed with Authorization: Bearer {TOKEN_2}"),
        sf_json(400, [{"errorCode": "INVALID_FIELD", "message": f"echo {TOKEN_2} Bearer {TOKEN_2}"}]),
    )
    with pytest.raises(SalesforceError) as caught:
        harness.client.get_record("Account", ACCOUNT_ID)
    texts = [
        caplog.text,
        str(caught.value),
        repr(caught.value),
        repr(harness.client),
        repr(harness.tokens.token),
    ]
    texts += [str(item) for item in caught.value.errors]
    for text in texts:
        assert TOKEN_1 not in text
        assert TOKEN_2 not in text
        assert "AQ0AQ" not in text
    assert "retrying" in caplog.text  # the retries were logged, just without secrets
