"""``relay.needs_poll``: which relayed changes ask for a prompt poll (pure). A change either is
decided by the relay or asks for a poll when a subscription could fire from it that the relay
cannot fire; a change that cannot matter asks for nothing. Contact: compound fields
(``Name.LastName``, ``MailingAddress.City`` in ``changedFields``, nested in the body)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sfconnector.models.subscriptions import Subscription
from sfconnector.triggers import relay

from tests.unit import test_relay as relay_cases

T0 = 1_796_000_000
RECORD = "003000000000001AAA"
USER = "005000000000002AAA"
# CDC's name in changedFields -> (the query row's name, how the body nests the value)
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Title": ("Title", ("Title",)),
    "Email": ("Email", ("Email",)),
    "Name.LastName": ("LastName", ("Name", "LastName")),
    "MailingAddress.City": ("MailingCity", ("MailingAddress", "City")),
}
WATCHED = [row for row, _ in FIELDS.values()]


def _sub(trigger: str, params: dict[str, Any] | None = None, *, status: str = "active") -> Subscription:
    sub = relay_cases._sub(trigger, params=params)
    return sub if status == "active" else sub.model_copy(update={"status": status})


def _event(
    change: str, changed: list[str], *, modified: bool = True, sobject: str = "Contact"
) -> relay.RelayedEvent:
    """A change event whose body carries exactly its changed fields (value "v"), nested as CDC does."""
    body: dict[str, Any] = {}
    if change not in ("DELETE",) and not change.startswith("GAP_"):
        for name in changed:
            path = FIELDS[name][1]
            if len(path) == 1:
                body[path[0]] = "v"
            else:
                body.setdefault(path[0], {})[path[1]] = "v"
        if modified:
            body["LastModifiedDate"] = datetime.fromtimestamp(T0, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    header = {
        "entityName": sobject, "recordIds": [RECORD], "changeType": change, "commitTimestamp": T0 * 1000,
        "commitUser": USER, "changedFields": changed if change == "UPDATE" else [],
    }  # fmt: skip
    raw = {
        "source": "aws.partner/salesforce.com/x/y",
        "detail": {"payload": {"ChangeEventHeader": header, **body}},
    }
    parsed = relay.parse_change_event(json.dumps(raw))
    assert isinstance(parsed, relay.RelayedEvent), parsed
    return parsed


changed_fields = st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=4)


@given(changed=changed_fields, watched=st.sampled_from(WATCHED))
def test_changed_to_asks_for_a_poll_exactly_when_the_watched_field_changed(
    changed: list[str], watched: str
) -> None:
    """An update whose changed fields hold the watched one (compound components by their row
    name, as the parsed body has them) may be the transition; any other cannot be."""
    sub = _sub("contacts.field_matched", {"field": watched, "value": "v"})
    event = _event("UPDATE", changed or ["Title"])
    carried = watched.lower() in {k.lower() for k in event.body}
    assert relay.needs_poll(event, [sub]) is carried


@given(changed=changed_fields, watched=st.sampled_from(WATCHED))
def test_equals_is_decided_by_the_relay_or_asks_for_a_poll_never_both_never_neither(
    changed: list[str], watched: str
) -> None:
    """The watched field carried (changed, or enriched on the member): the relay fires ``equals``
    itself and no poll is asked for; not carried: the relay cannot, a poll is asked for."""
    sub = _sub("contacts.field_matched", {"field": watched, "value": "v", "mode": "equals"})
    event = _event("UPDATE", changed or ["Title"])
    fired = relay.decide_event(event, [sub], own_user_id=None, org_id=None)
    assert bool(fired) is not relay.needs_poll(event, [sub])


@given(
    change=st.sampled_from(["CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP_UPDATE", "GAP_DELETE"]),
    changed=changed_fields,
    modified=st.booleans(),
    picks=st.lists(st.integers(0, 7), max_size=5),
)
def test_one_subscription_asking_is_enough_and_others_do_not_matter(
    change: str, changed: list[str], modified: bool, picks: list[int]
) -> None:
    pool = [
        _sub("contacts.field_matched", {"field": "Title", "value": "v"}),
        _sub("contacts.field_matched", {"field": "Email", "value": "v", "mode": "equals"}),
        _sub("contacts.created"),
        _sub("contacts.updated"),
        _sub("contacts.entered_list_view", {"list_view_id": "00B000000000001"}),
        _sub("contacts.entered_list_view", {"list_view_id": "00B000000000002"}, status="paused"),
        _sub("accounts.entered_list_view", {"list_view_id": "00B000000000003"}),  # another object
        _sub("accounts.field_matched", {"field": "Title", "value": "v"}),
    ]
    subs = [pool[i] for i in picks]
    event = _event(change, changed, modified=modified)
    assert relay.needs_poll(event, subs) is any(relay.needs_poll(event, [s]) for s in subs)
    mine = [s for s in subs if s.status == "active" and s.sobject == "Contact"]
    assert relay.needs_poll(event, subs) is relay.needs_poll(event, mine)


def test_what_each_change_type_asks_for() -> None:
    changed_to = _sub("contacts.field_matched", {"field": "Title", "value": "v"})
    equals = _sub("contacts.field_matched", {"field": "Title", "value": "v", "mode": "equals"})
    view = _sub("contacts.entered_list_view", {"list_view_id": "00B000000000001"})
    plain = [_sub("contacts.created"), _sub("contacts.updated")]
    assert not relay.needs_poll(_event("UPDATE", ["Title"]), plain)  # the relay serves them whole
    assert relay.needs_poll(_event("DELETE", []), [view])  # membership may move on any change
    assert not relay.needs_poll(_event("DELETE", []), [changed_to, equals])  # live rows only
    assert relay.needs_poll(_event("CREATE", ["Title"]), [changed_to])  # born equal, maybe
    assert not relay.needs_poll(_event("CREATE", ["Email"]), [changed_to])  # Title null at birth
    assert not relay.needs_poll(_event("CREATE", ["Email"]), [equals])  # a creation carries every field
    assert relay.needs_poll(_event("UNDELETE", []), [changed_to])
    assert relay.needs_poll(_event("UNDELETE", []), [equals])
    assert relay.needs_poll(_event("GAP_UPDATE", []), [changed_to])  # a re-read has no History
    assert not relay.needs_poll(_event("GAP_UPDATE", []), [equals])  # the re-read row carries it
    # An update of system-maintained values only (no LastModifiedDate): the poller's equals does
    # not fire for it either.
    assert not relay.needs_poll(_event("UPDATE", ["Email"], modified=False), [equals])
    # An update listing no changed fields: the relay cannot judge changed_to.
    silent = _event("UPDATE", [])
    assert relay.needs_poll(silent, [changed_to])
