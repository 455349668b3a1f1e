"""The orchestrator: accepts robots, routes them to replicas and records every outcome.

A plain class: the Ray actor wrapper lives in ``actors.remote`` and replicas are reached
through a :class:`~actors.driver.ReplicaDriver`, so all of this runs without Ray in tests.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from typing import Any

from pydantic import ValidationError

from actors import cluster_ops
from actors.cache import CacheCalls
from actors.cache_sync import ModuleBoard, RobotStatusSync
from actors.driver import ReplicaDriver
from actors.fleet import ModuleRuntime, ReplicaSlot, Supervisor, new_module_runtime
from actors.writer import TransitionWriter
from runtime import lifecycle
from runtime.config import Settings
from runtime.errors import ModuleExists, ModuleRejected, ReplicaLost
from runtime.keys import accepted_entry
from runtime.lifecycle import Transition
from runtime.models import ModuleSpec, Robot, RobotStatus
from runtime.queue import RobotQueue
from runtime.registry import validate_module
from runtime.routing import choose_module, pick_replica
from runtime.store.base import ProgressUpdate, RobotStore

log = logging.getLogger(__name__)

ANSWER_GRACE_S = 30.0


def _error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


class Orchestrator:
    """Holds the module registry, per-type robot queues and in-flight counts; dispatches."""

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
        self.modules: dict[str, ModuleRuntime] = {}
        self.type_modules: dict[str, list[str]] = defaultdict(list)
        self.queues: dict[str, RobotQueue] = defaultdict(RobotQueue)
        self.robots: dict[str, Robot] = {}
        # With a cache, every commit marks the robots it changes there (actors.cache_sync).
        self.status_sync = RobotStatusSync(cache) if cache is not None else None
        self.module_board = ModuleBoard(cache) if cache is not None else None
        self.writer = TransitionWriter(store, self.status_sync)
        self.supervisor = Supervisor(driver, settings, self.requeue_lost, self._wake_up)
        self._wake = asyncio.Event()
        self._rng = random.Random()
        self._tasks: set[asyncio.Task] = set()
        self.stopping = False
        self.dispatched = 0
        self.rejected: dict[str, str] = {}

    # -- lifecycle -----------------------------------------------------------------------

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
        await self._recover()
        self._spawn(self._dispatch_loop())
        self._spawn(self._health_loop())
        self._spawn(cluster_ops.watch_nodes(self))

    async def stop(self) -> None:
        """Stop the loops and flush pending writes (replicas are left to the caller)."""
        self.stopping = True
        self._wake.set()
        for task in list(self._tasks):
            task.cancel()
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
            await self.writer.write(requeues)
        log.info(
            "recovered %d unfinished robots (%d were running)", len(self.robots), len(requeues)
        )

    # -- modules -------------------------------------------------------------------------

    def _deploy(self, spec: ModuleSpec, reuse: bool) -> ModuleRuntime:
        module = new_module_runtime(spec, self.settings)
        self.modules[spec.name] = module
        for robot_type in spec.types:
            self.type_modules[robot_type].append(spec.name)
        for replica in module.replicas:
            self.supervisor.spawn(self.supervisor.bring_up(module, replica, reuse=reuse))
        return module

    async def register_module(self, raw_spec: dict[str, Any]) -> dict[str, Any]:
        """Validate and deploy a module at run time; raise ModuleRejected with the reason."""
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
        module = self._deploy(spec, reuse=False)
        return self.module_info(module)

    def list_modules(self) -> list[dict[str, Any]]:
        """Every module with its health, breaker state, queue length and replicas."""
        return [self.module_info(m) for m in self.modules.values()]

    def robot_types(self) -> list[str]:
        """Robot types some registered module handles."""
        return sorted(t for t, names in self.type_modules.items() if names)

    def module_info(self, module: ModuleRuntime) -> dict[str, Any]:
        """What ``GET /v1/modules`` shows of one module."""
        queued = sum(len(self.queues[t]) for t in module.spec.types if t in self.queues)
        return module.info(queued).model_dump(mode="json")

    # -- submit --------------------------------------------------------------------------

    async def submit_many(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Persist and enqueue robots; return, per item, its id and status or an error.

        Each item is a validated ``RobotRequest`` dict plus the ``id`` the gateway chose,
        so a retried call after an orchestrator restart cannot create a robot twice. An item
        may carry ``audit`` (who asked, see :func:`runtime.keys.accepted_entry`): the robot's
        audit entry is then stored with it and its answer says ``audited``.
        """
        answers: list[dict[str, Any] | None] = [None] * len(items)
        accepted: list[tuple[int, Robot]] = []
        pending_per_type: dict[str, int] = defaultdict(int)
        for i, item in enumerate(items):
            robot_type = item.get("type", "")
            if not self.type_modules.get(robot_type):
                answers[i] = _error("unknown_robot_type", f"no module handles type {robot_type!r}")
                continue
            if (
                len(self.queues[robot_type]) + pending_per_type[robot_type]
                >= self.settings.max_queued_per_type
            ):
                answers[i] = _error(
                    "queue_full", f"the queue of type {robot_type!r} is full", retry_after_s=1.0
                )
                continue
            pending_per_type[robot_type] += 1
            accepted.append((i, Robot.model_validate(item)))
        if accepted:
            audit = [
                accepted_entry(robot.id, items[i]["audit"]) if items[i].get("audit") else None
                for i, robot in accepted
            ]
            stored = await self.store.create_robots([robot for _, robot in accepted], audit)
            if self.status_sync is not None:
                self.status_sync.robots_created()
            for n, ((i, submitted), robot) in enumerate(zip(accepted, stored, strict=True)):
                fresh = robot.id == submitted.id and robot.status is RobotStatus.QUEUED
                if fresh and robot.id not in self.robots:
                    self._enqueue(robot)
                answers[i] = {
                    "id": robot.id,
                    "status": robot.status.value,
                    "created": robot.id == submitted.id,
                    "same_request": robot.same_request(submitted),
                    "audited": robot.id == submitted.id and audit[n] is not None,
                }
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
            loads = {m.name: m.load() for m in modules}
            batches: dict[tuple[str, int], list[Robot]] = defaultdict(list)
            while True:
                chosen = choose_module(list(loads.values()))
                if chosen is None:
                    break
                replica_load = pick_replica(chosen.replicas, self._rng)
                if replica_load is None:
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
                replica = next(r for r in module.replicas if r.name == replica_load.name)
                replica_load.in_flight += 1
                replica.in_flight.add(robot.id)
                module.breaker.on_dispatch()
                chosen.accepting = module.breaker.allows()
                chosen.probing = chosen.probing and chosen.accepting
                robot.status, robot.module, robot.replica = (
                    RobotStatus.RUNNING,
                    module.name,
                    replica.name,
                )
                batches[(module.name, replica.index)].append(robot)
            for (module_name, index), robots in batches.items():
                module = self.modules[module_name]
                self._spawn(self._run_batch(module, module.replicas[index], robots))

    async def _run_batch(
        self, module: ModuleRuntime, replica: ReplicaSlot, robots: list[Robot]
    ) -> None:
        generation = replica.generation
        self.dispatched += len(robots)
        starts = [lifecycle.start(r.id, r.attempt, module.name, replica.name) for r in robots]
        started = self.writer.write(starts)
        wire = [r.model_dump(mode="json") for r in robots]
        deadline = max(r.timeout_s for r in robots) + ANSWER_GRACE_S
        try:
            outcomes = await asyncio.wait_for(self.driver.run(replica.handle, wire), deadline)
        except ReplicaLost as exc:
            self._replica_failed(module, replica, generation, f"lost: {exc}")
            return
        except TimeoutError:
            self._replica_failed(module, replica, generation, f"no answer in {deadline:g}s")
            return
        except Exception as exc:
            self._replica_failed(module, replica, generation, f"call failed: {exc!r}")
            return
        try:
            await started
        except Exception:
            log.exception("recording the start of %d robots failed", len(robots))
        transitions = [
            t
            for robot, outcome in zip(robots, outcomes, strict=True)
            if (t := self._settle(module, replica, robot, outcome)) is not None
        ]
        if transitions:
            await self.writer.write(transitions)
        self._wake.set()

    def _settle(
        self, module: ModuleRuntime, replica: ReplicaSlot, robot: Robot, outcome: dict[str, Any]
    ) -> Transition | None:
        replica.in_flight.discard(robot.id)
        replica.completed += 1
        current = self.robots.get(robot.id)
        if current is not robot or robot.attempt != outcome["attempt"]:
            return None
        if outcome["ok"]:
            module.breaker.record(True)
            module.observe(True, outcome["seconds"])
            transition = lifecycle.succeed(robot.id, robot.attempt, outcome["result"])
        elif outcome.get("cancelled"):
            transition = lifecycle.cancel(
                robot.id, robot.attempt, RobotStatus.RUNNING, outcome["error"]
            )
        else:
            if outcome.get("retryable", True):
                module.breaker.record(False)
                module.observe(False, outcome["seconds"])
            transition = self._retry_or_give_up(
                robot, outcome["error"], outcome.get("retryable", True)
            )
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
            base_delay_s=self.settings.retry_base_s,
            max_delay_s=self.settings.retry_max_s,
            backoff=backoff,
        )

    def _after(self, robot: Robot, transition: Transition) -> None:
        """Update the in-memory robot after a transition out of running."""
        if transition.to_status is RobotStatus.QUEUED:
            robot.status = RobotStatus.QUEUED
            robot.attempt = transition.attempt_after
            robot.not_before = transition.fields.get("not_before", 0.0)
            robot.replica = None
            self._enqueue(robot)
        else:
            self.robots.pop(robot.id, None)

    # -- supervision ---------------------------------------------------------------------

    def _replica_failed(
        self, module: ModuleRuntime, replica: ReplicaSlot, generation: int, reason: str
    ) -> None:
        if replica.generation == generation and not replica.replacing:
            self.supervisor.replace(module, replica, reason)

    def requeue_lost(
        self, module: ModuleRuntime, replica: ReplicaSlot, robot_ids: set[str], reason: str
    ) -> None:
        """Requeue (or give up on) robots that were running on a replica that is gone."""
        transitions = []
        for robot_id in robot_ids:
            robot = self.robots.get(robot_id)
            if (
                robot is None
                or robot.status is not RobotStatus.RUNNING
                or robot.replica != replica.name
            ):
                continue
            module.breaker.record(False)
            transition = self._retry_or_give_up(
                robot, f"replica {replica.name} {reason}", retryable=True, backoff=False
            )
            self._after(robot, transition)
            transitions.append(transition)
        if transitions:
            self._spawn(self.writer.write(transitions))
        self._wake.set()

    async def _health_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(self.settings.health_interval_s)
            try:
                await self.supervisor.check_all(list(self.modules.values()))
            except Exception:
                log.exception("health loop step failed")
            if self.module_board is not None:
                await self.module_board.publish(list(self.modules.values()))

    # -- progress ------------------------------------------------------------------------

    def report_progress(self, batch: list[tuple[str, int, float, str | None]]) -> None:
        """Take coalesced progress reports from a replica and record the latest of each."""
        updates = []
        for robot_id, attempt, fraction, message in batch:
            robot = self.robots.get(robot_id)
            if robot is None or robot.attempt != attempt:
                continue
            robot.progress, robot.message = fraction, message
            updates.append(ProgressUpdate(robot_id, attempt, fraction, message))
        if updates:
            self._spawn(self._save_progress(updates))

    async def _save_progress(self, updates: list[ProgressUpdate]) -> None:
        try:
            await self.store.save_progress(updates)
        except Exception:
            log.warning("saving progress of %d robots failed", len(updates), exc_info=True)

    # -- cancel --------------------------------------------------------------------------

    async def cancel(self, robot_id: str, reason: str = "cancelled by request") -> dict[str, Any]:
        """Cancel a robot: a queued one at once, a running one by asking its replica.

        A running robot's context is marked cancelled; when its module stops, the replica's
        outcome comes back with ``cancelled`` and is recorded as such. If the module does
        not stop within ``cancel_grace_s``, the robot is recorded cancelled anyway (its
        late outcome is then ignored). Answers ``{"id", "status", "cancel_requested"}``
        or an error (``not_found``, ``already_terminal``, ``not_cancellable``).
        """
        robot = self.robots.get(robot_id)
        if robot is None:
            stored = await self.store.get_robot(robot_id)
            if stored is None:
                return _error("not_found", f"no robot with id {robot_id!r}")
            if stored.status.terminal:
                return _error("already_terminal", f"robot {robot_id} is already {stored.status}")
            return _error("not_cancellable", f"robot {robot_id} is being recovered; retry")
        if robot.status is RobotStatus.QUEUED:
            return await self._cancel_queued(robot, reason)
        slot = self._replica_slot(robot)
        if slot is not None and slot.handle is not None:
            await self.driver.cancel(slot.handle, robot_id)
        self._spawn(self._cancel_after_grace(robot_id, robot.attempt, reason))
        return {"id": robot_id, "status": RobotStatus.RUNNING.value, "cancel_requested": True}

    async def _cancel_queued(self, robot: Robot, reason: str) -> dict[str, Any]:
        # Synchronous up to the write: the dispatch loop cannot start it in between.
        self.queues[robot.type].discard(robot.id)
        self.robots.pop(robot.id, None)
        robot.status = RobotStatus.CANCELLED
        transition = lifecycle.cancel(robot.id, robot.attempt, RobotStatus.QUEUED, reason)
        [applied] = await self.writer.write([transition])
        if not applied:
            stored = await self.store.get_robot(robot.id)
            status = stored.status.value if stored is not None else "unknown"
            return _error("already_terminal", f"robot {robot.id} is already {status}")
        return {"id": robot.id, "status": RobotStatus.CANCELLED.value, "cancel_requested": False}

    def _replica_slot(self, robot: Robot) -> ReplicaSlot | None:
        module = self.modules.get(robot.module or "")
        if module is None:
            return None
        return next((r for r in module.replicas if r.name == robot.replica), None)

    async def _cancel_after_grace(self, robot_id: str, attempt: int, reason: str) -> None:
        """Record the cancel of a running robot whose module did not stop in time."""
        deadline = time.monotonic() + self.settings.cancel_grace_s
        while time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, self.settings.cancel_grace_s))
            robot = self.robots.get(robot_id)
            if robot is None:
                return  # settled: its module honoured the cancel, or it finished first
            if robot.status is RobotStatus.QUEUED:
                await self._cancel_queued(robot, reason)  # it failed and was requeued
                return
            if robot.attempt != attempt:  # requeued and started again between two looks
                attempt = robot.attempt
                slot = self._replica_slot(robot)
                if slot is not None and slot.handle is not None:
                    await self.driver.cancel(slot.handle, robot_id)
        robot = self.robots.get(robot_id)
        if robot is None or robot.status is not RobotStatus.RUNNING or robot.attempt != attempt:
            return
        # The replica keeps the slot until its late answer comes back and is ignored.
        self.robots.pop(robot_id, None)
        await self.writer.write(
            [
                lifecycle.cancel(
                    robot_id,
                    attempt,
                    RobotStatus.RUNNING,
                    f"{reason}; the module did not stop within {self.settings.cancel_grace_s:g}s",
                )
            ]
        )

    # -- plumbing ------------------------------------------------------------------------

    async def scale_module(self, name: str, replicas: int) -> dict[str, Any]:
        """Change a module's replica count at run time."""
        return await cluster_ops.scale_module(self, name, replicas)

    async def drain_node(self, node_id: str, timeout_s: float = 60.0) -> int:
        """Move work off a node that is about to leave; returns how many replicas moved."""
        return await cluster_ops.drain_node(self, node_id, timeout_s)

    def cluster_settings(self) -> dict[str, Any]:
        """The settings every node's gateway must share (store, Redis, limits, namespace)."""
        return self.settings.model_dump(mode="json")

    def replica_nodes(self) -> dict[str, str | None]:
        """Which node each replica runs on, by replica name."""
        return {r.name: r.node_id for m in self.modules.values() for r in m.replicas}

    def stats(self) -> dict[str, Any]:
        """Counters for metrics and benchmarks."""
        return {
            "queued": sum(len(q) for q in self.queues.values()),
            "in_memory": len(self.robots),
            "dispatched": self.dispatched,
            "commits": self.writer.commits,
        }

    def _wake_up(self) -> None:
        self._wake.set()

    def _spawn(self, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())
