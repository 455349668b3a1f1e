"""Rate limits against a real Redis, through real HTTP, on in-process gateways.

Each test runs its own gateways (``gateway.app.create_app`` on a SQLite store and a fake
orchestrator) so it can give them small limits; the buckets live under a Redis key prefix
of their own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest
import redis

from gateway.ratelimit import REDIS_UP
from gateway.state import RATE_LIMITER
from runtime.config import RateLimit
from runtime.keys import Role, new_api_key
from tests.integration.conftest import REDIS_URL, free_port, service_missing
from tests.integration.gateway_app import local_gateway

RATE, BURST = 20.0, 20.0
DURATION_S = 10.0


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {REDIS_URL} is unreachable ({exc})")
    prefix = f"robofleet-test-rl-{uuid.uuid4().hex[:8]}:"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


async def viewer_key(store) -> str:
    secret, record = new_api_key(Role.VIEWER)
    await store.create_api_key(record)
    return secret


def limits() -> dict:
    return {"viewer": RateLimit(rate=RATE, burst=BURST)}


async def paced(
    clients, key: str, per_second: float, seconds: float, statuses: Counter
) -> float:
    """Send GET /v1/modules at a steady rate, each to a random client, without waiting;
    return the seconds from the first answer to the last.

    Random, not round-robin: at exactly twice the refill rate, round-robin would hand every
    accepted request to the same gateway. The buckets refill while the gateways answer, so
    the answers' span (not the sending's, which a loaded machine stretches or squeezes
    differently) says how many tokens there were to give.
    """
    answered: list[float] = []
    tasks = []
    started = time.monotonic()
    count = int(per_second * seconds)
    rng = random.Random(7)

    async def one(i: int) -> None:
        which = rng.randrange(len(clients))
        response = await clients[which].get("/v1/modules", headers={"X-API-Key": key})
        await response.read()
        answered.append(time.monotonic())
        statuses[(which, response.status)] += 1

    for i in range(count):
        delay = started + i / per_second - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return max(answered) - min(answered)


async def test_two_gateways_share_one_budget_within_5_percent(tmp_path, redis_prefix):
    async with AsyncExitStack() as stack:
        gateways = [
            await stack.enter_async_context(
                local_gateway(
                    tmp_path, redis_url=REDIS_URL, redis_prefix=redis_prefix, rate_limits=limits()
                )
            )
            for _ in range(2)
        ]
        clients = [client for client, _, _ in gateways]
        assert all(client.server.app[RATE_LIMITER].using_redis for client in clients)
        key = await viewer_key(gateways[0][2])
        statuses: Counter = Counter()
        span = await paced(clients, key, 2 * RATE, DURATION_S, statuses)
    accepted = sum(n for (_, status), n in statuses.items() if status == 200)
    refused = sum(n for (_, status), n in statuses.items() if status == 429)
    limit = BURST + RATE * span
    print(f"\naccepted {accepted} of {accepted + refused} (limit {limit:g}); by gateway {statuses}")
    assert accepted + refused == int(2 * RATE * DURATION_S)
    assert abs(accepted - limit) <= 0.05 * limit, (accepted, limit)
    # Both gateways served and refused: one budget, not one each (which would allow ~2x).
    for gateway in (0, 1):
        assert statuses[(gateway, 200)] > 0.25 * accepted
        assert statuses[(gateway, 429)] > 0


async def test_429_carries_retry_after_and_ratelimit_headers(tmp_path, redis_prefix):
    async with local_gateway(
        tmp_path,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        rate_limits={"viewer": RateLimit(rate=0.5, burst=2)},
    ) as (client, _, store):
        key = await viewer_key(store)
        answers = []
        for _ in range(3):
            response = await client.get("/v1/robots", headers={"X-API-Key": key})
            answers.append((response.status, dict(response.headers), await response.json()))
    (s1, h1, _), (s2, h2, _), (s3, h3, body) = answers
    assert (s1, s2, s3) == (200, 200, 429)
    assert (h1["RateLimit-Limit"], h1["RateLimit-Remaining"]) == ("2", "1")
    assert h2["RateLimit-Remaining"] == "0"
    assert int(h3["Retry-After"]) >= 1 and h3["RateLimit-Remaining"] == "0"
    assert int(h3["RateLimit-Reset"]) >= 1
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["request_id"] == h3["X-Request-ID"]


async def test_failed_authentications_are_limited_per_client_address(tmp_path, redis_prefix):
    async with local_gateway(
        tmp_path,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        auth_failure_limit=RateLimit(rate=0.1, burst=3),
    ) as (client, admin_key, _):
        statuses = []
        for i in range(5):
            response = await client.get("/v1/robots", headers={"X-API-Key": f"rf_guess{i}"})
            statuses.append(response.status)
            if response.status == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert (await response.json())["error"]["code"] == "too_many_auth_failures"
        assert statuses == [401, 401, 401, 429, 429]
        # A valid key from the same address is not affected.
        response = await client.get("/v1/robots", headers={"X-API-Key": admin_key})
        assert response.status == 200


class OwnRedis:
    """A redis-server of a test's own on a free port: the shared one must keep running."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                client.close()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("own redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server is not installed")
    server = OwnRedis(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_redis_stopped_mid_test_falls_back_locally_then_reconnects(tmp_path, own_redis):
    async with local_gateway(
        tmp_path, redis_url=own_redis.url, redis_prefix="rl-test:", rate_limits=limits()
    ) as (client, _, store):
        limiter = client.server.app[RATE_LIMITER]
        assert limiter.using_redis and REDIS_UP._value.get() == 1
        key = await viewer_key(store)
        statuses: Counter = Counter()
        sender = asyncio.create_task(paced([client], key, 2 * RATE, 6.0, statuses))
        await asyncio.sleep(2.0)
        own_redis.stop()
        await sender
        assert not limiter.using_redis and REDIS_UP._value.get() == 0
        codes = {status for (_, status) in statuses}
        assert codes <= {200, 429}, statuses  # never a 5xx
        assert statuses[(0, 200)] > BURST + RATE * 2  # served on, from the local bucket
        own_redis.start()
        for _ in range(50):
            if limiter.using_redis:
                break
            await asyncio.sleep(0.1)
        assert limiter.using_redis and REDIS_UP._value.get() == 1
        response = await client.get("/v1/modules", headers={"X-API-Key": key})
        assert response.status in (200, 429)


async def test_no_redis_at_all_uses_local_buckets(tmp_path):
    # A bucket that refills one token a minute: however slowly a loaded host sends the
    # requests, none is refilled before the last, so exactly the burst passes.
    slow = {"viewer": RateLimit(rate=1 / 60, burst=BURST)}
    async with local_gateway(
        tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limits=slow
    ) as (client, _, store):
        assert not client.server.app[RATE_LIMITER].using_redis
        key = await viewer_key(store)
        statuses = [
            (await client.get("/v1/modules", headers={"X-API-Key": key})).status
            for _ in range(int(BURST) + 5)
        ]
        assert statuses.count(200) == BURST and set(statuses) == {200, 429}
