"""The Celery peer's app: one no-op task, Redis as broker and result backend.

The worker runs it as ``celery -A bench.celery_app worker -c 2 -P prefork``. The Redis URL
comes from ``BENCH_CELERY_REDIS_URL`` (default database 5 of the local Redis, which the
scenario flushes before and after).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

REDIS_URL = os.environ.get("BENCH_CELERY_REDIS_URL", "redis://127.0.0.1:6379/5")
QUEUE = "bench"

app = Celery("bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    result_expires=3600,
)


@app.task(name="bench.noop")
def noop(payload: dict[str, Any]) -> dict[str, Any]:
    """The Celery twin of the ``echo`` module: return the payload."""
    return payload
