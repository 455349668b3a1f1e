"""Robot reads with and without the cache: p50/p99 of ``GET /v1/robots/{id}``, hit rate.

``python -m bench.cache_reads [--robots N] [--seconds S] [--clients C] [--ray-address A]``

Brings up one robofleet (``robofleet up``, SQLite store, no Redis unless
``ROBOFLEET_REDIS_URL`` is set), submits N ``echo`` robots and waits until they succeeded,
then starts a second gateway on the same store and cluster with ``cache_reads = false``.
Both gateways get the same load: C concurrent clients reading random robot ids for S
seconds after a warm-up, in alternating rounds, then one client alone. The hit rate is the
cache actor's robot hits over lookups during the measured window. Results go to
``bench/results/cache_reads.json`` (``cache_reads_redis.json`` with a Redis tier) and a
markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.fleet import (
    BENCH_SETTINGS,
    ManagedFleet,
    Target,
    echo_module,
    free_port,
    pythonpath,
)
from bench.loadgen import percentile
from runtime.messages import CacheStatsSnapshot

RESULTS_DIR = Path(__file__).with_name("results")


async def submit_robots(target: Target, count: int, clients: int = 32) -> list[str]:
    """Submit ``count`` echo robots and wait until each has succeeded."""
    ids: list[str] = []
    queue = list(range(count))
    async with aiohttp.ClientSession(headers=target.headers) as http:

        async def client() -> None:
            while queue:
                queue.pop()
                async with http.post(target.submit_url, json={"type": "echo"}) as response:
                    ids.append((await response.json())["id"])

        await asyncio.gather(*(client() for _ in range(clients)))
    probe = target.probe()
    try:
        deadline = time.monotonic() + 300
        while (await probe.counts("echo")).get("succeeded", 0) < count:
            if time.monotonic() > deadline:
                raise TimeoutError("robots did not finish")
            await asyncio.sleep(0.2)
    finally:
        await probe.close()
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


def robot_lookups(namespace: str) -> tuple[int, int]:
    """(hits, misses) of robot reads so far, from the cache actor."""
    import ray

    stats: CacheStatsSnapshot = ray.get(
        ray.get_actor("cache", namespace=namespace).stats.remote(), timeout=30
    )
    robot = stats.kinds["robot"]
    return robot.hits, robot.misses


def start_plain_gateway(fleet: ManagedFleet, target: Target) -> str:
    """A second gateway on the same store and cluster that never asks the cache."""
    from cluster.deploy import deploy_gateway
    from runtime.config import Settings

    settings = Settings(
        **BENCH_SETTINGS,
        data_dir=fleet.work_dir / "data",
        namespace=target.namespace,
        gateway_port=free_port(),
        cache_reads=False,
    )
    return str(deploy_gateway(settings)["url"])


async def run(robots: int, seconds: float, clients: int, rounds: int, ray_address: str) -> dict:
    """The whole benchmark; returns the results document."""
    fleet = ManagedFleet("cache-reads", ray_address, [echo_module(1)])
    async with fleet as target:
        ids = await submit_robots(target, robots)
        plain_url = await asyncio.to_thread(start_plain_gateway, fleet, target)
        gateways = {"cache": target.url, "no cache": plain_url}
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in gateways}
        for _ in range(rounds):
            for name, url in gateways.items():
                await read_load(url, target.headers, ids, clients, min(3.0, seconds))  # warm-up
                before = await asyncio.to_thread(robot_lookups, target.namespace)
                figures = await read_load(url, target.headers, ids, clients, seconds)
                after = await asyncio.to_thread(robot_lookups, target.namespace)
                hits, misses = after[0] - before[0], after[1] - before[1]
                if name == "cache":
                    figures["hit_rate"] = round(hits / max(1, hits + misses), 4)
                results[name].append(figures)
                print(f"[cache_reads] {name}: {figures}", file=sys.stderr, flush=True)
        single: dict[str, dict[str, Any]] = {}
        for name, url in gateways.items():  # one client: the cost of one read, no queueing
            single[name] = await read_load(url, target.headers, ids, 1, min(5.0, seconds))
            print(f"[cache_reads] {name}, 1 client: {single[name]}", file=sys.stderr, flush=True)
    return {
        "redis": bool(os.environ.get("ROBOFLEET_REDIS_URL")),
        "single_client": single,
        "scenario": "cache_reads",
        "robots": robots,
        "clients": clients,
        "seconds": seconds,
        "rounds": results,
        "cpus": os.cpu_count(),
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def table(document: dict[str, Any]) -> str:
    """The results as a markdown table (the last round of each gateway)."""
    lines = [
        f"| GET /v1/robots/{{id}}, {document['clients']} clients | p50 ms | p99 ms | req/s "
        "| hit rate |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, rounds in document["rounds"].items():
        last = rounds[-1]
        hit = f"{last['hit_rate']:.1%}" if "hit_rate" in last else "-"
        lines.append(f"| {name} | {last['p50_ms']} | {last['p99_ms']} | {last['rps']} | {hit} |")
    for name, figures in document.get("single_client", {}).items():
        lines.append(
            f"| {name}, 1 client | {figures['p50_ms']} | {figures['p99_ms']} | {figures['rps']} "
            "| |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args(argv)
    import ray

    os.environ["PYTHONPATH"] = pythonpath()
    common: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if args.ray_address:
        ray.init(address=args.ray_address, namespace="bench", **common)
    else:
        ray.init(address="local", include_dashboard=False, namespace="bench", **common)
    try:
        address = ray.get_runtime_context().gcs_address
        document = asyncio.run(run(args.robots, args.seconds, args.clients, args.rounds, address))
    finally:
        ray.shutdown()
    RESULTS_DIR.mkdir(exist_ok=True)
    name = "cache_reads_redis.json" if document["redis"] else "cache_reads.json"
    (RESULTS_DIR / name).write_text(json.dumps(document, indent=2))
    print(table(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
