"""Schedules: the slot decisions of :class:`~actors.rules.RuleKeeper` and the schedule
requests (pause, resume, trigger now, backfill).

Each decision is one write conditional on the schedule's version that holds its robots,
its firings and the advanced slot cursor (:meth:`RobotStore.advance_schedule`), so a slot
is decided once whatever restarts; the loop of :mod:`actors.rules` calls :meth:`_decide`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from typing import Protocol

from runtime.errors import RuleRejected, UnknownRule
from runtime.messages import RobotFigures, ScheduleAnswer
from runtime.models import FiringOutcome, Robot, RuleFiring
from runtime.rules.firing import RuleNotApplicable, firing_record, rule_robot, slot_event
from runtime.rules.model import RuleRecord, ScheduleState, slot_source
from runtime.rules.plan import plan_slots
from runtime.rules.slots import slots_after
from runtime.store.base import RobotStore

log = logging.getLogger(__name__)

MAX_BACKFILL = 1000
"""Most slots one backfill request may fire."""
COLLAPSE_SKIPS = 10
"""Skipped slots of one reason in one decision beyond which they are recorded as one firing."""


class Fleet(Protocol):
    """What the rule keeper needs of the orchestrator."""

    def handles(self, robot_type: str) -> bool:
        """Whether some module handles ``robot_type``."""
        ...

    def queued(self, robot_type: str) -> int:
        """Robots waiting in the queue of ``robot_type``."""
        ...

    def unfinished(self, robot_id: str) -> bool:
        """Whether a robot is queued or running."""
        ...

    def accept(self, robots: list[Robot]) -> None:
        """Queue robots the store has just recorded."""
        ...

    @property
    def robots(self) -> Mapping[str, Robot]:
        """The robots held (queued and running) by id: what ``on.running`` rules read."""
        ...

    def robot_figures(self) -> RobotFigures:
        """The figures of ``/metrics`` (queue depths, in flight, outcomes): what
        ``on.metric`` rules read."""
        ...


class Schedules:
    """The schedule half of the rule keeper (a base class: it shares its rules and store)."""

    store: RobotStore
    fleet: Fleet
    clock: Callable[[], float]
    records: dict[str, RuleRecord]
    _lock: asyncio.Lock
    _wake: asyncio.Event

    def running(self, rule_id: str) -> bool:
        """Whether a robot ``rule_id`` submitted is unfinished (the rule keeper says)."""
        raise NotImplementedError

    def _accept(self, stored: list[Robot], submitted: list[Robot]) -> list[Robot]:
        raise NotImplementedError

    def _reindex(self) -> None:
        raise NotImplementedError

    def _record(self, rule_id: str, schedule: bool = False) -> RuleRecord:
        record = self.records.get(rule_id)
        if record is None or (schedule and record.rule.on.schedule is None):
            kind = "schedule" if schedule else "rule"
            raise UnknownRule(f"no {kind} with id {rule_id!r}")
        return record

    async def _decide(self, rule_id: str) -> float | None:
        """Decide the schedule's due slots and write them; return its next fire time."""
        async with self._lock:
            record = self.records.get(rule_id)
            if record is None:
                return None
            trigger = record.rule.on.schedule
            assert trigger is not None
            now = self.clock()
            plan = plan_slots(
                rule_id, trigger, record.state, record.created_at, now, self.running(rule_id)
            )
            if not plan.changed:
                return plan.next_fire_at
            state = record.state.model_copy(deep=True)
            state.decided_until = plan.decided_until
            state.buffered_slot = plan.buffered_slot
            robots: list[Robot] = []
            firings: list[RuleFiring] = []
            skipped: Counter[str] = Counter()
            skipped_slots: dict[str, list[float]] = defaultdict(list)
            for decision in plan.decisions:
                source = slot_source(decision.slot)
                if decision.reason == "buffered":
                    continue
                if not decision.fire:
                    skipped[decision.reason or "skipped"] += 1
                    skipped_slots[decision.reason or "skipped"].append(decision.slot)
                    continue
                event = slot_event(rule_id, decision.slot, trigger.timezone)
                try:
                    robot = rule_robot(record.rule, event, source, now=now)
                    if robot is not None and not self.fleet.handles(robot.type):
                        raise RuleNotApplicable(f"no module handles type {robot.type!r}")
                except RuleNotApplicable as exc:
                    skipped["failed"] += 1
                    firings.append(
                        firing_record(rule_id, source, FiringOutcome.FAILED, detail=str(exc))
                    )
                    continue
                if robot is None:
                    skipped["condition"] += 1
                    skipped_slots["condition"].append(decision.slot)
                    continue
                robots.append(robot)
                firings.append(firing_record(rule_id, source, FiringOutcome.FIRED, robot.id))
            for reason, slots in skipped_slots.items():
                firings.extend(_skip_firings(rule_id, reason, slots, now))
            state.fired += len(robots)
            for reason, count in skipped.items():
                state.skipped[reason] = state.skipped.get(reason, 0) + count
            await self._write(record, state, robots, firings)
            return plan.next_fire_at

    async def _write(
        self,
        record: RuleRecord,
        state: ScheduleState,
        robots: list[Robot],
        firings: list[RuleFiring],
    ) -> list[Robot]:
        """Write a schedule decision conditionally on the version held; reload if it lost."""
        rule_id = record.rule.id
        stored = await self.store.advance_schedule(
            rule_id, record.state.version, state, robots, firings
        )
        if stored is None:
            fresh = await self.store.get_rule(rule_id)
            log.warning("schedule %s changed in the store meanwhile; reloaded", rule_id)
            if fresh is None:
                self.records.pop(rule_id, None)
                self._reindex()
            else:
                self.records[rule_id] = fresh
            raise RuleRejected(f"schedule {rule_id!r} changed meanwhile; try again")
        state.version = record.state.version + 1
        self.records[rule_id] = record.model_copy(update={"state": state})
        return self._accept(stored, robots)

    # -- schedule requests ---------------------------------------------------------------

    async def set_paused(self, rule_id: str, paused: bool) -> RuleRecord:
        """Pause or resume a schedule; slots that come due while paused are skipped
        (reason ``paused``). Raises ``UnknownRule``."""
        await self._decide(rule_id)  # slots due before the change follow the old state
        async with self._lock:
            record = self._record(rule_id, schedule=True)
            if record.state.paused != paused:
                state = record.state.model_copy(deep=True)
                state.paused = paused
                await self._write(record, state, [], [])
        self._wake.set()
        return self.records[rule_id]

    async def trigger(self, rule_id: str) -> ScheduleAnswer:
        """Fire a schedule now, outside its slots (whatever runs). Raises ``UnknownRule``,
        or ``RuleRejected`` when its robot cannot be built."""
        async with self._lock:
            record = self._record(rule_id, schedule=True)
            trigger = record.rule.on.schedule
            assert trigger is not None
            now = self.clock()
            source = f"manual:{now:.3f}"
            event = slot_event(rule_id, now, trigger.timezone)
            try:
                robot = rule_robot(record.rule, event, source, now=now)
            except RuleNotApplicable as exc:
                raise RuleRejected(str(exc)) from None
            if robot is None:
                return ScheduleAnswer(rule_id, fired=0, skipped=1, robot_ids=[])
            if not self.fleet.handles(robot.type):
                raise RuleRejected(f"no module handles type {robot.type!r}")
            state = record.state.model_copy(deep=True)
            state.fired += 1
            firing = firing_record(rule_id, source, FiringOutcome.FIRED, robot.id)
            await self._write(record, state, [robot], [firing])
            return ScheduleAnswer(rule_id, fired=1, skipped=0, robot_ids=[robot.id])

    async def backfill(self, rule_id: str, start: float, end: float) -> ScheduleAnswer:
        """Fire every slot in ``[start, end]`` not fired yet (each slot's idempotency key
        finds the robot of a slot already fired). Raises ``UnknownRule``, or
        ``RuleRejected`` for a range in the future, reversed or over 1,000 slots."""
        now = self.clock()
        if end < start:
            raise RuleRejected("backfill: end is before start")
        if end > now:
            raise RuleRejected("backfill: end is in the future; the schedule fires those slots")
        async with self._lock:
            record = self._record(rule_id, schedule=True)
            trigger = record.rule.on.schedule
            assert trigger is not None
            slots = []
            for slot in slots_after(trigger, start - 1e-6):
                if slot > end:
                    break
                slots.append(slot)
                if len(slots) > MAX_BACKFILL:
                    raise RuleRejected(f"backfill: more than {MAX_BACKFILL} slots in the range")
            robots: list[Robot] = []
            firings: list[RuleFiring] = []
            for slot in slots:
                source = slot_source(slot)
                try:
                    robot = rule_robot(
                        record.rule, slot_event(rule_id, slot, trigger.timezone), source, now=now
                    )
                except RuleNotApplicable as exc:
                    raise RuleRejected(str(exc)) from None
                if robot is not None:
                    robots.append(robot)
            if robots and not self.fleet.handles(robots[0].type):
                raise RuleRejected(f"no module handles type {robots[0].type!r}")
            created = await self._write(record, record.state.model_copy(deep=True), robots, [])
            record = self.records[rule_id]
            if created:
                firings = [
                    firing_record(
                        rule_id, r.idempotency_key or "", FiringOutcome.FIRED, r.id, "backfill"
                    )
                    for r in created
                ]
                state = record.state.model_copy(deep=True)
                state.fired += len(created)
                await self._write(record, state, [], firings)
            return ScheduleAnswer(
                rule_id,
                fired=len(created),
                skipped=len(slots) - len(created),
                robot_ids=[r.id for r in created],
            )


def _skip_firings(rule_id: str, reason: str, slots: list[float], at: float) -> list[RuleFiring]:
    """One skipped firing per slot, or one for a long run of them (a long outage)."""
    if len(slots) <= COLLAPSE_SKIPS:
        return [
            firing_record(rule_id, slot_source(s), FiringOutcome.SKIPPED, detail=reason, at=at)
            for s in slots
        ]
    detail = f"{reason}: {len(slots)} slots up to {slot_source(slots[-1])}"
    return [
        firing_record(rule_id, slot_source(slots[0]), FiringOutcome.SKIPPED, detail=detail, at=at)
    ]
