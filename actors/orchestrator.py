"""The orchestrator: accepts robots, routes them to replicas and records every outcome.

A plain class: its Ray actor wrapper lives in ``actors.ray`` and replicas are reached
through a :class:`~actors.driver.ReplicaDriver`, so all of this runs without Ray in tests.
Supervision of the replicas themselves is the :class:`~actors.supervisor.Supervisor`'s; the
orchestrator owns the robots: their queues, which replica runs each, and their lifecycle
(every change is a :mod:`runtime.lifecycle` transition, applied in memory and written to
the store in order by the :class:`~actors.writer.TransitionWriter`).

:class:`Orchestrator` is the one face of its parts, each of one concern:

- :mod:`actors.module_registry`: deployed modules and the robot types each takes;
- :mod:`actors.submit`: refusing, storing and queueing submitted robots;
- :mod:`actors.robot_book`: the robots held in memory and every transition they take
  (settle, retry, chain, record; recovery, robots lost with a replica, progress);
- :mod:`actors.dispatcher`: the dispatch loop, batches to replicas, why a robot waits;
- :mod:`actors.cancel`: cancelling a queued or running robot;
- :mod:`actors.rules` and :mod:`actors.autoscaler`: rules and schedules, replica counts.

Requests that cannot be carried out raise a :mod:`runtime.errors` class; only
:meth:`Orchestrator.submit_many` answers refusals per robot, inside its answers.
"""

from __future__ import annotations

import time
from typing import Any

