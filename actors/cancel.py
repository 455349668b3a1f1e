"""Cancel: end a queued robot at once, or ask the replica running it to stop.

A running robot's cancel is asked of its replica; if its module has not stopped within the
grace period, :class:`Canceller` records the robot cancelled anyway (its late outcome is
then ignored by :meth:`~actors.robot_book.RobotBook.settle`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from actors.deployment import DeployedModule
from actors.driver import ReplicaDriver
from actors.robot_book import RobotBook
from runtime import lifecycle
from runtime.errors import AlreadyTerminal, NotCancellable, RobotNotFound
from runtime.messages import CancelAnswer
from runtime.models import Robot, RobotStatus
from runtime.tasks import BackgroundTasks


class Canceller:
    """Cancels the book's robots; ``grace_s`` is how long a running module has to stop."""

    def __init__(
        self,
        book: RobotBook,
        modules: Mapping[str, DeployedModule],
        driver: ReplicaDriver,
        grace_s: float,
        tasks: BackgroundTasks,
    ) -> None:
        self.book = book
        self.modules = modules
        self.driver = driver
        self.grace_s = grace_s
        self.tasks = tasks

    async def cancel(self, robot_id: str, reason: str) -> CancelAnswer:
        """Cancel a robot: a queued one at once, a running one by asking its replica.

        Raises ``RobotNotFound``, ``AlreadyTerminal``, or ``NotCancellable`` (an unfinished
        robot not in memory yet: retry shortly).
        """
        robot = self.book.robots.get(robot_id)
        if robot is None:
            stored = await self.book.store.get_robot(robot_id)
            if stored is None:
                raise RobotNotFound(f"no robot with id {robot_id!r}")
            if stored.status.terminal:
                raise AlreadyTerminal(f"robot {robot_id} is already {stored.status}")
            raise NotCancellable(f"robot {robot_id} is being recovered; retry")
        if robot.status is RobotStatus.QUEUED:
            return await self._cancel_queued(robot, reason)
        await self._ask_replica(robot)
        self.tasks.spawn(self._cancel_after_grace(robot_id, robot.attempt, reason))
        return CancelAnswer(robot_id, RobotStatus.RUNNING, cancel_requested=True)

    async def _cancel_queued(self, robot: Robot, reason: str) -> CancelAnswer:
        # Synchronous up to the write: the dispatch loop cannot start it in between.
        self.book.queues[robot.type].discard(robot.id)
        self.book.robots.pop(robot.id, None)
        transition = lifecycle.cancel(robot.id, robot.attempt, RobotStatus.QUEUED, reason)
        self.book.apply(robot, transition)
        [applied] = await self.book.record([transition])
        if not applied:
            stored = await self.book.store.get_robot(robot.id)
            status = stored.status.value if stored is not None else "unknown"
            raise AlreadyTerminal(f"robot {robot.id} is already {status}")
        return CancelAnswer(robot.id, RobotStatus.CANCELLED, cancel_requested=False)

    async def _ask_replica(self, robot: Robot) -> None:
        module = self.modules.get(robot.module or "")
        slot = module.replica(robot.replica) if module is not None else None
        if slot is not None and slot.handle is not None:
            await self.driver.cancel(slot.handle, robot.id)

    async def _cancel_after_grace(self, robot_id: str, attempt: int, reason: str) -> None:
        """Record the cancel of a running robot whose module did not stop in time."""
        grace = self.grace_s
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, grace))
            robot = self.book.robots.get(robot_id)
            if robot is None:
                return  # settled: its module honoured the cancel, or it finished first
            if robot.status is RobotStatus.QUEUED:
                await self._cancel_queued(robot, reason)  # it failed and was requeued
                return
            if robot.attempt != attempt:  # requeued and started again between two looks
                attempt = robot.attempt
                await self._ask_replica(robot)
        robot = self.book.robots.get(robot_id)
        if robot is None or robot.status is not RobotStatus.RUNNING or robot.attempt != attempt:
            return
        # The replica keeps the slot until its late answer comes back and is ignored.
        self.book.robots.pop(robot_id, None)
        transition = lifecycle.cancel(
            robot_id,
            attempt,
            RobotStatus.RUNNING,
            f"{reason}; the module did not stop within {grace:g}s",
        )
        self.book.apply(robot, transition)
        await self.book.record([transition])
