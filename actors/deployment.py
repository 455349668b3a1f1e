"""The orchestrator's picture of its deployed modules and of each module's replicas.

A :class:`ReplicaSlot` is one replica position of a module; its :class:`ReplicaState`
changes only through the slot's own methods, so every transition of a replica is written
here::

    STARTING ──up──▶ ALIVE ──stop_taking_work──▶ DRAINING
       ▲  │            │                            │
       │  └───────┬────┴──────── start_replacing ───┘
       │          ▼
       └──up── REPLACING            any ──retire──▶ RETIRED

The supervisor (``actors.supervisor``) decides when a slot moves; the orchestrator reads
slots to route robots and records which robots run where.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from runtime.backoff import NO_JITTER, backoff_delay
from runtime.breaker import BreakerState, CircuitBreaker
from runtime.config import Settings
from runtime.models import HealthState, ModuleInfo, ModuleSpec, ReplicaInfo
from runtime.routing import ModuleLoad, ReplicaLoad, performance_score

EWMA_ALPHA = 0.1

STABLE_AFTER_S = 30.0
"""A replica up this long before it is lost is not crash-looping: its slot restarts at once."""
RESTART_DELAY_S = 0.5
"""Wait before the second quick restart of a slot in a row; doubles with each further one."""
MAX_RESTART_DELAY_S = 30.0

ReplicaHandle: TypeAlias = Any
"""What a :class:`~actors.driver.ReplicaDriver` returns for a started replica; opaque here."""


def replica_name(module: str, index: int, prefix: str | None = None) -> str:
    """The stable actor name of a module's replica, as the Ray dashboard shows it.

    ``module:<name>:<n>`` unless the module spec sets a ``replica_prefix`` (``ocr:<n>``).
    """
    return f"{prefix or f'module:{module}'}:{index}"


class ReplicaState(StrEnum):
    """Where a replica slot is in its life."""

    STARTING = "starting"
    """Being placed or started for the first time; takes no work."""
    ALIVE = "alive"
    """Up and routable."""
    DRAINING = "draining"
    """Takes no new work; robots already running on it carry on (drain, scale down)."""
    REPLACING = "replacing"
    """Lost or unhealthy: its robots were handed back and a new replica is on its way."""
    RETIRED = "retired"
    """Stopped for good (scaled down); never comes back."""


@dataclass(eq=False)
class ReplicaSlot:
    """One replica of a module: its state, handle, health and the robots running on it.

    Read its fields freely; change them only through its methods. ``generation`` grows each
    time a replica comes up in the slot, so an answer from a replaced one can be told apart.
    """

    module: str
    index: int
    slots: int
    prefix: str | None = None
    state: ReplicaState = ReplicaState.STARTING
    handle: ReplicaHandle = None
    health: HealthState = HealthState.HEALTHY
    node_id: str | None = None
    in_flight: set[str] = field(default_factory=set)
    completed: int = 0
    generation: int = 0
    replacements: int = 0
    quick_losses: int = 0
    up_at: float = 0.0

    @property
    def name(self) -> str:
        """The replica's actor name."""
        return replica_name(self.module, self.index, self.prefix)

    @property
    def alive(self) -> bool:
        """Whether the replica is up and takes new work."""
        return self.state is ReplicaState.ALIVE

    @property
    def replacing(self) -> bool:
        """Whether a new replica is on its way into this slot."""
        return self.state is ReplicaState.REPLACING

    @property
    def retired(self) -> bool:
        """Whether the slot was stopped for good."""
        return self.state is ReplicaState.RETIRED

    @property
    def routable(self) -> bool:
        """Whether routing may send it a robot: alive and not reporting itself unhealthy."""
        return self.alive and self.health is not HealthState.UNHEALTHY

    # -- state changes: the only code that writes this slot's fields ------------------------

    def reserve_node(self, node_id: str | None) -> None:
        """Note the node chosen for a replica being started, so concurrent placements see it."""
        self.node_id = node_id

    def up(self, handle: ReplicaHandle, node_id: str | None) -> bool:
        """A replica answered in this slot: it becomes alive, healthy and a new generation.

        Returns False (and changes nothing) if the slot was retired meanwhile; the caller
        then stops ``handle``.
        """
        if self.retired:
            return False
        self.state = ReplicaState.ALIVE
        self.handle = handle
        self.node_id = node_id
        self.health = HealthState.HEALTHY
        self.generation += 1
        self.up_at = time.monotonic()
        return True

    def set_health(self, health: HealthState) -> None:
        """Record what the replica's module said of its health."""
        self.health = health

    def stop_taking_work(self) -> None:
        """Route nothing new here; robots already running carry on (drain, scale down)."""
        if self.state is ReplicaState.ALIVE or self.state is ReplicaState.STARTING:
            self.state = ReplicaState.DRAINING

    def start_replacing(self) -> set[str] | None:
        """Take the replica out of routing for a new one; hand back the robots it ran.

        Returns the ids of the robots running on it, or None if it is already being
        replaced or is retired (nothing to do).
        """
        if self.state is ReplicaState.REPLACING or self.state is ReplicaState.RETIRED:
            return None
        self.state = ReplicaState.REPLACING
        self.replacements += 1
        quick = self.generation > 0 and time.monotonic() - self.up_at < STABLE_AFTER_S
        self.quick_losses = self.quick_losses + 1 if quick else 0
        return self.take_all()

    def restart_delay(self) -> float:
        """Seconds to wait before starting the replacement of a replica being replaced.

        Zero for the first loss in a row: a replica that crashes once is back at once. A
        replica lost again within ``STABLE_AFTER_S`` of coming up is crash-looping; each
        such loss in a row doubles the wait, from ``RESTART_DELAY_S`` up to
        ``MAX_RESTART_DELAY_S``, so a module that kills its own process does not churn.
        """
        if self.quick_losses < 2:
            return 0.0
        return backoff_delay(
            self.quick_losses - 1, RESTART_DELAY_S, MAX_RESTART_DELAY_S, spread=NO_JITTER
        )

    def retire(self) -> None:
        """Stop the slot for good: it takes no work and no replica comes up in it again."""
        self.state = ReplicaState.RETIRED

    def detach(self) -> ReplicaHandle:
        """Forget the replica's handle and node (its actor is being stopped); return the handle."""
        handle, self.handle, self.node_id = self.handle, None, None
        return handle

    def run(self, robot_id: str) -> None:
        """A robot was dispatched here."""
        self.in_flight.add(robot_id)

    def finish(self, robot_id: str) -> None:
        """A robot's answer came back from here (whatever it was)."""
        self.in_flight.discard(robot_id)
        self.completed += 1

    def take_all(self) -> set[str]:
        """Hand back every robot still running here (its replica is gone or leaving)."""
        lost, self.in_flight = self.in_flight, set()
        return lost

    def info(self) -> ReplicaInfo:
        """What ``GET /v1/modules`` shows of this replica."""
        return ReplicaInfo(
            name=self.name,
            in_flight=len(self.in_flight),
            slots=self.slots,
            health=self.health,
            alive=self.alive,
            completed=self.completed,
            node_id=self.node_id,
        )


