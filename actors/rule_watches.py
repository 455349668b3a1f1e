"""Rules the rule loop watches on its timer: robots running long and metric thresholds.

The half of :class:`~actors.rules.RuleKeeper` that reads the orchestrator's state once a
second (the loop of :mod:`actors.rules` wakes at least that often): its robots in memory
for ``on.running`` and its figures (:meth:`Orchestrator.robot_figures`, what ``/metrics``
reads) for ``on.metric``. Nothing is recounted here.

Every write is idempotent, so a firing whose writes fail is simply tried again at the
next tick: a firing's id derives from (rule, source, outcome) and the store keeps one row
per id; a notification's outbox key and a robot's idempotency key derive from (rule,
source). A running robot's source is its attempt, so an orchestrator restart does not fire
it again; a metric rule's latest firing is read back at load, so a condition that fired
and still holds after a restart does not fire twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from actors.schedules import Fleet
from runtime.messages import RobotFigures
from runtime.models import FiringOutcome, Robot, RobotStatus, RuleFiring
from runtime.notify.firing import notify_deliveries
from runtime.notify.templates import TemplateRefused
from runtime.rules.firing import RuleNotApplicable, rule_robot
from runtime.rules.mapping import holds
from runtime.rules.model import Rule, RuleRecord
from runtime.rules.watches import (
    ErrorWindow,
    MetricHold,
    derived_id,
    figure_value,
    metric_event,
    metric_source,
    running_event,
    running_source,
)
from runtime.store.base import RobotStore

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.9
"""Shortest time between two readings (the rule loop wakes each second)."""


class Watches:
    """The running and metric half of the rule keeper (a base class, as ``Schedules``)."""

    store: RobotStore
    fleet: Fleet
    clock: Callable[[], float]
    records: dict[str, RuleRecord]

    def __init__(self) -> None:
        self.watched_at = float("-inf")
        self.running_fired: dict[str, set[tuple[str, int]]] = {}
        """Rule id -> (robot id, attempt) it has fired for, of robots still running."""
        self.holds: dict[str, MetricHold] = {}
        self.error_windows: dict[str, ErrorWindow] = {}
        self.after_deliveries: Callable[[], None] | None = None
        """Called after a firing stored outbox deliveries (the notifier's nudge, as the
        transition writer's ``after_deliveries``)."""

    def _nudge(self) -> None:
        """Tell ``after_deliveries`` the outbox has new rows (its poll finds them anyway)."""
        if self.after_deliveries is None:
            return
        try:
            self.after_deliveries()
        except Exception:
            log.exception("nudging the notifier failed")

    def _accept(self, stored: list[Robot], submitted: list[Robot]) -> list[Robot]:
        raise NotImplementedError

    async def restore_holds(self) -> None:
        """Take each metric rule's latest firing: one fired and not resolved is firing."""
        for record in self.records.values():
            if record.rule.on.metric is None:
                continue
            latest = await self.store.list_firings(record.rule.id, limit=1)
            if latest and latest[0].source.startswith("metric:"):
                if latest[0].outcome is not FiringOutcome.RESOLVED:
                    since = float(latest[0].source.removeprefix("metric:"))
                    self.holds[record.rule.id] = MetricHold(since=since, firing=True)

    async def watch(self) -> None:
        """Read running robots and figures for the rules that watch them; fire what is due.

        At most once per :data:`WATCH_INTERVAL_S`; one rule's failure is logged and the
        rule is tried again at the next reading.
        """
        now = self.clock()
        if now - self.watched_at < WATCH_INTERVAL_S:
            return
        self.watched_at = now
        rules = [r.rule for r in self.records.values()]
        running = [r for r in rules if r.on.running is not None]
        metric = [r for r in rules if r.on.metric is not None]
        for gone in set(self.holds) - {r.id for r in metric}:
            del self.holds[gone]
            self.error_windows.pop(gone, None)
        for gone in set(self.running_fired) - {r.id for r in running}:
            del self.running_fired[gone]
        if running:
            robots = [
                r
                for r in self.fleet.robots.values()
                if r.status is RobotStatus.RUNNING and r.started_at is not None
            ]
            for rule in running:
                try:
                    await self._watch_running(rule, robots, now)
                except Exception:
                    log.exception("rule %s: firing failed", rule.id)
        if metric:
            figures = self.fleet.robot_figures()
            for rule in metric:
                try:
                    await self._watch_metric(rule, figures, now)
                except Exception:
                    log.exception("rule %s: firing failed", rule.id)

    async def _watch_running(self, rule: Rule, robots: list[Robot], now: float) -> None:
        trigger = rule.on.running
        assert trigger is not None
        fired = self.running_fired.setdefault(rule.id, set())
        live: set[tuple[str, int]] = set()
        for robot in robots:
            if trigger.type is not None and robot.type != trigger.type:
                continue
            if robot.rule_id == rule.id:
                continue  # a rule never fires on its own robots
            key = (robot.id, robot.attempt)
            live.add(key)
            started = robot.started_at
            assert started is not None
            if key in fired or now - started <= trigger.longer_than_s:
                continue
            source = running_source(robot)
            detail = f"running {now - started:.1f}s > {trigger.longer_than_s:g}s"
            await self._fire(
                rule,
                running_event(robot, now),
                source,
                started + trigger.longer_than_s,
                detail,
                robot.id,
            )
            fired.add(key)
        fired &= live  # ended attempts are forgotten

    async def _watch_metric(self, rule: Rule, figures: RobotFigures, now: float) -> None:
        trigger = rule.on.metric
        assert trigger is not None
        window = None
        if trigger.window_s is not None:
            window = self.error_windows.get(rule.id)
            if window is None:
                window = self.error_windows[rule.id] = ErrorWindow(trigger.window_s + 2)
        value = figure_value(trigger, figures, self.fleet.queued, window, now)
        hold = self.holds.setdefault(rule.id, MetricHold())
        what = hold.step(trigger.holds(value), now, trigger.for_s)
        if what is None:
            return
        assert hold.since is not None
        source = metric_source(hold.since)
        shown = "no value" if value is None else f"{value:g}"
        if what == "fire":
            event = metric_event(rule.id, trigger, value, hold.since, now)
            detail = (
                f"{trigger.label()} = {shown} {trigger.op} {trigger.value:g} "
                f"for {now - hold.since:.1f}s"
            )
            if not await self._fire(rule, event, source, hold.since + trigger.for_s, detail):
                return  # its ``when`` does not hold: looked at again next time
        else:
            detail = f"{trigger.label()} = {shown} after {now - hold.since:.1f}s"
            resolved = FiringOutcome.RESOLVED
            await self.store.record_firings(
                [self._firing(rule.id, source, resolved, now, detail=detail)]
            )
        hold.commit(what)

    async def _fire(
        self,
        rule: Rule,
        event: dict[str, Any],
        source: str,
        at: float,
        detail: str,
        robot_id: str | None = None,
    ) -> bool:
        """Do ``rule``'s action for ``event`` and record the firing; False (nothing done)
        when its ``when`` does not hold. A failure is recorded as a ``failed`` firing."""
        try:
            if not holds(rule.when, event):
                return False
        except ValueError as exc:
            await self._record_failed(rule.id, source, at, f"when: {exc}")
            return True
        if rule.do.notify is not None:
            action = rule.do.notify
            try:
                deliveries = notify_deliveries(rule.id, action, event, source, robot_id)
            except TemplateRefused as exc:
                await self._record_failed(rule.id, source, at, str(exc))
                return True
            # ids derived from the outbox key: a repeat names the deliveries first stored
            deliveries = [
                d.model_copy(update={"id": f"msg_{derived_id(at, d.dedup_key)}"})
                for d in deliveries
            ]
            await self.store.add_deliveries(deliveries)
            self._nudge()
            sent = ", ".join(d.id for d in deliveries)
            detail = f"{detail}; notify {action.channel.value}: {sent}"
            fired = self._firing(rule.id, source, FiringOutcome.FIRED, at, None, detail)
            await self.store.record_firings([fired])
            return True
        try:
            robot = rule_robot(rule, event, source, now=self.clock())
            if robot is not None and not self.fleet.handles(robot.type):
                raise RuleNotApplicable(f"no module handles type {robot.type!r}")
        except RuleNotApplicable as exc:
            await self._record_failed(rule.id, source, at, str(exc))
            return True
        if robot is None:
            return False
        stored = [r for r in await self.store.create_robots([robot]) if isinstance(r, Robot)]
        self._accept(stored, [robot])
        child = stored[0].id if stored else robot.id  # a repeat finds the first robot
        fired = self._firing(rule.id, source, FiringOutcome.FIRED, at, child, detail)
        await self.store.record_firings([fired])
        return True

    async def _record_failed(self, rule_id: str, source: str, at: float, reason: str) -> None:
        failed = self._firing(rule_id, source, FiringOutcome.FAILED, at, None, reason)
        await self.store.record_firings([failed])

    @staticmethod
    def _firing(
        rule_id: str,
        source: str,
        outcome: FiringOutcome,
        at: float,
        robot_id: str | None = None,
        detail: str | None = None,
    ) -> RuleFiring:
        return RuleFiring(
            id=derived_id(at, rule_id, source, outcome.value),
            rule_id=rule_id,
            at=at,
            source=source,
            outcome=outcome,
            robot_id=robot_id,
            detail=detail[:500] if detail is not None else None,
        )
