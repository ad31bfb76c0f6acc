"""The relay's pure decisions (sfconnector.triggers.relay): a change event of a record version
yields exactly the events, with exactly the ids, that the engine's functions yield for the row the
poller reads at that version; merged events fan out per record; own changes are ignored; a
malformed event is rejected with a reason, never raised."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sfconnector import catalog
from sfconnector.models.subscriptions import Subscription
from sfconnector.salesforce.ids import to_18
from sfconnector.triggers import relay, streams

OWN_USER = "005000000000001AAA"
OTHER_USER = "005000000000002AAA"
SOURCE = "aws.partner/salesforce.com/00D000000000001AAA/0YL000000000001AAA"
T0 = 1_796_000_000  # 2026-11-30
START = datetime.fromtimestamp(T0, UTC)


def _sub(trigger: str, *, ignore_own: bool = False, params: dict[str, Any] | None = None) -> Subscription:
    trig = catalog.trigger(trigger)
    return Subscription(
        subscription_id=uuid.uuid4().hex,
        connection_id="conn-relay",
        trigger=trig.key,
        kind=trig.kind.value,
        family=trig.family,
        sobject=trig.sobject or "Lead",
        params=params or {},
        ignore_own_changes=ignore_own,
        start_at=START,
    )


def _subscriptions() -> list[Subscription]:
    return [
        _sub("leads.created"),
        _sub("leads.updated"),
        _sub("leads.deleted"),
        _sub("leads.created", ignore_own=True),
        _sub("leads.updated", ignore_own=True),
        _sub("accounts.created"),  # another object: never fires for a Lead
    ]


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _record_id(n: int) -> str:
    return to_18(f"00Q{n:012d}")


def _poller_ids(
    row: dict[str, Any], subs: list[Subscription], kinds: frozenset[catalog.ChangeEvent]
) -> set[str]:
    """What the poller's decision functions give for its row of this version (the reference)."""
    out = set()
    for sub in subs:
        stream = streams.stream_of(sub)
        if sub.sobject != "Lead" or stream is None or stream.event not in kinds:
            continue
        for change in streams.row_changes(row, stream):
            if streams.subscriber_fires(sub, stream, row, change, OWN_USER):
                out.add(streams.build_event(sub, stream, row, change, "00D000000000001AAA").id)
    return out


def _event(
    change_type: str, ids: list[str], commit: int, user: str, body: dict[str, Any], **header: Any
) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "LeadChangeEvent",
            "source": SOURCE,
            "account": "123456789012",
            "time": "2026-12-07T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "payload": {
                    "ChangeEventHeader": {
                        "entityName": "Lead",
                        "recordIds": ids,
                        "changeType": change_type,
                        "changeOrigin": "com/salesforce/api/rest/62.0;client=test",
                        "transactionKey": uuid.uuid4().hex,
                        "sequenceNumber": 1,
                        "commitTimestamp": commit * 1000 + 123,
                        "commitUser": user,
                        "commitNumber": 1,
                        "changedFields": header.get("changed", []),
                        "nulledFields": [],
                        "diffFields": [],
                        "futureHeaderField": "tolerated",
                    },
                    **body,
                },
                "schema": "abc",
                "event": {"replayId": 42},
            },
        }
    )


def _decide(raw: str, subs: list[Subscription]) -> list[relay.RecordChange]:
    parsed = relay.parse_change_event(raw)
    assert isinstance(parsed, relay.RelayedEvent), parsed
    return relay.decide_event(parsed, subs, own_user_id=OWN_USER, org_id="00D000000000001AAA")


def _ids(changes: list[relay.RecordChange]) -> set[str]:
    return {event.id for change in changes for _, event in change.events}


versions = st.fixed_dictionaries(
    {
        "n": st.integers(1, 999),
        "created": st.integers(-3600, 86_400),
        "modified_after": st.integers(1, 86_400),
        "actor": st.sampled_from([OWN_USER, OTHER_USER]),
        "company": st.text(min_size=1, max_size=12),
    }
)


