"""The arq peer: the same N no-op tasks as Celery, through arq (asyncio) on Redis.

arq runs one worker per ``arq`` CLI process, so two ``arq bench.arq_app.WorkerSettings``
subprocesses make the two worker processes. This process sends the seeded payloads
(:func:`bench.workload.task_arguments`) with ``enqueue_job``, 64 at a time with
``asyncio.gather`` as an asyncio client would (one at a time, each send's four round trips
made sending the slowest part of the run), then waits in send order for every result with
``Job.result`` (arq keeps each job's result in Redis; polled every 50 ms, Celery's
``join_native`` interval). The clock runs from the first send to the last result, as for
Celery.

Worker settings (arq has no tuning guide; these are its documented knobs for throughput):

- two processes, one ``arq`` command each;
- ``max_jobs = 100`` (default 10): jobs in flight per process; a no-op coroutine costs
  nothing to hold, and the default leaves each process waiting on Redis round trips;
- ``poll_delay = 0.05`` s (default 0.5 s): each poll reads ``queue_read_limit`` job ids
  (default ``max_jobs * 5``, so 500) and then sleeps what is left of ``poll_delay``; at the
  default a process runs at most one read per half second;
- everything else at arq's defaults (pickle serialisation, results kept an hour).

arq 0.28 declares ``redis<6`` while the runtime and Celery's transport need redis-py 6 or
newer, so ``make bench`` installs arq without its dependencies and it runs on the project's
redis-py; its ``MODULES`` name arq alone.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from bench import peer_worker
from bench.sizes import Sizes
from bench.workload import task_arguments

URL_ENV = "BENCH_ARQ_REDIS_URL"
REDIS_DB = 7
WORKER_PROCESSES = 2
MODULES = ("arq",)  # what must import for the peer to run
REQUIREMENT = "arq"
READY_LINE = "redis_version="
RESULT_POLL_S = 0.05
SEND_CONCURRENCY = 64


async def _send_and_wait(
    url: str, arguments: list[dict[str, Any]], timeout_s: float
) -> tuple[float, float, int]:
    """(submit seconds, seconds to the last result, results) for ``arguments``."""
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.jobs import Job

    from bench.arq_app import FUNCTION

    pool = await create_pool(RedisSettings.from_dsn(url))
    try:
        warm = await pool.enqueue_job(FUNCTION, {"warm": True})
        if warm is None:
            raise RuntimeError("arq refused the warm-up job (its id was taken)")
        await warm.result(timeout=30, poll_delay=RESULT_POLL_S)
        started = time.perf_counter()
        jobs: list[Job | None] = []
        for at in range(0, len(arguments), SEND_CONCURRENCY):
            batch = arguments[at : at + SEND_CONCURRENCY]
            jobs += await asyncio.gather(*(pool.enqueue_job(FUNCTION, p) for p in batch))
        submitted_s = time.perf_counter() - started
        deadline = started + timeout_s
        done = 0
        for job in jobs:
            if job is None:
                continue
            left = max(0.0, deadline - time.perf_counter())
            if await job.result(timeout=left, poll_delay=RESULT_POLL_S) is not None:
                done += 1
        return submitted_s, time.perf_counter() - started, done
    finally:
        await pool.aclose()


def _measure(sizes: Sizes, tasks: int, url: str) -> dict[str, Any]:
    from bench.arq_app import MAX_JOBS, POLL_DELAY_S

    command = [sys.executable, "-m", "arq", "bench.arq_app.WorkerSettings"]
    peer_worker.flush(url)
    try:
        commands = [command] * WORKER_PROCESSES
        with peer_worker.Workers("arq", commands, {URL_ENV: url}) as workers:
            start_s = workers.wait_until(
                lambda: workers.log().count(READY_LINE) >= WORKER_PROCESSES
            )
            arguments = task_arguments(sizes.seed, tasks)
            timeout_s = max(120.0, tasks / 50)
            submitted_s, elapsed, done = asyncio.run(_send_and_wait(url, arguments, timeout_s))
    finally:
        peer_worker.flush(url)
    figures = peer_worker.figures(tasks, done, WORKER_PROCESSES, start_s, submitted_s, elapsed)
    return figures | {"max_jobs": MAX_JOBS, "poll_delay_s": POLL_DELAY_S}


async def run(sizes: Sizes, tasks: int | None = None, url: str | None = None) -> dict[str, Any]:
    """Tasks per second, sent and waited on, through two arq worker processes."""
    count = tasks if tasks is not None else sizes.celery_tasks
    return await asyncio.to_thread(
        _measure, sizes, count, url or peer_worker.redis_url(URL_ENV, REDIS_DB)
    )
