"""The statements "find" sends, driven through the service itself (only the network is replaced):
whatever the criteria values, both queries read the one sObject with each value as one literal,
as the emulator's own SOQL parser reads them back."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st
from sfconnector import API_VERSION
from sfconnector.actions.records import RecordService
from sfconnector.salesforce.composite import CompositeRequest, CompositeResponse
from sfemulator.schema import load_schema
from sfemulator.soql import parse as emulator_parse

_ACCOUNT = load_schema().get("Account")
assert _ACCOUNT is not None
DESCRIBE = _ACCOUNT.describe(API_VERSION, "https://example.my.salesforce.com")


class _RecordingClient:
    """Answers the describe with the real one and each composite with empty query results."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def describe(self, sobject: str) -> dict[str, Any]:
        assert sobject == "Account"
        return DESCRIBE

    def composite(self, request: CompositeRequest) -> CompositeResponse:
        replies = []
        for sub in request.subrequests:
            (query,) = parse_qs(urlsplit(sub["url"]).query)["q"]
            self.queries.append(query)
            replies.append(
                {
                    "referenceId": sub["referenceId"],
                    "httpStatusCode": 200,
                    "body": {"totalSize": 0, "records": []},
                }
            )
        return CompositeResponse.from_json({"compositeResponse": replies})


_TEXT = st.lists(
    st.sampled_from([*"ab' \\%_();\n\t\"", "FROM", "SELECT", " OR Name != '", "é", "\u2028", "\x00"]),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXT, _TEXT, st.sampled_from(["newest", "oldest"]))
def test_criteria_values_stay_literals(name: str, website: str, pick: str) -> None:
    client = _RecordingClient()
    result = RecordService(client, "Account").find(  # type: ignore[arg-type]
        {"Name": name, "Website": website, "NumberOfEmployees": "20"}, ["Name"], pick=pick
    )
    assert (result.found, result.match_count) == (False, 0)
    count, first = (emulator_parse(query) for query in client.queries)
    assert count.is_count
    assert (first.sobject, first.limit, [o.descending for o in first.order_by]) == (
        "Account",
        1,
        [pick == "newest"] * 2,
    )
    for parsed in (count, first):
        assert parsed.sobject == "Account"
        values = {c.field.parts[0]: c.value.value for c in parsed.where.items}  # type: ignore[union-attr]
        assert values == {"Name": name, "Website": website, "NumberOfEmployees": 20}
