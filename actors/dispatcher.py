"""Dispatch: place queued robots on replicas, run them in batches, hand back the outcomes.

:class:`Dispatcher` runs the orchestrator's dispatch loop: whenever the
:class:`~actors.robot_book.RobotBook` wakes it (or the next delayed robot is due), it places
every ready robot with :func:`runtime.routing.place`, sends each replica its batch in one
call, and settles the outcomes through the book. It remembers, per robot type, why the
last placement found no room, to answer why a robot waits. A replica that fails a batch
call is handed to the supervisor to be replaced.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict

from actors.deployment import DeployedModule, ReplicaSlot
from actors.driver import ReplicaDriver
from actors.module_registry import ModuleRegistry
from actors.robot_book import RobotBook
from actors.supervisor import Supervisor
from runtime import lifecycle
from runtime.errors import ReplicaLost
from runtime.lifecycle import Transition
from runtime.messages import Dispatch
from runtime.models import Robot, RobotStatus
from runtime.routing import RouteDecision, place
from runtime.tasks import BackgroundTasks

log = logging.getLogger(__name__)

ANSWER_GRACE_S = 30.0
"""How long past a batch's longest ``timeout_s`` a replica may take to answer."""


class Dispatcher:
    """Places the book's ready robots on the registry's replicas and runs them."""

    def __init__(
        self,
        book: RobotBook,
        registry: ModuleRegistry,
        driver: ReplicaDriver,
        supervisor: Supervisor,
        tasks: BackgroundTasks,
    ) -> None:
        self.book = book
        self.registry = registry
        self.driver = driver
        self.supervisor = supervisor
        self.tasks = tasks
        self._rng = random.Random()
        self.stopping = False
        self.dispatched = 0
        # Per robot type, the latest decision that placed nothing while robots were ready.
        self.waits: dict[str, tuple[RouteDecision, float]] = {}

    async def run(self) -> None:
        """Dispatch whenever woken or a delayed robot is due, until stopped."""
        wake = self.book.wake
        while not self.stopping:
            wake.clear()
            try:
                self.dispatch_ready()
            except Exception:
                log.exception("dispatch step failed")
            timeout = 1.0
            for queue in self.book.queues.values():
                ready_at = queue.next_ready_at()
                if ready_at is not None:
                    timeout = min(timeout, max(0.001, ready_at - time.time()))
            try:
                await asyncio.wait_for(wake.wait(), timeout)
            except TimeoutError:
                pass

    def stop(self) -> None:
        """End the loop at its next turn."""
        self.stopping = True
        self.book.wake.set()

    def dispatch_ready(self) -> None:
        """Place every ready robot a replica has room for; start one batch per replica."""
        modules = self.registry.modules
        for robot_type, queue in self.book.queues.items():
            if not queue.ready_count():
                continue
            names = self.registry.type_modules.get(robot_type, ())
            candidates = [modules[name].load() for name in names]
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
                robot = self.book.robots.get(popped[0])
                if (
                    robot is None
                    or robot.attempt != popped[1]
                    or robot.status is not RobotStatus.QUEUED
                ):
                    continue
                module = modules[chosen.name]
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
                module = modules[module_name]
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
        robot = self.book.robots.get(robot_id)
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
        self.book.tally.dispatch(module.name, len(robots))
        started = self.book.writer.write([start for _, start in batch])
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
            if (t := self.book.settle(module, slot, robot, outcome)) is not None
        ]
        if transitions:
            await self.book.record(transitions)
        self.book.wake.set()

    def _replica_failed(
        self, module: DeployedModule, slot: ReplicaSlot, generation: int, reason: str
    ) -> None:
        if slot.generation == generation and not slot.replacing:
            self.supervisor.replace(module, slot, reason)
