"""Routing policy as pure functions: which module, which replica, which robot first.

Module choice follows the seed's weighted score ``0.5 * performance + 0.3 * capacity +
0.2 * health``; replica choice is power-of-two-choices on in-flight count; a replica with
no free slot is never chosen, and a module whose breaker refuses work gets nothing.

:func:`place` makes both choices and returns, with them, the :class:`RouteDecision` that
explains them: every candidate's scores as the policy computed them, the replicas it
compared, the breaker states and, when nothing could take the robot, why. The orchestrator
stores that record with the attempt, so what ``GET /v1/robots/{id}/routing`` shows is what
the policy used, never a recomputation. :func:`choose_module` and :func:`pick_replica` are
the same policy without the record.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from runtime.breaker import BreakerState
from runtime.models import HealthState
from runtime.wire import WireMessage

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
    breaker: BreakerState | None = None  # None: inferred from accepting and probing

    @property
    def capacity(self) -> float:
        """Share of the module's slots that are free, 0..1."""
        slots = free = 0
        for r in self.replicas:
            if r.alive:
                slots += r.slots
                free += r.slots - r.in_flight
        return free / slots if slots else 0.0

    @property
    def breaker_state(self) -> BreakerState:
        """The breaker's state as routing saw it."""
        if self.breaker is not None:
            return self.breaker
        if self.probing:
            return BreakerState.HALF_OPEN
        return BreakerState.CLOSED if self.accepting else BreakerState.OPEN


class Exclusion(StrEnum):
    """Why a candidate module could not take the robot."""

    BREAKER_OPEN = "breaker_open"
    TRIAL_OUT = "trial_out"  # half-open: its one trial robot is still running
    UNHEALTHY = "unhealthy"
    NO_FREE_SLOT = "no_free_slot"


class WinReason(StrEnum):
    """Why the chosen module won."""

    BEST_SCORE = "best_score"  # the highest weighted total among modules that could take it
    ONLY_CANDIDATE = "only_candidate"  # the one module that could take it
    BREAKER_TRIAL = "breaker_trial"  # a half-open breaker's trial goes first, whatever its score


class WaitReason(StrEnum):
    """Why a robot waited: what kept every candidate module from taking it."""

    NO_MODULE = "no_module"  # no module handles the type
    NO_FREE_SLOT = "no_free_slot"  # every candidate's replicas are full (or dead)
    BREAKER_OPEN = "breaker_open"  # every candidate's breaker refuses work
    TRIAL_OUT = "trial_out"  # every candidate waits for its half-open breaker's trial
    NO_HEALTHY_MODULE = "no_healthy_module"  # every candidate is unhealthy
    NONE_AVAILABLE = "none_available"  # candidates excluded for different reasons


@dataclass(slots=True)
class CandidateScore(WireMessage):
    """One candidate module as routing scored it (scores 0..1, ``total`` the weighted sum)."""

    module: str
    performance: float
    capacity: float
    health: float
    total: float
    breaker: str
    excluded: str | None = None  # an Exclusion value, None if it could take the robot


@dataclass(slots=True)
class ReplicaSeen(WireMessage):
    """A replica power-of-two-choices looked at, with its in-flight count at that moment."""

    name: str
    in_flight: int


@dataclass(slots=True)
class RouteDecision(WireMessage):
    """Why a robot went where it went, or why it waited.

    ``candidates`` are every module handling the type, in registry order, with the scores the
    policy computed; ``module``/``win`` the winner and why (None when it waited, with
    ``wait`` saying why); ``compared`` the replicas power-of-two-choices compared (two, or the
    single one with a free slot) and ``replica`` the one chosen. ``waited`` and
    ``waited_s`` are set by the orchestrator on a placement when the robot's type had no
    room since the robot was ready: the reason then and the seconds it was ready in line.
    """

    candidates: tuple[CandidateScore, ...]
    module: str | None = None
    win: str | None = None
    compared: tuple[ReplicaSeen, ...] = ()
    replica: str | None = None
    wait: str | None = None
    waited: str | None = None
    waited_s: float | None = None


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


def _exclusion(module: ModuleLoad, breaker: BreakerState) -> Exclusion | None:
    if not module.accepting:
        return Exclusion.TRIAL_OUT if breaker is BreakerState.HALF_OPEN else Exclusion.BREAKER_OPEN
    if module.health is HealthState.UNHEALTHY:
        return Exclusion.UNHEALTHY
    for replica in module.replicas:
        if replica.free > 0:
            return None
    return Exclusion.NO_FREE_SLOT


