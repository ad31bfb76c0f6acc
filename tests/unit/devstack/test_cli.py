"""The start-up banner's route summary: one line per function."""

from __future__ import annotations

from pathlib import Path

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
