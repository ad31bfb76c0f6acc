"""The Tooling API's setup objects (``/services/data/vNN.0/tooling/``), over a :class:`SalesforceClient`.

Change Data Capture channels and members, Named Credentials and Event Relay configs are metadata
the Tooling API creates as sObjects: ``POST tooling/sobjects/{Type}`` with ``{"FullName",
"Metadata"}``, ``GET|PATCH|DELETE tooling/sobjects/{Type}/{id}`` and ``GET tooling/query``. Each
method is one Salesforce API call (the client counts them); refusals raise the client's typed
:class:`~sfconnector.salesforce.errors.SalesforceError` with Salesforce's ``errorCode``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sfconnector.salesforce.errors import NotFoundError, SalesforceError
from sfconnector.salesforce.soql import Condition, select

if TYPE_CHECKING:
    from sfconnector.salesforce.client import SalesforceClient

__all__ = ["TOOLING_TYPES", "ToolingApi"]

TOOLING_TYPES = frozenset(
    {
        "PlatformEventChannel",
        "PlatformEventChannelMember",
        "NamedCredential",
        "EventRelayConfig",
        "EventRelayFeedback",
    }
)
"""The Tooling types the connector reads or writes (a closed set: the type is part of the path)."""


def _type(name: str) -> str:
    if name not in TOOLING_TYPES:
        raise ValueError(f"{name!r} is not a Tooling type the connector uses")
    return name


def _path_id(record_id: str) -> str:
    if not record_id.isalnum() or len(record_id) not in (15, 18):
        raise ValueError("a Salesforce id has 15 or 18 letters and digits")
    return record_id


class ToolingApi:
    """One org's Tooling API (the connection's client: its token, retries and call counter)."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    def create(self, type_name: str, full_name: str, metadata: Mapping[str, Any]) -> str:
        """Create a setup object; its id."""
        response = self.client.request(
            "POST",
            f"tooling/sobjects/{_type(type_name)}",
            json={"FullName": full_name, "Metadata": dict(metadata)},
        )
        body = response.json()
        record_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(record_id, str) or not record_id:
            raise SalesforceError(
                response.status_code,
                message=f"Salesforce created a {type_name} without answering its id",
            )
        return record_id

    def get(self, type_name: str, record_id: str) -> dict[str, Any] | None:
        """The object's fields (``Metadata`` among them); None when it does not exist."""
        try:
            body = self.client.get_json(f"tooling/sobjects/{_type(type_name)}/{_path_id(record_id)}")
        except NotFoundError:
            return None
        return dict(body) if isinstance(body, dict) else None

    def update(self, type_name: str, record_id: str, metadata: Mapping[str, Any]) -> None:
        self.client.request(
            "PATCH",
            f"tooling/sobjects/{_type(type_name)}/{_path_id(record_id)}",
            json={"Metadata": dict(metadata)},
        )

    def delete(self, type_name: str, record_id: str) -> bool:
        """Delete the object; False when it was already gone (a teardown may run twice)."""
        try:
            self.client.request("DELETE", f"tooling/sobjects/{_type(type_name)}/{_path_id(record_id)}")
        except NotFoundError:
            return False
        return True

    def query(
        self, type_name: str, fields: Iterable[str], where: Condition | None = None
    ) -> list[dict[str, Any]]:
        """The rows of a Tooling query (the setup objects are few: one page)."""
        body = self.client.get_json("tooling/query", params={"q": select(_type(type_name), fields, where)})
        records = body.get("records") if isinstance(body, dict) else None
        return [dict(r) for r in records or [] if isinstance(r, dict)]
