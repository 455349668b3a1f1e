"""End-to-end robots/s with the same replicas on one node and spread over two nodes.

Both layouts run on one two-node Ray cluster started here (``ray.cluster_utils``), so the
figure shows what crossing a node boundary costs on this machine. Run:
``python -m bench.multinode [--robots N]``; results go to ``bench/results/multinode.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.fleet import free_port, pythonpath

RESULTS = Path(__file__).with_name("results")
LAYOUTS = {
    "one node": {"head_only": 0.01},
    "two nodes": {"anywhere": 0.01},
}


def _settings(data_dir: Path, resources: dict[str, float]) -> Any:
    from runtime.config import Settings

    unlimited = {"rate": 1_000_000.0, "burst": 1_000_000.0}
    return Settings(
        data_dir=data_dir,
        gateway_port=free_port(),
        namespace="robofleet",
        rate_limits={"admin": unlimited},
        modules=[
            {
                "name": "echo",
                "class": "runtime.builtin:Echo",
                "replicas": 2,
                "max_concurrency": 64,
                "resources": resources,
            }
        ],
    )


async def _admin_key(settings: Any) -> str:
    from cluster.keys_cli import issue_admin_key

    key = await issue_admin_key(settings, "bench-multinode")
    assert key is not None
    return key


async def _drive(url: str, key: str, robots: int, connections: int) -> float:
    from actors.ray.common import orchestrator_handle

    orchestrator = orchestrator_handle("robofleet")
    headers = {"Authorization": f"Bearer {key}"}
    todo = iter(range(robots))
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers=headers) as http:

        async def worker() -> None:
            for i in todo:
                async with http.post(
                    f"{url}/v1/robots", json={"type": "echo", "payload": {"i": i}}
                ) as r:
                    assert r.status == 202, await r.text()

        await asyncio.gather(*(worker() for _ in range(connections)))
    while (await orchestrator.stats.remote()).in_memory:
        await asyncio.sleep(0.02)
    return robots / (time.perf_counter() - started)


def measure(robots: int, connections: int) -> dict[str, Any]:
    """Run both layouts and return robots/s for each."""
    import ray
    from ray.cluster_utils import Cluster

    from cluster import deploy

    os.environ["PYTHONPATH"] = pythonpath()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "gcs_server_port": free_port(),
            "include_dashboard": False,
            "resources": {"head_only": 1, "anywhere": 1},
        },
    )
    cluster.add_node(num_cpus=1, resources={"anywhere": 1})
    cluster.wait_for_nodes()
    ray.init(
        address=cluster.address, namespace="robofleet", logging_level="ERROR", log_to_driver=False
    )
    figures: dict[str, Any] = {}
    try:
        for layout, resources in LAYOUTS.items():
            data_dir = Path(tempfile.mkdtemp(prefix="robofleet-bench-"))
            settings = _settings(data_dir, resources)
            deployed = deploy.deploy(settings)
            key = asyncio.run(_admin_key(settings))
            time.sleep(3)  # replicas come up in the background
            nodes = ray.get(deployed["orchestrator"].replica_nodes.remote())
            rate = asyncio.run(_drive(deployed["url"], key, robots, connections))
            figures[layout] = {
                "robots_per_s": round(rate, 1),
                "replica_nodes": len(set(nodes.values())),
            }
            spread = len(set(nodes.values()))
            print(f"{layout:>10}: {rate:8.1f} robots/s  (replicas on {spread} node(s))")
            deploy.teardown(settings.namespace)
            shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        ray.shutdown()
        cluster.shutdown()
    one, two = figures["one node"]["robots_per_s"], figures["two nodes"]["robots_per_s"]
    figures["two_over_one"] = round(two / one, 3) if one else None
    return figures


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure, print, keep the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--robots", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS / "multinode.json")
    args = parser.parse_args(argv)
    figures = measure(args.robots, args.connections)
    figures["robots"] = args.robots
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(f"two nodes / one node: {figures['two_over_one']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
