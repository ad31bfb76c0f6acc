"""Salesforce's REST error shape, raised anywhere below the HTTP layer and rendered in one place."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "not_found", "refuse_id_on_insert"]


class ApiError(Exception):
    """One Salesforce error: HTTP status, ``errorCode``, message and (for DML errors) ``fields``."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.error_code!r}, {self.message!r})"

    def body(self) -> list[dict[str, Any]]:
        """The REST body: ``[{"message", "errorCode"[, "fields"]}]``."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = list(self.fields)
        return [item]

    def collection_error(self) -> dict[str, Any]:
        """The per-record form used by sObject Collections (``statusCode``, not ``errorCode``)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": list(self.fields or [])}


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def refuse_id_on_insert(values: dict[str, Any]) -> None:
    """An insert's values may not carry an Id (Salesforce's answer when they do)."""
    if any(k.lower() == "id" for k in values):
        raise ApiError(
            400, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: cannot specify Id in an insert call", ["Id"]
        )
