"""Scenario 6, scaling: end-to-end robots/s with 1, 2 and 4 replicas of the no-op module.

The harness brings robofleet up once per replica count from its own TOML config (the
``echo`` module with that many replicas). Against a robofleet it did not start, it registers
one ``bench.noop:NoOp`` module per count instead, each with its own robot type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from bench import e2e
from bench.fleet import Target, ensure_module
from bench.sizes import Sizes

# (replicas) -> context giving the robofleet to measure and the robot type to submit
FleetFor = Callable[[int], AbstractAsyncContextManager[tuple[Target, str]]]


def registered_modules(target: Target) -> FleetFor:
    """Scaling points on an existing robofleet: one runtime-registered module per count."""

    @asynccontextmanager
    async def fleet_for(replicas: int) -> AsyncIterator[tuple[Target, str]]:
        robot_type = f"bench-scale-{replicas}"
        spec = {
            "name": robot_type,
            "class": "bench.noop:NoOp",
            "types": [robot_type],
            "replicas": replicas,
            "max_concurrency": 64,
        }
        await ensure_module(target, spec)
        yield target, robot_type

    return fleet_for


async def run(sizes: Sizes, fleet_for: FleetFor) -> list[dict[str, Any]]:
    """One end-to-end run of ``sizes.scaling_robots`` robots per replica count."""
    rows = []
    for replicas in sizes.scaling_replicas:
        async with fleet_for(replicas) as (target, robot_type):
            result = await e2e.run(target, sizes, sizes.scaling_robots, robot_type)
        result.pop("timeline", None)
        rows.append({"replicas": replicas, **result})
    return rows
