"""SalesforceClient against the Salesforce emulator (a real HTTP server), counting API calls."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest
from pydantic import SecretStr
from sfconnector.salesforce.client import AccessToken, DescribeCache, RetryPolicy, SalesforceClient
from sfconnector.salesforce.composite import CompositeRequest, reference
from sfconnector.salesforce.errors import (
    MultipleMatchesError,
    NotFoundError,
    RequestLimitExceededError,
    SalesforceError,
    SalesforceTransportError,
    SalesforceUnavailableError,
)
from sfconnector.salesforce.ids import is_valid_id
from sfconnector.salesforce.soql import Eq, Like, select, select_count

from tests.fixtures.emulator import EmulatorHandle


@dataclass
class EmulatorTokens:
    """A TokenProvider doing the real refresh grant against the emulator's OAuth endpoint."""

    emulator: EmulatorHandle
    http: httpx.Client
    token: AccessToken = field(init=False)
    refresh_token: str = field(init=False)
    refreshes: int = 0

    def __post_init__(self) -> None:
        minted = self.emulator.mint_token()
        self.token = AccessToken(
            access_token=SecretStr(minted["access_token"]), instance_url=minted["instance_url"]
        )
        self.refresh_token = minted["refresh_token"]

    def current(self) -> AccessToken:
        return self.token

    def refresh(self, stale: AccessToken) -> AccessToken:
        self.refreshes += 1
        response = self.http.post(
            f"{self.emulator.login_url}/services/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": self.refresh_token,
                "client_id": self.emulator.client_id,
                "client_secret": self.emulator.client_secret,
            },
        )
        response.raise_for_status()
        body = response.json()
        self.refresh_token = body.get("refresh_token", self.refresh_token)
        self.token = AccessToken(
            access_token=SecretStr(body["access_token"]), instance_url=body["instance_url"]
        )
        return self.token


@dataclass
class Setup:
    emulator: EmulatorHandle
    tokens: EmulatorTokens
    client: SalesforceClient
    sleeps: list[float]


@pytest.fixture
def setup(sf_emulator: EmulatorHandle) -> Setup:
    http = httpx.Client()
    tokens = EmulatorTokens(sf_emulator, http)
    sleeps: list[float] = []
    client = SalesforceClient(
        tokens,
        http=http,
        org_key=sf_emulator.org_id,
        retry=RetryPolicy(sleep=sleeps.append),
        describe_cache=DescribeCache(),
    )
    yield_setup = Setup(sf_emulator, tokens, client, sleeps)
    return yield_setup


def _calls(setup: Setup) -> int:
    return setup.emulator.api_calls()


def test_crud_round_trip(setup: Setup) -> None:
    client = setup.client
    before = _calls(setup)
    account_id = client.create("Account", {"Name": "Emulated Corp", "Industry": "Energy"})
    assert is_valid_id(account_id)
    assert account_id.startswith("001")
    record = client.get_record("Account", account_id, fields=["Id", "Name", "Industry"])
    assert (record["Name"], record["Industry"]) == ("Emulated Corp", "Energy")
    client.update("Account", account_id, {"Industry": "Banking"})
    assert client.get_record("Account", account_id)["Industry"] == "Banking"
    client.delete("Account", account_id)
    with pytest.raises(NotFoundError):
        client.get_record("Account", account_id)
    assert _calls(setup) - before == 6
    assert client.limit_info is not None
    assert client.limit_info.used == _calls(setup)


def test_validation_errors_come_back_typed(setup: Setup) -> None:
    with pytest.raises(SalesforceError) as caught:
        setup.client.create("Contact", {"FirstName": "NoLastName"})
    assert caught.value.error_code == "REQUIRED_FIELD_MISSING"
    assert "LastName" in caught.value.fields


