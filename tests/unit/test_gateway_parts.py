import asyncio

import pytest

from cluster.keys_cli import parse_duration
from gateway.app import create_app
from gateway.auth import KeyCache
from gateway.events import robot_events
from gateway.sse import sse_frame
from gateway.state import PERMISSIONS
from runtime.config import Settings
from runtime.keys import Role, new_api_key
from runtime.models import Robot, RobotStatus


class _NoControl:
    async def submit_many(self, requests):
        return []

    async def list_modules(self):
        return []


def test_every_route_declares_a_permission():
    app = create_app(Settings(), _NoControl(), None)  # type: ignore[arg-type]
    declared = app[PERMISSIONS]
    for route in app.router.routes():
        method = "GET" if route.method == "HEAD" else route.method
        assert (method, route.resource.canonical) in declared, (method, route.resource.canonical)


class CountingStore:
    def __init__(self, keys) -> None:
        self.keys = {k.key_hash: k for k in keys}
        self.reads = 0

    async def api_key_by_hash(self, key_hash):
        self.reads += 1
        return self.keys.get(key_hash)


def key_cache(store_class, role=Role.OPERATOR):
    """A key cache with a 2 s TTL over a store of one new key, on a clock the test moves."""
    secret, record = new_api_key(role)
    store = store_class([record])
    now = [0.0]
    cache = KeyCache(store, ttl_s=2.0, clock=lambda: now[0])
    return secret, record, store, cache, now


def test_key_cache_serves_from_memory_within_the_ttl():
    secret, record, store, cache, now = key_cache(CountingStore, Role.VIEWER)

    async def run():
        assert await cache.lookup(secret) == record
        assert await cache.lookup("rf_unknown") is None
        for _ in range(10):
            await cache.lookup(secret)
            await cache.lookup("rf_unknown")
        assert store.reads == 2
        now[0] = 2.5
        await cache.lookup(secret)
        assert store.reads == 3
        cache.invalidate()
        await cache.lookup(secret)
        assert store.reads == 4

    asyncio.run(run())


def _robot(**fields) -> Robot:
    return Robot(id="r1", type="sleep", **fields)


def test_robot_events_report_state_then_progress():
    queued = _robot()
    running = _robot(status=RobotStatus.RUNNING, progress=0.0)
    half = _robot(status=RobotStatus.RUNNING, progress=0.5, message="half")
    done = _robot(status=RobotStatus.SUCCEEDED, progress=1.0)
    assert [e.kind for e in robot_events(None, queued)] == ["status"]
    assert [(e.kind, e.status) for e in robot_events(queued, running)] == [("status", "running")]
    [progress] = robot_events(running, half)
    assert (progress.kind, progress.progress, progress.message) == ("progress", 0.5, "half")
    assert robot_events(half, half) == []
    [end] = robot_events(half, done)
    assert (end.kind, end.status) == ("status", "succeeded")
    retried = _robot(status=RobotStatus.RUNNING, attempt=2)
    assert [e.kind for e in robot_events(running, retried)] == ["status"]


def test_sse_frame():
    assert sse_frame("progress", b'{"a":1}', 3) == b'id: 3\nevent: progress\ndata: {"a":1}\n\n'


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 43200), ("15m", 900), ("45s", 45), ("90", 90), ("2w", 1209600)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "-1d", "0", "3y", "1.5.2h"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_duration(text)


class SlowStore(CountingStore):
    def __init__(self, keys) -> None:
        super().__init__(keys)
        self.release = asyncio.Event()

    async def api_key_by_hash(self, key_hash):
        self.reads += 1
        await self.release.wait()
        return self.keys.get(key_hash)


def test_requests_arriving_while_a_key_is_read_wait_for_that_one_read():
    secret, record, store, cache, now = key_cache(SlowStore)

    async def run():
        waiting = [asyncio.ensure_future(cache.lookup(secret)) for _ in range(64)]
        await asyncio.sleep(0)
        waiting[0].cancel()  # a client that went away does not cancel the others' read
        store.release.set()
        found = await asyncio.gather(*waiting[1:])
        assert found == [record] * 63
        assert store.reads == 1
        now[0] = 2.5  # expired: read once more, once
        store.release.clear()
        again = [asyncio.ensure_future(cache.lookup(secret)) for _ in range(8)]
        await asyncio.sleep(0)
        store.release.set()
        assert await asyncio.gather(*again) == [record] * 8
        assert store.reads == 2

    asyncio.run(run())


def test_a_read_begun_before_an_invalidation_is_not_kept():
    secret, record, store, cache, _ = key_cache(SlowStore)

    async def run():
        before = asyncio.ensure_future(cache.lookup(secret))
        await asyncio.sleep(0)
        cache.invalidate()  # e.g. the key was revoked through this gateway meanwhile
        store.release.set()
        assert await before == record  # the request already waiting gets what was read
        await cache.lookup(secret)
        assert store.reads == 2  # but the next one reads the store again

    asyncio.run(run())


class FailingStore(CountingStore):
    async def api_key_by_hash(self, key_hash):
        self.reads += 1
        await asyncio.sleep(0)
        raise ConnectionError("store down")


def test_a_failed_key_read_reaches_every_waiter_and_is_not_cached():
    secret, _, store, cache, _ = key_cache(FailingStore)

    async def run():
        results = await asyncio.gather(
            *(cache.lookup(secret) for _ in range(4)), return_exceptions=True
        )
        assert all(isinstance(r, ConnectionError) for r in results)
        assert store.reads == 1
        with pytest.raises(ConnectionError):
            await cache.lookup(secret)  # the next request reads again
        assert store.reads == 2

    asyncio.run(run())
