"""Scenario 1, submit: ``POST /v1/robots`` at 1, 16, 64 and 256 connections.

The robots are of type ``bench-hold``, a module with no replicas, so they stay queued and the
figure is the accept path alone: validate, micro-batch, persist, enqueue, ``202``. wrk
(:mod:`bench.wrk`) drives it, as it drives the Ray Serve peer.
"""

from __future__ import annotations

from typing import Any

from bench import wrk
from bench.fleet import HOLD_MODULE, HOLD_TYPE, Target, ensure_module
from bench.loadgen import Load
from bench.sizes import Sizes


async def run(target: Target, sizes: Sizes) -> list[dict[str, Any]]:
    """One row per connection level: accepted/s and client-side latency percentiles."""
    await ensure_module(target, HOLD_MODULE)
    return await measure_levels(
        target.submit_url, sizes.submit_levels, sizes, "accepted_per_s", HOLD_TYPE, target.headers
    )


async def measure_levels(
    url: str,
    levels: tuple[int, ...],
    sizes: Sizes,
    rate_name: str,
    robot_type: str = "echo",
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """wrk against ``url`` at each connection level; one :func:`load_row` per level.

    Submit, the Ray Serve peer and the HTTP floor all measure this way, so their rows compare.
    """
    rows = []
    for connections in levels:
        load = Load(
            url=url,
            connections=connections,
            duration_s=sizes.submit_duration_s,
            warmup_s=sizes.warmup_s,
            robot_type=robot_type,
            seed=sizes.seed + connections,
            headers=headers,
        )
        rows.append(load_row(await wrk.run(load, sizes.wrk_repeats), rate_name))
    return rows


def load_row(summary: dict[str, Any], rate_name: str) -> dict[str, Any]:
    """A load generator summary flattened into one table row."""
    latency = summary["latency_ms"]
    return {
        "connections": summary["connections"],
        rate_name: summary["throughput_per_s"],
        "p50_ms": latency["p50"],
        "p95_ms": latency["p95"],
        "p99_ms": latency["p99"],
        "max_ms": latency["max"],
        "requests": summary["requests"],
        "errors": summary["requests"] - summary["ok"],
        "statuses": summary["statuses"],
        "cpu_us_per_request": summary.get("cpu_us_per_request", {}),
        "p99_runs_ms": [r["p99"] for r in summary.get("runs", [])],
    }