_WAIT_OF: dict[Exclusion, WaitReason] = {
    Exclusion.BREAKER_OPEN: WaitReason.BREAKER_OPEN,
    Exclusion.TRIAL_OUT: WaitReason.TRIAL_OUT,
    Exclusion.UNHEALTHY: WaitReason.NO_HEALTHY_MODULE,
    Exclusion.NO_FREE_SLOT: WaitReason.NO_FREE_SLOT,
}


def explain_module_choice(
    modules: Sequence[ModuleLoad],
) -> tuple[ModuleLoad | None, RouteDecision]:
    """Pick a module as :func:`choose_module` does and return it with its decision.

    The decision's candidates hold every module's scores (excluded ones too, with why);
    ``module``/``win`` name the winner, or ``wait`` says why none could take the robot.
    A module whose half-open breaker waits for a trial robot gets the next one first:
    without it, a recovering module's low score would keep it from ever being probed.
    """
    candidates: list[CandidateScore] = []
    best: ModuleLoad | None = None
    best_score = -1.0
    probe: ModuleLoad | None = None
    eligible = 0
    for module in modules:
        capacity = module.capacity
        health = HEALTH_VALUE[module.health]
        total = (
            PERFORMANCE_WEIGHT * module.performance
            + CAPACITY_WEIGHT * capacity
            + HEALTH_WEIGHT * health
        )
        breaker = module.breaker_state
        excluded = _exclusion(module, breaker)
        candidates.append(
            CandidateScore(
                module.name, module.performance, capacity, health, total, breaker, excluded
            )
        )
        if excluded is not None:
            continue
        eligible += 1
        if module.probing:
            probe = probe or module
        elif total > best_score and probe is None:
            best, best_score = module, total
    decision = RouteDecision(tuple(candidates))
    chosen = probe or best
    if chosen is None:
        decision.wait = _wait_reason(candidates)
        return None, decision
    decision.module = chosen.name
    if probe is not None:
        decision.win = WinReason.BREAKER_TRIAL
    elif eligible == 1:
        decision.win = WinReason.ONLY_CANDIDATE
    else:
        decision.win = WinReason.BEST_SCORE
    return chosen, decision


def _wait_reason(candidates: Sequence[CandidateScore]) -> WaitReason:
    reasons = {c.excluded for c in candidates if c.excluded is not None}
    if not reasons:
        return WaitReason.NO_MODULE
    if len(reasons) == 1:
        [only] = reasons
        return _WAIT_OF[Exclusion(only)]
    return WaitReason.NONE_AVAILABLE


def choose_module(modules: Sequence[ModuleLoad]) -> ModuleLoad | None:
    """Pick the best-scoring module that accepts work and has a free slot, or None.

    A module whose half-open breaker waits for a trial robot gets the next one first:
    without it, a recovering module's low score would keep it from ever being probed.
    """
    return explain_module_choice(modules)[0]


def explain_replica_pick(
    replicas: Sequence[ReplicaLoad], rng: random.Random | None = None
) -> tuple[ReplicaLoad | None, tuple[ReplicaSeen, ...]]:
    """Power-of-two-choices on in-flight count among replicas with a free slot.

    Returns the chosen replica (None if none has a free slot) and the replicas compared,
    with their in-flight counts: two, or the single one with a free slot.
    """
    open_replicas = [r for r in replicas if r.free > 0]
    if not open_replicas:
        return None, ()
    if len(open_replicas) == 1:
        only = open_replicas[0]
        return only, (ReplicaSeen(only.name, only.in_flight),)
    first, second = (rng or random).sample(open_replicas, 2)
    seen = (ReplicaSeen(first.name, first.in_flight), ReplicaSeen(second.name, second.in_flight))
    return (first if first.in_flight <= second.in_flight else second), seen


def pick_replica(
    replicas: Sequence[ReplicaLoad], rng: random.Random | None = None
) -> ReplicaLoad | None:
    """Power-of-two-choices on in-flight count among replicas with a free slot."""
    return explain_replica_pick(replicas, rng)[0]


def place(
    modules: Sequence[ModuleLoad], rng: random.Random | None = None
) -> tuple[ModuleLoad | None, ReplicaLoad | None, RouteDecision]:
    """Choose a module, then one of its replicas, and explain both in one decision.

    Returns ``(module, replica, decision)``; both None (and ``decision.wait`` set) when no
    module can take a robot now. The same choices as :func:`choose_module` then
    :func:`pick_replica` with the same ``rng``.
    """
    module, decision = explain_module_choice(modules)
    if module is None:
        return None, None, decision
    replica, decision.compared = explain_replica_pick(module.replicas, rng)
    decision.replica = replica.name if replica is not None else None
    return module, replica, decision
