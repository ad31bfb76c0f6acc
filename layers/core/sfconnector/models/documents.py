"""The models of the API's documents (``GET /catalog``), for the OpenAPI document only: the meta
function writes the catalog from the catalog data and never validates it against these."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CatalogCounts(BaseModel):
    families: int
    actions: int = Field(description="The actions of the product spec.")
    supplementary_actions: int = Field(description="Actions served beyond the spec (get by id).")
    triggers: int


class CatalogFamily(BaseModel):
    key: str
    title: str
    sobject: str | None = Field(description="null: the caller names the custom object.")
    route: str
    function: str = Field(description="The family's function in template.yaml.")


class CatalogAction(BaseModel):
    key: str = Field(description="Stable key, also the operation's operationId.")
    title: str
    description: str
    family: str
    sobject: str | None
    kind: str
    method: str
    route: str
    status_code: int
    idempotency_key: bool = Field(description="Honours an Idempotency-Key header.")
    in_spec: bool
    input_schema: dict[str, Any] = Field(description="JSON Schema of the path, query, headers and body.")
    output_schema: dict[str, Any] = Field(description="JSON Schema of the answer.")


class CatalogTrigger(BaseModel):
    key: str
    title: str
    description: str
    family: str
    sobject: str | None
    kind: str
    in_spec: bool = Field(description="Listed by the product spec (false: an extra, e.g. deleted).")
    params_schema: dict[str, Any] = Field(description="JSON Schema of the subscription's params.")
    event_schema: dict[str, Any] = Field(
        description="JSON Schema of the event envelope subscribers receive (its AsyncAPI message payload)."
    )


class CatalogDocument(BaseModel):
    """Every family, action and trigger of the connector."""

    api_version: str = Field(description="The Salesforce REST API version the connector speaks.")
    counts: CatalogCounts
    families: list[CatalogFamily]
    actions: list[CatalogAction]
    triggers: list[CatalogTrigger]
