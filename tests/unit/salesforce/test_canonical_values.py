"""Canonical values: every spelling of one value a subscriber may write becomes the one form
Salesforce returns in a record, so a field matched subscription's stored value meets the record's
with ``==`` and hashes alike in the field snapshot (issue 22, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sfconnector.errors import FieldValidationError
from sfconnector.salesforce.describe import FieldInfo
from sfconnector.salesforce.ids import to_18
from sfconnector.salesforce.validation import canonical_value, canonical_wire, wire_datetime
from sfconnector.triggers import streams

OWNER = FieldInfo("OwnerId", "reference", reference_to=("User",), nillable=False)
ACCOUNT = FieldInfo("AccountId", "reference", reference_to=("Account",), nillable=True)
WHEN = FieldInfo("Follow_Up__c", "datetime", nillable=True)
DAY = FieldInfo("CloseDate", "date")
AT = FieldInfo("Starts_At__c", "time", nillable=True)
SCORE = FieldInfo("Score__c", "double", precision=18, scale=2, nillable=True)
AMOUNT = FieldInfo("Amount", "currency", precision=18, scale=2, nillable=True)
SEATS = FieldInfo("Seats__c", "int", digits=9, nillable=True)
FLAG = FieldInfo("IsActive__c", "boolean")
NAME = FieldInfo("Name", "string", length=80)

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
users15 = st.text(alphabet=ALNUM, min_size=12, max_size=12).map(lambda tail: "005" + tail)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def _salesforce_form(moment: datetime) -> str:
    """What Salesforce (and the emulator) sends for a datetime field."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


@given(users15)
def test_a_15_character_id_is_stored_as_the_18_character_one(id15: str) -> None:
    id18 = to_18(id15)
    assert canonical_value(OWNER, id15) == id18
    assert canonical_value(OWNER, id18) == id18
    assert canonical_value(OWNER, id18.lower()[:15] + id18[15:].lower()) == id18  # case restored
    assert canonical_wire(id15) == canonical_wire(id18) == id18
    assert streams.value_hash(id15) == streams.value_hash(id18)


@given(moments, offsets, st.sampled_from(["iso", "z", "no_colon", "no_millis"]))
def test_any_spelling_of_a_moment_is_salesforces_utc_form(moment: datetime, tz: timezone, form: str) -> None:
    local = moment.astimezone(tz)
    text = {
        "iso": local.isoformat(timespec="milliseconds"),
        "z": moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "no_colon": local.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + local.strftime("%z"),
        "no_millis": local.replace(microsecond=0).isoformat(),
    }[form]
    expected = _salesforce_form(moment if form != "no_millis" else moment.replace(microsecond=0))
    assert canonical_value(WHEN, text) == expected
    assert canonical_value(WHEN, expected) == expected  # idempotent
    assert canonical_wire(text) == expected
    assert streams.value_hash(text) == streams.value_hash(expected)
    assert wire_datetime(moment) == expected or form == "no_millis"


@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=0, max_value=99))
def test_numbers_are_typed_per_the_describe(whole: int, cents: int) -> None:
    spellings: list[object] = [whole, float(whole), str(whole), f"{whole}.0", f" {whole} "]
    canon = {canonical_value(SCORE, s) for s in spellings} | {canonical_value(AMOUNT, s) for s in spellings}
    assert canon == {float(whole)}
    assert all(type(canonical_value(SCORE, s)) is float for s in spellings)
    assert canonical_value(SEATS, str(whole % 10**9)) == whole % 10**9
    assert type(canonical_value(SEATS, float(whole % 10**9))) is int
    assert canonical_value(SCORE, f"{whole}.{cents:02d}") == float(f"{whole}.{cents:02d}")
    assert len({streams.value_hash(canonical_value(SCORE, s)) for s in spellings}) == 1


@pytest.mark.parametrize(
    ("given_value", "expected"), [("true", True), (" TRUE ", True), (True, True), ("false", False)]
)
def test_booleans_from_text(given_value: object, expected: bool) -> None:
    assert canonical_value(FLAG, given_value) is expected


@pytest.mark.parametrize(
    ("field", "given_value", "expected"),
    [
        (DAY, " 2026-12-06 ", "2026-12-06"),
        (AT, "10:00", "10:00:00.000Z"),
        (AT, "10:00:05.5Z", "10:00:05.500Z"),
        (NAME, "Northwind Solar", "Northwind Solar"),
        (OWNER, None, None),
    ],
)
def test_dates_times_and_text(field: FieldInfo, given_value: object, expected: object) -> None:
    assert canonical_value(field, given_value) == expected


@pytest.mark.parametrize(
    ("field", "bad", "code"),
    [
        (OWNER, "005Hs00000Ab12", "invalid_id"),
        (ACCOUNT, "005Hs00000Ab12X", "invalid_id"),  # a User id where an Account is expected
        (WHEN, "2026-13-01T10:00:00Z", "wrong_type"),
        (WHEN, "tomorrow", "wrong_type"),
        (SCORE, "1e400", "out_of_range"),
        (SCORE, "NaN", "wrong_type"),
        (FLAG, "yes", "wrong_type"),
        (AT, "25:00", "wrong_type"),
    ],
)
def test_a_value_that_cannot_be_made_canonical_is_refused_by_name(
    field: FieldInfo, bad: object, code: str
) -> None:
    with pytest.raises(FieldValidationError) as caught:
        canonical_value(field, bad, param="params.value")
    assert [(p.field, p.code) for p in caught.value.problems] == [("params.value", code)]


def test_text_that_is_not_an_id_or_moment_is_left_alone() -> None:
    for text in ("Web", "Northwind Solar", "2026-12-06", "12345678901234", "a" * 16):
        assert canonical_wire(text) == text
    assert streams.value_hash("Web") != streams.value_hash("web")
