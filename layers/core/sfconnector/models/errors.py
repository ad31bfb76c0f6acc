"""The one error shape of the API (documented in the OpenAPI document; the error mapping in
:mod:`sfconnector.api.errors` writes it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str = Field(description="A stable, machine-readable error code.")
    message: str
    fields: list[str] = Field(default_factory=list, description="Fields the error is about.")
    salesforce: list[dict[str, Any]] = Field(
        default_factory=list, description="Salesforce's own error items, when Salesforce reported the error."
    )
    details: dict[str, Any] | None = Field(
        default=None, description="Extra data, e.g. candidate_ids of a 409."
    )


class ErrorResponse(BaseModel):
    """Every error of the API has this shape."""

    error: ErrorBody