@dataclass(eq=False)
class DeployedModule:
    """A registered module with its replica slots, breaker and running performance figures."""

    spec: ModuleSpec
    breaker: CircuitBreaker
    replicas: list[ReplicaSlot]
    success_ewma: float = 1.0
    latency_ewma: float = 0.0
    unplaceable: str | None = None
    run_seconds: float | None = None
    """Running mean (EWMA) of an attempt's run time, from the first outcome on; autoscaling's
    deadline rule reads it (None until an attempt ended)."""

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
        working = sum(1 for r in self.replicas if r.routable)
        if self.replicas and healthy == len(self.replicas):
            return HealthState.HEALTHY
        return HealthState.DEGRADED if working else HealthState.UNHEALTHY

    def replica(self, name: str | None) -> ReplicaSlot | None:
        """The slot of the replica named ``name``, or None."""
        return next((r for r in self.replicas if r.name == name), None)

    def set_unplaceable(self, reason: str | None) -> bool:
        """Record why no node can take the module's replicas (None: placeable); True if new."""
        changed = reason != self.unplaceable
        self.unplaceable = reason
        return changed

    def resize(self, replicas: int) -> tuple[list[ReplicaSlot], list[ReplicaSlot]]:
        """Set the replica count: returns the slots added and the slots that leave.

        Added slots are new (``STARTING``); leaving ones are out of ``replicas`` and no longer
        take work, but their robots still run. Raises ``pydantic.ValidationError`` for a
        count the spec refuses.
        """
        self.spec = ModuleSpec.model_validate(
            {**self.spec.model_dump(by_alias=True), "replicas": replicas}
        )
        current = len(self.replicas)
        added = [new_replica_slot(self.spec, i) for i in range(current, replicas)]
        leaving = self.replicas[replicas:]
        self.replicas = self.replicas[:replicas] + added
        for slot in leaving:
            slot.stop_taking_work()
        return added, leaving

    def observe(self, success: bool, seconds: float) -> None:
        """Fold one robot outcome into the module's performance figures."""
        self.success_ewma += EWMA_ALPHA * ((1.0 if success else 0.0) - self.success_ewma)
        self.latency_ewma += EWMA_ALPHA * (seconds - self.latency_ewma)
        last = self.run_seconds
        self.run_seconds = seconds if last is None else last + EWMA_ALPHA * (seconds - last)

    def load(self) -> ModuleLoad:
        """A fresh routing view of this module."""
        breaker = self.breaker.state()
        return ModuleLoad(
            name=self.name,
            performance=self.performance,
            health=self.health,
            replicas=[
                ReplicaLoad(r.name, len(r.in_flight), r.slots, r.routable) for r in self.replicas
            ],
            accepting=self.breaker.allows(),
            probing=breaker is BreakerState.HALF_OPEN,
            breaker=breaker,
        )

    def info(self, queued: int) -> ModuleInfo:
        """What ``GET /v1/modules`` shows of this module, with ``queued`` robots waiting."""
        return ModuleInfo(
            name=self.name,
            class_path=self.spec.class_path,
            types=list(self.spec.types),
            health=self.health,
            breaker=self.breaker.state().value,
            performance=round(self.performance, 4),
            queued=queued,
            unplaceable=self.unplaceable,
            replicas=[r.info() for r in self.replicas],
        )


def new_deployed_module(spec: ModuleSpec, settings: Settings) -> DeployedModule:
    """The bookkeeping of a module about to be deployed: a breaker and one slot per replica."""
    breaker = CircuitBreaker(
        consecutive_failures=settings.breaker_failures,
        error_rate=settings.breaker_error_rate,
        reset_after_s=settings.breaker_reset_s,
    )
    slots = [new_replica_slot(spec, i) for i in range(spec.replicas)]
    return DeployedModule(spec=spec, breaker=breaker, replicas=slots)


def new_replica_slot(spec: ModuleSpec, index: int) -> ReplicaSlot:
    """The slot of replica ``index`` of a module, not yet started."""
    return ReplicaSlot(spec.name, index, spec.max_concurrency, prefix=spec.replica_prefix)
