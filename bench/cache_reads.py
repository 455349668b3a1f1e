"""Robot reads with and without the cache: p50/p99 of ``GET /v1/robots/{id}``, hit rate.

``python -m bench.cache_reads [--robots N] [--seconds S] [--rounds R] [--ray-address A]``
(also the ``cache`` scenario of ``python -m bench``, through :func:`run`).

Brings up one robofleet (``robofleet up``, SQLite store, a Redis tier only if
``ROBOFLEET_REDIS_URL`` is set), submits N ``echo`` robots and waits until they succeeded,
then starts a second gateway on the same store and cluster with ``cache_reads = false``
(store only). At 1 client and at 32, both gateways get the same load in alternating rounds:
clients reading random robot ids for S seconds after a warm-up. Of the rounds, each gateway's
figures are those of its round with the lowest p50 (the same rule for both sides, so a noisy
neighbour moment does not decide the ratio). The hit rate is the cached gateway's reads
answered from its own memory (``robofleet_gateway_robot_reads_total``) over all its reads in
the measured window. The command line writes ``bench/results/cache_reads.json``
(``cache_reads_redis.json`` with a Redis tier) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bench.fleet import (
    BENCH_SETTINGS,
    ManagedFleet,
    Target,
    echo_module,
    free_port,
    join_or_start_ray,
)
from bench.loadgen import percentile
from bench.sizes import Sizes

RESULTS_DIR = Path(__file__).with_name("results")
CLIENT_LEVELS = (1, 32)
READS_METRIC = re.compile(r'^robofleet_gateway_robot_reads_total\{source="(\w+)"\} (\S+)$', re.M)


async def submit_robots(target: Target, count: int, clients: int = 32) -> list[str]:
    """Submit ``count`` echo robots and wait until each has succeeded.

    Raises ``RuntimeError`` with the gateway's answer when a submit is refused (a missing or
    wrong key, a rate limit) and ``TimeoutError`` when the robots do not finish in 300 s.
    """
    ids: list[str] = []
    queue = list(range(count))
    async with aiohttp.ClientSession(headers=target.headers) as http:

        async def client() -> None:
            while queue:
                queue.pop()
                async with http.post(target.submit_url, json={"type": "echo"}) as response:
                    if response.status != 202:
                        text = (await response.text())[:500]
                        raise RuntimeError(f"submit refused ({response.status}): {text}")
                    ids.append((await response.json())["id"])

        await asyncio.gather(*(client() for _ in range(clients)))
        deadline = time.monotonic() + 300
        waiting = list(ids)
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} robots did not finish")
            async with http.get(f"{target.url}/v1/robots/{waiting[-1]}") as response:
                if (await response.json())["status"] == "succeeded":
                    waiting.pop()
                    continue
            await asyncio.sleep(0.2)
    return ids


async def read_load(
    url: str, headers: dict[str, str], ids: list[str], clients: int, seconds: float
) -> dict[str, Any]:
    """``clients`` concurrent readers of random robots for ``seconds``; latency percentiles."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                robot_id = random.choice(ids)
                started = time.perf_counter()
                async with http.get(f"{url}/v1/robots/{robot_id}") as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
    }


async def gateway_reads(url: str, headers: dict[str, str]) -> dict[str, float]:
    """The gateway's robot reads so far by source (``gateway`` memory, ``store``)."""
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{url}/metrics") as response:
            text = await response.text()
    return {source: float(value) for source, value in READS_METRIC.findall(text)}


@asynccontextmanager
async def store_only_gateway(target: Target, data_dir: Path) -> AsyncIterator[str]:
    """A second gateway on ``target``'s store and cluster that never caches; yields its URL.

    ``data_dir`` is the robofleet's data directory (where its SQLite store lives). The
    gateway actor is killed on the way out.
    """
    import ray

    from cluster.deploy import deploy_gateway
    from runtime.config import Settings

    database_url = target.store if target.store_kind == "postgresql" else None
    settings = Settings(
        **BENCH_SETTINGS,
        data_dir=data_dir,
        database_url=database_url,
        namespace=target.namespace,
        gateway_port=free_port(),
        cache_reads=False,
    )
    deployed = await asyncio.to_thread(deploy_gateway, settings)
    try:
        yield str(deployed["url"])
    finally:
        ray.kill(deployed["gateway"])


