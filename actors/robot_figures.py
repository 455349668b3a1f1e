"""What the orchestrator shows of its robots: the figures of ``/metrics`` and its repr.

Plain functions over the orchestrator's state (its robots in memory, queues per robot type,
deployed modules and :class:`~runtime.robot_tally.RobotTally`), so reading them never
changes anything.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from actors.deployment import DeployedModule, ReplicaState
from runtime.breaker import BreakerState
from runtime.messages import RobotFigures
from runtime.models import HealthState, Robot, RobotStatus
from runtime.queue import RobotQueue
from runtime.robot_tally import RobotTally

__all__ = ["orchestrator_repr", "queue_depths", "replica_in_flight", "robot_figures"]


def queue_depths(
    modules: Mapping[str, DeployedModule], queues: Mapping[str, RobotQueue]
) -> dict[str, int]:
    """Robots queued for each module (a type several modules serve counts for each)."""
    return {
        module.name: sum(len(queues[t]) for t in module.spec.types if t in queues)
        for module in modules.values()
    }


def replica_in_flight(modules: Mapping[str, DeployedModule]) -> dict[str, dict[str, int]]:
    """Robots running on each replica, by module then replica name (as routing counts)."""
    return {
        module.name: {slot.name: len(slot.in_flight) for slot in module.replicas}
        for module in modules.values()
    }


def robot_figures(
    robots: Mapping[str, Robot],
    modules: Mapping[str, DeployedModule],
    queues: Mapping[str, RobotQueue],
    tally: RobotTally,
    started_at: float,
) -> RobotFigures:
    """Every robot figure of ``/metrics``, gauges as of now and counters since start.

    Walks the robots held in memory once (queued and running ones) to count them by status
    and find those running past their ``timeout_s``: about 0.1-0.4 µs a robot (40 ms for
    100,000 queued robots on a loaded 2-core machine), once per scrape. The rest is read
    from counts kept as robots move.
    """
    now = time.time()
    running = 0
    overdue = dict.fromkeys(modules, 0)
    for robot in robots.values():
        if robot.status is RobotStatus.RUNNING:
            running += 1
            started = robot.started_at
            if started is not None and now - started > robot.timeout_s and robot.module:
                overdue[robot.module] = overdue.get(robot.module, 0) + 1
    return RobotFigures(
        queue_depth=queue_depths(modules, queues),
        in_flight=replica_in_flight(modules),
        active={
            RobotStatus.QUEUED.value: len(robots) - running,
            RobotStatus.RUNNING.value: running,
        },
        overdue=overdue,
        breaker_open={
            m.name: int(m.breaker.state() is BreakerState.OPEN) for m in modules.values()
        },
        outcomes=tally.outcome_counts(),
        retries=dict(tally.retries),
        dispatched=dict(tally.dispatched),
        durations=tally.durations(),
        started_at=started_at,
    )


def orchestrator_repr(robots: Mapping[str, Robot], modules: Mapping[str, DeployedModule]) -> str:
    """E.g. ``orchestrator(queued=12 running=4 modules=3 starting=[] unhealthy=[] open=[])``:
    robots waiting and running, modules, those with replicas still starting, those otherwise
    not healthy (with their health) and those with an open breaker."""
    running = sum(len(slot.in_flight) for m in modules.values() for slot in m.replicas)
    starting = [
        m.name
        for m in modules.values()
        if any(r.state is ReplicaState.STARTING for r in m.replicas)
    ]
    unhealthy = [
        f"{m.name}:{m.health.value}"
        for m in modules.values()
        if m.health is not HealthState.HEALTHY and m.name not in starting
    ]
    open_breakers = [m.name for m in modules.values() if m.breaker.state() is BreakerState.OPEN]
    return (
        f"orchestrator(queued={max(0, len(robots) - running)} running={running} "
        f"modules={len(modules)} starting={starting} unhealthy={unhealthy} open={open_breakers})"
    )
