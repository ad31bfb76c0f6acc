"""Firing schedules: the template's Schedule/ScheduleV2 events and EventBridge Scheduler schedules.

Two sources, one clock:

* the template's ``Schedule`` (EventBridge rule) and ``ScheduleV2`` (EventBridge Scheduler) events
  of each function, fixed for the life of the stack;
* schedules the connector creates at run time through the Scheduler API in moto (read back with
  ``list_schedules`` / ``get_schedule`` every second; a Lambda ARN target names the function).

The clock can run faster than real time (``SCHEDULE_SPEEDUP``): at 60, ``rate(5 minutes)`` fires
every 5 seconds and a ``cron`` for 09:00 fires when the sped-up clock passes 09:00. Targets are
invoked asynchronously like Scheduler does (one invocation at a time per schedule), through
``invoke`` when given (the stack's :class:`devstack.sandbox.Sandboxes`: worker processes stopped at
the function's Timeout); Scheduler's context attributes (``<aws.scheduler.schedule-arn>`` ...) are
substituted in the input.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.cron import Schedule, ScheduleExpressionError, parse_schedule
from devstack.lambdas import FunctionRuntime, InvocationResult, function_name_from_arn
from devstack.template import FunctionSpec, ScheduleSpec


@dataclass
class ScheduleClock:
    """Wall-clock time, optionally sped up from the moment the stack started."""

    speedup: float = 1.0
    real_start: datetime = field(default_factory=lambda: datetime.now(UTC))
    _mono_start: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._mono_start
        return self.real_start + timedelta(seconds=elapsed * self.speedup)

    def to_virtual(self, real: datetime) -> datetime:
        """Where a real instant (e.g. a schedule's creation) falls on the sped-up clock."""
        return self.real_start + (real - self.real_start) * self.speedup


@dataclass
class _Entry:
    key: str
    label: str
    function: FunctionSpec
    schedule: Schedule
    make_event: Callable[[datetime], Any]
    next_fire: datetime | None
    start: datetime | None = None
    end: datetime | None = None
    on_done: Callable[[], None] | None = None
    version: str = ""
    running: bool = False
    fired: int = 0


def scheduled_event(rule_arn: str, when: datetime, region: str, account_id: str) -> dict[str, Any]:
    """The event an EventBridge rule schedule delivers when its target has no Input."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def scheduler_input(raw: str | None, *, schedule_arn: str, when: datetime) -> Any:
    """A Scheduler target's payload: its Input with context attributes substituted, or ``{}``."""
    if raw is None:
        return {}
    text = (
        raw.replace("<aws.scheduler.schedule-arn>", schedule_arn)
        .replace("<aws.scheduler.scheduled-time>", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .replace("<aws.scheduler.execution-id>", uuid.uuid4().hex[:16])
        .replace("<aws.scheduler.attempt-number>", "1")
    )
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # non-JSON input reaches the target as a string


def poll_summary(value: Any) -> str | None:
    """One line of a trigger poll's report (the poller function's answer, docs/triggers.md), so a
    poll's firing says what it did; None for any other function's answer."""
    if not isinstance(value, dict) or value.get("outcome") not in ("polled", "skipped"):
        return None
    if value["outcome"] == "skipped":
        return f"skipped ({value.get('reason') or 'no reason given'})"
    calls = int(value.get("salesforce_calls") or 0)
    parts = [
        f"{calls} Salesforce call{'s' if calls != 1 else ''}",
        f"{value.get('records_seen', 0)} records",
        f"{value.get('events_published', 0)} events published",
    ]
    if value.get("events_failed"):
        parts.append(f"{value['events_failed']} failed")
    if value.get("error"):
        parts.append(f"error: {value['error']}")
    return ", ".join(parts)


@dataclass
class ScheduleRunner:
    """Fires due schedules on a background thread until stopped."""

    runtime: FunctionRuntime
    clock: ScheduleClock
    region: str
    account_id: str
    stack_name: str
    scheduler_client: Any = None  # boto3 "scheduler" client on moto, or None
    log: Callable[[str], None] = print
    tick_seconds: float = 0.25
    poll_seconds: float = 1.0
    invoke: Callable[[FunctionSpec, Any], InvocationResult] | None = None
    """How a firing invokes its function (default: the runtime's in-process invoke)."""
    on_failure: Callable[[FunctionSpec, Any, InvocationResult], None] | None = None
    """Called with a failed firing (the function's on-failure destination)."""
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _warned: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4, "schedule"))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_poll: float = 0.0

    # -- template schedules ------------------------------------------------------------------------

    def add_template_schedules(self, specs: tuple[ScheduleSpec, ...]) -> list[str]:
        """Register the template's schedule events; returns one description line each."""
        lines: list[str] = []
        now = self.clock.now()
        for spec in specs:
            function = self.runtime.functions[spec.function_id]
            label = f"{spec.function_id}.{spec.event_name}"
            if not spec.enabled:
                lines.append(f"{label}: {spec.expression} (disabled)")
                continue
            schedule = parse_schedule(spec.expression, anchor=now, timezone=spec.timezone)
            name = spec.name or f"{self.stack_name}-{spec.function_id}{spec.event_name}"
            if spec.kind == "Schedule":
                arn = f"arn:aws:events:{self.region}:{self.account_id}:rule/{name}"
                raw_input = spec.input

                def make_event(when: datetime, arn: str = arn, raw: str | None = raw_input) -> Any:
                    if raw is not None:
                        return json.loads(raw)
                    return scheduled_event(arn, when, self.region, self.account_id)

            else:
                arn = f"arn:aws:scheduler:{self.region}:{self.account_id}:schedule/default/{name}"

                def make_event(when: datetime, arn: str = arn, raw: str | None = spec.input) -> Any:
                    return scheduler_input(raw, schedule_arn=arn, when=when)

            entry = _Entry(
                key=f"template:{label}",
                label=label,
                function=function,
                schedule=schedule,
                make_event=make_event,
                next_fire=schedule.next_after(now),
            )
            with self._lock:
                self._entries[entry.key] = entry
            lines.append(f"{label}: {spec.expression} -> {spec.function_id}")
        return lines

    # -- Scheduler schedules in moto ---------------------------------------------------------------

    def sync_scheduler(self) -> None:
        """Bring the entries for moto's Scheduler schedules in line with what exists there."""
        client = self.scheduler_client
        if client is None:
            return
        seen: set[str] = set()
        token: str | None = None
        while True:
            page = client.list_schedules(**({"NextToken": token} if token else {}))
            for summary in page.get("Schedules", []):
                group = summary.get("GroupName") or "default"
                key = f"scheduler:{group}/{summary['Name']}"
                seen.add(key)
                version = str(summary.get("LastModificationDate") or summary.get("CreationDate"))
                with self._lock:
                    current = self._entries.get(key)
                if current is not None and current.version == version:
                    continue
                detail = client.get_schedule(Name=summary["Name"], GroupName=group)
                self._register_scheduler(key, detail, version)
            token = page.get("NextToken")
            if not token:
                break
        with self._lock:
            for key in [k for k in self._entries if k.startswith("scheduler:") and k not in seen]:
                del self._entries[key]

    def _register_scheduler(self, key: str, detail: dict[str, Any], version: str) -> None:
        label = f"schedule {detail.get('GroupName') or 'default'}/{detail['Name']}"
        target = detail.get("Target") or {}
        name = function_name_from_arn(str(target.get("Arn", "")))
        function = self.runtime.by_name(name) if name else None
        with self._lock:
            self._entries.pop(key, None)
        if function is None:
            self._warn_once(
                key + version, f"{label}: target {target.get('Arn')} is not a function of this stack"
            )
            return
        if str(detail.get("State", "ENABLED")).upper() != "ENABLED":
            return
        created = detail.get("CreationDate")
        anchor = created if isinstance(created, datetime) else datetime.now(UTC)
        start = detail.get("StartDate")
        try:
            schedule = parse_schedule(
                str(detail["ScheduleExpression"]),
                anchor=self.clock.to_virtual(start if isinstance(start, datetime) else anchor),
                timezone=str(detail.get("ScheduleExpressionTimezone") or "UTC"),
            )
        except ScheduleExpressionError as exc:
            self._warn_once(key + version, f"{label}: {exc}")
            return
        arn = str(detail.get("Arn"))
        raw_input = target.get("Input")
        end = detail.get("EndDate")
        delete_after = str(detail.get("ActionAfterCompletion", "NONE")).upper() == "DELETE"
        group = detail.get("GroupName") or "default"

        def on_done(name: str = str(detail["Name"]), group: str = str(group)) -> None:
            if delete_after and self.scheduler_client is not None:
                self.scheduler_client.delete_schedule(Name=name, GroupName=group)
                self.log(f"[schedule] {label} completed and was deleted (ActionAfterCompletion=DELETE)")

        entry = _Entry(
            key=key,
            label=label,
            function=function,
            schedule=schedule,
            make_event=lambda when: scheduler_input(raw_input, schedule_arn=arn, when=when),
            next_fire=None,
            start=self.clock.to_virtual(start) if isinstance(start, datetime) else None,
            end=self.clock.to_virtual(end) if isinstance(end, datetime) else None,
            on_done=on_done,
            version=version,
        )
        entry.next_fire = self._next(entry, self.clock.now())
        with self._lock:
            self._entries[key] = entry
        if key not in self._warned:
            self._warned.add(key)
            self.log(f"[schedule] {label}: {detail['ScheduleExpression']} -> {function.logical_id}")

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log(f"[schedule] {message}")

    # -- firing ------------------------------------------------------------------------------------

    @staticmethod
    def _next(entry: _Entry, after: datetime) -> datetime | None:
        if entry.start is not None and after < entry.start:
            after = entry.start - timedelta(microseconds=1)
        upcoming = entry.schedule.next_after(after)
        if upcoming is not None and entry.end is not None and upcoming > entry.end:
            return None
        return upcoming

    def tick(self) -> int:
        """Fire every entry that is due; returns how many were started."""
        now = self.clock.now()
        started = 0
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            if entry.next_fire is None or entry.next_fire > now or entry.running:
                continue
            when = entry.next_fire
            # Missed occurrences (a slow target, a paused laptop) are not replayed, as in AWS.
            entry.next_fire = self._next(entry, now)
            entry.running = True
            entry.fired += 1
            started += 1
            self._pool.submit(self._fire, entry, when)
        return started

    def _fire(self, entry: _Entry, when: datetime) -> None:
        try:
            event = entry.make_event(when)
            result = (self.invoke or self.runtime.invoke)(entry.function, event)
            status = "ok" if result.ok else f"{result.error_type}: {result.error_message}"
            summary = poll_summary(result.value) if result.ok else None
            if summary:
                status = f"{status}: {summary}"
            self.log(
                f"[schedule] {entry.label} fired -> {entry.function.logical_id} "
                f"({result.duration_ms:.0f} ms, {status})"
            )
            if not result.ok and self.on_failure is not None:
                self.on_failure(entry.function, event, result)
        except Exception as exc:  # a broken event must not stop the schedule thread
            self.log(f"[schedule] {entry.label} could not fire: {exc}")
        finally:
            entry.running = False
            if entry.next_fire is None and entry.on_done is not None:
                try:
                    entry.on_done()
                except Exception as exc:
                    self.log(f"[schedule] {entry.label}: completion action failed: {exc}")

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._entries.values())
        return [
            {
                "schedule": e.label,
                "expression": e.schedule.expression,
                "function": e.function.logical_id,
                "next_fire": e.next_fire.isoformat() if e.next_fire else None,
                "fired": e.fired,
                "running": e.running,
            }
            for e in entries
        ]

    # -- thread ------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self._last_poll >= self.poll_seconds:
                self._last_poll = time.monotonic()
                try:
                    self.sync_scheduler()
                except Exception as exc:
                    self._warn_once(f"poll:{exc}", f"cannot read Scheduler schedules from moto: {exc}")
            self.tick()
            self._stop.wait(self.tick_seconds)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="schedules", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
