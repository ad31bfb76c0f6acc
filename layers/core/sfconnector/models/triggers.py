"""Parameters of the triggers (read by the trigger engine and the catalog document)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from sfconnector.models import (
    FIELD_NAME_PATTERN,
    CustomSObjectName,
    FieldName,
    FieldValue,
    SalesforceId,
    _Strict,
)


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


class LinkedObjectParams(_Strict):
    linked_object: Annotated[str, StringConstraints(pattern=FIELD_NAME_PATTERN)] | None = Field(
        default=None,
        description="Only rows linked to a record of this object (e.g. files published to Accounts: "
        "the trigger's link field, FirstPublishLocationId, holds an id with the object's key prefix). "
        "Omitted: every row.",
        examples=["Account"],
    )
    linked_prefix: str | None = Field(
        default=None,
        description="Set by the connector from the object's describe (its key prefix); read-only.",
        pattern=r"^[a-zA-Z0-9]{3}$",
    )


class CustomObjectParams(_Strict):
    sobject: CustomSObjectName = Field(description="The custom object's API name.", examples=["Invoice__c"])
