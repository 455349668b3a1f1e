"""The orchestrator's side of the cache: robot marks around every commit, module figures.

:class:`RobotStatusSync` is called by the :class:`~actors.writer.TransitionWriter` before and
after each store commit (one cache call each, for the whole batch), so a read after a
transition never sees the old state; see ``runtime.cache.guard`` for the protocol. The cache
is never allowed to stop robots: when it does not answer, the commit goes ahead and the
marks it owes are delivered (with the gate that keeps robot reads at the store until then)
once it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from actors.cache import CacheCalls
from runtime.cache import CacheKind, robot_version
from runtime.lifecycle import Transition
from runtime.messages import CacheEntry, CacheKeys, RobotMarks

log = logging.getLogger(__name__)

MAX_BACKLOG = 100_000
LISTS_LINGER_S = 0.02  # list pages may lag a create by this much; one cache call per period


class RobotStatusSync:
    """Marks robots in the cache before their transitions commit; owes what it cannot send."""

    def __init__(
        self,
        calls: CacheCalls,
        timeout_s: float = 1.0,
        down_timeout_s: float = 0.05,
        heartbeat_s: float = 0.5,
    ) -> None:
        self.calls = calls
        self.timeout_s = timeout_s
        self.down_timeout_s = down_timeout_s
        self.heartbeat_s = heartbeat_s
        self.backlog: dict[str, int] = {}
        self.needs_reset = True  # what a previous orchestrator owed the cache is unknown
        self.down = False
        self.incarnation: str | None = None
        self._lock = asyncio.Lock()
        self._last_ok = 0.0
        self._tasks: set[asyncio.Task] = set()
        self._heartbeat: asyncio.Task | None = None
        self._settled = 0
        self._created = False
        self._lists_sender: asyncio.Task | None = None

    def start(self) -> None:
        """Start the heartbeat that syncs the cache while no transition happens."""
        self._heartbeat = asyncio.get_running_loop().create_task(self._heartbeat_loop())

    def stop(self) -> None:
        """Stop the heartbeat."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()

    async def before_commit(self, transitions: Sequence[Transition]) -> None:
        """Mark the robots of a batch with their next versions; never raises."""
        versions: dict[str, int] = {}
        for t in transitions:
            version = robot_version(t.attempt_after, t.to_status)
            versions[t.robot_id] = max(version, versions.get(t.robot_id, 0))
        await self._send(versions, lists=True)

    def after_commit(self) -> None:
        """The batch announced by :meth:`before_commit` is in the store (or failed)."""
        self._settled += 1
        self._notify_lists()

    def robots_created(self) -> None:
        """New robots are in the store: list pages are out of date."""
        self._created = True
        self._notify_lists()

    def _notify_lists(self) -> None:
        # List news rides on the next commit's mark call when one follows soon (under load,
        # always); otherwise it goes alone after a short linger. One actor call, not three.
        if self._lists_sender is None or self._lists_sender.done():
            self._lists_sender = asyncio.get_running_loop().create_task(self._send_lists())

    async def _send_lists(self) -> None:
        while True:
            await asyncio.sleep(LISTS_LINGER_S)
            if not (self._settled or self._created):
                return
            async with self._lock:
                settled, created = self._take_lists()
                if not (settled or created):
                    return
                try:
                    await asyncio.wait_for(
                        self.calls.lists_changed(settled, created), self.timeout_s
                    )
                except Exception:
                    log.debug("cache list notification not delivered", exc_info=True)

    def _take_lists(self) -> tuple[int, bool]:
        settled, created = self._settled, self._created
        self._settled, self._created = 0, False
        return settled, created

    async def _send(self, versions: dict[str, int], lists: bool) -> None:
        async with self._lock:
            backlog = dict(self.backlog)
            reset = self.needs_reset
            timeout = self.down_timeout_s if self.down else self.timeout_s
            settled, created = self._take_lists()
            try:
                self.incarnation = await asyncio.wait_for(
                    self.calls.robots_changing(
                        RobotMarks(versions, backlog, reset, lists, settled, created)
                    ),
                    timeout,
                )
            except Exception as exc:
                self._settled += settled
                self._created = self._created or created
                if not self.down:
                    log.warning(
                        "cache not answering (%r); robot reads use the store until it is back",
                        exc,
                    )
                self.down = True
                self._owe(versions)
                return
            for robot_id, version in backlog.items():
                if self.backlog.get(robot_id) == version:
                    del self.backlog[robot_id]
            if reset:
                self.needs_reset = False
            if self.down:
                log.warning("cache answers again; marks delivered")
            self.down = False
            self._last_ok = time.monotonic()

    def _owe(self, versions: dict[str, int]) -> None:
        for robot_id, version in versions.items():
            self.backlog[robot_id] = max(version, self.backlog.get(robot_id, 0))
        if len(self.backlog) > MAX_BACKLOG:
            self.backlog.clear()
            self.needs_reset = True

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if self.down or self.backlog or self.needs_reset:
                await self._send({}, lists=False)
            elif time.monotonic() - self._last_ok > 2 * self.heartbeat_s:
                # Also opens the gate of a cache that restarted while nothing happened.
                await self._send({}, lists=False)


class ModuleBoard:
    """Publishes module health and performance scores to the cache; seeds scores from it."""

    def __init__(self, calls: CacheCalls, timeout_s: float = 1.0) -> None:
        self.calls = calls
        self.timeout_s = timeout_s

    async def publish(self, modules: Iterable[Any]) -> None:
        """Write each module's health and scores (one call); never raises."""
        entries: list[CacheEntry] = []
        names = []
        for module in modules:
            names.append(module.name)
            health = {"health": module.health.value, "breaker": module.breaker.state().value}
            figures = {
                "performance": module.performance,
                "success_ewma": module.success_ewma,
                "latency_ewma": module.latency_ewma,
            }
            entries += [
                CacheEntry(CacheKind.MODULE_HEALTH.value, module.name, orjson.dumps(health)),
                CacheEntry(CacheKind.PERFORMANCE.value, module.name, orjson.dumps(figures)),
            ]
        entries.append(CacheEntry(CacheKind.CONFIG.value, "modules", orjson.dumps(sorted(names))))
        try:
            await asyncio.wait_for(self.calls.set_many(entries), self.timeout_s)
        except Exception as exc:
            log.debug("publishing module figures to the cache failed: %r", exc)

    async def seed(self, modules: Iterable[Any]) -> int:
        """Start routing from the cached scores of modules (after a restart); return how many."""
        by_name = {m.name: m for m in modules}
        if not by_name:
            return 0
        names = list(by_name)
        items = CacheKeys([CacheKind.PERFORMANCE.value] * len(names), names)
        try:
            read = await asyncio.wait_for(self.calls.get_many(items), self.timeout_s)
        except Exception as exc:
            log.info("no cached module scores to start from (%r)", exc)
            return 0
        seeded = 0
        for name, value in zip(names, read.values, strict=True):
            if value is None:
                continue
            figures = orjson.loads(value)
            if "success_ewma" in figures and "latency_ewma" in figures:
                by_name[name].success_ewma = float(figures["success_ewma"])
                by_name[name].latency_ewma = float(figures["latency_ewma"])
                seeded += 1
        return seeded
