"""Record ids: the 15 -> 18 checksum checked against 2,087 ids from real orgs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sfconnector.salesforce.ids import (
    KEY_PREFIXES,
    InvalidIdError,
    is_valid_id,
    key_prefix,
    normalize_id,
    sobject_for_id,
    to_15,
    to_18,
)

REAL_IDS = (Path(__file__).parent / "data" / "real-ids.txt").read_text().split()
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
id15s = st.text(alphabet=ALNUM, min_size=15, max_size=15)


def test_checksum_matches_salesforces_own_ids() -> None:
    assert len(REAL_IDS) > 2000
    for real in REAL_IDS:
        assert to_18(real[:15]) == real
        assert normalize_id(real) == real
        assert is_valid_id(real)


def test_known_prefixes_from_the_notes() -> None:
    expected = {
        "001": "Account", "003": "Contact", "00Q": "Lead", "006": "Opportunity", "500": "Case",
        "01t": "Product2", "00T": "Task", "00U": "Event", "00k": "OpportunityLineItem",
        "00K": "OpportunityContactRole", "00P": "Attachment", "00a": "CaseComment", "0D5": "FeedItem",
        "0D7": "FeedComment", "01s": "Pricebook2", "01u": "PricebookEntry", "00B": "ListView",
    }  # fmt: skip
    for prefix, sobject in expected.items():
        assert KEY_PREFIXES[prefix] == sobject
    assert sobject_for_id("001dM00003jU9GyQAK") == "Account"
    assert key_prefix("00kdM00003jU9Gy") == "00k"
    assert sobject_for_id("00kdM00003jU9Gy") == "OpportunityLineItem"
    assert sobject_for_id("00KdM00003jU9Gy") == "OpportunityContactRole"
    assert sobject_for_id("a0XdM00003jU9Gy") is None


def test_case_lost_18_char_ids_are_repaired() -> None:
    real = "001dM00003jU9GyQAK"
    assert normalize_id(real.upper()) == real
    assert normalize_id(real.lower()) == real
    assert to_15(real.lower()) == "001dM00003jU9Gy"


@given(id15s)
def test_any_15_char_id_round_trips(id15: str) -> None:
    id18 = to_18(id15)
    assert len(id18) == 18
    assert id18[:15] == id15
    assert normalize_id(id18) == id18
    assert normalize_id(id18.upper()) == id18
    assert normalize_id(id18.lower()) == id18
    assert to_15(id18) == id15


@pytest.mark.parametrize(
    "bad",
    ["", "001", "001dM00003jU9G", "001dM00003jU9GyQA", "001dM00003jU9GyQAKX", "001dM00003jU9G-",
     "001dM00003jU9GyQA!", "001dM00003jU9Gy9AK", "' OR 1=1 --12345", 12345, None],
)  # fmt: skip
def test_invalid_ids_are_rejected_naming_the_value(bad: object) -> None:
    assert not is_valid_id(bad)
    with pytest.raises(InvalidIdError) as caught:
        normalize_id(bad)  # type: ignore[arg-type]
    if isinstance(bad, str):
        assert repr(bad) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_checksum_digit_conflict() -> None:
    # Suffix "Z" claims positions 1-5 of the first block are upper case, but position 1 is a digit.
    with pytest.raises(InvalidIdError, match="checksum"):
        normalize_id("001dM00003jU9GyZAK")


def test_whitespace_is_not_an_id() -> None:
    assert not is_valid_id(" 001dM00003jU9GyQAK")
