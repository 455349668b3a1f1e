"""Scenario 2, end to end: N no-op robots submitted as fast as the gateway takes them.

wrk (:func:`bench.wrk.send`) posts N ``echo`` robots over a fixed set of connections while
this process counts the robots the store records ``succeeded`` (one indexed ``GROUP BY`` per
poll) and samples the orchestrator's ``dispatched`` counter. The clock runs from the first
submit to the last success; CPU is metered by process over the same span. Also used by the
scaling scenario.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import wrk
from bench.cpu import CpuMeter
from bench.fleet import Target, orchestrator_stats
from bench.loadgen import Load
from bench.profile import Profiler, actor_pids
from bench.sizes import Sizes

POLL_S = 0.1
STATS_EVERY_S = 0.5
FAILED = ("failed", "dead", "cancelled")


async def _stats(namespace: str) -> dict[str, Any] | None:
    import ray

    if not ray.is_initialized():
        return None
    try:
        return await asyncio.to_thread(orchestrator_stats, namespace)
    except Exception:
        return None


def peak_rate(samples: list[tuple[float, int]], window_s: float = 1.0) -> float:
    """The highest rate of a counter over any span of at least ``window_s`` seconds."""
    best = 0.0
    for i, (t0, v0) in enumerate(samples):
        for t1, v1 in samples[i + 1 :]:
            if t1 - t0 >= window_s:
                best = max(best, (v1 - v0) / (t1 - t0))
                break
    return best


async def run(
    target: Target,
    sizes: Sizes,
    robots: int | None = None,
    robot_type: str = "echo",
    profiler: Profiler | None = None,
) -> dict[str, Any]:
    """Submit ``robots`` (default ``sizes.e2e_robots``) and wait until all succeeded."""
    count = robots if robots is not None else sizes.e2e_robots
    probe = target.probe()
    submitting: asyncio.Future = asyncio.get_running_loop().create_future()
    meter = CpuMeter("wrk")
    try:
        before = await probe.counts(robot_type)
        stats_before = await _stats(target.namespace)
        if profiler is not None:
            profiler.start(await asyncio.to_thread(actor_pids, target.namespace))
        load = Load(
            url=target.submit_url,
            connections=sizes.e2e_connections,
            requests=count,
            robot_type=robot_type,
            seed=sizes.seed,
            headers=target.headers,
        )
        meter.start()
        started = time.perf_counter()
        submitting = asyncio.ensure_future(wrk.send(load))
        expected = count
        submit: dict[str, Any] | None = None
        submit_done_s = None
        timeline: list[tuple[float, int, int]] = []
        last_stats = 0.0
        timeout_s = wrk.counted_timeout_s(count)
        succeeded = failed = 0
        while True:
            now = time.perf_counter() - started
            counts = await probe.counts(robot_type)
            succeeded = counts.get("succeeded", 0) - before.get("succeeded", 0)
            failed = sum(counts.get(s, 0) - before.get(s, 0) for s in FAILED)
            dispatched = None
            if now - last_stats >= STATS_EVERY_S:
                last_stats = now
                stats = await _stats(target.namespace)
                dispatched = stats["dispatched"] if stats else None
            if dispatched is not None:
                timeline.append((round(now, 3), succeeded, dispatched))
            if submit is None and submitting.done():
                submit = submitting.result()
                submit_done_s = time.perf_counter() - started
                expected = submit["ok"]
            if submit is not None and succeeded + failed >= expected:
                break
            if now > timeout_s:
                raise TimeoutError(
                    f"{succeeded}/{expected} robots succeeded after {timeout_s:.0f}s"
                )
            await asyncio.sleep(POLL_S)
        elapsed = time.perf_counter() - started
        meter.stop()
    finally:
        if not submitting.done():
            submitting.cancel()
        profile = profiler.stop() if profiler is not None else None
        await probe.close()
    stats_after = await _stats(target.namespace)
    result: dict[str, Any] = {
        "store": target.store_kind,
        "robots": count,
        "accepted": expected,
        "succeeded": succeeded,
        "failed": failed,
        "elapsed_s": round(elapsed, 3),
        "robots_per_s": round(succeeded / elapsed, 1),
        "submit_elapsed_s": submit["elapsed_s"] if submit else None,
        "submit_per_s": submit["throughput_per_s"] if submit else 0.0,
        "drain_after_submit_s": round(elapsed - submit_done_s, 3) if submit_done_s else None,
        "submit_latency_ms": submit["latency_ms"] if submit else None,
        "submit_statuses": submit["statuses"] if submit else None,
        "profiled": profiler is not None,
        "cpu_us_per_robot": meter.per_request_us(succeeded),
    }
    if stats_before and stats_after:
        dispatched = stats_after["dispatched"] - stats_before["dispatched"]
        result["dispatched"] = dispatched
        result["dispatch_per_s"] = round(dispatched / elapsed, 1)
        result["dispatch_peak_per_s"] = round(
            peak_rate([(t, d - stats_before["dispatched"]) for t, _, d in timeline]), 1
        )
        result["store_commits"] = stats_after["commits"] - stats_before["commits"]
    result["timeline"] = timeline
    if profile is not None:
        result["profile"] = profile
    return result
