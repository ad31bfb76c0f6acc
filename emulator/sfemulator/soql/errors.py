"""The one exception the SOQL engine raises, carrying Salesforce's error code and message."""

from __future__ import annotations

__all__ = ["SoqlError", "positioned"]


class SoqlError(Exception):
    """A query Salesforce would reject: ``error_code`` (e.g. MALFORMED_QUERY) and its ``message``.

    ``to_body()`` gives the JSON body Salesforce answers with (HTTP 400).
    """

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    def __repr__(self) -> str:
        return f"SoqlError(error_code={self.error_code!r}, message={self.message!r})"

    def to_body(self) -> list[dict[str, str]]:
        """The REST error body: ``[{"message": ..., "errorCode": ...}]``."""
        return [{"message": self.message, "errorCode": self.error_code}]


def positioned(text: str, pos: int, detail: str) -> str:
    """``detail`` with Salesforce's location header: the query line, a caret under ``pos``, and
    ``ERROR at Row:R:Column:C`` (1-based), e.g.::

        \\nSELECT Xyzzy FROM Xyzzy\\n                  ^\\nERROR at Row:1:Column:19\\nsObject type ...
    """
    pos = max(0, min(pos, len(text)))
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    if line_end < 0:
        line_end = len(text)
    line = text[line_start:line_end].rstrip("\r")
    row = text.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{detail}"
