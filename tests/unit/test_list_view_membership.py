"""Entered list view's pure parts: the list view's SOQL restricted to a window, and the membership
item's compact encoding (15 bytes per member)."""

from __future__ import annotations

import pytest
from sfconnector.stores.cursors import MEMBER_BYTES, ListViewState
from sfconnector.triggers import streams

VIEW = (
    "SELECT Name, Industry, Owner.Alias, Id, CreatedDate FROM Account WHERE Rating = 'Hot' "
    "AND Industry IN ('Energy', 'Media') ORDER BY Name ASC NULLS FIRST, Id ASC NULLS FIRST"
)


def test_the_window_keeps_the_filter_and_takes_the_streams_order() -> None:
    text = streams.list_view_query(VIEW, 1_700_000_000, 1_700_000_060)
    assert text == (
        "SELECT Id, SystemModstamp FROM Account WHERE ((Rating = 'Hot' AND Industry IN ('Energy', 'Media'))"
        " AND (SystemModstamp >= 2023-11-14T22:13:20Z AND SystemModstamp < 2023-11-14T22:14:20Z))"
        " ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert "Owner.Alias" not in text


def test_a_resumed_window_uses_the_keyset_and_the_baseline_reads_every_member() -> None:
    resumed = streams.list_view_query(VIEW, 1_700_000_000, 1_700_000_060, (1_700_000_030, "001Hs00000AbCdE"))
    assert "Id > '001Hs00000AbCdE'" in resumed
    baseline = streams.list_view_query(VIEW, None, 1_700_000_060)
    assert baseline == (
        "SELECT Id, SystemModstamp FROM Account WHERE (Rating = 'Hot' AND Industry IN ('Energy', 'Media'))"
        " ORDER BY Id ASC"
    )
    unfiltered = streams.list_view_query("SELECT Name, Id FROM Contact ORDER BY Name ASC", None, 0)
    assert unfiltered == "SELECT Id, SystemModstamp FROM Contact ORDER BY Id ASC"


def test_a_query_that_is_not_a_select_is_refused() -> None:
    with pytest.raises(ValueError, match="not a SELECT"):
        streams.list_view_query("DELETE Account", 0, 1)


def test_the_filter_is_parsed_into_the_condition_tree_and_re_emitted_not_pasted() -> None:
    """The list view's WHERE goes through the one condition parser: its values are re-escaped
    and re-formatted, its scope kept, and what is not a condition is refused (before, the text
    was cut out with string splits and pasted back)."""
    text = streams.list_view_query(
        "SELECT Id FROM Lead USING SCOPE mine WHERE Status != 'Closed' AND CreatedDate = LAST_N_DAYS:30",
        None,
        0,
    )
    assert text == (
        "SELECT Id, SystemModstamp FROM Lead USING SCOPE mine"
        " WHERE (Status != 'Closed' AND CreatedDate = LAST_N_DAYS:30) ORDER BY Id ASC"
    )
    with pytest.raises(ValueError, match="cannot be restricted"):
        streams.list_view_query("SELECT Id FROM Lead WHERE Id IN (SELECT LeadId FROM Task)", None, 0)
    with pytest.raises(ValueError, match="cannot be restricted"):
        streams.list_view_query("SELECT Id FROM Lead WHERE Name = 'x' OR Name = 'y' AND Id = null", 0, 1)


def test_membership_round_trips_at_15_bytes_per_member() -> None:
    members = {f"001Hs0000{n:06d}" for n in range(1000)}
    state = ListViewState(
        sobject="Account", list_view_id="00BHs000003abcdEAA", query=VIEW, baselined=True, members=members
    )
    item = state.to_item("conn-acme")
    assert item["sk"] == "CURSOR#Account#LISTVIEW#00BHs000003abcd"
    assert len(item["members"]) == 1000 * MEMBER_BYTES == 15_000
    back = ListViewState.from_item(item)
    assert back.members == members
    assert back.query == VIEW
    assert back.baselined


def test_the_history_subquery_is_part_of_the_statement_and_of_its_length_check() -> None:
    from sfconnector.catalog import STREAMS, TriggerKind
    from sfconnector.salesforce import soql

    history = STREAMS[TriggerKind.FIELD_MATCHED].history
    assert history
    sub = streams.history_subquery(history, ["StageName"], 1_700_000_000)
    text = streams.change_query("Opportunity", ["Id", "Name"], 1_700_000_000, 1_700_000_060, subquery=sub)
    assert text.startswith(
        f"SELECT Id, Name, (SELECT Id, Field, OldValue, NewValue, CreatedDate, CreatedById FROM {history}"  # noqa: S608
    )
    # A long History field list no longer slips past the length check (it was spliced in after it).
    many = streams.history_subquery(history, [f"Field{n}__c" for n in range(8000)], 0)
    with pytest.raises(soql.QueryTooLongError):
        streams.change_query("Opportunity", ["Id"], 0, 60, subquery=many)
