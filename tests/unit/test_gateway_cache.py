"""The gateway's cache client: concurrent reads share calls; a failing cache is a miss."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.cache_client import GatewayCache
from runtime.cache import CacheKind


class SlowCalls:
    def __init__(self, delay_s: float = 0.01, fail: bool = False) -> None:
        self.delay_s = delay_s
        self.fail = fail
        self.batches: list[int] = []
        self.fills: list[Any] = []

    async def get_many(self, items: list[Any]) -> Any:
        self.batches.append(len(items))
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise ConnectionError("gone")
        return [key.encode() for _, key in items], ("inc", 1, 0.0, 0)

    async def fill_many(self, items: list[Any]) -> int:
        self.fills.extend(items)
        return len(items)


async def test_concurrent_reads_share_actor_calls() -> None:
    calls = SlowCalls()
    cache = GatewayCache(calls, max_in_flight=1)  # type: ignore[arg-type]
    results = await asyncio.gather(*(cache.lookup(CacheKind.ROBOT, f"r{i}") for i in range(64)))
    assert [value for value, _ in results] == [f"r{i}".encode() for i in range(64)]
    assert sum(calls.batches) == 64 and len(calls.batches) <= 3


async def test_a_slow_or_failing_cache_is_a_miss_and_is_skipped_for_a_while() -> None:
    calls = SlowCalls(delay_s=1.0)
    cache = GatewayCache(calls, timeout_s=0.05, retry_after_s=60)  # type: ignore[arg-type]
    assert await cache.lookup(CacheKind.ROBOT, "r1") == (None, None)
    assert not cache.available
    assert await cache.lookup(CacheKind.ROBOT, "r2") == (None, None)
    assert len(calls.batches) == 1  # the second read did not wait for the cache
    failing = GatewayCache(SlowCalls(fail=True))  # type: ignore[arg-type]
    assert await failing.get(CacheKind.ROBOT, "r1") is None


async def test_fills_from_one_tick_go_out_in_one_call() -> None:
    calls = SlowCalls()
    cache = GatewayCache(calls)  # type: ignore[arg-type]
    for i in range(10):
        cache.fill(CacheKind.ROBOT, f"r{i}", b"{}", 4, ("inc", 1, 0.0, 0))
    cache.fill(CacheKind.ROBOT, "no-token", b"{}", 4, None)  # a miss without token: dropped
    await asyncio.sleep(0.01)
    assert len(calls.fills) == 10
