"""Parameters of the triggers (read by the trigger engine and the catalog document)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sfconnector.models import CustomSObjectName, FieldName, FieldValue, SalesforceId, _Strict


class NoParams(_Strict):
    """The trigger takes no parameters."""


class ListViewParams(_Strict):
    list_view_id: SalesforceId = Field(description="Id of the list view (key prefix 00B).")


class FieldMatchedParams(_Strict):
    field: FieldName = Field(examples=["StageName"])
    value: FieldValue = Field(examples=["Closed Won"])
    mode: Literal["changed_to", "equals"] = Field(
        default="changed_to",
        description="changed_to: fire when the field changes into the value; "
        "equals: fire on any change while the field equals the value.",
    )


class CustomObjectParams(_Strict):
    sobject: CustomSObjectName = Field(description="The custom object's API name.", examples=["Invoice__c"])
