"""The one exception the SOQL engine raises, carrying Salesforce's error code and message."""

from __future__ import annotations

__all__ = ["SoqlError"]


class SoqlError(Exception):
    """A query Salesforce would reject: ``error_code`` (e.g. MALFORMED_QUERY) and its ``message``."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    def __repr__(self) -> str:
        return f"SoqlError(error_code={self.error_code!r}, message={self.message!r})"

    def to_body(self) -> list[dict[str, str]]:
        """The REST error body Salesforce answers with (HTTP 400)."""
        return [{"message": self.message, "errorCode": self.error_code}]
