"""Autoscaling policy as pure functions: how many replicas a module should run now.

The knobs and their meanings are Ray Serve's (``AutoscalingConfig``); the clock, the load
and the room the cluster has are passed in, so every rule is tested with an injected clock.

Queue rule (Ray Serve's): ``ongoing`` is the module's queued plus running robots, averaged
over the samples of the last ``look_back_period_s``. With ``current`` replicas the error
ratio is ``ongoing / (target_ongoing_requests * current)``; it is smoothed by
``upscaling_factor`` (ratio >= 1) or ``downscaling_factor`` (ratio < 1) as
``1 + (ratio - 1) * factor``, and the desired count is ``ceil(current * smoothed)``, one
less when nothing is ongoing and the factor would keep it, clipped to
``[min_replicas, max_replicas]``. From zero replicas, any ongoing robot asks for
``max(1, ceil(upscaling_factor))`` at once.

Deadline rule (beyond Ray Serve): a module's measured run time ``W`` (seconds per attempt,
from its outcomes) makes each replica finish ``slots`` robots every ``W`` seconds, i.e.
``slots / W`` robots per second per replica. A queued robot with a deadline that has
``ahead`` queued robots before it in dispatch order and ``in_flight`` robots running
finishes, with ``n`` replicas, after about ``W * ceil((in_flight + ahead + 1) / (n * slots))``
seconds. It needs ``n >= ceil((in_flight + ahead + 1) / (slots * floor(slack / W)))``
replicas, ``slack`` being the seconds to its deadline. Robots whose slack is under ``W``
(no number of replicas can finish them in time) are left out. When the largest such ``n``
(clipped to ``max_replicas``) is above the current count, the module scales up to it on this
control tick, without ``upscale_delay_s``; a larger count the queue rule asks for keeps
waiting out its delay.

Every other change must hold (same direction) for ``upscale_delay_s`` or
``downscale_delay_s`` before it acts, and an upscale never asks for more replicas than the
cluster has room to place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_REPLICAS = 256
"""The most replicas a module may run (as ``ModuleSpec.replicas``)."""

_Count = Annotated[int, Field(ge=0, le=MAX_REPLICAS, strict=True)]
_Seconds = Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False, strict=True)]
_Factor = Annotated[float, Field(gt=0, le=100, allow_inf_nan=False, strict=True)]


class AutoscalingConfig(BaseModel):
    """A module's ``autoscaling`` table: Ray Serve's knobs, names, meanings and defaults."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: _Count = Field(1, description="Fewest replicas; 0 lets the module sleep.")
    max_replicas: Annotated[int, Field(ge=1, le=MAX_REPLICAS, strict=True)] = Field(
        1, description="Most replicas (also bounded by the room the cluster has)."
    )
    initial_replicas: _Count | None = Field(
        None, description="Replicas at registration; default min_replicas."
    )
    target_ongoing_requests: Annotated[
        float, Field(gt=0, le=1_000_000, allow_inf_nan=False, strict=True)
    ] = Field(2.0, description="Queued plus running robots each replica should hold.")
    upscale_delay_s: _Seconds = Field(
        30.0, description="How long an upscale decision must hold before it acts."
    )
    downscale_delay_s: _Seconds = Field(
        600.0, description="How long a downscale decision must hold before it acts."
    )
    look_back_period_s: Annotated[
        float, Field(gt=0, le=86_400, allow_inf_nan=False, strict=True)
    ] = Field(30.0, description="Window the ongoing robots are averaged over.")
    upscaling_factor: _Factor | None = Field(
        None, description="Multiplies each upscale step (default 1)."
    )
    downscaling_factor: _Factor | None = Field(
        None, description="Multiplies each downscale step (default 1)."
    )
    deadline_aware: bool = Field(
        True,
        strict=True,
        description="Scale up at once when queued robots would miss their deadlines.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas})"
            )
        initial = self.initial_replicas
        if initial is not None and not self.min_replicas <= initial <= self.max_replicas:
            raise ValueError(
                f"initial_replicas ({initial}) is outside min_replicas..max_replicas "
                f"({self.min_replicas}..{self.max_replicas})"
            )
        return self

    def start_replicas(self) -> int:
        """Replicas a newly registered module starts with: ``initial_replicas`` or the min."""
        return self.min_replicas if self.initial_replicas is None else self.initial_replicas

    def clip(self, replicas: int) -> int:
        """``replicas`` bounded by ``min_replicas`` and ``max_replicas``."""
        return max(self.min_replicas, min(self.max_replicas, replicas))


class Direction(StrEnum):
    """Which way a scaling decision goes."""

    UP = "up"
    DOWN = "down"


class ScalingDecision(BaseModel):
    """One scaling decision as taken: when (unix seconds), from and to how many replicas,
    which way, why, and how long it held before acting (0: at once)."""

    at: float
    from_replicas: int
    to_replicas: int
    direction: Direction
    reason: str
    held_s: float = 0.0


class AutoscalingStatus(BaseModel):
    """A module's autoscaling as ``GET /v1/modules`` shows it: its knobs, the replicas its
    policy asks for now, and its latest decisions (oldest first)."""

    config: AutoscalingConfig
    desired: int
    decisions: list[ScalingDecision] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LoadSample:
    """The module's queued plus running robots at one control tick (``at``, seconds)."""

    at: float
    ongoing: int


