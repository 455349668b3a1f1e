"""The gateway's cache client: concurrent reads share calls; a failing cache is a miss."""

from __future__ import annotations

import asyncio

from gateway.cache_client import GatewayCache
from runtime.cache import CacheKind
from runtime.messages import CacheFill, CacheKeys, CacheRead, FillToken

TOKEN = FillToken("inc", 1, 0.0, 0)


class SlowCalls:
    def __init__(self, delay_s: float = 0.01, fail: bool = False) -> None:
        self.delay_s = delay_s
        self.fail = fail
        self.batches: list[int] = []
        self.fills: list[CacheFill] = []

    async def get_many(self, items: CacheKeys) -> CacheRead:
        self.batches.append(len(items.keys))
        assert items.kinds == ["robot"] * len(items.keys)
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise ConnectionError("gone")
        return CacheRead([key.encode() for key in items.keys], TOKEN)

    async def fill_many(self, items: list[CacheFill]) -> int:
        self.fills.extend(items)
        return len(items)


async def test_concurrent_reads_share_actor_calls() -> None:
    calls = SlowCalls()
    cache = GatewayCache(calls, max_in_flight=1)  # type: ignore[arg-type]
    results = await asyncio.gather(*(cache.lookup(CacheKind.ROBOT, f"r{i}") for i in range(64)))
    assert results == [(f"r{i}".encode(), TOKEN) for i in range(64)]
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
        cache.fill(CacheKind.ROBOT, f"r{i}", b"{}", 4, TOKEN)
    cache.fill(CacheKind.ROBOT, "no-token", b"{}", 4, None)  # a miss without token: dropped
    await asyncio.sleep(0.01)
    assert len(calls.fills) == 10
    assert calls.fills[3] == CacheFill("robot", "r3", b"{}", 4, TOKEN)
