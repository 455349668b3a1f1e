"""The orchestrator's picture of its modules and replicas, and how it keeps them alive."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.driver import ReplicaDriver
from runtime.breaker import BreakerState, CircuitBreaker
from runtime.config import Settings
from runtime.models import HealthState, ModuleInfo, ModuleSpec, ReplicaInfo
from runtime.placement import NodeView, choose_node, demand_of
from runtime.routing import ModuleLoad, ReplicaLoad, performance_score

log = logging.getLogger(__name__)

EWMA_ALPHA = 0.1
PLACEMENT_RETRY_S = 2.0


def replica_name(module: str, index: int, prefix: str | None = None) -> str:
    """The stable actor name of a module's replica, as the Ray dashboard shows it.

    ``module:<name>:<n>`` unless the module spec sets a ``replica_prefix`` (``ocr:<n>``).
    """
    return f"{prefix or f'module:{module}'}:{index}"


@dataclass(eq=False)
class ReplicaSlot:
    """One replica of a module: its handle, health and the robots running on it."""

    module: str
    index: int
    slots: int
    handle: Any = None
    alive: bool = False
    health: HealthState = HealthState.HEALTHY
    in_flight: set[str] = field(default_factory=set)
    completed: int = 0
    generation: int = 0
    replacing: bool = False
    replacements: int = 0
    node_id: str | None = None
    retired: bool = False
    prefix: str | None = None

    @property
    def name(self) -> str:
        """The replica's actor name."""
        return replica_name(self.module, self.index, self.prefix)


@dataclass(eq=False)
class ModuleRuntime:
    """A registered module with its replicas, breaker and running performance figures."""

    spec: ModuleSpec
    breaker: CircuitBreaker
    replicas: list[ReplicaSlot]
    success_ewma: float = 1.0
    latency_ewma: float = 0.0
    unplaceable: str | None = None

    @property
    def name(self) -> str:
        """The module's name."""
        return self.spec.name

    @property
    def performance(self) -> float:
        """EWMA success rate and latency folded into 0..1."""
        return performance_score(self.success_ewma, self.latency_ewma)

    @property
    def health(self) -> HealthState:
        """Healthy when every replica is up and healthy, unhealthy when none can work."""
        healthy = sum(1 for r in self.replicas if r.alive and r.health is HealthState.HEALTHY)
        working = sum(1 for r in self.replicas if r.alive and r.health is not HealthState.UNHEALTHY)
        if self.replicas and healthy == len(self.replicas):
            return HealthState.HEALTHY
        return HealthState.DEGRADED if working else HealthState.UNHEALTHY

    def observe(self, success: bool, seconds: float) -> None:
        """Fold one robot outcome into the module's performance figures."""
        self.success_ewma += EWMA_ALPHA * ((1.0 if success else 0.0) - self.success_ewma)
        self.latency_ewma += EWMA_ALPHA * (seconds - self.latency_ewma)

    def load(self) -> ModuleLoad:
        """A fresh routing view of this module."""
        return ModuleLoad(
            name=self.name,
            performance=self.performance,
            health=self.health,
            replicas=[
                ReplicaLoad(
                    r.name,
                    len(r.in_flight),
                    r.slots,
                    r.alive and r.health is not HealthState.UNHEALTHY,
                )
                for r in self.replicas
            ],
            accepting=self.breaker.allows(),
            probing=self.breaker.state() is BreakerState.HALF_OPEN,
        )

    def info(self, queued: int) -> ModuleInfo:
        """What ``GET /v1/modules`` shows of this module."""
        return ModuleInfo(
            name=self.name,
            class_path=self.spec.class_path,
            types=list(self.spec.types),
            health=self.health,
            breaker=self.breaker.state().value,
            performance=round(self.performance, 4),
            queued=queued,
            unplaceable=self.unplaceable,
            replicas=[
                ReplicaInfo(
                    name=r.name,
                    in_flight=len(r.in_flight),
                    slots=r.slots,
                    health=r.health,
                    alive=r.alive,
                    completed=r.completed,
                    node_id=r.node_id,
                )
                for r in self.replicas
            ],
        )


def new_module_runtime(spec: ModuleSpec, settings: Settings) -> ModuleRuntime:
    """Build the bookkeeping of a module about to be deployed."""
    breaker = CircuitBreaker(
        consecutive_failures=settings.breaker_failures,
        error_rate=settings.breaker_error_rate,
        reset_after_s=settings.breaker_reset_s,
    )
    slots = [new_replica_slot(spec, i) for i in range(spec.replicas)]
    return ModuleRuntime(spec=spec, breaker=breaker, replicas=slots)


