"""Scenario 5, the Ray Serve peer: a no-op deployment with 2 replicas behind Serve's proxy.

What a user would hand-roll on Ray instead of robofleet: Serve's HTTP proxy on a free port
routes ``POST /v1/robots`` to a deployment that reads the body and answers ``202``. The same
load generator (wrk) and connection levels as the submit scenario drive it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.fleet import free_port
from bench.sizes import Sizes
from bench.submit import measure_levels

APP_NAME = "bench-noop"
REPLICAS = 2
# As many requests in flight per replica as robofleet's echo replica has slots; Serve's
# default (5) makes it queue in the proxy and collapse past a few dozen connections.
SLOTS = 64


class NoOpIngress:
    """Reads the request body and answers ``202`` with a fixed JSON body."""

    async def __call__(self, request: Any) -> Any:
        """Serve one request."""
        from starlette.responses import Response

        await request.body()
        return Response(b'{"status":"queued"}', status_code=202, media_type="application/json")


def installed() -> bool:
    """Whether Ray Serve (``ray[serve]``) can be imported."""
    try:
        import ray.serve  # noqa: F401
        import starlette  # noqa: F401
    except ImportError:
        return False
    return True


def _start(port: int) -> float:
    from ray import serve

    started = time.perf_counter()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    deployment = serve.deployment(
        NoOpIngress,
        num_replicas=REPLICAS,
        max_ongoing_requests=SLOTS,
        ray_actor_options={"num_cpus": 0},
    )
    serve.run(deployment.bind(), name=APP_NAME, route_prefix="/v1/robots")
    return time.perf_counter() - started


def _shutdown() -> None:
    from ray import serve

    serve.shutdown()


async def run(sizes: Sizes) -> dict[str, Any]:
    """Throughput and latency percentiles of the Serve app at each connection level."""
    port = free_port()
    try:
        start_s = await asyncio.to_thread(_start, port)
        url = f"http://127.0.0.1:{port}/v1/robots"
        rows = await measure_levels(url, sizes.serve_levels, sizes, "requests_per_s")
    finally:
        await asyncio.to_thread(_shutdown)
    return {
        "replicas": REPLICAS,
        "max_ongoing_requests": SLOTS,
        "start_s": round(start_s, 1),
        "levels": rows,
    }
