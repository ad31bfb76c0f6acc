"""moto's EventBridge as Event Relay needs it: partner event buses named whole.

EventBridge takes an event bus's name whole (a partner bus is named after its source,
``aws.partner/salesforce.com/<org>/<channel>``) and an ARN after ``event-bus/``; moto 5 keeps only
the last ``/`` segment of either, so rules and events on a partner bus miss it. Tests install
:func:`whole_bus_name` with ``monkeypatch`` (tests/fixtures/aws.py); a stack running moto's server
in its own process calls :func:`install` once (moto is imported only then).
"""

from __future__ import annotations

from typing import Any

__all__ = ["install", "whole_bus_name"]


def whole_bus_name(self: Any, name_or_arn: str | None) -> str:
    """``EventsBackend._normalize_event_bus_arn`` as AWS reads a bus name or ARN."""
    if name_or_arn is None:
        return "default"
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":event-bus/", 1)[-1]
    return name_or_arn


def install() -> None:
    from moto.events.models import EventsBackend

    setattr(EventsBackend, "_normalize_event_bus_arn", whole_bus_name)  # noqa: B010 - a patch of moto
