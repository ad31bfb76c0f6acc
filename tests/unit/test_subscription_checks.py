"""Describe checks of trigger params that the emulator's org cannot show (formula fields)."""

from __future__ import annotations

import pytest
from sfconnector.actions.errors import FieldValidationError
from sfconnector.salesforce.schema import SObjectSchema
from sfconnector.triggers.subscriptions import _check_field_matched


def _schema() -> SObjectSchema:
    field = {"nillable": True, "filterable": True, "updateable": False, "createable": False}
    return SObjectSchema(
        {
            "name": "Opportunity",
            "fields": [
                {"name": "Id", "type": "id", **field},
                {"name": "Margin__c", "type": "percent", "calculated": True, **field},
                {"name": "Amount", "type": "currency", "precision": 18, "scale": 2, **field},
            ],
        }
    )


def test_a_formula_field_cannot_be_watched() -> None:
    with pytest.raises(FieldValidationError) as info:
        _check_field_matched(_schema(), {"field": "margin__c", "value": 10}, None, "Opportunity")  # type: ignore[arg-type]
    assert info.value.fields == ["params.field"]
    assert "formula field" in info.value.message


def test_a_read_only_field_can_be_watched_and_its_value_is_normalised() -> None:
    checked = _check_field_matched(
        _schema(), {"field": "amount", "value": "12.5", "mode": "equals"}, None, "Opportunity"
    )  # type: ignore[arg-type]
    assert checked == {"field": "Amount", "value": 12.5, "mode": "equals"}