@given(versions)
def test_a_creation_has_the_pollers_ids(v: dict[str, Any]) -> None:
    subs = _subscriptions()
    rid, created = _record_id(v["n"]), T0 + v["created"]
    body = {
        "LastName": "Ng",
        "Company": v["company"],
        "CreatedDate": _iso(created),
        "CreatedById": v["actor"],
        "LastModifiedDate": _iso(created),
        "LastModifiedById": v["actor"],
    }
    row = {"Id": rid, **body, "SystemModstamp": _iso(created), "IsDeleted": False}
    changes = _decide(_event("CREATE", [rid], created, v["actor"], body), subs)
    assert _ids(changes) == _poller_ids(row, subs, relay.kinds_for("CREATE"))
    # Created before the subscriptions' start: nothing; own creation: only the subscriptions that want it.
    assert bool(changes) == (created >= T0)
    if created >= T0:
        fired = {sub.subscription_id for change in changes for sub, _ in change.events}
        assert (subs[3].subscription_id in fired) == (v["actor"] != OWN_USER)
        assert {e.event_type for c in changes for _, e in c.events} == {"created"}
        assert all(e.data and e.data["Company"] == v["company"] for c in changes for _, e in c.events)


@given(versions)
def test_an_update_and_an_undelete_have_the_pollers_ids(v: dict[str, Any]) -> None:
    subs = _subscriptions()
    rid, created = _record_id(v["n"]), T0 + v["created"]
    modified = created + v["modified_after"]
    row = {
        "Id": rid,
        "LastName": "Ng",
        "Company": v["company"],
        "CreatedDate": _iso(created),
        "CreatedById": OTHER_USER,
        "LastModifiedDate": _iso(modified),
        "LastModifiedById": v["actor"],
        "SystemModstamp": _iso(modified),
        "IsDeleted": False,
    }
    expected = _poller_ids(row, subs, relay.kinds_for("UPDATE"))
    update = _event(
        "UPDATE", [rid], modified, v["actor"], {"Company": v["company"], "LastModifiedDate": _iso(modified)},
        changed=["Company", "LastModifiedDate"],
    )  # fmt: skip
    undelete = _event("UNDELETE", [rid], modified, v["actor"], {"LastModifiedDate": _iso(modified)})
    assert _ids(_decide(update, subs)) == expected
    assert _ids(_decide(undelete, subs)) == expected
    assert bool(expected) == (modified >= T0)


@given(versions)
def test_a_deletion_has_the_pollers_ids_at_its_commit_second(v: dict[str, Any]) -> None:
    subs = _subscriptions()
    rid, deleted = _record_id(v["n"]), T0 + v["created"] + v["modified_after"]
    row = {
        "Id": rid,
        "CreatedDate": _iso(T0 - 7200),
        "LastModifiedDate": _iso(deleted),
        "LastModifiedById": v["actor"],
        "SystemModstamp": _iso(deleted),
        "IsDeleted": True,
    }
    changes = _decide(_event("DELETE", [rid], deleted, v["actor"], {}), subs)
    assert _ids(changes) == _poller_ids(row, subs, relay.kinds_for("DELETE"))
    assert {e.event_type for c in changes for _, e in c.events} <= {"deleted"}
    assert bool(changes) == (deleted >= T0)


@given(st.lists(st.integers(1, 999), min_size=1, max_size=8, unique=True), st.integers(0, 3600))
def test_a_merged_event_fans_out_as_one_event_per_record(numbers: list[int], at: int) -> None:
    subs = _subscriptions()
    ids = [_record_id(n) for n in numbers]
    commit = T0 + at
    body = {"Status": "Working", "LastModifiedDate": _iso(commit)}
    merged = _decide(_event("UPDATE", ids, commit, OTHER_USER, body, changed=["Status"]), subs)
    singles = [
        _decide(_event("UPDATE", [i], commit, OTHER_USER, body, changed=["Status"]), subs) for i in ids
    ]
    assert _ids(merged) == set().union(*(_ids(s) for s in singles))
    assert [c.record_id for c in merged if c.key.endswith("u")] == ids
    assert all(e.subject == c.record_id for c in merged for _, e in c.events)
    # The same event decided twice: the same ids (deterministic).
    assert _ids(merged) == _ids(
        _decide(_event("UPDATE", ids, commit, OTHER_USER, body, changed=["Status"]), subs)
    )


def test_own_changes_are_ignored_by_the_subscriptions_that_ask_and_by_no_other() -> None:
    subs = _subscriptions()
    rid, at = _record_id(7), T0 + 60
    body = {"Status": "Working", "LastModifiedDate": _iso(at), "LastModifiedById": OTHER_USER}
    # The body names another user; commitUser (who committed) is the connection's own.
    changes = _decide(_event("UPDATE", [rid], at, OWN_USER, body, changed=["Status"]), subs)
    fired = {sub.subscription_id for c in changes for sub, _ in c.events}
    assert fired == {subs[1].subscription_id}


