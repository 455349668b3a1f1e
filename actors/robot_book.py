"""The robots the orchestrator holds (queued or running) and every change to their state.

:class:`RobotBook` keeps the unfinished robots in memory with a :class:`RobotQueue` per
robot type, and moves them through :mod:`runtime.lifecycle`: it turns a replica's outcome
into its transition (:meth:`RobotBook.settle`), retries or gives up, lets the rules add
chain steps to a terminal transition, and records transitions in order through the
:class:`~actors.writer.TransitionWriter`. Recovery after a restart, robots lost with a
replica, and progress reports go through it too. It never calls a replica.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from actors.cache_sync import RobotStatusSync
from actors.deployment import DeployedModule, ReplicaSlot
from actors.rules import RuleKeeper
from actors.writer import TransitionWriter
from runtime import lifecycle
from runtime.config import Settings
from runtime.lifecycle import Transition
from runtime.messages import Outcome, OutcomeKind, Progress
from runtime.models import Robot, RobotStatus
from runtime.queue import RobotQueue
from runtime.robot_tally import RobotTally
from runtime.store.base import RobotStore
from runtime.tasks import BackgroundTasks

log = logging.getLogger(__name__)


class RobotBook:
    """Unfinished robots by id, their queues by type, and the path every transition takes.

    ``wake`` is set whenever there may be work to dispatch (a robot queued, a slot freed).
    """

    def __init__(
        self,
        settings: Settings,
        store: RobotStore,
        writer: TransitionWriter,
        rules: RuleKeeper,
        status_sync: RobotStatusSync | None,
        tasks: BackgroundTasks,
    ) -> None:
        self.settings = settings
        self.store = store
        self.writer = writer
        self.rules = rules
        self.status_sync = status_sync
        self.tasks = tasks
        self.robots: dict[str, Robot] = {}
        self.queues: dict[str, RobotQueue] = defaultdict(RobotQueue)
        self.tally = RobotTally()
        self.wake = asyncio.Event()

    def enqueue(self, robot: Robot) -> None:
        """Hold a queued robot and put it in line in its type's queue."""
        self.robots[robot.id] = robot
        self.queues[robot.type].push(
            robot.id,
            robot.attempt,
            robot.priority,
            robot.deadline,
            robot.created_at,
            robot.not_before,
        )

    def accept(self, robots: list[Robot]) -> None:
        """Queue robots the store has just recorded as queued (chain steps, rule robots)."""
        for robot in robots:
            if robot.id not in self.robots:
                self.enqueue(robot)
        if self.status_sync is not None:
            self.status_sync.robots_created()  # cached list pages are out of date
        self.wake.set()

    async def recover(self) -> None:
        """Hold the store's unfinished robots again: queued ones in line, running ones retried
        (or given up on) since their attempt died with the previous orchestrator."""
        requeues: list[Transition] = []
        for robot in await self.store.unfinished_robots():
            if robot.status is RobotStatus.RUNNING:
                t = self.retry_or_give_up(
                    robot,
                    f"orchestrator restarted while attempt {robot.attempt} ran",
                    retryable=True,
                    backoff=False,
                )
                requeues.append(t)
                self.apply(robot, t)
            else:
                self.enqueue(robot)
        if requeues:
            await self.record(requeues)
        log.info(
            "recovered %d unfinished robots (%d were running)", len(self.robots), len(requeues)
        )

    # -- outcomes ------------------------------------------------------------------------

    def settle(
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
            transition = self.retry_or_give_up(robot, error, retryable)
        self.apply(robot, transition)
        return transition

    def retry_or_give_up(
        self, robot: Robot, error: str, retryable: bool, backoff: bool = True
    ) -> Transition:
        """The transition of a failed attempt: back to queued, or failed/dead past its last."""
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
            transition = self.retry_or_give_up(
                robot, f"replica {slot.name} {reason}", retryable=True, backoff=False
            )
            self.apply(robot, transition)
            transitions.append(transition)
        if transitions:
            self.tasks.spawn(self.record(transitions))
        self.wake.set()

    # -- applying and recording ----------------------------------------------------------

    def apply(self, robot: Robot, transition: Transition) -> None:
        """Apply a transition to the in-memory robot: requeue it, or let it go if terminal.

        A terminal transition first takes the chain steps of the rules on its robot's type.
        """
        rules = self.rules.on_robot.get(robot.type)  # the one cost for robots no rule watches
        if rules and transition.to_status.terminal:
            self.rules.chain(robot, transition, rules)
        lifecycle.apply(robot, transition)
        self.tally.transition(robot.type, transition)
        if robot.status is RobotStatus.QUEUED:
            self.enqueue(robot)
        else:
            self.robots.pop(robot.id, None)

    async def record(self, transitions: list[Transition]) -> list[bool]:
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