def test_upsert_by_external_id(setup: Setup) -> None:
    client = setup.client
    first = client.upsert("Account", "External_Id__c", "EXT-1 a", {"Name": "Upserted"})
    second = client.upsert("Account", "External_Id__c", "EXT-1 a", {"Name": "Upserted again"})
    assert first.created
    assert not second.created
    assert first.id == second.id
    assert client.get_record("Account", first.id)["Name"] == "Upserted again"
    setup.emulator.dml("insert", "Account", {"Name": "Dup 1", "External_Id__c": "DUP"})
    setup.emulator.dml("insert", "Account", {"Name": "Dup 2", "External_Id__c": "DUP"})
    with pytest.raises(MultipleMatchesError) as caught:
        client.upsert("Account", "External_Id__c", "DUP", {"Name": "which?"})
    assert len(caught.value.candidate_ids) == 2
    assert all(i.startswith("001") for i in caught.value.candidate_ids)


@pytest.mark.parametrize("value", ["EXT/1 a", "ops@acme.inc", "100% sure"])
def test_upsert_values_that_do_not_fit_in_a_url(setup: Setup, value: str) -> None:
    client = setup.client
    before = _calls(setup)
    first = client.upsert("Account", "External_Id__c", value, {"Name": "Odd value"})
    second = client.upsert("Account", "External_Id__c", value, {"Name": "Odd value 2"})
    assert _calls(setup) == before + 2
    assert (first.created, second.created, first.id == second.id) == (True, False, True)
    record = client.get_record("Account", first.id, fields=["Name", "External_Id__c"])
    assert (record["Name"], record["External_Id__c"]) == ("Odd value 2", value)
    setup.emulator.dml("insert", "Account", {"Name": "Twin", "External_Id__c": value})
    with pytest.raises(MultipleMatchesError) as caught:
        client.upsert("Account", "External_Id__c", value, {"Name": "which?"})
    assert sorted(caught.value.candidate_ids) == sorted(
        r["Id"] for r in client.query(select("Account", ["Id"], where=Eq("External_Id__c", value)))
    )


def test_query_pages_are_fetched_lazily(setup: Setup) -> None:
    emulator = setup.emulator
    emulator.configure(min_query_batch_size=200)
    for i in range(450):
        emulator.dml("insert", "Account", {"Name": f"Paged {i:03d}"})
    soql = select("Account", ["Id", "Name"], where=Like("Name", "Paged ", "prefix"), order_by=["Name"])
    before = _calls(setup)

    records = setup.client.query(soql, batch_size=200)
    assert _calls(setup) == before
    first_page = [next(records) for _ in range(200)]
    assert _calls(setup) == before + 1
    rest = list(records)
    assert _calls(setup) == before + 3
    names = [r["Name"] for r in first_page + rest]
    assert names == [f"Paged {i:03d}" for i in range(450)]
    assert setup.client.count(select_count("Account", Like("Name", "Paged ", "prefix"))) == 450


def test_query_all_sees_deleted_records(setup: Setup) -> None:
    account_id = setup.client.create("Account", {"Name": "Soon Deleted"})
    setup.client.delete("Account", account_id)
    soql = select("Account", ["Id", "IsDeleted"], where=Eq("Id", account_id))
    assert list(setup.client.query(soql)) == []
    rows = list(setup.client.query_all(soql))
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(account_id, True)]


def test_escaped_values_find_exactly_the_record(setup: Setup) -> None:
    tricky = "O'Hara \\ \"Quoted\" 100%_ OR Name != ''"
    account_id = setup.client.create("Account", {"Name": tricky})
    setup.client.create("Account", {"Name": "O"})
    rows = list(setup.client.query(select("Account", ["Id", "Name"], where=Eq("Name", tricky))))
    assert [(r["Id"], r["Name"]) for r in rows] == [(account_id, tricky)]
    like_rows = list(setup.client.query(select("Account", ["Id"], where=Like("Name", "O'Hara \\", "prefix"))))
    assert [r["Id"] for r in like_rows] == [account_id]


def test_composite_write_and_read_back_is_one_api_call(setup: Setup) -> None:
    request = CompositeRequest(all_or_none=True)
    ref = request.create("Account", {"Name": "Composite Co"}, "newAccount")
    request.get("Account", reference(ref), "readBack", fields=["Id", "Name", "CreatedDate"])
    before = _calls(setup)
    response = setup.client.composite(request)
    assert _calls(setup) == before + 1
    created = response.raise_for_ref("newAccount").body
    read_back = response.raise_for_ref("readBack").body
    assert read_back["Id"] == created["id"]
    assert read_back["Name"] == "Composite Co"