def test_field_matched_equals_fires_when_the_event_carries_the_watched_field_changed_or_enriched() -> None:
    equals = _sub("leads.updated")  # a control beside it
    matched = [
        Subscription.model_validate(
            {
                **equals.model_dump(),
                "subscription_id": uuid.uuid4().hex,
                "trigger": "contacts.field_matched",
                "kind": "field_matched",
                "family": "contacts",
                "sobject": "Lead",
                "params": {"field": "Status", "value": "Working", "mode": mode},
            }
        )
        for mode in ("equals", "changed_to")
    ]
    rid, at = _record_id(8), T0 + 60
    carried = _event(
        "UPDATE",
        [rid],
        at,
        OTHER_USER,
        {"Status": "Working", "LastModifiedDate": _iso(at)},
        changed=["Status"],
    )
    other = _event(
        "UPDATE", [rid], at, OTHER_USER, {"Company": "X", "LastModifiedDate": _iso(at)}, changed=["Company"]
    )
    # The member enriches Status: sent unchanged beside the changed Company.
    enriched = _event(
        "UPDATE",
        [rid],
        at,
        OTHER_USER,
        {"Company": "X", "Status": "Working", "LastModifiedDate": _iso(at)},
        changed=["Company"],
    )
    fired = [(sub.subscription_id, e.event_type) for c in _decide(carried, matched) for sub, e in c.events]
    assert fired == [(matched[0].subscription_id, "matched")]  # changed_to stays on polling
    assert _decide(other, matched) == []
    row = {"Id": rid, "Status": "Working", "Company": "X", "CreatedDate": _iso(T0),
           "LastModifiedDate": _iso(at), "LastModifiedById": OTHER_USER, "SystemModstamp": _iso(at),
           "IsDeleted": False}  # fmt: skip
    stream = streams.stream_of(matched[0])
    assert stream is not None
    poller = {
        streams.build_event(matched[0], stream, row, change, None).id
        for change in streams.row_changes(row, stream)
        if streams.subscriber_fires(matched[0], stream, row, change, OWN_USER)
    }
    assert _ids(_decide(enriched, matched)) == _ids(_decide(carried, matched)) == poller != set()


def test_compound_fields_take_the_rows_names() -> None:
    sub = _sub("leads.updated")
    rid, at = _record_id(9), T0 + 60
    body = {
        "Name": {"FirstName": "Maya", "LastName": "Ng"},
        "Address": {"City": "Oslo"},
        "LastModifiedDate": _iso(at),
    }
    changes = _decide(_event("UPDATE", [rid], at, OTHER_USER, body, changed=["Name.FirstName"]), [sub])
    data = changes[0].events[0][1].data or {}
    assert (data["FirstName"], data["LastName"], data["City"]) == ("Maya", "Ng", "Oslo")


def test_malformed_events_are_rejected_with_a_reason() -> None:
    good = json.loads(_event("UPDATE", [_record_id(1)], T0, OTHER_USER, {}))

    def broken(path: list[str], value: Any) -> str:
        data = json.loads(json.dumps(good))
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return json.dumps(data)

    header = ["detail", "payload", "ChangeEventHeader"]
    cases = {
        "{not json": "not JSON",
        "[1, 2]": "not a JSON object",
        broken(["detail"], None): "detail",
        broken([*header, "recordIds"], ["not-an-id"]): "recordIds",
        broken([*header, "recordIds"], []): "recordIds",
        broken([*header, "changeType"], "MERGE"): "changeType",
        broken([*header, "entityName"], "Lead; DROP"): "entityName",
        broken([*header, "commitTimestamp"], "soon"): "commitTimestamp",
    }
    for raw, reason in cases.items():
        got = relay.parse_change_event(raw)
        assert isinstance(got, relay.Rejected), raw
        assert reason in got.reason, (reason, got.reason)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(json_values)
def test_no_input_makes_parsing_raise(value: Any) -> None:
    assert isinstance(relay.parse_change_event(json.dumps(value)), relay.Rejected | relay.RelayedEvent)


def test_an_update_without_last_modified_date_fires_nothing_as_with_the_poller() -> None:
    """A roll-up or other system-maintained change moves SystemModstamp only: not a modification."""
    subs = _subscriptions()
    rid, at = _record_id(11), T0 + 60
    rollup = _event("UPDATE", [rid], at, OTHER_USER, {"NumberOfEmployees": 12}, changed=["NumberOfEmployees"])
    assert _decide(rollup, subs) == []
    row = {"Id": rid, "NumberOfEmployees": 12, "CreatedDate": _iso(T0), "LastModifiedDate": _iso(T0),
           "SystemModstamp": _iso(at), "IsDeleted": False}  # fmt: skip
    assert _poller_ids(row, subs, relay.kinds_for("UPDATE")) == set()
