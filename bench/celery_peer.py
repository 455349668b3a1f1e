"""Scenario 3, the Celery peer: the same N no-op tasks through Celery 5 on Redis.

A worker with two prefork processes (``-c 2``) runs as a subprocess; this process sends the
seeded payloads with ``apply_async`` as fast as it can and waits for every result with
``ResultSet.join_native``. The clock runs from the first send to the last result.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from typing import Any

from bench import peer_worker
from bench.sizes import Sizes
from bench.workload import task_arguments

URL_ENV = "BENCH_CELERY_REDIS_URL"
REDIS_DB = 5
WORKER_PROCESSES = 2
MODULES = ("celery", "redis")  # what must import for the peer to run
REQUIREMENT = "celery[redis]"


def _measure(sizes: Sizes, tasks: int, url: str) -> dict[str, Any]:
    os.environ[URL_ENV] = url
    from celery.result import ResultSet

    from bench.celery_app import app, noop

    app.conf.broker_url = app.conf.result_backend = url
    name = f"bench-{uuid.uuid4().hex[:6]}@localhost"
    command = [
        sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker",
        "-c", str(WORKER_PROCESSES), "-P", "prefork", "-Q", "bench", "-n", name,
        "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    peer_worker.flush(url)
    try:
        with peer_worker.Workers("celery", [command], {URL_ENV: url}) as workers:
            start_s = workers.wait_until(
                lambda: bool(app.control.ping(destination=[name], timeout=0.5))
            )
            noop.delay({"warm": True}).get(timeout=30)
            arguments = task_arguments(sizes.seed, tasks)
            started = time.perf_counter()
            results = [noop.apply_async((payload,)) for payload in arguments]
            submitted_s = time.perf_counter() - started
            values = ResultSet(results).join_native(timeout=max(120.0, tasks / 50), interval=0.05)
            elapsed = time.perf_counter() - started
    finally:
        peer_worker.flush(url)
        app.close()
    done = sum(1 for v in values if v is not None)
    return peer_worker.figures(tasks, done, WORKER_PROCESSES, start_s, submitted_s, elapsed)


async def run(sizes: Sizes, tasks: int | None = None, url: str | None = None) -> dict[str, Any]:
    """Tasks per second, sent and waited on, through a 2-process Celery worker."""
    count = tasks if tasks is not None else sizes.celery_tasks
    return await asyncio.to_thread(
        _measure, sizes, count, url or peer_worker.redis_url(URL_ENV, REDIS_DB)
    )
