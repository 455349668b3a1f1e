"""Scenario 3, the Celery peer: the same N no-op tasks through Celery 5 on Redis.

A worker with two prefork processes (``-c 2``) runs as a subprocess; this process sends the
seeded payloads with ``apply_async`` as fast as it can and waits for every result with
``ResultSet.join_native``. The clock runs from the first send to the last result.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.fleet import ROOT, pythonpath
from bench.sizes import Sizes
from bench.workload import task_arguments

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
WORKER_PROCESSES = 2


def installed() -> bool:
    """Whether Celery with its Redis transport can be imported."""
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        return False
    return True


def redis_url() -> str:
    """The Redis database the peer uses (``BENCH_CELERY_REDIS_URL``, default db 5)."""
    return os.environ.get("BENCH_CELERY_REDIS_URL", DEFAULT_REDIS_URL)


def _flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def _start_worker(url: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    name = f"bench-{uuid.uuid4().hex[:6]}@localhost"
    command = [
        sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker",
        "-c", str(WORKER_PROCESSES), "-P", "prefork", "-Q", "bench", "-n", name,
        "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    env = {**os.environ, "BENCH_CELERY_REDIS_URL": url, "PYTHONPATH": pythonpath()}
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    return process, name


def _stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _measure(sizes: Sizes, tasks: int, url: str) -> dict[str, Any]:
    os.environ["BENCH_CELERY_REDIS_URL"] = url
    from celery.result import ResultSet

    from bench.celery_app import app, noop

    app.conf.broker_url = app.conf.result_backend = url
    _flush(url)
    log_path = Path(tempfile.mkstemp(prefix="bench-celery-", suffix=".log")[1])
    process, name = _start_worker(url, log_path)
    try:
        started = time.perf_counter()
        while not app.control.ping(destination=[name], timeout=0.5):
            if process.poll() is not None or time.perf_counter() - started > 60:
                raise RuntimeError(f"celery worker did not start:\n{log_path.read_text()[-3000:]}")
        start_s = time.perf_counter() - started
        noop.delay({"warm": True}).get(timeout=30)
        arguments = task_arguments(sizes.seed, tasks)
        started = time.perf_counter()
        results = [noop.apply_async((payload,)) for payload in arguments]
        submitted_s = time.perf_counter() - started
        values = ResultSet(results).join_native(timeout=max(120.0, tasks / 50), interval=0.05)
        elapsed = time.perf_counter() - started
    finally:
        _stop_worker(process)
        _flush(url)
        app.close()
        log_path.unlink(missing_ok=True)
    done = sum(1 for v in values if v is not None)
    return {
        "tasks": tasks,
        "succeeded": done,
        "worker_processes": WORKER_PROCESSES,
        "worker_start_s": round(start_s, 2),
        "elapsed_s": round(elapsed, 3),
        "tasks_per_s": round(done / elapsed, 1),
        "submit_elapsed_s": round(submitted_s, 3),
        "submit_per_s": round(tasks / submitted_s, 1),
    }


async def run(sizes: Sizes, tasks: int | None = None, url: str | None = None) -> dict[str, Any]:
    """Tasks per second, sent and waited on, through a 2-process Celery worker."""
    count = tasks if tasks is not None else sizes.celery_tasks
    return await asyncio.to_thread(_measure, sizes, count, url or redis_url())