@dataclass(frozen=True, slots=True)
class DeadlineBacklog:
    """What the deadline rule needs: ``deadlines`` are ``(ahead, deadline)`` of the queued
    robots that carry a deadline (``ahead``: queued robots before it in dispatch order;
    ``deadline``: unix seconds); ``in_flight`` robots run now; ``run_seconds`` is the measured
    run time of an attempt (None until one finished); ``slots`` each replica's concurrency."""

    in_flight: int
    deadlines: Sequence[tuple[int, float]]
    run_seconds: float | None
    slots: int


@dataclass(frozen=True, slots=True)
class Wish:
    """A scaling decision waiting out its delay: to ``replicas``, first seen at ``since``."""

    replicas: int
    since: float

    def direction(self, current: int) -> Direction:
        """Up or down from ``current``."""
        return Direction.UP if self.replicas > current else Direction.DOWN


@dataclass(frozen=True, slots=True)
class ScalingStep:
    """One control tick's outcome for a module.

    ``desired`` is what the load asks for (within min/max, before the delay and the room);
    ``target`` the replica count to run from now (``current`` unless the change acts now);
    ``wish`` the decision still waiting out its delay; ``reason`` why, in words;
    ``held_s`` how long an acting decision held.
    """

    desired: int
    target: int
    wish: Wish | None
    reason: str
    held_s: float = 0.0


def average_ongoing(samples: Sequence[LoadSample], now: float, look_back_s: float) -> float:
    """Mean ``ongoing`` of the samples taken in the last ``look_back_s`` seconds (0 if none)."""
    recent = [s.ongoing for s in samples if s.at >= now - look_back_s]
    return sum(recent) / len(recent) if recent else 0.0


def queue_desired(config: AutoscalingConfig, current: int, ongoing: float) -> int:
    """Ray Serve's desired replica count for ``ongoing`` robots on ``current`` replicas."""
    up = config.upscaling_factor or 1.0
    down = config.downscaling_factor or 1.0
    if current == 0:
        return config.clip(max(1, math.ceil(up))) if ongoing > 0 else config.clip(0)
    ratio = ongoing / (config.target_ongoing_requests * current)
    smoothed = 1 + (ratio - 1) * (up if ratio >= 1 else down)
    desired = math.ceil(current * smoothed - 1e-9)
    if ratio == 0 and desired == current:
        desired -= 1  # a small downscaling factor must still reach the minimum at last
    return config.clip(desired)


def deadline_desired(
    config: AutoscalingConfig, backlog: DeadlineBacklog, now: float, current: int
) -> tuple[int, int] | None:
    """Replicas needed so no queued robot misses its deadline, and how many queued robots
    would miss theirs on ``current`` replicas.

    None when no run time is measured yet or no queued robot can still make its deadline.
    See the module docstring for the rule.
    """
    run = backlog.run_seconds
    if not run or run <= 0 or not backlog.deadlines:
        return None
    slots = max(1, backlog.slots)
    needs = []
    for ahead, deadline in backlog.deadlines:
        waves = math.floor((deadline - now) / run)
        if waves < 1:
            continue  # no count of replicas finishes it in time
        needs.append(math.ceil((backlog.in_flight + ahead + 1) / (slots * waves)))
    if not needs:
        return None
    worst = max(needs)
    return config.clip(worst), sum(1 for n in needs if n > current)


def decide(
    config: AutoscalingConfig,
    current: int,
    samples: Sequence[LoadSample],
    backlog: DeadlineBacklog | None,
    now: float,
    wish: Wish | None,
    room: int | None,
) -> ScalingStep:
    """One control tick: the desired count, and whether a change acts now.

    ``current`` is the module's replica count, ``samples`` its recent load, ``backlog`` its
    queued deadlines (None: the deadline rule is off), ``wish`` the decision waiting from the
    previous tick, ``room`` how many more replicas the cluster can place (None: no bound).
    """
    ongoing = average_ongoing(samples, now, config.look_back_period_s)
    by_queue = queue_desired(config, current, ongoing)
    reason = (
        f"{ongoing:.1f} ongoing robots over {config.look_back_period_s:g}s, "
        f"target {config.target_ongoing_requests:g} per replica"
    )
    spare = None if room is None else max(0, room)
    desired = by_queue
    if config.deadline_aware and backlog is not None:
        by_deadline = deadline_desired(config, backlog, now, current)
        if by_deadline is not None and by_deadline[0] > current:
            urgent, at_risk = by_deadline
            desired = max(by_queue, urgent)
            target = urgent if spare is None else min(urgent, current + spare)
            rate = backlog.slots / (backlog.run_seconds or 1.0)
            why = (
                f"{at_risk} queued robots would miss their deadlines at "
                f"{rate:.2f} robots/s per replica"
            )
            if spare is not None and target < urgent:
                why += f"; the cluster has room for {spare} more"
            if target > current:
                # The queue rule's larger wish, if any, keeps waiting out its delay.
                keep = None
                if by_queue > target:
                    keep = Wish(by_queue, now if wish is None else wish.since)
                return ScalingStep(desired, target, keep, why)
    target = by_queue
    if target > current and spare is not None and target > current + spare:
        target = current + spare
        reason += f"; the cluster has room for {spare} more"
    if target == current:
        return ScalingStep(desired, current, None, reason)
    if target > current and current == 0:
        return ScalingStep(desired, target, None, reason)
    direction = Direction.UP if target > current else Direction.DOWN
    if wish is None or wish.direction(current) is not direction:
        wish = Wish(target, now)
    held = now - wish.since
    delay = config.upscale_delay_s if direction is Direction.UP else config.downscale_delay_s
    if held >= delay:
        return ScalingStep(desired, target, None, f"{reason}; held {held:.1f}s", held)
    return ScalingStep(desired, current, Wish(target, wish.since), reason)
