"""The orchestrator's writer keeps the cache in step: marks before each commit, never blocked."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from actors.cache import CacheHost
from actors.cache_sync import ModuleBoard, RobotStatusSync
from actors.writer import TransitionWriter
from runtime import lifecycle
from runtime.cache import CacheKind, robot_version
from runtime.config import Settings
from runtime.lifecycle import Transition
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
from runtime.models import HealthState, RobotStatus


class LocalCalls:
    """CacheCalls served by an in-process CacheHost, switchable off like a dead actor."""

    def __init__(self, host: CacheHost) -> None:
        self.host = host
        self.down = False
        self.log: list[str] = []

    def _check(self, name: str) -> None:
        self.log.append(name)
        if self.down:
            raise ConnectionError("cache actor is gone")

    async def get_many(self, items: CacheKeys) -> CacheRead:
        self._check("get_many")
        return await self.host.get_many(items)

    async def set_many(self, items: list[CacheEntry], token: FillToken | None = None) -> list[bool]:
        self._check("set_many")
        return await self.host.set_many(items, token)

    async def fill_many(self, items: list[CacheFill]) -> int:
        self._check("fill_many")
        return await self.host.fill_many(items)

    async def evict_many(self, items: CacheKeys) -> None:
        self._check("evict_many")
        await self.host.evict_many(items)

    async def robots_changing(self, marks: RobotMarks) -> str:
        self._check("robots_changing")
        return await self.host.robots_changing(marks)

    async def lists_changed(self, settled: int = 0, created: bool = False) -> None:
        self._check("lists_changed")
        await self.host.lists_changed(settled, created)


class RecordingStore:
    """Applies every transition; records what the cache said about each robot at that moment."""

    def __init__(self, calls: LocalCalls) -> None:
        self.calls = calls
        self.seen_at_commit: list[tuple[str, bytes | None]] = []
        self.applied: list[Transition] = []

    async def apply(self, transitions: Sequence[Transition]) -> list[bool]:
        host = self.calls.host
        for t in transitions:
            read = await host.get_many(CacheKeys([CacheKind.ROBOT.value], [t.robot_id]))
            self.seen_at_commit.append((t.robot_id, read.values[0]))
        self.applied.extend(transitions)
        return [True] * len(transitions)


def host() -> CacheHost:
    return CacheHost(Settings(redis_url=None))


async def wait_for(predicate: Any, timeout_s: float = 2.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_every_commit_is_preceded_by_one_mark_call_for_its_whole_batch() -> None:
    calls = LocalCalls(host())
    sync = RobotStatusSync(calls)
    store = RecordingStore(calls)
    writer = TransitionWriter(store, sync)  # type: ignore[arg-type]
    writer.start()
    # A reader cached robot r0 as queued before anything happened.
    await calls.host.robots_changing(RobotMarks(reset=True))
    token = (await calls.host.get_many(CacheKeys(["robot"], ["r0"]))).token
    queued = CacheEntry("robot", "r0", b"queued", robot_version(1, "queued"))
    await calls.host.set_many([queued], token)
    starts = [lifecycle.start(f"r{i}", 1, "echo", "module:echo:0") for i in range(50)]
    assert await writer.write(starts) == [True] * 50
    assert calls.log.count("robots_changing") == 1  # one mark call for the whole batch
    assert all(value is None for _, value in store.seen_at_commit)  # r0 no longer served
    await wait_for(lambda: "lists_changed" in calls.log)
    await writer.stop()


async def test_a_dead_cache_never_blocks_commits_and_gets_its_marks_when_back() -> None:
    calls = LocalCalls(host())
    sync = RobotStatusSync(calls, timeout_s=0.1, heartbeat_s=0.05)
    sync.start()
    store = RecordingStore(calls)
    writer = TransitionWriter(store, sync)  # type: ignore[arg-type]
    writer.start()
    await calls.host.robots_changing(RobotMarks(reset=True))
    token = (await calls.host.get_many(CacheKeys(["robot"], ["r1"]))).token
    queued = CacheEntry("robot", "r1", b"queued", robot_version(1, "queued"))
    await calls.host.set_many([queued], token)
    calls.down = True
    assert await writer.write([lifecycle.start("r1", 1, "echo", "module:echo:0")]) == [True]
    assert sync.down and sync.backlog == {"r1": robot_version(1, RobotStatus.RUNNING)}
    calls.down = False
    await wait_for(lambda: not sync.down and not sync.backlog)
    read = await calls.host.get_many(CacheKeys(["robot"], ["r1"]))
    assert read.values == [None]  # the queued state cached before is gone
    stale = [CacheFill("robot", "r1", b"queued", robot_version(1, "queued"), read.token)]
    assert await calls.host.fill_many(stale) == 0
    sync.stop()
    await writer.stop()


async def test_the_first_call_of_a_new_orchestrator_resets_robot_state() -> None:
    calls = LocalCalls(host())
    await calls.host.robots_changing(RobotMarks())
    token = (await calls.host.get_many(CacheKeys(["robot"], ["r9"]))).token
    await calls.host.set_many([CacheEntry("robot", "r9", b"old", 6)], token)
    sync = RobotStatusSync(calls)
    assert sync.needs_reset
    await sync.before_commit([])
    assert not sync.needs_reset
    assert (await calls.host.get_many(CacheKeys(["robot"], ["r9"]))).values == [None]


class Module:
    def __init__(self, name: str) -> None:
        from runtime.breaker import CircuitBreaker
        from runtime.models import HealthState

        self.name = name
        self.health = HealthState.HEALTHY
        self.breaker = CircuitBreaker()
        self.performance = 0.9
        self.success_ewma = 0.8
        self.latency_ewma = 0.25


async def test_module_scores_published_by_one_orchestrator_seed_the_next() -> None:
    calls = LocalCalls(host())
    await ModuleBoard(calls).publish([Module("echo"), Module("sleep")])
    fresh = Module("echo")
    fresh.success_ewma, fresh.latency_ewma = 1.0, 0.0
    assert await ModuleBoard(calls).seed([fresh, Module("unknown")]) == 1
    assert (fresh.success_ewma, fresh.latency_ewma) == (0.8, 0.25)
    keys = CacheKeys(["module_health", "config"], ["sleep", "modules"])
    values = (await calls.host.get_many(keys)).values
    assert values[0] is not None and b"healthy" in values[0]
    assert values[1] == b'["echo","sleep"]'


async def test_a_new_cache_warms_from_the_orchestrators_module_infos() -> None:
    info = ModuleInfo(
        name="echo",
        class_path="tests.modules:Echo",
        types=["echo"],
        health=HealthState.DEGRADED,
        breaker="closed",
        performance=0.75,
        queued=0,
        replicas=[],
    )

    async def list_modules() -> list[ModuleInfo]:
        return [info]

    cache = CacheHost(Settings(redis_url=None), list_modules)
    await cache.start()
    try:
        await asyncio.wait_for(cache.warmed.wait(), 2.0)
        kinds = ["config", CacheKind.MODULE_HEALTH.value, CacheKind.PERFORMANCE.value]
        keys = CacheKeys(kinds, ["modules", "echo", "echo"])
        assert (await cache.get_many(keys)).values == [
            b'["echo"]',
            b'{"health":"degraded","breaker":"closed"}',
            b'{"performance":0.75}',
        ]
        stats = cache.stats()
        assert isinstance(stats, CacheStatsSnapshot)
        assert stats.warm and stats.warm_modules == 1
        assert stats.kinds[CacheKind.MODULE_HEALTH.value].entries == 1
        assert stats.kinds[CacheKind.MODULE_HEALTH.value].hits == 1
        assert stats.incarnation == cache.cache.guard.incarnation
    finally:
        await cache.stop()
