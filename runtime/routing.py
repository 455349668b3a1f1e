"""Routing policy as pure functions: which module, which replica, which robot first.

Module choice follows the seed's weighted score ``0.5 * performance + 0.3 * capacity +
0.2 * health``; replica choice is power-of-two-choices on in-flight count; a replica with
no free slot is never chosen, and a module whose breaker refuses work gets nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from runtime.models import HealthState

PERFORMANCE_WEIGHT = 0.5
CAPACITY_WEIGHT = 0.3
HEALTH_WEIGHT = 0.2

HEALTH_VALUE = {HealthState.HEALTHY: 1.0, HealthState.DEGRADED: 0.5, HealthState.UNHEALTHY: 0.0}


@dataclass(slots=True)
class ReplicaLoad:
    """What routing needs to know of one replica."""

    name: str
    in_flight: int
    slots: int
    alive: bool = True

    @property
    def free(self) -> int:
        """Slots that can take a robot now."""
        return self.slots - self.in_flight if self.alive else 0


@dataclass(slots=True)
class ModuleLoad:
    """What routing needs to know of one module."""

    name: str
    performance: float
    health: HealthState
    replicas: Sequence[ReplicaLoad]
    accepting: bool = True  # False while the module's circuit breaker refuses work
    probing: bool = False  # True while a half-open breaker waits for its trial robot

    @property
    def capacity(self) -> float:
        """Share of the module's slots that are free, 0..1."""
        slots = sum(r.slots for r in self.replicas if r.alive)
        if slots == 0:
            return 0.0
        return sum(r.free for r in self.replicas) / slots


def module_score(performance: float, capacity: float, health: HealthState) -> float:
    """The seed's weighted score of a module; higher is better."""
    return (
        PERFORMANCE_WEIGHT * performance
        + CAPACITY_WEIGHT * capacity
        + HEALTH_WEIGHT * HEALTH_VALUE[health]
    )


def performance_score(success_rate: float, latency_s: float, reference_s: float = 1.0) -> float:
    """Fold a module's success rate and mean latency into 0..1 (fast and reliable is 1)."""
    speed = reference_s / (reference_s + max(0.0, latency_s))
    return max(0.0, min(1.0, success_rate)) * speed


def choose_module(modules: Sequence[ModuleLoad]) -> ModuleLoad | None:
    """Pick the best-scoring module that accepts work and has a free slot, or None.

    A module whose half-open breaker waits for a trial robot gets the next one first:
    without it, a recovering module's low score would keep it from ever being probed.
    """
    best: ModuleLoad | None = None
    best_score = -1.0
    for module in modules:
        if not module.accepting or module.health is HealthState.UNHEALTHY:
            continue
        if not any(r.free > 0 for r in module.replicas):
            continue
        if module.probing:
            return module
        score = module_score(module.performance, module.capacity, module.health)
        if score > best_score:
            best, best_score = module, score
    return best


def pick_replica(
    replicas: Sequence[ReplicaLoad], rng: random.Random | None = None
) -> ReplicaLoad | None:
    """Power-of-two-choices on in-flight count among replicas with a free slot."""
    open_replicas = [r for r in replicas if r.free > 0]
    if not open_replicas:
        return None
    if len(open_replicas) == 1:
        return open_replicas[0]
    first, second = (rng or random).sample(open_replicas, 2)
    return first if first.in_flight <= second.in_flight else second
