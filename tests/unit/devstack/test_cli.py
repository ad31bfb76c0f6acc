"""The start-up banner: the route summary (one line per function) and the demo connection's realtime lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from devstack.cli import _route_lines
from devstack.template import RouteSpec, StackTemplate


def _route(function: str, method: str, path: str, public: bool = False) -> RouteSpec:
    return RouteSpec(
        api_id="Api",
        path=path,
        method=method,
        function_id=function,
        event_name="E",
        auth="NONE" if public else "AWS_IAM",
    )


def test_route_summary_groups_by_function() -> None:
    template = StackTemplate(
        path=Path("template.yaml"),
        parameters={},
        mappings={},
        conditions={},
        functions={},
        apis={},
        routes=(
            _route("Leads", "POST", "/connections/{cid}/leads"),
            _route("Leads", "GET", "/connections/{cid}/leads/{id}"),
            _route("Conn", "POST", "/connections"),
            _route("Conn", "GET", "/connections/{cid}"),
            _route("Conn", "GET", "/oauth/callback", public=True),
            _route("Meta", "GET", "/catalog"),
        ),
        schedules=(),
        resources={},
    )
    lines = [" ".join(line.split()) for line in _route_lines(template)]
    assert lines == [
        "Conn 3 routes /connections/..., /oauth/callback (public: /oauth/callback)",
        "Leads 2 routes /connections/{cid}/leads/...",
        "Meta 1 route /catalog",
    ]


def test_realtime_is_on_by_default_and_realtime_0_turns_it_off() -> None:
    from devstack.config import ConfigError, StackConfig

    assert StackConfig.from_env({}).realtime is True
    assert StackConfig.from_env({"REALTIME": "0"}).realtime is False
    with pytest.raises(ConfigError, match="REALTIME"):
        StackConfig.from_env({"REALTIME": "sometimes"})


def test_banner_says_what_is_relayed_and_what_stays_on_polling() -> None:
    from devstack.connection import realtime_lines, relayed_objects

    answer = {
        "connection_id": "c1",
        "realtime": {
            "association": "associated",
            "source_name": "aws.partner/salesforce.com/00D/0YL",
            "objects": [
                {"sobject": "Lead", "mode": "relayed"},
                {"sobject": "Task", "mode": "polling", "reason": "allocation"},
                {"sobject": "CaseComment", "mode": "polling", "reason": "unsupported"},
            ],
        },
        "steps": [],
    }
    assert relayed_objects(answer) == ["Lead"]
    assert relayed_objects(None) == []
    assert realtime_lines(answer) == [
        "  relayed      Lead  (association: associated)",
        "  source       aws.partner/salesforce.com/00D/0YL",
        "  polling      Task (allocation), CaseComment (unsupported)",
    ]
