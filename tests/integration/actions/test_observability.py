"""The per-action metric: one CloudWatch EMF document per action, with its own ``action`` dimension,
however many invocations a warm container serves and however many actions one invocation runs."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from sfconnector import catalog
from sfconnector.api.observability import record_action, wrap_handler
from sfconnector.salesforce.client import LimitInfo

from tests.fixtures.actions import ActionApi, FakeLambdaContext


def _emf(out: str) -> list[dict[str, Any]]:
    """The EMF documents among the lines a function printed (its JSON logs are there too)."""
    documents = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def _metric(document: dict[str, Any]) -> tuple[str, list[list[str]], str, Any]:
    meta = document["_aws"]["CloudWatchMetrics"]
    assert len(meta) == 1, document
    return (
        meta[0]["Namespace"],
        meta[0]["Dimensions"],
        document["action"],
        document["SalesforceApiCalls"],
    )


@pytest.fixture
def caught() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        yield recorded


def _messages(recorded: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in recorded if "No application metrics" not in str(w.message)]


def test_each_warm_invocation_emits_its_own_metric(
    action_api: ActionApi, capsys: pytest.CaptureFixture[str], caught: list[warnings.WarningMessage]
) -> None:
    capsys.readouterr()
    responses = [
        action_api.post("accounts/find", {"criteria": {"Name": "Metric one"}}),
        action_api.post("accounts/find", {"criteria": {"Name": "Metric two"}}),
        action_api.post("accounts", {"Name": "Metric three"}),
    ]
    assert [r.status for r in responses] == [200, 200, 201], responses
    documents = _emf(capsys.readouterr().out)
    assert [_metric(d) for d in documents] == [
        ("SalesforceConnector", [["action", "service"]], key, [float(r.headers["X-Salesforce-Api-Calls"])])
        for key, r in zip(("accounts.find", "accounts.find", "accounts.create"), responses, strict=True)
    ]
    assert _messages(caught) == []


def test_two_actions_in_one_invocation_emit_two_metrics(
    fresh_runtime: None, capsys: pytest.CaptureFixture[str], caught: list[warnings.WarningMessage]
) -> None:
    def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
        record_action(catalog.action("accounts.find"), "conn-1", 1, None)
        record_action(catalog.action("contacts.create"), "conn-1", 2, LimitInfo(used=7, max=100))
        return {"statusCode": 200, "body": ""}

    handler = wrap_handler(resolve)
    capsys.readouterr()
    for _ in range(2):
        handler({"requestContext": {"requestId": "r-1"}}, FakeLambdaContext())
    documents = _emf(capsys.readouterr().out)
    assert [(_metric(d)[2], _metric(d)[3]) for d in documents] == [
        ("accounts.find", [1.0]),
        ("contacts.create", [2.0]),
    ] * 2
    assert _messages(caught) == []


def test_with_metrics_disabled_warm_invocations_stay_quiet(
    action_api: ActionApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caught: list[warnings.WarningMessage],
) -> None:
    # As the local stack runs the functions: Powertools then never clears what a Metrics object holds.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    capsys.readouterr()
    assert action_api.post("accounts/find", {"criteria": {"Name": "Quiet"}}).status == 200
    assert action_api.post("accounts", {"Name": "Quiet"}).status == 201
    assert action_api.post("accounts/find", {"criteria": {"Name": "Quiet"}}).status == 200
    assert _emf(capsys.readouterr().out) == []
    assert _messages(caught) == []
