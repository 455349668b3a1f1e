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
    rows = []
    for connections in sizes.submit_levels:
        summary = await wrk.run(
            Load(
                url=target.submit_url,
                connections=connections,
                duration_s=sizes.submit_duration_s,
                warmup_s=sizes.warmup_s,
                robot_type=HOLD_TYPE,
                seed=sizes.seed + connections,
                headers=target.headers,
            ),
            sizes.wrk_repeats,
        )
        rows.append(load_row(summary, "accepted_per_s"))
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
