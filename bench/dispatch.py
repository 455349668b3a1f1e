"""Scenario 3, dispatch alone: robots queued behind a module with no replica, then released.

End to end is bound by how fast the gateway accepts robots; this scenario takes the gateway
out of the clock. N ``bench-drain`` robots are submitted (wrk, a fixed count) while that
module has 0 replicas; then it is scaled to 2 and the clock runs from the orchestrator's
first dispatch until it holds none of them unfinished (every outcome settled and handed to
the store writer). The report divides the rate by the Ray ceiling of the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bench import wrk
from bench.fleet import DRAIN_MODULE, DRAIN_TYPE, Target, ensure_module
from bench.loadgen import Load
from bench.sizes import Sizes

REPLICAS = 2


async def _scale(target: Target, replicas: int) -> None:
    url = f"{target.url}/v1/modules/{DRAIN_MODULE['name']}/scale"
    async with aiohttp.ClientSession(headers=target.headers) as http:
        async with http.post(url, json={"replicas": replicas}) as response:
            if response.status != 200:
                raise RuntimeError(f"scaling to {replicas}: {await response.text()}")


async def _until(done: Callable[[], Awaitable[bool]], timeout_s: float, poll_s: float) -> bool:
    deadline = time.perf_counter() + timeout_s
    while not await done():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(poll_s)
    return True


async def run(target: Target, sizes: Sizes) -> dict[str, Any]:
    """Queue ``sizes.dispatch_robots`` robots, release them to 2 replicas, time the drain."""
    from actors.ray.common import orchestrator_handle

    await ensure_module(target, DRAIN_MODULE)
    await _scale(target, 0)  # a rerun on a running robofleet finds it as it left it
    orchestrator = orchestrator_handle(target.namespace)
    baseline = await orchestrator.stats.remote()
    load = Load(
        url=target.submit_url,
        connections=sizes.e2e_connections,
        requests=sizes.dispatch_robots,
        robot_type=DRAIN_TYPE,
        seed=sizes.seed + 1,
        headers=target.headers,
    )
    submit = await wrk.send(load)
    robots = submit["ok"]
    if robots != sizes.dispatch_robots:
        raise RuntimeError(f"{robots}/{sizes.dispatch_robots} accepted: {submit['statuses']}")
    before = (await orchestrator.stats.remote()).dispatched
    timeout_s = wrk.counted_timeout_s(robots)
    stats: dict[str, Any] = {}

    async def dispatching() -> bool:
        stats.update(dataclasses.asdict(await orchestrator.stats.remote()))
        return stats["dispatched"] > before

    async def drained() -> bool:
        stats.update(dataclasses.asdict(await orchestrator.stats.remote()))
        return stats["dispatched"] - before >= robots and stats["in_memory"] <= baseline.in_memory

    await _scale(target, REPLICAS)
    try:
        if not await _until(dispatching, timeout_s, 0.002):
            raise TimeoutError(f"nothing dispatched after {timeout_s:.0f}s: {stats}")
        started = time.perf_counter()
        if not await _until(drained, timeout_s, 0.005):
            raise TimeoutError(f"robots unfinished after {timeout_s:.0f}s: {stats}")
        elapsed = time.perf_counter() - started
    finally:
        await _scale(target, 0)  # no idle replicas left to share the CPU with what follows
    return {
        "robots": robots,
        "replicas": REPLICAS,
        "submit_per_s": submit["throughput_per_s"],
        "seconds": round(elapsed, 3),
        "robots_per_s": round(robots / elapsed, 1),
    }
