"""The ``cache`` actor on Ray: the wrapper with its Ray metrics, its options, and its client."""

from __future__ import annotations

from typing import Any, cast

import ray
from ray.util import metrics as ray_metrics

from actors.cache import CacheHost
from actors.ray.common import NamedActorClient, head_actor_options, orchestrator_handle
from runtime.cache import PushedMetrics
from runtime.cache.stats import PushedMetric
from runtime.config import Settings
from runtime.heap import settle_heap
from runtime.messages import (
    CacheEntry,
    CacheFill,
    CacheKeys,
    CacheRead,
    CacheStatsSnapshot,
    FillToken,
    ModuleInfo,
    RobotMarks,
)

__all__ = ["CACHE_NAME", "CacheActor", "RayCacheCalls", "cache_options", "ray_cache_metrics"]

CACHE_NAME = "cache"


class CacheActor(CacheHost):
    """The cache as a Ray actor: warms from the orchestrator, exports Ray custom metrics."""

    async def __init__(self, settings: dict[str, Any]) -> None:  # type: ignore[misc]
        # Ray awaits an async actor's __init__ before the first call.
        parsed = Settings(**settings)
        self._namespace = parsed.namespace
        super().__init__(parsed, self._orchestrator_modules, ray_cache_metrics())
        await self.start()
        settle_heap()

    async def _orchestrator_modules(self) -> list[ModuleInfo]:
        modules: list[ModuleInfo] = await orchestrator_handle(self._namespace).list_modules.remote()
        return modules

    def ready(self) -> str:
        """Answer once started, with this incarnation's id."""
        return self.cache.guard.incarnation


def ray_cache_metrics() -> PushedMetrics:
    """The cache's statistics as Ray custom metrics (``ray.util.metrics``), tagged by kind."""
    # Each Ray metric has only the method its kind needs (a Counter no ``set``), which is
    # all PushedMetrics calls on it; the casts say so.
    return PushedMetrics(
        counter=lambda name, text, tags: cast(
            PushedMetric, ray_metrics.Counter(name, text, tag_keys=tags)
        ),
        gauge=lambda name, text, tags: cast(
            PushedMetric, ray_metrics.Gauge(name, text, tag_keys=tags)
        ),
    )


RemoteCache = ray.remote(CacheActor)


def cache_options(namespace: str, name: str = CACHE_NAME) -> dict[str, Any]:
    """Ray options of the cache: named, detached, on the head node, restarted forever.

    Calls are not retried: a caller that gets no answer in time reads the store instead.
    """
    return head_actor_options(name, namespace, max_concurrency=1000, max_task_retries=0)


class RayCacheCalls(NamedActorClient):
    """The ``CacheCalls`` of a cache actor reached by name; looked up again after a failure.

    Calls have no timeout of their own: callers bound them, and their timeout (a
    cancellation) keeps the handle, since the actor may just be restarting. A call raises
    whatever the actor call raised (a Ray error when the actor is gone).
    """

    def __init__(self, namespace: str, name: str = CACHE_NAME) -> None:
        super().__init__(name, namespace, None)

    async def get_many(self, items: CacheKeys) -> CacheRead:
        """Values (None for a miss) and the token fills must carry."""
        return await self._call("get_many", items)

    async def set_many(self, items: list[CacheEntry], token: FillToken | None = None) -> list[bool]:
        """Store values; per item whether it landed."""
        return await self._call("set_many", items, token)

    async def fill_many(self, items: list[CacheFill]) -> int:
        """Cache-aside fills, each with the token of its miss; how many landed."""
        return await self._call("fill_many", items)

    async def evict_many(self, items: CacheKeys) -> None:
        """Invalidate keys everywhere."""
        await self._call("evict_many", items)

    async def robots_changing(self, marks: RobotMarks) -> str:
        """Mark robots about to change (plus undelivered marks); return the incarnation."""
        return await self._call("robots_changing", marks)

    async def lists_changed(self, settled: int = 0, created: bool = False) -> None:
        """``settled`` announced commits finished; ``created``: robots appeared."""
        await self._call("lists_changed", settled, created)

    async def stats(self) -> CacheStatsSnapshot:
        """The cache actor's statistics snapshot."""
        return await self._call("stats")
