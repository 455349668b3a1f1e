"""The ``cache`` actor's logic: batched calls over the cache core, warm-up and metrics.

A plain class; ``actors.ray.cache`` turns it into the named, detached actor on the head node.
Every call serves many keys, so a caller pays one actor round trip per batch; what crosses
is a message of ``runtime.messages`` (:class:`CacheKeys`, :class:`CacheEntry`,
:class:`CacheFill`, :class:`RobotMarks` in; :class:`CacheRead`, :class:`CacheStatsSnapshot`
out).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

import orjson

from runtime.backoff import NO_JITTER, backoff_delay
from runtime.cache import (
    CacheKind,
    CacheStats,
    FleetCache,
    RedisTier,
    policy_from_settings,
    prometheus_text,
)
from runtime.cache.tiered import SetItem
from runtime.config import Settings
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
from runtime.tasks import BackgroundTasks

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 5.0
WARM_RETRY_MAX_S = 5.0

ListModules = Callable[[], Awaitable[list[ModuleInfo]]]


class CacheCalls(Protocol):
    """What callers (gateway, orchestrator) may ask of the cache actor; one call per batch."""

    async def get_many(self, items: CacheKeys) -> CacheRead:
        """Values (None for a miss) and the token fills must carry."""

    async def set_many(self, items: list[CacheEntry], token: FillToken | None = None) -> list[bool]:
        """Store values; per item whether it landed."""

    async def fill_many(self, items: list[CacheFill]) -> int:
        """Cache-aside fills, each with the token of its miss; how many landed."""

    async def evict_many(self, items: CacheKeys) -> None:
        """Invalidate keys everywhere."""

    async def robots_changing(self, marks: RobotMarks) -> str:
        """Mark robots about to change (plus undelivered marks); return the incarnation."""

    async def lists_changed(self, settled: int = 0, created: bool = False) -> None:
        """``settled`` announced commits finished; ``created``: robots appeared."""


class MetricsSink(Protocol):
    """Where the actor exports its statistics (Ray custom metrics in production)."""

    def export(self, snapshot: CacheStatsSnapshot) -> None:
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

    def __repr__(self) -> str:
        """Live state for the Ray dashboard's Repr column and logs: memory, Redis, warmth.

        E.g. ``cache(entries=1200 bytes=88000 redis=up warm=True)``.
        """
        memory = self.cache.memory
        redis = "none" if self.cache.redis is None else ("up" if self.cache.redis.up else "down")
        return (
            f"cache(entries={len(memory)} bytes={memory.bytes} redis={redis} "
            f"warm={self.warmed.is_set()})"
        )

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

    async def get_many(self, items: CacheKeys) -> CacheRead:
        """Values of many keys (None for a miss) and the token a reader's fills must carry."""
        kinds = [CacheKind(kind) for kind in items.kinds]
        return await self.cache.get_many(list(zip(kinds, items.keys, strict=True)))

    async def set_many(self, items: list[CacheEntry], token: FillToken | None = None) -> list[bool]:
        """Store many values (fills of robot state need the token of their miss)."""
        return await self.cache.set_many(
            [(CacheKind(e.kind), e.key, e.value, e.version) for e in items], token
        )

    async def fill_many(self, items: list[CacheFill]) -> int:
        """Cache-aside fills, each with the token of its miss; return how many landed."""
        by_token: dict[FillToken | None, list[SetItem]] = {}
        for fill in items:
            by_token.setdefault(fill.token, []).append(
                (CacheKind(fill.kind), fill.key, fill.value, fill.version)
            )
        landed = 0
        for token, group in by_token.items():
            landed += sum(await self.cache.set_many(group, token))
        return landed

    async def evict_many(self, items: CacheKeys) -> None:
        """Invalidate many keys in memory and Redis."""
        kinds = [CacheKind(kind) for kind in items.kinds]
        await self.cache.evict_many(list(zip(kinds, items.keys, strict=True)))

    async def robots_changing(self, marks: RobotMarks) -> str:
        """Before a commit: take undelivered marks (or a reset), then mark these robots.

        The list news ``marks`` carries along (commits settled, robots created) goes first.
        """
        await self.lists_changed(marks.settled, marks.created)
        if marks.reset or marks.backlog or not self.cache.guard.gate_open:
            await self.cache.sync_robots(marks.backlog, marks.reset)
        if marks.versions or marks.lists:
            await self.cache.mark_robots(marks.versions, marks.lists)
        return self.cache.guard.incarnation

    async def lists_changed(self, settled: int = 0, created: bool = False) -> None:
        """``settled`` announced commits finished; ``created``: robots appeared."""
        if created:
            self.cache.lists_changed(False)
        for _ in range(settled):
            self.cache.lists_changed(True)

    # -- observability -------------------------------------------------------------------

    def stats(self) -> CacheStatsSnapshot:
        """Per-kind hits, misses, evictions, bytes; backend state; incarnation and warm-up."""
        return replace(
            self.cache.stats.snapshot(),
            incarnation=self.cache.guard.incarnation,
            robots_served=self.cache.guard.gate_open,
            warm=self.warmed.is_set(),
            warm_modules=self.warm_modules,
            memory_entries=len(self.cache.memory),
            memory_bytes=self.cache.memory.bytes,
        )

    def metrics_text(self) -> str:
        """The statistics in the Prometheus text format."""
        return prometheus_text(self.cache.stats.snapshot())

    # -- background ----------------------------------------------------------------------

    async def _warm(self) -> None:
        """Load the active modules with their health and scores from the orchestrator."""
        if self._list_modules is None:
            self.warmed.set()
            return
        failures = 0
        while True:
            try:
                modules = await asyncio.wait_for(self._list_modules(), 10.0)
                break
            except Exception as exc:
                log.info("cache warm-up: orchestrator not answering yet (%r)", exc)
                failures += 1
                await asyncio.sleep(
                    backoff_delay(failures, 0.2, WARM_RETRY_MAX_S, spread=NO_JITTER)
                )
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


def module_entries(modules: list[ModuleInfo]) -> list[SetItem]:
    """Cache entries of the orchestrator's modules: health, performance score, the roster."""
    roster = orjson.dumps(sorted(m.name for m in modules))
    entries: list[SetItem] = [(CacheKind.CONFIG, "modules", roster, None)]
    for module in modules:
        health = {"health": module.health.value, "breaker": module.breaker}
        entries.append((CacheKind.MODULE_HEALTH, module.name, orjson.dumps(health), None))
        performance = {"performance": module.performance}
        entries.append((CacheKind.PERFORMANCE, module.name, orjson.dumps(performance), None))
    return entries
