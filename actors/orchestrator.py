"""The orchestrator: accepts robots, routes them to replicas and records every outcome.

A plain class: its Ray actor wrapper lives in ``actors.ray`` and replicas are reached
through a :class:`~actors.driver.ReplicaDriver`, so all of this runs without Ray in tests.
Supervision of the replicas themselves is the :class:`~actors.supervisor.Supervisor`'s; the
orchestrator owns the robots: their queues, which replica runs each, and their lifecycle
(every change is a :mod:`runtime.lifecycle` transition, applied in memory and written to
the store in order by the :class:`~actors.writer.TransitionWriter`).

Requests that cannot be carried out raise a :mod:`runtime.errors` class; only
:meth:`Orchestrator.submit_many` answers refusals per robot, inside its answers.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from typing import Any

from pydantic import ValidationError

from actors import robot_figures as figures
from actors.autoscaler import Autoscaler
from actors.cache import CacheCalls
from actors.cache_sync import ModuleBoard, RobotStatusSync
from actors.deployment import DeployedModule, ReplicaSlot
from actors.driver import ReplicaDriver
from actors.rules import RuleKeeper
from actors.supervisor import Supervisor
from actors.writer import TransitionWriter
from runtime import lifecycle
from runtime.config import Settings
from runtime.errors import (
    AlreadyTerminal,
    ModuleExists,
    ModuleRejected,
    NotCancellable,
    QueueFull,
    ReplicaLost,
    RobotNotFound,
    StoreDataError,
    UnknownRobotType,
)
from runtime.keys import accepted_entry
from runtime.lifecycle import Transition
from runtime.messages import (
    CancelAnswer,
    Dispatch,
    ModuleInfo,
    OrchestratorStats,
    Outcome,
    OutcomeKind,
    Progress,
    RobotFigures,
    ScheduleAnswer,
    SubmitAnswer,
    SubmitRequest,
)
from runtime.models import ModuleSpec, Robot, RobotStatus
from runtime.queue import RobotQueue
from runtime.registry import validate_module
from runtime.robot_tally import RobotTally
from runtime.routing import RouteDecision, place
from runtime.rules.model import Rule, RuleRecord
from runtime.store.base import RobotStore
from runtime.tasks import BackgroundTasks

log = logging.getLogger(__name__)

ANSWER_GRACE_S = 30.0
"""How long past a batch's longest ``timeout_s`` a replica may take to answer."""


