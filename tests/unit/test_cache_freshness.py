"""The freshness protocol of robot state: marks before commits, guarded cache-aside fills."""

from __future__ import annotations

from runtime.cache import CacheKind, CachePolicy, FillGuard, FleetCache

R = CacheKind.ROBOT


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def new_cache(clock: Clock | None = None, **policy: object) -> FleetCache:
    clock = clock or Clock()
    cache = FleetCache(CachePolicy(**policy), clock=clock, guard=FillGuard(clock))  # type: ignore[arg-type]
    return cache


async def open_cache(clock: Clock | None = None, **policy: object) -> FleetCache:
    cache = new_cache(clock, **policy)
    await cache.sync_robots({}, reset=True)
    return cache


async def test_robot_state_is_not_served_until_the_writer_syncs() -> None:
    cache = new_cache()
    read = await cache.get_many([(R, "r1")])
    values, token = read.values, read.token
    assert values == [None] and token is None
    assert await cache.set_many([(R, "r1", b"queued", 4)], token) == [False]
    await cache.sync_robots({}, reset=False)
    token = (await cache.get_many([(R, "r1")])).token
    assert await cache.set_many([(R, "r1", b"queued", 4)], token) == [True]
    assert (await cache.get_many([(R, "r1")])).values == [b"queued"]


async def test_a_fill_read_before_a_commit_loses_to_the_mark() -> None:
    cache = await open_cache()
    token = (await cache.get_many([(R, "r1")])).token  # a reader misses ...
    # ... reads "queued" (version 4) from the store; meanwhile the writer marks and commits.
    await cache.mark_robots({"r1": 5})
    assert await cache.set_many([(R, "r1", b"queued", 4)], token) == [False]
    assert (await cache.get_many([(R, "r1")])).values == [None]
    # A reader after the commit reads "running" (5): it lands.
    token = (await cache.get_many([(R, "r1")])).token
    assert await cache.set_many([(R, "r1", b"running", 5)], token) == [True]
    assert (await cache.get_many([(R, "r1")])).values == [b"running"]


async def test_a_marked_robot_misses_even_when_its_old_state_was_cached() -> None:
    cache = await open_cache()
    token = (await cache.get_many([(R, "r1")])).token
    await cache.set_many([(R, "r1", b"queued", 4)], token)
    await cache.mark_robots({"r1": 5})
    assert (await cache.get_many([(R, "r1")])).values == [None]


async def test_marks_outlive_lru_eviction_of_the_entry() -> None:
    cache = await open_cache(max_entries=2)
    token = (await cache.get_many([(R, "r1")])).token
    await cache.mark_robots({"r1": 5})
    for i in range(5):  # push the mark out of memory
        await cache.set_many([(CacheKind.CONFIG, f"c{i}", b"x", None)])
    assert cache.memory.entry(R, "r1") is None
    assert await cache.set_many([(R, "r1", b"queued", 4)], token) == [False]


async def test_a_token_from_another_incarnation_or_too_old_is_refused() -> None:
    clock = Clock()
    cache = await open_cache(clock)
    other = await open_cache(clock)
    foreign = (await other.get_many([(R, "r1")])).token
    assert await cache.set_many([(R, "r1", b"done", 6)], foreign) == [False]
    token = (await cache.get_many([(R, "r1")])).token
    clock.now += 10
    assert await cache.set_many([(R, "r1", b"done", 6)], token) == [False]


async def test_a_reset_refuses_fills_from_before_it() -> None:
    cache = await open_cache()
    token = (await cache.get_many([(R, "r1")])).token
    await cache.set_many([(R, "r2", b"done", 6)], token)
    await cache.sync_robots({}, reset=True)
    assert (await cache.get_many([(R, "r2")])).values == [None]
    assert await cache.set_many([(R, "r1", b"queued", 4)], token) == [False]


async def test_a_backlog_sync_marks_what_the_writer_could_not_deliver() -> None:
    cache = await open_cache()
    token = (await cache.get_many([(R, "r1")])).token
    await cache.set_many([(R, "r1", b"queued", 4)], token)
    await cache.sync_robots({"r1": 6}, reset=False)
    assert (await cache.get_many([(R, "r1")])).values == [None]


async def test_list_pages_are_not_served_while_a_commit_is_under_way() -> None:
    L = CacheKind.ROBOT_LIST
    cache = await open_cache()
    token = (await cache.get_many([(L, "page")])).token
    assert await cache.set_many([(L, "page", b"[1]", None)], token) == [True]
    assert (await cache.get_many([(L, "page")])).values == [b"[1]"]
    await cache.mark_robots({"r1": 5})  # before a commit
    read = await cache.get_many([(L, "page")])
    values, token = read.values, read.token
    assert values == [None]
    assert await cache.set_many([(L, "page", b"[old]", None)], token) == [False]
    cache.lists_changed(settled=True)  # after the commit
    assert (await cache.get_many([(L, "page")])).values == [None]  # the epoch moved on
    token = (await cache.get_many([(L, "page")])).token
    cache.lists_changed(settled=False)  # robots created between the miss and the fill
    assert await cache.set_many([(L, "page", b"[stale]", None)], token) == [False]


async def test_other_kinds_are_clock_versioned_and_evictable() -> None:
    cache = await open_cache()
    await cache.set_many([(CacheKind.API_KEY, "h", b"key", None)])
    assert (await cache.get_many([(CacheKind.API_KEY, "h")])).values == [b"key"]
    await cache.evict_many([(CacheKind.API_KEY, "h")])
    assert (await cache.get_many([(CacheKind.API_KEY, "h")])).values == [None]
    stats = cache.stats[CacheKind.API_KEY]
    assert (stats.hits, stats.misses) == (1, 1)
