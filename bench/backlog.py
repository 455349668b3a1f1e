"""Scenario backlog: does the accept rate hold as the queue grows, and what does a queue weigh?

Robots of type ``bench-hold`` (a module with no replicas) stay queued, so the orchestrator
holds every one it accepts. wrk at 64 connections measures the accept rate in a short window
at an empty queue; then counted wrk runs fill the queue to ``backlog_rss_at`` robots (the
orchestrator's resident memory is read there, with psutil, from the pid the actor reports)
and on to ``backlog_robots``; then the same window measures the rate again. Each window
also gives the orchestrator's CPU per accepted robot (its own process, read by pid),
steadier than the rate on a shared machine, and the CPU per robot by process role
(:mod:`bench.cpu`). Queue sizes count the robots this scenario added to the
orchestrator (its ``queued`` counter at the start is the zero), so a rerun on a robofleet
that already holds robots measures the same growth.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import psutil

from bench import wrk
from bench.fleet import HOLD_MODULE, HOLD_TYPE, Target, ensure_module
from bench.loadgen import Load
from bench.profile import Profiler
from bench.sizes import Sizes

CONNECTIONS = 64
MB = 1024 * 1024


class OrchestratorProbe:
    """The orchestrator actor of a robofleet as this scenario reads it: queue and memory."""

    def __init__(self, namespace: str) -> None:
        from actors.ray.common import orchestrator_handle

        self.handle = orchestrator_handle(namespace)
        self.pid = 0

    async def start(self) -> None:
        """Learn the actor's process id (``Orchestrator.pid`` of the Ray actor)."""
        self.pid = await self.handle.pid.remote()

    async def queued(self) -> int:
        """Robots queued in the orchestrator, every type."""
        return int((await self.handle.stats.remote()).queued)

    def cpu_s(self) -> float:
        """CPU seconds (user and system, every thread) the orchestrator process has used.

        Read from its own pid: :mod:`bench.cpu` sums every process of a role on the machine,
        which on a shared host takes in other robofleets' orchestrators too.
        """
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system

    def rss_mb(self) -> float:
        """The orchestrator process's resident set size in MiB (``psutil`` reads ``/proc``)."""
        return round(psutil.Process(self.pid).memory_info().rss / MB, 1)


async def _window(
    target: Target,
    sizes: Sizes,
    seed: int,
    orchestrator: OrchestratorProbe,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """A warm-up, then one timed wrk run: accepted/s, latency, CPU per robot by role.

    ``orchestrator_us_per_robot`` is the CPU of this robofleet's orchestrator process alone
    over the timed run, per accepted robot. With ``profile_dir``, py-spy records the
    orchestrator over the warm-up and the run into that directory.
    """
    load = Load(
        url=target.submit_url,
        connections=CONNECTIONS,
        duration_s=sizes.backlog_window_s,
        robot_type=HOLD_TYPE,
        seed=seed,
        headers=target.headers,
    )
    profiler = None
    if profile_dir is not None:
        profiler = Profiler(profile_dir)
        profiler.start({"orchestrator": orchestrator.pid})
    try:
        await wrk.run(dataclasses.replace(load, duration_s=sizes.warmup_s))
        before = orchestrator.cpu_s()
        out = await wrk.run(load)
        used = orchestrator.cpu_s() - before
    finally:
        profiled = await asyncio.to_thread(profiler.stop) if profiler else {}
    return {
        "accepted_per_s": out["throughput_per_s"],
        "p50_ms": out["latency_ms"]["p50"],
        "p99_ms": out["latency_ms"]["p99"],
        "errors": out["requests"] - out["ok"],
        "orchestrator_us_per_robot": round(used / out["ok"] * 1e6, 1) if out["ok"] else None,
        "cpu_us_per_robot": out.get("cpu_us_per_request", {}),
        "profile": profiled.get("orchestrator", {}).get("summary"),
    }


async def _fill(target: Target, count: int, seed: int) -> dict[str, Any]:
    """Get ``count`` more robots accepted (a counted wrk run); their rate and any refusals."""
    if count < 1:
        return {"robots": 0, "accepted_per_s": None, "seconds": 0.0, "errors": 0}
    load = Load(
        url=target.submit_url,
        connections=CONNECTIONS,
        requests=count,
        robot_type=HOLD_TYPE,
        seed=seed,
        headers=target.headers,
    )
    started = time.perf_counter()
    out = await wrk.send(load)
    return {
        "robots": out["ok"],
        "accepted_per_s": out["throughput_per_s"],
        "seconds": round(time.perf_counter() - started, 1),
        "errors": out["requests"] - out["ok"],
    }


async def run(target: Target, sizes: Sizes, profile_dir: Path | None = None) -> dict[str, Any]:
    """Rate at an empty queue, fill to ``backlog_rss_at`` (RSS) then ``backlog_robots``, rate.

    Returns the two windows (``empty``, ``full``: accepted/s, p50/p99 ms, errors, CPU µs per
    robot by role, and the queue when each began), the fill runs, and the orchestrator's RSS
    in MiB empty, at ``backlog_rss_at`` and at ``backlog_robots`` queued robots. With
    ``profile_dir``, py-spy records the orchestrator during each window into its
    ``empty`` and ``full`` subdirectories (``profile`` names each summary).
    """
    await ensure_module(target, HOLD_MODULE)
    orchestrator = OrchestratorProbe(target.namespace)
    await orchestrator.start()
    base = await orchestrator.queued()

    async def added() -> int:
        return await orchestrator.queued() - base

    await asyncio.sleep(0.5)  # let start-up garbage go before the first reading
    rss_empty = orchestrator.rss_mb()

    def window(name: str, seed: int) -> Any:
        return _window(target, sizes, seed, orchestrator, profile_dir and profile_dir / name)

    empty = {"queued": await added(), **await window("empty", sizes.seed)}
    fills = [await _fill(target, sizes.backlog_rss_at - await added(), sizes.seed + 1)]
    rss_at = {"queued": await added(), "rss_mb": orchestrator.rss_mb()}
    fills.append(await _fill(target, sizes.backlog_robots - await added(), sizes.seed + 2))
    full = {"queued": await added(), **await window("full", sizes.seed + 3)}
    return {
        "connections": CONNECTIONS,
        "window_s": sizes.backlog_window_s,
        "queued_at_start": base,
        "empty": empty,
        "full": full,
        "fills": fills,
        "rss_empty_mb": rss_empty,
        "rss_at_mb": rss_at,
        "rss_full_mb": {"queued": await added(), "rss_mb": orchestrator.rss_mb()},
        "rss_at_robots": sizes.backlog_rss_at,
        "robots": sizes.backlog_robots,
    }
