"""Record ids: the 18-character checksum against real ids captured from Salesforce orgs."""

from __future__ import annotations

import pytest
from sfemulator.ids import IdGenerator, checksum, is_id_shaped, normalize_id

REAL_IDS = ["001dM00003kS3BpQAK", "0014S000007Ny26QAC", "012000000000000AAA"]


@pytest.mark.parametrize("real", REAL_IDS)
def test_checksum_matches_real_ids(real: str) -> None:
    assert checksum(real[:15]) == real[15:]
    assert normalize_id(real[:15]) == real


@pytest.mark.parametrize("real", REAL_IDS)
def test_18_character_ids_are_case_insensitive(real: str) -> None:
    assert normalize_id(real.upper()) == real
    assert normalize_id(real.lower()) == real


@pytest.mark.parametrize(
    "bad", ["", "001", "001dM00003kS3Bp!", "001dM00003kS3BpQA", "001dM00003kS3BpQAK1", "0014S000007Ny26ZZZ"]
)
def test_invalid_ids(bad: str) -> None:
    assert normalize_id(bad) is None


def test_generator_mints_valid_unique_ids_with_the_key_prefix() -> None:
    gen = IdGenerator("Hs", start=62**6)
    minted = [gen.new("003") for _ in range(500)]
    assert len(set(minted)) == 500
    for rid in minted:
        assert rid.startswith("003Hs0")
        assert is_id_shaped(rid)
        assert normalize_id(rid) == rid
        assert normalize_id(rid[:15]) == rid
