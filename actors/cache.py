"""The ``cache`` actor's logic: batched calls over the cache core, warm-up and metrics.

A plain class; ``actors.ray.cache`` turns it into the named, detached actor on the head node.
Every call serves many keys, so a caller pays one actor round trip per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from runtime.cache import (
    CacheKind,
    CacheStats,
    FleetCache,
    RedisTier,
    policy_from_settings,
    prometheus_text,
)
from runtime.cache.guard import Token
from runtime.config import Settings
from runtime.tasks import BackgroundTasks

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 5.0
WARM_RETRY_MAX_S = 5.0

WireItem = tuple[str, str]
"""(kind, key) as it crosses the actor boundary."""
WireSet = tuple[str, str, bytes, int | None]
"""(kind, key, value, version) as it crosses the actor boundary."""
WireFill = tuple[str, str, bytes, int | None, Token | None]
"""(kind, key, value, version, token of the miss) of one cache-aside fill."""
ListModules = Callable[[], Awaitable[list[dict[str, Any]]]]


class CacheCalls(Protocol):
    """What callers (gateway, orchestrator) may ask of the cache actor; one call per batch."""

    async def get_many(self, items: list[WireItem]) -> tuple[list[bytes | None], Token | None]:
        """Values (None for a miss) and the token fills must carry."""

    async def set_many(self, items: list[WireSet], token: Token | None = None) -> list[bool]:
        """Store values; per item whether it landed."""

    async def fill_many(self, items: list[WireFill]) -> int:
        """Cache-aside fills, each with the token of its miss; how many landed."""

    async def evict_many(self, items: list[WireItem]) -> None:
        """Invalidate keys everywhere."""

    async def robots_changing(
        self,
        versions: dict[str, int],
        backlog: dict[str, int],
        reset: bool,
        lists: bool,
        settled: int = 0,
        created: bool = False,
    ) -> str:
        """Mark robots about to change (plus undelivered marks); return the incarnation.

        ``settled`` earlier announced commits finished and ``created`` robots appeared
        since the last call (list news carried along instead of a call of its own).
        """

    async def lists_changed(self, settled: int = 0, created: bool = False) -> None:
        """``settled`` announced commits finished; ``created``: robots appeared."""


class MetricsSink(Protocol):
    """Where the actor exports its statistics (Ray custom metrics in production)."""

    def export(self, snapshot: dict[str, Any]) -> None:
        """Publish one statistics snapshot."""


class CacheHost:
    """One cache: memory (+ Redis when configured), warmed with module figures on start."""

    def __init__(
        self,
        settings: Settings,
        list_modules: ListModules | None = None,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.settings = settings
        redis = None
        if settings.redis_url:
            redis = RedisTier(settings.redis_url, settings.redis_prefix + "cache:", CacheStats())
        self.cache = FleetCache(policy_from_settings(settings), redis)
        self._list_modules = list_modules
        self._metrics = metrics
        self._tasks = BackgroundTasks("cache")
        self.warmed = asyncio.Event()
        self.warm_modules = 0

    async def start(self) -> None:
        """Connect Redis, forget robot state a previous incarnation left there, start warming."""
        await self.cache.start()
        if self.cache.redis is not None and self.cache.redis.up:
            # Robots may have moved on while no cache could be told; the store will say.
            await self.cache.redis.delete_matching(f"{CacheKind.ROBOT.value}:*")
        self._tasks.spawn(self._warm())
        self._tasks.spawn(self._sweep_loop())

    async def stop(self) -> None:
        """Stop background work and close Redis."""
        self._tasks.cancel_all()
        await self.cache.close()

    # -- batched calls -------------------------------------------------------------------

    async def get_many(self, items: list[WireItem]) -> tuple[list[bytes | None], Token | None]:
        """Values of many keys (None for a miss) and the token a reader's fills must carry."""
        return await self.cache.get_many([(CacheKind(k), key) for k, key in items])

    async def set_many(self, items: list[WireSet], token: Token | None = None) -> list[bool]:
        """Store many values (fills of robot state need the token of their miss)."""
        return await self.cache.set_many(
            [(CacheKind(k), key, value, version) for k, key, value, version in items], token
        )

    async def fill_many(self, items: list[WireFill]) -> int:
        """Cache-aside fills, each with the token of its miss; return how many landed."""
        by_token: dict[Any, list[Any]] = {}
        for kind, key, value, version, token in items:
            by_token.setdefault(token, []).append((CacheKind(kind), key, value, version))
        landed = 0
        for token, group in by_token.items():
            landed += sum(await self.cache.set_many(group, token))
        return landed

    async def evict_many(self, items: list[WireItem]) -> None:
        """Invalidate many keys in memory and Redis."""
        await self.cache.evict_many([(CacheKind(k), key) for k, key in items])

    async def robots_changing(
        self,
        versions: dict[str, int],
        backlog: dict[str, int],
        reset: bool,
        lists: bool,
        settled: int = 0,
        created: bool = False,
    ) -> str:
        """Before a commit: take undelivered marks (or a reset), then mark these robots.

        ``settled`` earlier announced commits finished and ``created`` robots appeared
        since the last call: list news carried along instead of a call of its own.
        """
        await self.lists_changed(settled, created)
        if reset or backlog or not self.cache.guard.gate_open:
            await self.cache.sync_robots(backlog, reset)
        if versions or lists:
            await self.cache.mark_robots(versions, lists)
        return self.cache.guard.incarnation

    async def lists_changed(self, settled: int = 0, created: bool = False) -> None:
        """``settled`` announced commits finished; ``created``: robots appeared."""
        if created:
            self.cache.lists_changed(False)
        for _ in range(settled):
            self.cache.lists_changed(True)

    # -- observability -------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Per-kind hits, misses, evictions, bytes; backend state; incarnation and warm-up."""
        return {
            **self.cache.stats.snapshot(),
            "incarnation": self.cache.guard.incarnation,
            "robots_served": self.cache.guard.gate_open,
            "warm": self.warmed.is_set(),
            "warm_modules": self.warm_modules,
            "memory_entries": len(self.cache.memory),
            "memory_bytes": self.cache.memory.bytes,
        }

    def metrics_text(self) -> str:
        """The statistics in the Prometheus text format."""
        return prometheus_text(self.cache.stats.snapshot())

    # -- background ----------------------------------------------------------------------

    async def _warm(self) -> None:
        """Load the active modules with their health and scores from the orchestrator."""
        if self._list_modules is None:
            self.warmed.set()
            return
        delay = 0.2
        while True:
            try:
                modules = await asyncio.wait_for(self._list_modules(), 10.0)
                break
            except Exception as exc:
                log.info("cache warm-up: orchestrator not answering yet (%r)", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, WARM_RETRY_MAX_S)
        await self.cache.set_many(module_entries(modules))
        self.warm_modules = len(modules)
        self.warmed.set()
        log.info("cache warmed with %d modules", len(modules))

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                self.cache.memory.sweep()
            except Exception:
                log.exception("cache sweep failed")
            try:
                if self._metrics is not None:
                    self._metrics.export(self.cache.stats.snapshot())
            except Exception:
                log.exception("exporting cache metrics failed")


def module_entries(modules: list[dict[str, Any]]) -> list[Any]:
    """Cache entries of ``GET /v1/modules``-shaped module infos: health, score, the roster."""
    entries: list[Any] = [
        (CacheKind.CONFIG, "modules", orjson.dumps(sorted(m["name"] for m in modules)), None)
    ]
    for module in modules:
        name = module["name"]
        health = {"health": module.get("health"), "breaker": module.get("breaker")}
        entries.append((CacheKind.MODULE_HEALTH, name, orjson.dumps(health), None))
        performance = {"performance": module.get("performance")}
        for figure in ("success_ewma", "latency_ewma"):
            if figure in module:
                performance[figure] = module[figure]
        entries.append((CacheKind.PERFORMANCE, name, orjson.dumps(performance), None))
    return entries
