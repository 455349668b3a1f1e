"""Scenario 4, the Ray ceiling: "1:1 async-actor calls with args" as ``ray microbenchmark``.

One caller (this driver) sends batches of 1,000 calls with one argument to one async actor
and waits for each batch, the way ``ray/_private/ray_perf.py`` measures it: a one-second
warm-up, then rounds of ``sizes.ceiling_round_s`` seconds; the figure is their mean.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from bench.sizes import Sizes

BATCH = 1000


class AsyncActor:
    """The microbenchmark's async actor."""

    async def small_value_with_arg(self, x: Any) -> bytes:
        """Return a small value, ignoring the argument."""
        return b"ok"


def _measure(sizes: Sizes) -> dict[str, Any]:
    import ray

    actor = ray.remote(num_cpus=0)(AsyncActor).remote()
    batch = min(BATCH, max(10, int(BATCH * sizes.ceiling_round_s / 2)))

    def calls() -> None:
        ray.get([actor.small_value_with_arg.remote(i) for i in range(batch)])

    try:
        started = time.perf_counter()
        while time.perf_counter() - started < min(1.0, sizes.ceiling_round_s):
            calls()
        rounds = []
        for _ in range(sizes.ceiling_rounds):
            count = 0
            started = time.perf_counter()
            while time.perf_counter() - started < sizes.ceiling_round_s:
                calls()
                count += batch
            rounds.append(count / (time.perf_counter() - started))
    finally:
        ray.kill(actor)
    return {
        "calls_per_s": round(statistics.fmean(rounds), 1),
        "stdev": round(statistics.pstdev(rounds), 1),
        "rounds": [round(r, 1) for r in rounds],
        "batch": batch,
    }


async def run(sizes: Sizes) -> dict[str, Any]:
    """Calls per second, 1:1, to an async actor, from the connected Ray driver."""
    return await asyncio.to_thread(_measure, sizes)