class Orchestrator:
    """Holds the robot queues per type and the robots in flight; dispatches and settles them."""

    def __init__(
        self,
        settings: Settings,
        store: RobotStore,
        driver: ReplicaDriver,
        cache: CacheCalls | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.driver = driver
        self.type_modules: dict[str, list[str]] = defaultdict(list)
        self.queues: dict[str, RobotQueue] = defaultdict(RobotQueue)
        self.robots: dict[str, Robot] = {}
        # With a cache, every commit marks the robots it changes there (actors.cache_sync).
        self.status_sync = RobotStatusSync(cache) if cache is not None else None
        self.module_board = ModuleBoard(cache) if cache is not None else None
        self.writer = TransitionWriter(store, self.status_sync)
        self.supervisor = Supervisor(
            driver, settings, self.requeue_lost, self._wake_up, self._publish_modules
        )
        self.modules: dict[str, DeployedModule] = self.supervisor.modules
        self.autoscaler = Autoscaler(
            self.modules,
            self.queues,
            self.scale_module,
            self.supervisor.room,
            settings.autoscaling_interval_s,
        )
        self.tasks = BackgroundTasks("orchestrator")
        self.rules = RuleKeeper(store, self)
        self._wake = asyncio.Event()
        self._rng = random.Random()
        self.stopping = False
        self.dispatched = 0
        self.rejected: dict[str, str] = {}
        # Per robot type, the latest decision that placed nothing while robots were ready.
        self.waits: dict[str, tuple[RouteDecision, float]] = {}
        self.tally = RobotTally()
        self.started_at = time.time()

    # -- start and stop ------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, deploy modules, rebuild queues from the store, start the loops."""
        await self.store.open()
        self.writer.start()
        if self.status_sync is not None:
            self.status_sync.start()
        specs = {s.name: s for s in self.settings.modules}
        for spec in await self.store.list_modules():
            specs[spec.name] = spec  # registered or scaled at run time: newer than the file
        for spec in specs.values():
            try:
                spec = await validate_module(spec, self.settings.health_timeout_s)
            except ModuleRejected as exc:
                log.error("module %s is not deployed: %s", spec.name, exc)
                self.rejected[spec.name] = str(exc)
                continue
            self._deploy(spec, reuse=True)
        if self.module_board is not None:
            await self.module_board.seed(self.modules.values())
        await self.rules.load(self.settings.rules)  # before recovery: it may end robots
        await self._recover()
        self.rules.adopt(list(self.robots.values()))
        self.tasks.spawn(self._dispatch_loop())
        self.tasks.spawn(self.rules.run())
        self.tasks.spawn(self.autoscaler.run())
        self.supervisor.start()

    async def stop(self) -> None:
        """Stop the loops and flush pending writes (replicas are left to the caller)."""
        self.stopping = True
        self._wake.set()
        self.rules.stop()
        self.autoscaler.stop()
        self.supervisor.stop()
        self.tasks.cancel_all()
        await self.writer.stop()
        if self.status_sync is not None:
            self.status_sync.stop()
        await self.store.close()

    async def _recover(self) -> None:
        requeues: list[Transition] = []
        for robot in await self.store.unfinished_robots():
            if robot.status is RobotStatus.RUNNING:
                t = self._retry_or_give_up(
                    robot,
                    f"orchestrator restarted while attempt {robot.attempt} ran",
                    retryable=True,
                    backoff=False,
                )
                requeues.append(t)
                self._after(robot, t)
            else:
                self._enqueue(robot)
        if requeues:
            await self._record(requeues)
        log.info(
            "recovered %d unfinished robots (%d were running)", len(self.robots), len(requeues)
        )

    # -- modules -------------------------------------------------------------------------

    def _deploy(self, spec: ModuleSpec, reuse: bool) -> DeployedModule:
        module = self.supervisor.deploy(spec, reuse)
        for robot_type in spec.types:
            self.type_modules[robot_type].append(spec.name)
        return module

    async def register_module(self, raw_spec: dict[str, Any]) -> ModuleInfo:
        """Validate and deploy a module at run time; its replicas start in the background.

        Raises ``ModuleRejected`` (invalid spec, class that fails to load or check) or
        ``ModuleExists`` (name or replica prefix taken).
        """
        try:
            spec = ModuleSpec.model_validate(raw_spec)
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors()
            )
            raise ModuleRejected(f"invalid module spec: {reasons}") from None
        if spec.name in self.modules:
            raise ModuleExists(f"module {spec.name!r} is already registered")
        taken = {m.spec.replica_prefix: m.name for m in self.modules.values()}
        if spec.replica_prefix is not None and spec.replica_prefix in taken:
            raise ModuleExists(
                f"replica prefix {spec.replica_prefix!r} is used by module "
                f"{taken[spec.replica_prefix]!r}"
            )
        spec = await validate_module(spec, self.settings.health_timeout_s)
        await self.store.save_module(spec)
        return self.module_info(self._deploy(spec, reuse=False))

    async def scale_module(self, name: str, replicas: int) -> ModuleInfo:
        """Change a module's replica count at run time and remember it across restarts.

        Raises ``UnknownModule`` or ``ModuleRejected`` (count outside 0..256).
        """
        module = self.supervisor.scale(name, replicas)
        await self.store.save_module(module.spec)
        return self.module_info(module)

    def list_modules(self) -> list[ModuleInfo]:
        """Every module with its health, breaker state, queue length and replicas."""
        return [self.module_info(m) for m in self.modules.values()]

    def robot_types(self) -> list[str]:
        """Robot types some registered module handles."""
        return sorted(t for t, names in self.type_modules.items() if names)

    def module_info(self, module: DeployedModule) -> ModuleInfo:
        """What ``GET /v1/modules`` shows of one module."""
        queued = sum(len(self.queues[t]) for t in module.spec.types if t in self.queues)
        info = module.info(queued)
        info.autoscaling = self.autoscaler.status(module)
        return info

    async def _publish_modules(self) -> None:
        if self.module_board is not None:
            await self.module_board.publish(list(self.modules.values()))

    # -- submit --------------------------------------------------------------------------

    async def submit_many(self, requests: list[SubmitRequest]) -> list[SubmitAnswer]:
        """Persist and enqueue robots; answer each request, in order.

        A robot no module handles is answered with ``error=UnknownRobotType``, one past its
        type's queue bound with ``error=QueueFull``; the others are stored in one commit
        (with their audit entries) and queued. A request whose id or idempotency key is
        already stored is answered with the stored robot (``created=False``).
        """
        answers: list[SubmitAnswer | None] = [None] * len(requests)
        accepted: list[tuple[int, SubmitRequest]] = []
        pending_per_type: dict[str, int] = defaultdict(int)
        for i, request in enumerate(requests):
            robot_type = request.robot.type
            if not self.type_modules.get(robot_type):
                error = UnknownRobotType(f"no module handles type {robot_type!r}")
                answers[i] = SubmitAnswer(request.robot.id, error=error)
                continue
            if (
                len(self.queues[robot_type]) + pending_per_type[robot_type]
                >= self.settings.max_queued_per_type
            ):
                full = QueueFull(f"the queue of type {robot_type!r} is full", 1.0)
                answers[i] = SubmitAnswer(request.robot.id, error=full)
                continue
            pending_per_type[robot_type] += 1
            accepted.append((i, request))
        if accepted:
            audit = [
                accepted_entry(r.robot.id, r.audit) if r.audit is not None else None
                for _, r in accepted
            ]
            stored = await self.store.create_robots([r.robot for _, r in accepted], audit)
            if self.status_sync is not None:
                self.status_sync.robots_created()
            for n, ((i, request), robot) in enumerate(zip(accepted, stored, strict=True)):
                submitted = request.robot
                if isinstance(robot, StoreDataError):  # this robot alone cannot be stored
                    answers[i] = SubmitAnswer(submitted.id, error=robot)
                    continue
                created = robot.id == submitted.id
                if created and robot.status is RobotStatus.QUEUED and robot.id not in self.robots:
                    self._enqueue(robot)
                answers[i] = SubmitAnswer(
                    id=robot.id,
                    status=robot.status,
                    created=created,
                    same_request=robot.same_request(submitted),
                    audited=created and audit[n] is not None,
                )
            self._wake.set()
        return [a for a in answers if a is not None]

    def _enqueue(self, robot: Robot) -> None:
        self.robots[robot.id] = robot
        self.queues[robot.type].push(
            robot.id,
            robot.attempt,
            robot.priority,
            robot.deadline,
            robot.created_at,
            robot.not_before,
        )

    # -- dispatch ------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while not self.stopping:
            self._wake.clear()
            try:
                self._dispatch_ready()
            except Exception:
                log.exception("dispatch step failed")
            timeout = 1.0
            for queue in self.queues.values():
                ready_at = queue.next_ready_at()
                if ready_at is not None:
                    timeout = min(timeout, max(0.001, ready_at - time.time()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    def _dispatch_ready(self) -> None:
        for robot_type, queue in self.queues.items():
            if not queue.ready_count():
                continue
            modules = [self.modules[name] for name in self.type_modules.get(robot_type, ())]
            candidates = [m.load() for m in modules]
            batches: dict[tuple[str, int], list[tuple[Robot, Transition]]] = defaultdict(list)
            while True:
                chosen, replica_load, decision = place(candidates, self._rng)
                if chosen is None or replica_load is None:
                    if queue.ready_count():
                        self.waits[robot_type] = (decision, time.time())
                    break
                popped = queue.pop()
                if popped is None:
                    break
                robot = self.robots.get(popped[0])
                if (
                    robot is None
                    or robot.attempt != popped[1]
                    or robot.status is not RobotStatus.QUEUED
                ):
                    continue
                module = self.modules[chosen.name]
                slot = next(r for r in module.replicas if r.name == replica_load.name)
                replica_load.in_flight += 1
                slot.run(robot.id)
                module.breaker.on_dispatch()
                chosen.accepting = module.breaker.allows()
                chosen.probing = chosen.probing and chosen.accepting
                self._note_wait(robot, decision)
                start = lifecycle.start(robot.id, robot.attempt, module.name, slot.name, decision)
                lifecycle.apply(robot, start)
                batches[(module.name, slot.index)].append((robot, start))
            for (module_name, index), batch in batches.items():
                module = self.modules[module_name]
                self.tasks.spawn(self._run_batch(module, module.replicas[index], batch))

    def _note_wait(self, robot: Robot, decision: RouteDecision) -> None:
        """Record on a placement why its robot waited, if its type had no room since the
        robot was ready in line (the latest reason; a dict lookup per robot)."""
        wait = self.waits.get(robot.type)
        if wait is None:
            return
        ready_at = max(robot.updated_at, robot.not_before)
        blocked, at = wait
        if at >= ready_at:
            decision.waited = blocked.wait
            decision.waited_s = max(0.0, time.time() - ready_at)

    def route_wait(self, robot_id: str) -> RouteDecision | None:
        """Why a queued robot waits in line now, or None (unknown here, not queued, or not
        held up: it is placed at the next dispatch or waits for its retry time).

        The answer is its type's latest decision that placed nothing, taken after the robot
        was ready, with ``waited`` set to that reason and ``waited_s`` to the seconds since.
        """
        robot = self.robots.get(robot_id)
        wait = self.waits.get(robot.type) if robot is not None else None
        if robot is None or wait is None or robot.status is not RobotStatus.QUEUED:
            return None
        ready_at = max(robot.updated_at, robot.not_before)
        blocked, at = wait
        if at < ready_at:
            return None
        return RouteDecision(
            blocked.candidates,
            wait=blocked.wait,
            waited=blocked.wait,
            waited_s=max(0.0, time.time() - ready_at),
        )

    async def _run_batch(
        self, module: DeployedModule, slot: ReplicaSlot, batch: list[tuple[Robot, Transition]]
    ) -> None:
        generation = slot.generation
        robots = [robot for robot, _ in batch]
        self.dispatched += len(robots)
        self.tally.dispatch(module.name, len(robots))
        started = self.writer.write([start for _, start in batch])
        deadline = max(r.timeout_s for r in robots) + ANSWER_GRACE_S
        try:
            outcomes = await asyncio.wait_for(
                self.driver.run(slot.handle, Dispatch(robots)), deadline
            )
        except ReplicaLost as exc:
            self._replica_failed(module, slot, generation, f"lost: {exc}")
            return
        except TimeoutError:
            self._replica_failed(module, slot, generation, f"no answer in {deadline:g}s")
            return
        except Exception as exc:
            self._replica_failed(module, slot, generation, f"call failed: {exc!r}")
            return
        try:
            await started
        except Exception:
            log.exception("recording the start of %d robots failed", len(robots))
        transitions = [
            t
            for robot, outcome in zip(robots, outcomes, strict=True)
            if (t := self._settle(module, slot, robot, outcome)) is not None
        ]
        if transitions:
            await self._record(transitions)
        self._wake.set()

    def _settle(
        self, module: DeployedModule, slot: ReplicaSlot, robot: Robot, outcome: Outcome
    ) -> Transition | None:
        """Turn one outcome into its transition; None if the robot moved on meanwhile.

        The module's breaker hears what its code did: a success, a retryable failure or a
        timeout. A cancel or a permanent refusal of the input says nothing of the module's
        health and only frees a half-open breaker's trial.
        """
        slot.finish(robot.id)
        self.tally.run_time(robot.type, outcome.seconds)
        if self.robots.get(robot.id) is not robot or robot.attempt != outcome.attempt:
            module.breaker.release()
            return None  # cancelled after its grace, or requeued when its replica was lost
        transition: Transition
        if outcome.kind is OutcomeKind.SUCCEEDED:
            module.breaker.record(True)
            module.observe(True, outcome.seconds)
            transition = lifecycle.succeed(robot.id, robot.attempt, outcome.result)
        elif outcome.kind is OutcomeKind.CANCELLED:
            module.breaker.release()
            reason = outcome.error or "cancelled by request"
            transition = lifecycle.cancel(robot.id, robot.attempt, RobotStatus.RUNNING, reason)
        else:
            retryable = outcome.kind is OutcomeKind.TIMED_OUT or outcome.retryable
            if retryable:
                module.breaker.record(False)
                module.observe(False, outcome.seconds)
            else:
                module.breaker.release()
            error = outcome.error or f"attempt {outcome.kind}"
            transition = self._retry_or_give_up(robot, error, retryable)
        self._after(robot, transition)
        return transition

    def _retry_or_give_up(
        self, robot: Robot, error: str, retryable: bool, backoff: bool = True
    ) -> Transition:
        return lifecycle.give_up_or_retry(
            robot.id,
            robot.attempt,
            robot.max_attempts,
            error,
            retryable=retryable,
            from_status=robot.status,
            base_delay_s=self.settings.retry_base_s,
            max_delay_s=self.settings.retry_max_s,
            backoff=backoff,
        )

    def _after(self, robot: Robot, transition: Transition) -> None:
        """Apply a transition to the in-memory robot: requeue it, or let it go if terminal.

        A terminal transition first takes the chain steps of the rules on its robot's type.
        """
        self._chain(robot, transition)
        lifecycle.apply(robot, transition)
        self.tally.transition(robot.type, transition)
        if robot.status is RobotStatus.QUEUED:
            self._enqueue(robot)
        else:
            self.robots.pop(robot.id, None)

    # -- rules: chains on the completion path --------------------------------------------

    def _chain(self, robot: Robot, transition: Transition) -> None:
        """Let the rules on the robot's type add chain steps to its terminal transition."""
        rules = self.rules.on_robot.get(robot.type)  # the one cost for robots no rule watches
        if rules and transition.to_status.terminal:
            self.rules.chain(robot, transition, rules)

    async def _record(self, transitions: list[Transition]) -> list[bool]:
        """Write transitions in order; queue the chain steps of those that applied.

        A chain step is stored in its parent's transaction, so a restart finds it queued in
        the store if the orchestrator dies before this queues it.
        """
        applied = await self.writer.write(transitions)
        children = [
            child
            for t, ok in zip(transitions, applied, strict=True)
            if ok and t.children
            for child in t.children
        ]
        if children:
            self.accept(children)
        return applied

    # -- the rule keeper's view of the fleet (actors.rules.Fleet) -------------------------

    def handles(self, robot_type: str) -> bool:
        """Whether some module handles ``robot_type``."""
        return bool(self.type_modules.get(robot_type))

    def queued(self, robot_type: str) -> int:
        """Robots waiting in the queue of ``robot_type``."""
        queue = self.queues.get(robot_type)
        return len(queue) if queue is not None else 0

    def unfinished(self, robot_id: str) -> bool:
        """Whether a robot is queued or running here."""
        return robot_id in self.robots

    def accept(self, robots: list[Robot]) -> None:
        """Queue robots the store has just recorded as queued (chain steps, rule robots)."""
        for robot in robots:
            if robot.id not in self.robots:
                self._enqueue(robot)
        if self.status_sync is not None:
            self.status_sync.robots_created()  # cached list pages are out of date
        self._wake.set()

    # -- rules and schedules through the API ---------------------------------------------

    async def create_rule(self, rule: Rule) -> RuleRecord:
        """Add a rule or schedule; raises ``RuleExists`` when its id is taken."""
        return await self.rules.create(rule)

    async def delete_rule(self, rule_id: str) -> None:
        """Remove a rule or schedule; raises ``UnknownRule`` or ``RuleExists`` (config)."""
        await self.rules.delete(rule_id)

    def list_rules(self) -> list[RuleRecord]:
        """Every rule and schedule with its state, by id."""
        return self.rules.list()

    def get_rule(self, rule_id: str) -> RuleRecord:
        """One rule or schedule with its state; raises ``UnknownRule``."""
        return self.rules.get(rule_id)

    async def pause_schedule(self, rule_id: str, paused: bool) -> RuleRecord:
        """Pause (``paused``) or resume a schedule; raises ``UnknownRule``."""
        return await self.rules.set_paused(rule_id, paused)

    async def trigger_schedule(self, rule_id: str) -> ScheduleAnswer:
        """Fire a schedule now; raises ``UnknownRule`` or ``RuleRejected``."""
        return await self.rules.trigger(rule_id)

    async def backfill_schedule(self, rule_id: str, start: float, end: float) -> ScheduleAnswer:
        """Fire a schedule's slots in ``[start, end]`` not fired yet; raises ``UnknownRule``
        or ``RuleRejected``."""
        return await self.rules.backfill(rule_id, start, end)

    # -- lost replicas -------------------------------------------------------------------

    def _replica_failed(
        self, module: DeployedModule, slot: ReplicaSlot, generation: int, reason: str
    ) -> None:
        if slot.generation == generation and not slot.replacing:
            self.supervisor.replace(module, slot, reason)

    def requeue_lost(
        self, module: DeployedModule, slot: ReplicaSlot, robot_ids: set[str], reason: str
    ) -> None:
        """Requeue (or give up on) robots that were running on a replica that is gone.

        A lost replica is supervision's business, not a failure of the module's code: the
        breaker counts none of these robots (a half-open one lets its next trial go), so the
        module keeps running on its other replicas while this one is replaced.
        """
        transitions = []
        for robot_id in robot_ids:
            robot = self.robots.get(robot_id)
            if (
                robot is None
                or robot.status is not RobotStatus.RUNNING
                or robot.replica != slot.name
            ):
                continue
            module.breaker.release()
            transition = self._retry_or_give_up(
                robot, f"replica {slot.name} {reason}", retryable=True, backoff=False
            )
            self._after(robot, transition)
            transitions.append(transition)
        if transitions:
            self.tasks.spawn(self._record(transitions))
        self._wake.set()

    # -- progress ------------------------------------------------------------------------

    def report_progress(self, batch: list[Progress]) -> None:
        """Take coalesced progress reports from a replica and record the latest of each.

        Reports of robots no longer running here, or of an older attempt, are dropped.
        """
        updates = []
        for report in batch:
            robot = self.robots.get(report.robot_id)
            if robot is None or robot.attempt != report.attempt:
                continue
            robot.progress, robot.message = report.fraction, report.message
            updates.append(report)
        if updates:
            self.tasks.spawn(self._save_progress(updates))

    async def _save_progress(self, updates: list[Progress]) -> None:
        try:
            await self.store.save_progress(updates)
        except Exception:
            log.warning("saving progress of %d robots failed", len(updates), exc_info=True)

    # -- cancel --------------------------------------------------------------------------

    async def cancel(self, robot_id: str, reason: str = "cancelled by request") -> CancelAnswer:
        """Cancel a robot: a queued one at once, a running one by asking its replica.

        A running robot's context is marked cancelled; when its module stops, the replica's
        outcome comes back cancelled and is recorded as such. If the module does not stop
        within ``cancel_grace_s``, the robot is recorded cancelled anyway (its late outcome
        is then ignored). Raises ``RobotNotFound``, ``AlreadyTerminal``, or
        ``NotCancellable`` (an unfinished robot not in memory yet: retry shortly).
        """
        robot = self.robots.get(robot_id)
        if robot is None:
            stored = await self.store.get_robot(robot_id)
            if stored is None:
                raise RobotNotFound(f"no robot with id {robot_id!r}")
            if stored.status.terminal:
                raise AlreadyTerminal(f"robot {robot_id} is already {stored.status}")
            raise NotCancellable(f"robot {robot_id} is being recovered; retry")
        if robot.status is RobotStatus.QUEUED:
            return await self._cancel_queued(robot, reason)
        await self._ask_replica_to_cancel(robot)
        self.tasks.spawn(self._cancel_after_grace(robot_id, robot.attempt, reason))
        return CancelAnswer(robot_id, RobotStatus.RUNNING, cancel_requested=True)

    async def _cancel_queued(self, robot: Robot, reason: str) -> CancelAnswer:
        # Synchronous up to the write: the dispatch loop cannot start it in between.
        self.queues[robot.type].discard(robot.id)
        self.robots.pop(robot.id, None)
        transition = lifecycle.cancel(robot.id, robot.attempt, RobotStatus.QUEUED, reason)
        self._chain(robot, transition)
        lifecycle.apply(robot, transition)
        self.tally.transition(robot.type, transition)
        [applied] = await self._record([transition])
        if not applied:
            stored = await self.store.get_robot(robot.id)
            status = stored.status.value if stored is not None else "unknown"
            raise AlreadyTerminal(f"robot {robot.id} is already {status}")
        return CancelAnswer(robot.id, RobotStatus.CANCELLED, cancel_requested=False)

    async def _ask_replica_to_cancel(self, robot: Robot) -> None:
        module = self.modules.get(robot.module or "")
        slot = module.replica(robot.replica) if module is not None else None
        if slot is not None and slot.handle is not None:
            await self.driver.cancel(slot.handle, robot.id)

    async def _cancel_after_grace(self, robot_id: str, attempt: int, reason: str) -> None:
        """Record the cancel of a running robot whose module did not stop in time."""
        grace = self.settings.cancel_grace_s
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, grace))
            robot = self.robots.get(robot_id)
            if robot is None:
                return  # settled: its module honoured the cancel, or it finished first
            if robot.status is RobotStatus.QUEUED:
                await self._cancel_queued(robot, reason)  # it failed and was requeued
                return
            if robot.attempt != attempt:  # requeued and started again between two looks
                attempt = robot.attempt
                await self._ask_replica_to_cancel(robot)
        robot = self.robots.get(robot_id)
        if robot is None or robot.status is not RobotStatus.RUNNING or robot.attempt != attempt:
            return
        # The replica keeps the slot until its late answer comes back and is ignored.
        self.robots.pop(robot_id, None)
        transition = lifecycle.cancel(
            robot_id,
            attempt,
            RobotStatus.RUNNING,
            f"{reason}; the module did not stop within {grace:g}s",
        )
        self._chain(robot, transition)
        lifecycle.apply(robot, transition)
        self.tally.transition(robot.type, transition)
        await self._record([transition])

    # -- the cluster ---------------------------------------------------------------------

    async def drain_node(self, node_id: str, timeout_s: float = 60.0) -> int:
        """Move work off a node that is about to leave; returns how many replicas moved.

        Robots still running on it after ``timeout_s`` are requeued.
        """
        return await self.supervisor.drain_node(node_id, timeout_s)

    def cluster_settings(self) -> Settings:
        """The settings every node's gateway must share (store, Redis, limits, namespace)."""
        return self.settings

    def replica_nodes(self) -> dict[str, str | None]:
        """Which node each replica runs on, by replica name."""
        return {r.name: r.node_id for m in self.modules.values() for r in m.replicas}

    def stats(self) -> OrchestratorStats:
        """Counters for metrics and benchmarks."""
        return OrchestratorStats(
            queued=sum(len(q) for q in self.queues.values()),
            in_memory=len(self.robots),
            dispatched=self.dispatched,
            commits=self.writer.commits,
        )

    def queue_depths(self) -> dict[str, int]:
        """Robots queued for each module (a type several modules serve counts for each)."""
        return figures.queue_depths(self.modules, self.queues)

    def replica_in_flight(self) -> dict[str, dict[str, int]]:
        """Robots running on each replica, by module then replica name (as routing counts)."""
        return figures.replica_in_flight(self.modules)

    def robot_figures(self) -> RobotFigures:
        """Every robot figure of ``/metrics`` (see :func:`actors.robot_figures.robot_figures`)."""
        fleet = figures.robot_figures(
            self.robots, self.modules, self.queues, self.tally, self.started_at
        )
        fleet.autoscaling_desired = self.autoscaler.desired()
        fleet.autoscaling_decisions = self.autoscaler.decision_counts()
        return fleet

    def __repr__(self) -> str:
        """Live state for the Ray dashboard's Repr column and logs: robots and modules."""
        return figures.orchestrator_repr(self.robots, self.modules)

    def _wake_up(self) -> None:
        self._wake.set()
