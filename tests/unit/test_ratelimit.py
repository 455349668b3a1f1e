import pytest

from gateway.ratelimit import TOKEN_BUCKET_LUA, Bucket, Decision, LocalBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_local_bucket_allows_burst_then_the_rate():
    clock = Clock()
    buckets = LocalBuckets(clock)
    bucket = Bucket("k", rate=10, burst=5)
    assert [buckets.acquire([bucket]).allowed for _ in range(6)] == [True] * 5 + [False]
    accepted = 0
    for _ in range(200):  # 10 s at 20 requests/s
        clock.now += 0.05
        accepted += buckets.acquire([bucket]).allowed
    assert accepted == pytest.approx(100, abs=1)


def test_refused_decision_has_retry_after_and_headers():
    clock = Clock()
    buckets = LocalBuckets(clock)
    bucket = Bucket("k", rate=0.5, burst=1)
    first = buckets.acquire([bucket])
    second = buckets.acquire([bucket])
    assert first.allowed and not second.allowed
    assert second.retry_after_s == pytest.approx(2.0)
    assert second.headers() == {
        "RateLimit-Limit": "1",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "2",
        "Retry-After": "2",
    }
    assert "Retry-After" not in first.headers()


def test_several_buckets_take_from_all_or_none():
    clock = Clock()
    buckets = LocalBuckets(clock)
    key, module = Bucket("key", rate=1, burst=10), Bucket("module", rate=1, burst=2)
    results = [buckets.acquire([key, module]).allowed for _ in range(3)]
    assert results == [True, True, False]
    # The refused request took nothing from the key's own bucket.
    assert [buckets.acquire([key]).allowed for _ in range(9)] == [True] * 8 + [False]


def test_decision_headers_round_down_remaining():
    decision = Decision(True, 10, 3.7, 0.0, 6.3)
    assert decision.headers()["RateLimit-Remaining"] == "3"
    assert decision.headers()["RateLimit-Reset"] == "7"


def test_lua_script_uses_the_redis_clock_and_one_call():
    assert "redis.call('TIME')" in TOKEN_BUCKET_LUA
    assert TOKEN_BUCKET_LUA.count("PEXPIRE") == 1
