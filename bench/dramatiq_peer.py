"""The dramatiq peer: the same N no-op tasks as Celery, through dramatiq 2 on Redis.

One ``dramatiq`` worker command with two processes runs as a subprocess; this process sends
the seeded payloads (:func:`bench.workload.task_arguments`) with ``actor.send`` as fast as
it can, then waits for every result through dramatiq's own ``Results`` middleware and Redis
result backend (``group(messages).get_results(block=True)``, each a blocking pop on the
message's result key). The clock runs from the first send to the last result, as for Celery.

Worker settings, dramatiq's defaults apart from the process count, which matches Celery's:

- ``--processes 2`` (default: one per core, which is 2 here too);
- ``--threads 8`` (the default; a thread per message in flight);
- prefetch left at the default, twice the threads (16 messages per process);
- the default middleware (age and time limits, retries, callbacks, pipelines) plus ``Results``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from bench import peer_worker
from bench.sizes import Sizes
from bench.workload import task_arguments

URL_ENV = "BENCH_DRAMATIQ_REDIS_URL"
REDIS_DB = 6
WORKER_PROCESSES = 2
WORKER_THREADS = 8
MODULES = ("dramatiq", "redis")  # what must import for the peer to run
REQUIREMENT = "dramatiq[redis]"
READY_LINE = "Worker process is ready for action."


def _measure(sizes: Sizes, tasks: int, url: str) -> dict[str, Any]:
    os.environ[URL_ENV] = url  # read when bench.dramatiq_app is first imported
    from dramatiq import group

    from bench.dramatiq_app import QUEUE, broker, noop

    command = [
        sys.executable, "-m", "dramatiq", "bench.dramatiq_app",
        "--processes", str(WORKER_PROCESSES), "--threads", str(WORKER_THREADS),
        "--queues", QUEUE,
    ]  # fmt: skip
    peer_worker.flush(url)
    try:
        with peer_worker.Workers("dramatiq", [command], {URL_ENV: url}) as workers:
            start_s = workers.wait_until(
                lambda: workers.log().count(READY_LINE) >= WORKER_PROCESSES
            )
            noop.send({"warm": True}).get_result(block=True, timeout=30_000)
            arguments = task_arguments(sizes.seed, tasks)
            started = time.perf_counter()
            messages = [noop.send(payload) for payload in arguments]
            submitted_s = time.perf_counter() - started
            timeout_ms = int(max(120.0, tasks / 50) * 1000)
            values = list(group(messages).get_results(block=True, timeout=timeout_ms))
            elapsed = time.perf_counter() - started
    finally:
        peer_worker.flush(url)
        broker.close()
    done = sum(1 for v in values if v is not None)
    figures = peer_worker.figures(tasks, done, WORKER_PROCESSES, start_s, submitted_s, elapsed)
    return figures | {"worker_threads": WORKER_THREADS}


async def run(sizes: Sizes, tasks: int | None = None, url: str | None = None) -> dict[str, Any]:
    """Tasks per second, sent and waited on, through a 2-process dramatiq worker."""
    count = tasks if tasks is not None else sizes.celery_tasks
    return await asyncio.to_thread(
        _measure, sizes, count, url or peer_worker.redis_url(URL_ENV, REDIS_DB)
    )
