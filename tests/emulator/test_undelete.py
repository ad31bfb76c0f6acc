"""The admin API's undelete (Apex/SOAP ``undelete``): a record back from the recycle bin."""

from __future__ import annotations

import pytest

from tests.fixtures.emulator import EmulatorHandle


def test_undelete_restores_a_live_row_stamped_at_the_restore(sf_emulator: EmulatorHandle) -> None:
    rid = sf_emulator.dml("insert", "Lead", {"LastName": "Back", "Company": "Acme"})["id"]
    sf_emulator.advance_clock(5)
    deleted = sf_emulator.dml("delete", "Lead", id=rid)
    with sf_emulator.rest_client() as http:
        assert http.get(f"/sobjects/Lead/{rid}").status_code == 404
    sf_emulator.advance_clock(5)
    restored = sf_emulator.dml("undelete", "Lead", id=rid, username=sf_emulator.sales_username)
    assert restored["SystemModstamp"] > deleted["SystemModstamp"]
    assert restored["LastModifiedDate"] == restored["SystemModstamp"]
    with sf_emulator.rest_client() as http:
        record = http.get(f"/sobjects/Lead/{rid}").json()
        live = http.get(f"/sobjects/Lead/{rid}", params={"fields": "IsDeleted"}).json()
    assert record["LastModifiedById"][:15] == sf_emulator.sales_user_id[:15]
    assert live["IsDeleted"] is False


def test_undelete_of_a_live_record_is_refused(sf_emulator: EmulatorHandle) -> None:
    rid = sf_emulator.dml("insert", "Lead", {"LastName": "Here", "Company": "Acme"})["id"]
    with pytest.raises(AssertionError, match="UNDELETE_FAILED"):
        sf_emulator.dml("undelete", "Lead", id=rid)
