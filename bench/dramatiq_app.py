"""The dramatiq peer's app: one no-op actor on a Redis broker, results in Redis.

The worker runs it as ``dramatiq bench.dramatiq_app --processes 2 --threads 8 --queues
bench``. The Redis URL comes from ``BENCH_DRAMATIQ_REDIS_URL`` (default database 6 of the
local Redis, which the scenario flushes before and after); the ``Results`` middleware with
its Redis backend stores each return value there, which is how the sender sees completion.
"""

from __future__ import annotations

import os
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

REDIS_URL = os.environ.get("BENCH_DRAMATIQ_REDIS_URL", "redis://127.0.0.1:6379/6")
QUEUE = "bench"

broker = RedisBroker(url=REDIS_URL)
backend = RedisBackend(url=REDIS_URL)
broker.add_middleware(Results(backend=backend))
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="bench.noop", queue_name=QUEUE, store_results=True)
def noop(payload: dict[str, Any]) -> dict[str, Any]:
    """The dramatiq twin of the ``echo`` module: return the payload."""
    return payload