def new_replica_slot(spec: ModuleSpec, index: int) -> ReplicaSlot:
    """The bookkeeping of replica ``index`` of a module, not yet started."""
    return ReplicaSlot(spec.name, index, spec.max_concurrency, prefix=spec.replica_prefix)


class Supervisor:
    """Starts replicas, checks their health, and replaces dead or unhealthy ones.

    ``on_lost`` is called with a replica and the robot ids that were running on it, so
    the orchestrator can requeue them; ``on_ready`` when a replica can take work.
    """

    def __init__(
        self,
        driver: ReplicaDriver,
        settings: Settings,
        on_lost: Callable[[ModuleRuntime, ReplicaSlot, set[str], str], None],
        on_ready: Callable[[], None],
    ) -> None:
        self.driver = driver
        self.settings = settings
        self.on_lost = on_lost
        self.on_ready = on_ready
        self.draining: set[str] = set()
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Any) -> None:
        """Run a supervision coroutine in the background, keeping a reference to it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def bring_up(self, module: ModuleRuntime, replica: ReplicaSlot, reuse: bool) -> None:
        """Start a replica (or adopt a live one of the same name), retrying until it answers.

        The replica goes to the eligible node holding the fewest replicas of its module; while
        no node is eligible the module reports itself unplaceable and its robots wait queued.
        """
        delay = 0.2
        while not replica.retired:
            try:
                handle = await self.driver.find(replica.name) if reuse else None
                if handle is None:
                    node_id = await self._place(module, replica)
                    if node_id is None:
                        await asyncio.sleep(PLACEMENT_RETRY_S)
                        continue
                    replica.node_id = node_id  # reserve: concurrent placements see it
                    handle = await self.driver.start(module.spec, replica.name, node_id)
                break
            except Exception as exc:
                log.warning(
                    "replica %s did not start (%s); retrying in %.1fs", replica.name, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        else:
            return
        replica.node_id = self.driver.node_of(handle)
        replica.handle = handle
        replica.alive = True
        replica.health = HealthState.HEALTHY
        replica.replacing = False
        replica.generation += 1
        self.on_ready()

    async def _place(self, module: ModuleRuntime, replica: ReplicaSlot) -> str | None:
        demand = demand_of(module.spec.resources)
        nodes = [
            NodeView(n.node_id, n.alive, n.resources, n.node_id in self.draining)
            for n in await self.driver.nodes()
        ]
        counts: dict[str, int] = {}
        for other in module.replicas:
            if other is not replica and other.node_id and not other.retired:
                counts[other.node_id] = counts.get(other.node_id, 0) + 1
        node_id = choose_node(nodes, demand, counts)
        if node_id is None:
            reason = f"no live node offers {demand or 'a slot'}"
            if module.unplaceable != reason:
                log.warning("module %s is unplaceable: %s", module.name, reason)
            module.unplaceable = reason
        else:
            module.unplaceable = None
        return node_id

    def replace(self, module: ModuleRuntime, replica: ReplicaSlot, reason: str) -> None:
        """Take a replica out of routing, requeue its robots, and start a new one in its place."""
        if replica.replacing:
            return
        log.warning("replacing replica %s: %s", replica.name, reason)
        replica.replacing = True
        replica.alive = False
        lost, replica.in_flight = replica.in_flight, set()
        self.on_lost(module, replica, lost, reason)
        replica.replacements += 1
        self.spawn(self._swap(module, replica))

    async def _swap(self, module: ModuleRuntime, replica: ReplicaSlot) -> None:
        await self.retire(replica)
        replica.retired = False
        await self.bring_up(module, replica, reuse=False)

    async def retire(self, replica: ReplicaSlot) -> None:
        """Stop a replica's actor for good."""
        replica.retired = True
        replica.alive = False
        if replica.handle is not None:
            try:
                await self.driver.stop(replica.handle)
            except Exception:
                log.exception("stopping replica %s failed", replica.name)
            replica.handle = None
            replica.node_id = None

    async def check(self, module: ModuleRuntime, replica: ReplicaSlot) -> None:
        """Health-check one replica with a timeout; replace it if it fails."""
        if replica.replacing or replica.handle is None:
            return
        try:
            health = await asyncio.wait_for(
                self.driver.health(replica.handle), self.settings.health_timeout_s
            )
        except TimeoutError:
            self.replace(module, replica, "health check timed out")
            return
        except Exception as exc:
            self.replace(module, replica, f"health check failed: {exc}")
            return
        replica.health = health
        if health is HealthState.UNHEALTHY:
            self.replace(module, replica, "module reports unhealthy")

    async def check_all(self, modules: list[ModuleRuntime]) -> None:
        """Health-check every replica concurrently; one failure never stops the others."""
        checks = [self.check(m, r) for m in modules for r in m.replicas]
        for result in await asyncio.gather(*checks, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("health check step failed: %r", result)
