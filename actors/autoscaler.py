"""The autoscaling control loop: once per interval, each module with an ``autoscaling`` table
is sampled, the policy (:mod:`runtime.autoscaling`) decides, and a change goes through the
orchestrator's own scale path (``scale_module``: the supervisor resizes, the store
remembers). Each decision is logged in one line and counted for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from actors.deployment import DeployedModule
from runtime.autoscaling import (
    AutoscalingStatus,
    DeadlineBacklog,
    Direction,
    LoadSample,
    ScalingDecision,
    Wish,
    decide,
)
from runtime.queue import RobotQueue

log = logging.getLogger(__name__)

DEADLINE_LOOKAHEAD = 10_000
"""Queued robots (in dispatch order) the deadline rule looks at, per module and tick."""
KEPT_DECISIONS = 20
"""Most recent decisions of a module ``GET /v1/modules`` shows."""

Scale = Callable[[str, int], Awaitable[object]]
"""``scale(module, replicas)``: the orchestrator's scale path."""
Room = Callable[[DeployedModule], Awaitable[int | None]]
"""``room(module)``: more replicas of it the cluster can place now (None: no bound)."""


@dataclass
class _ModuleScaling:
    samples: deque[LoadSample] = field(default_factory=deque)
    wish: Wish | None = None
    desired: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {d.value: 0 for d in Direction})
    decisions: deque[ScalingDecision] = field(default_factory=lambda: deque(maxlen=KEPT_DECISIONS))


def deadline_backlog(module: DeployedModule, queues: Mapping[str, RobotQueue]) -> DeadlineBacklog:
    """The deadline rule's view of a module: its queued robots with a deadline, each with how
    many queued robots go before it (all the module's types, in dispatch order, the first
    :data:`DEADLINE_LOOKAHEAD`), its robots running now and its measured run time."""
    in_flight = sum(len(slot.in_flight) for slot in module.replicas)
    mine = [queues[t] for t in module.spec.types if t in queues]
    deadlines: list[tuple[int, float]] = []
    if any(q.has_deadlines() for q in mine):
        # Each queue's first keys hold the module's first: no walk of a long queue.
        firsts = (k for q in mine for k in q.first_keys(DEADLINE_LOOKAHEAD))
        keys = heapq.nsmallest(DEADLINE_LOOKAHEAD, firsts)
        deadlines = [(ahead, key[1]) for ahead, key in enumerate(keys) if key[1] != math.inf]
    return DeadlineBacklog(
        in_flight=in_flight,
        deadlines=deadlines,
        run_seconds=module.run_seconds,
        slots=module.spec.max_concurrency,
    )


class Autoscaler:
    """Scales the modules that ask for it, every ``interval_s`` seconds of ``clock``."""

    def __init__(
        self,
        modules: Mapping[str, DeployedModule],
        queues: Mapping[str, RobotQueue],
        scale: Scale,
        room: Room,
        interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.modules = modules
        self.queues = queues
        self.scale = scale
        self.room = room
        self.interval_s = interval_s
        self.clock = clock
        self.state: dict[str, _ModuleScaling] = {}
        self.stopping = False

    async def run(self) -> None:
        """Tick every ``interval_s`` until stopped; a failing module never stops the others."""
        while not self.stopping:
            await asyncio.sleep(self.interval_s)
            await self.tick()

    async def tick(self) -> None:
        """Sample, decide and act once for every autoscaled module."""
        for module in list(self.modules.values()):
            if module.spec.autoscaling is None:
                self.state.pop(module.name, None)
                continue
            try:
                await self.step(module)
            except Exception:
                log.exception("autoscaling step of module %s failed", module.name)

    async def step(self, module: DeployedModule) -> ScalingDecision | None:
        """One control tick for one module; returns the decision it acted on, if any."""
        config = module.spec.autoscaling
        assert config is not None
        now = self.clock()
        state = self.state.setdefault(module.name, _ModuleScaling())
        queued = sum(len(self.queues[t]) for t in module.spec.types if t in self.queues)
        backlog = deadline_backlog(module, self.queues) if config.deadline_aware else None
        in_flight = sum(len(slot.in_flight) for slot in module.replicas)
        state.samples.append(LoadSample(now, queued + in_flight))
        while state.samples and state.samples[0].at < now - config.look_back_period_s:
            state.samples.popleft()
        current = module.spec.replicas
        step = decide(config, current, state.samples, backlog, now, state.wish, None)
        if step.target > current:
            room = await self.room(module)  # a node listing: only when it may bound an upscale
            step = decide(config, current, state.samples, backlog, now, state.wish, room)
        state.desired, state.wish = step.desired, step.wish
        if step.target == current:
            return None
        direction = Direction.UP if step.target > current else Direction.DOWN
        await self.scale(module.name, step.target)
        decision = ScalingDecision(
            at=now,
            from_replicas=current,
            to_replicas=step.target,
            direction=direction,
            reason=step.reason,
            held_s=round(step.held_s, 3),
        )
        state.counts[direction.value] += 1
        state.decisions.append(decision)
        log.info(
            "autoscaling %s: %d → %d replicas (%s)",
            module.name,
            current,
            step.target,
            step.reason,
        )
        return decision

    def desired(self) -> dict[str, int]:
        """Replicas each autoscaled module's policy asks for now (its last tick)."""
        return {name: s.desired for name, s in self.state.items()}

    def decision_counts(self) -> dict[str, dict[str, int]]:
        """Decisions taken per module, then per direction, since this orchestrator started."""
        return {name: dict(s.counts) for name, s in self.state.items()}

    def status(self, module: DeployedModule) -> AutoscalingStatus | None:
        """What ``GET /v1/modules`` shows of a module's autoscaling (None: fixed replicas)."""
        config = module.spec.autoscaling
        if config is None:
            return None
        state = self.state.get(module.name)
        return AutoscalingStatus(
            config=config,
            desired=state.desired if state is not None else module.spec.replicas,
            decisions=list(state.decisions) if state is not None else [],
        )

    def stop(self) -> None:
        """Stop ticking."""
        self.stopping = True