from actors import robot_figures as figures
from actors.autoscaler import Autoscaler
from actors.cache import CacheCalls
from actors.cache_sync import ModuleBoard, RobotStatusSync
from actors.cancel import Canceller
from actors.deployment import DeployedModule, ReplicaSlot
from actors.dispatcher import Dispatcher
from actors.driver import ReplicaDriver
from actors.module_registry import ModuleRegistry
from actors.robot_book import RobotBook
from actors.rules import RuleKeeper
from actors.submit import submit_many
from actors.supervisor import Supervisor
from actors.writer import TransitionWriter
from runtime.config import Settings
from runtime.messages import (
    CancelAnswer,
    ModuleInfo,
    OrchestratorStats,
    Progress,
    RobotFigures,
    ScheduleAnswer,
    SubmitAnswer,
    SubmitRequest,
)
from runtime.models import Robot
from runtime.routing import RouteDecision
from runtime.rules.model import Rule, RuleRecord
from runtime.store.base import RobotStore
from runtime.tasks import BackgroundTasks


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
        self.tasks = BackgroundTasks("orchestrator")
        # With a cache, every commit marks the robots it changes there (actors.cache_sync).
        self.status_sync = RobotStatusSync(cache) if cache is not None else None
        self.writer = TransitionWriter(store, self.status_sync)
        self.rules = RuleKeeper(store, self, max_chain_depth=settings.rule_chain_depth)
        self.book = RobotBook(
            settings, store, self.writer, self.rules, self.status_sync, self.tasks
        )
        self.robots = self.book.robots
        self.queues = self.book.queues
        self.tally = self.book.tally
        self.supervisor = Supervisor(
            driver, settings, self.requeue_lost, self.book.wake.set, self._publish_modules
        )
        self.modules: dict[str, DeployedModule] = self.supervisor.modules
        self.autoscaler = Autoscaler(
            self.modules,
            self.queues,
            self.scale_module,
            self.supervisor.room,
            settings.autoscaling_interval_s,
        )
        board = ModuleBoard(cache) if cache is not None else None
        self.registry = ModuleRegistry(
            settings, store, self.supervisor, self.autoscaler, self.queues, board
        )
        self.dispatcher = Dispatcher(self.book, self.registry, driver, self.supervisor, self.tasks)
        self.canceller = Canceller(
            self.book, self.modules, driver, settings.cancel_grace_s, self.tasks
        )
        self.stopping = False
        self.started_at = time.time()

    # -- start and stop ------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, deploy modules, rebuild queues from the store, start the loops."""
        await self.store.open()
        self.writer.start()
        if self.status_sync is not None:
            self.status_sync.start()
        await self.registry.deploy_known()
        await self.rules.load(self.settings.rules)  # before recovery: it may end robots
        await self.book.recover()
        self.rules.adopt(list(self.robots.values()))
        self.tasks.spawn(self.dispatcher.run())
        self.tasks.spawn(self.rules.run())
        self.tasks.spawn(self.autoscaler.run())
        self.supervisor.start()

    async def stop(self) -> None:
        """Stop the loops and flush pending writes (replicas are left to the caller)."""
        self.stopping = True
        self.dispatcher.stop()
        self.rules.stop()
        self.autoscaler.stop()
        self.supervisor.stop()
        self.tasks.cancel_all()
        await self.writer.stop()
        if self.status_sync is not None:
            self.status_sync.stop()
        await self.store.close()

    # -- modules (actors.module_registry) ------------------------------------------------

    async def register_module(self, raw_spec: dict[str, Any]) -> ModuleInfo:
        """Validate and deploy a module at run time; its replicas start in the background.

        Raises ``ModuleRejected`` (invalid spec, class that fails to load or check) or
        ``ModuleExists`` (name or replica prefix taken).
        """
        return await self.registry.register(raw_spec)

    async def scale_module(self, name: str, replicas: int) -> ModuleInfo:
        """Change a module's replica count at run time and remember it across restarts.

        Raises ``UnknownModule`` or ``ModuleRejected`` (count outside 0..256).
        """
        return await self.registry.scale(name, replicas)

    def list_modules(self) -> list[ModuleInfo]:
        """Every module with its health, breaker state, queue length and replicas."""
        return [self.registry.info(m) for m in self.modules.values()]

    def refused_modules(self) -> dict[str, str]:
        """The modules start-up left out (failed to load, start or pass health): name -> reason."""
        return dict(self.registry.refused)

    def robot_types(self) -> list[str]:
        """Robot types some registered module handles."""
        return self.registry.robot_types()

    def module_info(self, module: DeployedModule) -> ModuleInfo:
        """What ``GET /v1/modules`` shows of one module."""
        return self.registry.info(module)

    async def _publish_modules(self) -> None:
        await self.registry.publish()

    # -- robots: submit, route waits, progress, lost replicas, cancel --------------------

    async def submit_many(self, requests: list[SubmitRequest]) -> list[SubmitAnswer]:
        """Persist and enqueue robots; answer each request, in order.

        A robot no module handles is answered with ``error=UnknownRobotType``, one past its
        type's queue bound with ``error=QueueFull``; the others are stored in one commit
        (with their audit entries) and queued. A request whose id or idempotency key is
        already stored is answered with the stored robot (``created=False``).
        """
        return await submit_many(
            self.book, self.registry, self.settings.max_queued_per_type, requests
        )

    def route_wait(self, robot_id: str) -> RouteDecision | None:
        """Why a queued robot waits in line now, or None (unknown here, not queued, or not
        held up: it is placed at the next dispatch or waits for its retry time).

        The answer is its type's latest decision that placed nothing, taken after the robot
        was ready, with ``waited`` set to that reason and ``waited_s`` to the seconds since.
        """
        return self.dispatcher.route_wait(robot_id)

    def report_progress(self, batch: list[Progress]) -> None:
        """Take coalesced progress reports from a replica and record the latest of each.

        Reports of robots no longer running here, or of an older attempt, are dropped.
        """
        self.book.report_progress(batch)

    def requeue_lost(
        self, module: DeployedModule, slot: ReplicaSlot, robot_ids: set[str], reason: str
    ) -> None:
        """Requeue (or give up on) robots that were running on a replica that is gone.

        The breaker counts none of these robots (see :meth:`RobotBook.requeue_lost`).
        """
        self.book.requeue_lost(module, slot, robot_ids, reason)

    async def cancel(self, robot_id: str, reason: str = "cancelled by request") -> CancelAnswer:
        """Cancel a robot: a queued one at once, a running one by asking its replica.

        A running robot's context is marked cancelled; when its module stops, the replica's
        outcome comes back cancelled and is recorded as such. If the module does not stop
        within ``cancel_grace_s``, the robot is recorded cancelled anyway (its late outcome
        is then ignored). Raises ``RobotNotFound``, ``AlreadyTerminal``, or
        ``NotCancellable`` (an unfinished robot not in memory yet: retry shortly).
        """
        return await self.canceller.cancel(robot_id, reason)

    # -- the rule keeper's view of the fleet (actors.rules.Fleet) -------------------------

    def handles(self, robot_type: str) -> bool:
        """Whether some module handles ``robot_type``."""
        return self.registry.handles(robot_type)

    def queued(self, robot_type: str) -> int:
        """Robots waiting in the queue of ``robot_type``."""
        queue = self.queues.get(robot_type)
        return len(queue) if queue is not None else 0

    def unfinished(self, robot_id: str) -> bool:
        """Whether a robot is queued or running here."""
        return robot_id in self.robots

    def accept(self, robots: list[Robot]) -> None:
        """Queue robots the store has just recorded as queued (chain steps, rule robots)."""
        self.book.accept(robots)

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
            dispatched=self.dispatcher.dispatched,
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
