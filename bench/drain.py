"""Dispatch alone: robots queued behind a module with no replica, then released at once.

End to end is bound by how fast the gateway accepts robots; this scenario takes the gateway
out of the clock. N robots are submitted while the ``echo`` module has 0 replicas, then it
is scaled to 2 and the clock runs from the first dispatch to the last recorded outcome. The
same run measures Ray's 1:1 async-actor call rate the way ``bench.ray_ceiling`` (and
``ray microbenchmark``) does, for the ratio. The clock stops when the orchestrator holds no
unfinished robot (every outcome settled and handed to the store writer).
Run: ``python -m bench.drain [--robots N]``; results go to ``bench/results/drain.json``.
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

from bench import ray_ceiling
from bench.fleet import free_port, pythonpath
from bench.sizes import Sizes

RESULTS = Path(__file__).with_name("results")


async def drain(url: str, key: str, robots: int) -> dict[str, float]:
    """Queue ``robots`` behind 0 replicas, scale to 2, time the drain from the first dispatch."""
    import ray

    orchestrator = ray.get_actor("orchestrator", namespace="robofleet")
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        todo = iter(range(robots))

        async def submitter() -> None:
            for i in todo:
                async with http.post(
                    f"{url}/v1/robots", json={"type": "echo", "payload": {"i": i}}
                ) as r:
                    assert r.status == 202, await r.text()

        await asyncio.gather(*(submitter() for _ in range(32)))
        before = (await orchestrator.stats.remote())["dispatched"]
        async with http.post(f"{url}/v1/modules/echo/scale", json={"replicas": 2}) as r:
            assert r.status == 200, await r.text()
    while (await orchestrator.stats.remote())["dispatched"] == before:
        await asyncio.sleep(0.002)
    started = time.perf_counter()
    while (await orchestrator.stats.remote())["in_memory"]:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    return {
        "robots": robots,
        "seconds": round(elapsed, 3),
        "robots_per_s": round(robots / elapsed, 1),
    }


def measure(robots: int) -> dict[str, Any]:
    """Bring robofleet up on a local Ray cluster, measure the drain and the Ray ceiling."""
    import ray

    from cluster import deploy
    from cluster.keys_cli import issue_admin_key
    from runtime.config import Settings

    os.environ["PYTHONPATH"] = pythonpath()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        address="local",  # a cluster of its own, never another robofleet on this machine
        namespace="robofleet",
        num_cpus=2,
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
    )
    data_dir = Path(tempfile.mkdtemp(prefix="robofleet-drain-"))
    unlimited = {"rate": 1_000_000.0, "burst": 1_000_000.0}
    settings = Settings(
        data_dir=data_dir,
        gateway_port=free_port(),
        rate_limits={"admin": unlimited},
        modules=[
            {"name": "echo", "class": "runtime.builtin:Echo", "replicas": 0, "max_concurrency": 64}
        ],
    )
    try:
        deployed = deploy.deploy(settings)
        key = asyncio.run(issue_admin_key(settings, "bench-drain"))
        assert key is not None
        figures = asyncio.run(drain(deployed["url"], key, robots))
        ceiling = asyncio.run(ray_ceiling.run(Sizes()))
        figures["ray_ceiling_calls_per_s"] = ceiling["calls_per_s"]
        figures["vs_ray_ceiling"] = round(
            figures["robots_per_s"] / figures["ray_ceiling_calls_per_s"], 2
        )
        deploy.teardown(settings.namespace)
    finally:
        ray.shutdown()
        shutil.rmtree(data_dir, ignore_errors=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure, print, keep the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--robots", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "drain.json")
    args = parser.parse_args(argv)
    figures = measure(args.robots)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(
        f"drain: {figures['robots']} robots in {figures['seconds']} s = "
        f"{figures['robots_per_s']} robots/s; Ray 1:1 async-actor ceiling "
        f"{figures['ray_ceiling_calls_per_s']} calls/s; ratio {figures['vs_ray_ceiling']}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
