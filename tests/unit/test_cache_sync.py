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
from runtime.models import RobotStatus


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

    async def get_many(self, items: list[Any]) -> Any:
        self._check("get_many")
        return await self.host.get_many(items)

    async def set_many(self, items: list[Any], token: Any = None) -> list[bool]:
        self._check("set_many")
        return await self.host.set_many(items, token)

    async def fill_many(self, items: list[Any]) -> int:
        self._check("fill_many")
        return await self.host.fill_many(items)

    async def evict_many(self, items: list[Any]) -> None:
        self._check("evict_many")
        await self.host.evict_many(items)

    async def robots_changing(
        self,
        versions: dict[str, int],
        backlog: dict[str, int],
        reset: bool,
        lists: bool,
        settled: int = 0,
        created: bool = False,
    ) -> str:
        self._check("robots_changing")
        return await self.host.robots_changing(versions, backlog, reset, lists, settled, created)

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
            values, _ = await host.get_many([(CacheKind.ROBOT.value, t.robot_id)])
            self.seen_at_commit.append((t.robot_id, values[0]))
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
    await calls.host.robots_changing({}, {}, True, False)
    _, token = await calls.host.get_many([("robot", "r0")])
    await calls.host.set_many([("robot", "r0", b"queued", robot_version(1, "queued"))], token)
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
    await calls.host.robots_changing({}, {}, True, False)
    _, token = await calls.host.get_many([("robot", "r1")])
    await calls.host.set_many([("robot", "r1", b"queued", robot_version(1, "queued"))], token)
    calls.down = True
    assert await writer.write([lifecycle.start("r1", 1, "echo", "module:echo:0")]) == [True]
    assert sync.down and sync.backlog == {"r1": robot_version(1, RobotStatus.RUNNING)}
    calls.down = False
    await wait_for(lambda: not sync.down and not sync.backlog)
    values, token = await calls.host.get_many([("robot", "r1")])
    assert values == [None]  # the queued state cached before is gone
    stale = [("robot", "r1", b"queued", robot_version(1, "queued"), token)]
    assert await calls.host.fill_many(stale) == 0
    sync.stop()
    await writer.stop()


async def test_the_first_call_of_a_new_orchestrator_resets_robot_state() -> None:
    calls = LocalCalls(host())
    await calls.host.robots_changing({}, {}, False, False)
    _, token = await calls.host.get_many([("robot", "r9")])
    await calls.host.set_many([("robot", "r9", b"old", 6)], token)
    sync = RobotStatusSync(calls)
    assert sync.needs_reset
    await sync.before_commit([])
    assert not sync.needs_reset
    assert (await calls.host.get_many([("robot", "r9")]))[0] == [None]


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
    values, _ = await calls.host.get_many([("module_health", "sleep"), ("config", "modules")])
    assert values[0] is not None and b"healthy" in values[0]
    assert values[1] == b'["echo","sleep"]'