def test_composite_failure_names_the_root_cause_and_rolls_back(setup: Setup) -> None:
    request = CompositeRequest(all_or_none=True)
    request.create("Account", {"Name": "Rolled back"}, "acct")
    request.create("Contact", {"FirstName": "No last name", "AccountId": "@{acct.id}"}, "contact")
    response = setup.client.composite(request)
    with pytest.raises(SalesforceError) as caught:
        response.raise_for_ref("acct")
    assert caught.value.error_code == "REQUIRED_FIELD_MISSING"
    assert list(setup.client.query(select("Account", ["Id"], where=Eq("Name", "Rolled back")))) == []


def test_expired_session_is_refreshed_transparently(setup: Setup) -> None:
    account_id = setup.client.create("Account", {"Name": "Before expiry"})
    assert setup.emulator.expire_sessions() >= 1
    assert setup.client.get_record("Account", account_id)["Name"] == "Before expiry"
    assert setup.tokens.refreshes == 1
    assert setup.client.get_record("Account", account_id)["Name"] == "Before expiry"
    assert setup.tokens.refreshes == 1


def test_503_on_a_get_is_retried(setup: Setup) -> None:
    account_id = setup.client.create("Account", {"Name": "Flaky"})
    setup.emulator.add_fault("error", status=503, method="GET", path="/sobjects/Account/", count=2)
    assert setup.client.get_record("Account", account_id)["Name"] == "Flaky"
    assert len(setup.sleeps) == 2


def test_503_on_a_create_is_not_retried(setup: Setup) -> None:
    setup.emulator.add_fault("error", status=503, method="POST", path="/sobjects/Account", count=1)
    with pytest.raises(SalesforceUnavailableError) as caught:
        setup.client.create("Account", {"Name": "Only once"})
    assert "<" not in str(caught.value)  # the emulator's HTML maintenance page is not echoed
    assert setup.sleeps == []
    assert list(setup.client.query(select("Account", ["Id"], where=Eq("Name", "Only once")))) == []


def test_dropped_connection_on_a_get_is_retried(setup: Setup) -> None:
    setup.emulator.add_fault("drop", method="GET", path="/limits", count=1)
    assert "DailyApiRequests" in setup.client.limits()
    assert len(setup.sleeps) == 1
    setup.emulator.add_fault("drop", method="POST", path="/sobjects/Account", count=1)
    with pytest.raises(SalesforceTransportError):
        setup.client.create("Account", {"Name": "Dropped"})


def test_request_limit_exceeded_is_not_retried(setup: Setup) -> None:
    setup.emulator.exhaust_daily_limit()
    with pytest.raises(RequestLimitExceededError):
        setup.client.limits()
    assert setup.sleeps == []


def test_describe_is_cached(setup: Setup) -> None:
    before = _calls(setup)
    describe = setup.client.describe("Account")
    assert any(f["name"] == "External_Id__c" for f in describe["fields"])
    setup.client.describe("Account")
    assert _calls(setup) == before + 1


def test_collection_read_is_one_call_per_200_ids_in_order_with_none_for_the_missing(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sfconnector.salesforce import client as client_module

    emulator, client = setup.emulator, setup.client
    ids = [emulator.dml("insert", "Lead", {"LastName": f"R{n}", "Company": "C"})["id"] for n in range(201)]
    emulator.dml("delete", "Lead", id=ids[1])
    before = _calls(setup)
    rows = client.collection_read("Lead", ids, ["Id", "LastName"])
    assert _calls(setup) - before == 2
    assert rows[1] is None
    assert [r["LastName"] if r else None for r in rows[:3]] == ["R0", None, "R2"]
    assert len(rows) == 201
    # Ids and fields too long for a URL go in a POST body: the same answer, still one call.
    monkeypatch.setattr(client_module, "_MAX_QUERY_STRING", 10)
    before = _calls(setup)
    assert client.collection_read("Lead", ids[:3], ["Id", "LastName"]) == rows[:3]
    assert _calls(setup) - before == 1
