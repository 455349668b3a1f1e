"""The orchestrator's rules: chains and notifications on robot events, queue triggers,
schedules, robots running long and metric thresholds.

:class:`RuleKeeper` holds every rule in memory, indexed so that a robot no rule watches
costs one dictionary lookup when it ends. Chains are fired inside the orchestrator's
completion path (:meth:`RuleKeeper.chain`): the child robot and the firing ride on the
parent's terminal transition and are stored in its transaction, so a chain step exists
exactly when its parent's outcome does, whenever the orchestrator dies. A notify rule's
firing is dispatched the same way: its outbox deliveries (one per recipient, rendered)
ride on the transition, and the ``notifier`` actor sends them. Queue triggers and
schedules are fired by :meth:`RuleKeeper.run`, one loop that sleeps until the next slot;
each schedule decision (its robots, its firings and the advanced slot cursor) is one
conditional store write (:meth:`RobotStore.advance_schedule`), so a restart neither skips
nor doubles a slot. The same loop reads running robots and the orchestrator's figures
once a second for ``on.running`` and ``on.metric`` rules (:mod:`actors.rule_watches`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable

from actors.rule_watches import Watches
from actors.schedules import Fleet, Schedules
from runtime.errors import RuleExists, RuleRejected
from runtime.lifecycle import Transition
from runtime.models import FiringOutcome, Robot, RobotStatus, RuleFiring
from runtime.notify.firing import notify_deliveries
from runtime.notify.model import NotifyAction
from runtime.notify.templates import TemplateRefused
from runtime.rules.firing import (
    RuleNotApplicable,
    firing_record,
    robot_event,
    rule_robot,
)
from runtime.rules.mapping import holds
from runtime.rules.model import Rule, RuleRecord, ScheduleState
from runtime.store.base import RobotStore

log = logging.getLogger(__name__)

_DEPTHS_KEPT = 100_000

IDLE_WAKE_S = 1.0
"""Longest sleep of the rule loop (queue triggers are looked at this often)."""


class RuleKeeper(Watches, Schedules):
    """Rules by trigger; fires chains, queue triggers, schedules, running and metric rules
    for the orchestrator.

    ``clock`` gives the time (Unix seconds); tests inject their own.
    """

    def __init__(
        self,
        store: RobotStore,
        fleet: Fleet,
        clock: Callable[[], float] = time.time,
        max_chain_depth: int = 10,
    ) -> None:
        super().__init__()
        self.store = store
        self.max_chain_depth = max_chain_depth
        self.depths: dict[str, int] = {}
        """Robot id -> how many chain steps made it (robots chains made lately; others 0)."""
        self.fleet = fleet
        self.clock = clock
        self.records: dict[str, RuleRecord] = {}
        self.on_robot: dict[str, list[Rule]] = {}
        """Robot type -> the rules its terminal events fire: the hot path's one lookup."""
        self.active: defaultdict[str, set[str]] = defaultdict(set)
        """Rule id -> unfinished robots it submitted (queue triggers' M, schedules' overlap)."""
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one schedule decision at a time (loop and requests)
        self._unplaceable: set[str] = set()  # queue rules whose robots no module handles
        self.stopping = False
        self.notified = 0
        """Outbox deliveries notify rules have attached to transitions (they may not apply)."""

    # -- loading -------------------------------------------------------------------------

    async def load(self, config_rules: list[Rule]) -> None:
        """Store the config file's rules (stored state kept) and load every rule."""
        now = self.clock()
        wanted = {rule.id for rule in config_rules}
        for record in await self.store.list_rules():
            if record.origin == "config" and record.rule.id not in wanted:
                await self.store.delete_rule(record.rule.id)
        for rule in config_rules:
            await self.store.save_rule(self._new_record(rule, "config", now), replace=True)
        for record in await self.store.list_rules():
            self._index(record)
            unhandled = self._unhandled_type(record.rule)
            if unhandled is not None:  # a module may come later
                log.error(
                    "rule %s (%s) names type %r, which no module handles: it fails or never "
                    "fires until a module for it is registered",
                    record.rule.id,
                    record.origin,
                    unhandled,
                )
        await self.restore_holds()
        log.info("loaded %d rules", len(self.records))

    def _unhandled_type(self, rule: Rule) -> str | None:
        """A robot type ``rule`` submits, or watches running or in a metric, that no module
        handles (a typo there is a rule that never fires), else None."""
        watched = rule.on.running or rule.on.metric
        types = [
            rule.do.submit.type if rule.do.submit is not None else None,
            watched.type if watched is not None else None,
        ]
        return next((t for t in types if t is not None and not self.fleet.handles(t)), None)

    def adopt(self, unfinished: list[Robot]) -> None:
        """Count each rule's unfinished robots from what recovery rebuilt."""
        for robot in unfinished:
            if robot.rule_id is not None:
                self.active[robot.rule_id].add(robot.id)

    @staticmethod
    def _new_record(rule: Rule, origin: str, now: float) -> RuleRecord:
        state = ScheduleState(decided_until=now if rule.on.schedule is not None else None)
        return RuleRecord(rule=rule, origin=origin, created_at=now, state=state)  # type: ignore[arg-type]

    def _index(self, record: RuleRecord) -> None:
        self.records[record.rule.id] = record
        self._reindex()

    def _reindex(self) -> None:
        on_robot: dict[str, list[Rule]] = {}
        for record in self.records.values():
            if record.rule.on.robot is not None:
                on_robot.setdefault(record.rule.on.robot.type, []).append(record.rule)
        self.on_robot = on_robot

    # -- rules through the API -----------------------------------------------------------

    async def create(self, rule: Rule) -> RuleRecord:
        """Add a rule (a schedule's first slot is the first after now).

        Raises ``RuleExists`` when its id is taken, ``RuleRejected`` when no module
        handles the robot type it submits or watches.
        """
        unhandled = self._unhandled_type(rule)
        if unhandled is not None:
            raise RuleRejected(
                f"rule {rule.id!r} names robot type {unhandled!r}, which no module handles: "
                "register the module first"
            )
        record = self._new_record(rule, "api", self.clock())
        if not await self.store.save_rule(record):
            raise RuleExists(f"a rule with id {rule.id!r} exists")
        self._index(record)
        self._wake.set()
        return record

    async def delete(self, rule_id: str) -> None:
        """Remove a rule of the API; raises ``UnknownRule`` or ``RuleExists`` (config)."""
        record = self._record(rule_id)
        if record.origin == "config":
            raise RuleExists(f"rule {rule_id!r} is defined in the config file: edit the file")
        async with self._lock:
            await self.store.delete_rule(rule_id)
            self.records.pop(rule_id, None)
            self._reindex()

    # -- chains --------------------------------------------------------------------------

    def chain(self, robot: Robot, transition: Transition, rules: list[Rule]) -> None:
        """Attach to a terminal ``transition`` the robots and firings its robot's rules make.

        Called before the transition is written; its children are stored with it, only if
        it applies. A rule whose robot cannot be built records a ``failed`` firing.
        """
        status = transition.to_status.value
        depth = self.depths.get(robot.id, 0)
        event: dict[str, object] | None = None
        children: list[str] = []
        for rule in rules:
            assert rule.on.robot is not None
            if status not in rule.on.robot.status or robot.rule_id == rule.id:
                continue  # a rule never fires on its own robots: no rule chains forever
            if event is None:
                event = robot_event(robot, transition)
            if rule.do.notify is not None:
                try:
                    fires = holds(rule.when, event)
                except ValueError as exc:
                    detail = f"when: {exc}"[:500]
                    transition.firings.append(
                        firing_record(rule.id, robot.id, FiringOutcome.FAILED, detail=detail)
                    )
                    continue
                if fires:  # else its ``when`` does not hold: nothing happened
                    self._notify(rule, rule.do.notify, robot, event, transition)
                continue
            try:
                child = rule_robot(rule, dict(event), robot.id, parent_id=robot.id)
                if child is not None and not self.fleet.handles(child.type):
                    raise RuleNotApplicable(f"no module handles type {child.type!r}")
            except RuleNotApplicable as exc:
                transition.firings.append(
                    firing_record(rule.id, robot.id, FiringOutcome.FAILED, detail=str(exc))
                )
                continue
            if child is None:
                continue  # its ``when`` does not hold: nothing happened
            if depth >= self.max_chain_depth:  # rules firing on each other's robots
                detail = (
                    f"refused: the chain is {depth} robots deep, the limit "
                    f"(rule_chain_depth) is {self.max_chain_depth}"
                )
                log.warning("rule %s on robot %s: %s", rule.id, robot.id, detail)
                transition.firings.append(
                    firing_record(rule.id, robot.id, FiringOutcome.SKIPPED, detail=detail)
                )
                continue
            self._remember_depth(child.id, depth + 1)
            transition.children.append(child)
            children.append(child.id)
            transition.firings.append(
                firing_record(rule.id, robot.id, FiringOutcome.FIRED, child.id)
            )
        if children:
            transition.fields["children"] = children

    def _remember_depth(self, robot_id: str, depth: int) -> None:
        self.depths[robot_id] = depth
        while len(self.depths) > _DEPTHS_KEPT:  # oldest first: those chains have moved on
            del self.depths[next(iter(self.depths))]

    def _notify(
        self,
        rule: Rule,
        action: NotifyAction,
        robot: Robot,
        event: dict[str, object],
        transition: Transition,
    ) -> None:
        """Attach a notify rule's outbox deliveries (one per recipient) and its firing."""
        try:
            deliveries = notify_deliveries(rule.id, action, dict(event), robot.id, robot.id)
        except TemplateRefused as exc:
            transition.firings.append(
                firing_record(rule.id, robot.id, FiringOutcome.FAILED, detail=str(exc))
            )
            return
        transition.deliveries.extend(deliveries)
        detail = f"notify {action.channel.value}: " + ", ".join(d.id for d in deliveries)
        transition.firings.append(
            firing_record(rule.id, robot.id, FiringOutcome.FIRED, detail=detail[:500])
        )
        self.notified += len(deliveries)

    # -- the loop: schedules and queue triggers -------------------------------------------

    async def run(self) -> None:
        """Fire due slots and queue triggers until stopped; one step's failure is logged."""
        while not self.stopping:
            self._wake.clear()
            wake_at = self.clock() + IDLE_WAKE_S
            for record in list(self.records.values()):
                try:
                    if record.rule.on.schedule is not None:
                        next_at = await self._decide(record.rule.id)
                        if next_at is not None:
                            wake_at = min(wake_at, next_at)
                    elif record.rule.on.queue is not None:
                        await self._queue_trigger(record.rule)
                except Exception:
                    log.exception("rule %s: firing failed", record.rule.id)
            try:
                await self.watch()  # running and metric rules, once a second
            except Exception:
                log.exception("reading running robots and figures for rules failed")
            timeout = max(0.005, wake_at - self.clock())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    def stop(self) -> None:
        """Let the loop end at its next wake."""
        self.stopping = True
        self._wake.set()

    def wake(self) -> None:
        """Look at every rule again now (a robot ended, a queue grew)."""
        self._wake.set()

    def running(self, rule_id: str) -> bool:
        """Whether a robot ``rule_id`` submitted is unfinished (forgets finished ones)."""
        active = self.active.get(rule_id)
        if not active:
            return False
        active.difference_update([r for r in active if not self.fleet.unfinished(r)])
        return bool(active)

    async def _queue_trigger(self, rule: Rule) -> None:
        trigger = rule.on.queue
        assert trigger is not None
        items = self.fleet.queued(trigger.type)
        if items < trigger.items:
            return
        action = rule.do.submit
        if action is None:
            return
        if not self.fleet.handles(action.type):
            if rule.id not in self._unplaceable:
                self._unplaceable.add(rule.id)
                log.warning(
                    "rule %s: no module handles type %r; it fires nothing",
                    rule.id,
                    action.type,
                )
            return
        self._unplaceable.discard(rule.id)
        self.running(rule.id)
        room = rule.max_running - len(self.active.get(rule.id, ()))
        count = min(room, items // trigger.items)
        if count <= 0:
            return
        now = self.clock()
        robots: list[Robot] = []
        firings: list[RuleFiring] = []
        for n in range(count):
            source = f"queue:{trigger.type}:{now:.3f}:{n}"
            event = {"type": trigger.type, "items": items}
            try:
                robot = rule_robot(rule, event, source, now=now)
            except RuleNotApplicable as exc:
                firings.append(
                    firing_record(rule.id, source, FiringOutcome.FAILED, detail=str(exc))
                )
                break
            if robot is None:
                break
            robots.append(robot)
            firings.append(firing_record(rule.id, source, FiringOutcome.FIRED, robot.id))
        if robots:
            stored = await self.store.create_robots(robots)
            self._accept([r for r in stored if isinstance(r, Robot)], robots)
        await self.store.record_firings(firings)

    def _accept(self, stored: list[Robot], submitted: list[Robot]) -> list[Robot]:
        """Queue the robots of ``stored`` that this firing created; return them."""
        ours = {robot.id for robot in submitted}
        created = [r for r in stored if r.id in ours and r.status is RobotStatus.QUEUED]
        for robot in created:
            if robot.rule_id is not None:
                self.active[robot.rule_id].add(robot.id)
        if created:
            self.fleet.accept(created)
        return created

    def get(self, rule_id: str) -> RuleRecord:
        """One rule with its state; raises ``UnknownRule``."""
        return self._record(rule_id)

    def list(self) -> list[RuleRecord]:
        """Every rule, by id."""
        return [self.records[k] for k in sorted(self.records)]