def best(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the lowest p50, with the p50 of every round beside it."""
    chosen = dict(min(rounds, key=lambda r: r["p50_ms"]))
    chosen["p50_rounds_ms"] = [r["p50_ms"] for r in rounds]
    return chosen


async def measure(
    target: Target, plain_url: str, ids: list[str], sizes: Sizes
) -> list[dict[str, Any]]:
    """Both gateways at each client level: one row per level with ``cache`` and ``store``."""
    gateways = {"cache": target.url, "store": plain_url}
    rows = []
    for clients in CLIENT_LEVELS:
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in gateways}
        for _ in range(sizes.cache_rounds):
            for name, url in gateways.items():
                await read_load(url, target.headers, ids, clients, sizes.warmup_s)
                before = await gateway_reads(url, target.headers)
                figures = await read_load(url, target.headers, ids, clients, sizes.cache_seconds)
                after = await gateway_reads(url, target.headers)
                if name == "cache":
                    hits = after.get("gateway", 0) - before.get("gateway", 0)
                    misses = after.get("store", 0) - before.get("store", 0)
                    figures["hit_rate"] = round(hits / max(1.0, hits + misses), 4)
                rounds[name].append(figures)
                print(f"[cache_reads] {name} @{clients}: {figures}", file=sys.stderr, flush=True)
        rows.append({"clients": clients, **{name: best(r) for name, r in rounds.items()}})
    return rows


async def run(target: Target, sizes: Sizes, data_dir: Path) -> dict[str, Any]:
    """The scenario on a running robofleet whose data directory is ``data_dir``."""
    ids = await submit_robots(target, sizes.cache_robots)
    async with store_only_gateway(target, data_dir) as plain_url:
        levels = await measure(target, plain_url, ids, sizes)
    return {
        "store": target.store_kind,
        "redis": bool(os.environ.get("ROBOFLEET_REDIS_URL")),
        "robots": len(ids),
        "seconds": sizes.cache_seconds,
        "rounds": sizes.cache_rounds,
        "levels": levels,
    }


async def run_managed(sizes: Sizes, ray_address: str, headers: dict[str, str]) -> dict[str, Any]:
    """The scenario on a robofleet of its own (SQLite store), brought up and down here."""
    fleet = ManagedFleet("cache-reads", ray_address, [echo_module(1)], None, headers)
    async with fleet as target:
        return await run(target, sizes, fleet.work_dir / "data")


def table(document: dict[str, Any]) -> str:
    """The results as a markdown table: each client level, cached gateway then store only."""
    lines = [
        "| GET /v1/robots/{id} | clients | p50 ms | p99 ms | req/s | hit rate | p50 per round |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for level in document["levels"]:
        for name in ("cache", "store"):
            f = level[name]
            hit = f"{f['hit_rate']:.1%}" if "hit_rate" in f else "-"
            each = " / ".join(str(p) for p in f["p50_rounds_ms"])
            lines.append(
                f"| {name} | {level['clients']} | {f['p50_ms']} | {f['p99_ms']} | {f['rps']} "
                f"| {hit} | {each} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    import dataclasses

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Sizes()
    parser.add_argument("--robots", type=int, default=defaults.cache_robots)
    parser.add_argument("--seconds", type=float, default=defaults.cache_seconds)
    parser.add_argument("--rounds", type=int, default=defaults.cache_rounds)
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args(argv)
    sizes = dataclasses.replace(
        defaults, cache_robots=args.robots, cache_seconds=args.seconds, cache_rounds=args.rounds
    )
    import ray

    address = join_or_start_ray(args.ray_address)
    try:
        document = asyncio.run(run_managed(sizes, address, {}))
    finally:
        ray.shutdown()
    document.update(scenario="cache_reads", cpus=os.cpu_count(), at=time.strftime("%F %T"))
    RESULTS_DIR.mkdir(exist_ok=True)
    name = "cache_reads_redis.json" if document["redis"] else "cache_reads.json"
    (RESULTS_DIR / name).write_text(json.dumps(document, indent=2))
    print(table(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
