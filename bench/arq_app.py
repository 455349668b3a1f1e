"""The arq peer's worker settings: one no-op coroutine, jobs and results in Redis.

Each worker process runs it as ``arq bench.arq_app.WorkerSettings``. The Redis URL comes from
``BENCH_ARQ_REDIS_URL`` (default database 7 of the local Redis, which the scenario flushes
before and after). See :mod:`bench.arq_peer` for why ``max_jobs`` and ``poll_delay`` differ
from arq's defaults.
"""

from __future__ import annotations

import os
from typing import Any

from arq.connections import RedisSettings
from arq.worker import func

REDIS_URL = os.environ.get("BENCH_ARQ_REDIS_URL", "redis://127.0.0.1:6379/7")
FUNCTION = "bench.noop"
MAX_JOBS = 100
POLL_DELAY_S = 0.05


async def noop(ctx: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The arq twin of the ``echo`` module: return the payload."""
    return payload


class WorkerSettings:
    """What ``arq`` reads to build a worker (class attributes are ``Worker`` arguments)."""

    functions = [func(noop, name=FUNCTION)]
    redis_settings = RedisSettings.from_dsn(REDIS_URL)
    max_jobs = MAX_JOBS
    poll_delay = POLL_DELAY_S
