"""The realtime state on the connection record and the relay bindings, against moto's DynamoDB."""

from __future__ import annotations

import boto3
import pytest
from pydantic import ValidationError
from sfconnector.models.realtime import (
    RealtimeObject,
    RealtimeState,
    change_event_name,
    org_names,
)
from sfconnector.models.realtime_api import RealtimeInput
from sfconnector.stores.connections import ConnectionRecord, ConnectionRepository
from sfconnector.stores.realtime import RelayBindingConflictError, RelayBindings

from tests.fixtures.aws import AwsEnv

SOURCE = "aws.partner/salesforce.com/00D5e000000ABCDEAA/0YL5e0000004CAbGAM"


@pytest.fixture
def bindings(aws: AwsEnv) -> RelayBindings:
    return RelayBindings(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)


@pytest.fixture
def repo(aws: AwsEnv) -> ConnectionRepository:
    return ConnectionRepository(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)


def _state() -> RealtimeState:
    return RealtimeState(
        requested=["Account", "CaseComment"],
        objects=[
            RealtimeObject(sobject="Account", mode="relayed", member_id="0v85e0000004CAbAAM"),
            RealtimeObject(sobject="CaseComment", mode="polling", reason="unsupported"),
        ],
        channel_id="0YL5e0000004CAbGAM",
        source_name=SOURCE,
        association="associated",
        reconcile_seconds=600,
    )


def test_realtime_state_survives_the_table(repo: ConnectionRepository) -> None:
    repo.create(ConnectionRecord(connection_id="c-1", name="Acme", login_url="https://login.salesforce.com"))
    stored = repo.update("c-1", realtime=_state())
    assert stored.realtime == repo.require("c-1").realtime
    realtime = repo.require("c-1").realtime
    assert realtime is not None
    assert realtime.reconcile_seconds == 600  # a DynamoDB number back as an int
    assert realtime.relayed() == ["Account"]
    assert realtime.is_relayed("account")
    assert not realtime.is_relayed("CaseComment")
    assert repo.update("c-1", realtime=None).realtime is None


def test_bind_lookup_unbind(bindings: RelayBindings) -> None:
    assert bindings.lookup(SOURCE) is None
    assert bindings.bind(SOURCE, "c-1") is True
    assert bindings.bind(SOURCE, "c-1") is False  # again: a no-op
    assert bindings.lookup(SOURCE) == "c-1"
    with pytest.raises(RelayBindingConflictError):
        bindings.bind(SOURCE, "c-2")
    assert bindings.lookup(SOURCE) == "c-1"
    assert bindings.unbind(SOURCE, "c-2") is False  # not its binding
    assert bindings.unbind(SOURCE, "c-1") is True
    assert bindings.lookup(SOURCE) is None
    assert bindings.unbind(SOURCE) is False


def test_only_salesforce_partner_sources_are_bound(bindings: RelayBindings) -> None:
    with pytest.raises(ValueError, match="partner event source"):
        bindings.bind("aws.partner/other.com/x", "c-1")
    assert bindings.lookup("my-app.events") is None


def test_input_checks_and_names() -> None:
    assert RealtimeInput(enabled=True, objects=["Account", "account", "Lead"]).objects == ["Account", "Lead"]
    with pytest.raises(ValidationError, match="reconcile_minutes"):
        RealtimeInput(enabled=True, objects=["Account"], reconcile_minutes=0)
    with pytest.raises(ValidationError, match="objects"):
        RealtimeInput(enabled=True, objects=["Account; DROP"])
    assert change_event_name("Account") == "AccountChangeEvent"
    assert change_event_name("Invoice__c") == "Invoice__ChangeEvent"
    a, b = org_names("tenant-a_conn-1"), org_names("tenant-a_conn-2")
    assert a["channel"] != b["channel"]
    assert a["channel"].endswith("__chn")
    base = a["channel"].removesuffix("__chn")
    assert "__" not in base
    assert len(a["channel"]) <= 40
    assert base[0].isalpha()


def test_a_prompt_poll_claim_replaces_only_the_claim_it_was_decided_from(aws: AwsEnv) -> None:
    """``RelayedSeen.claim_kick``: a conditional write on the claim read (two relays deciding from
    the same claim make one poll); per connection; a release restores the replaced claim only
    while its own claim is still there."""
    from sfconnector.stores.relayed import KickClaim, RelayedSeen

    seen = RelayedSeen(lambda: boto3.client("dynamodb", region_name=aws.region), aws.table_name)
    first, second = KickClaim(at=1_000_020, seq=0), KickClaim(at=1_000_140, seq=1)
    assert seen.kick("c1") is None
    assert seen.claim_kick("c1", None, first)
    assert not seen.claim_kick("c1", None, KickClaim(at=1_000_050, seq=0))  # decided from no claim: stale
    assert seen.kick("c1") == first
    assert seen.claim_kick("c2", None, first)  # per connection
    assert seen.claim_kick("c1", first, second)
    assert not seen.claim_kick("c1", first, KickClaim(at=1_000_170, seq=1))  # a concurrent relay lost
    seen.release_kick("c1", KickClaim(at=1_000_170, seq=1), first)  # not the stored claim: kept
    assert seen.kick("c1") == second
    seen.release_kick("c1", second, first)
    assert seen.kick("c1") == first
    seen.release_kick("c1", first, None)
    assert seen.kick("c1") is None
