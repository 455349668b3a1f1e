"""The in-memory cache tier: TTL per kind, LRU by entries and by bytes, versions, compression."""

from __future__ import annotations

import pytest

from runtime.cache import CacheKind, CachePolicy, MemoryTier, policy_from_settings
from runtime.cache.kinds import robot_version
from runtime.config import Settings
from runtime.models import RobotStatus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tier(clock: Clock, **policy: object) -> MemoryTier:
    return MemoryTier(CachePolicy(**policy), clock=clock)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "ttl_s"),
    [
        (CacheKind.MODULE_HEALTH, 300.0),
        (CacheKind.PERFORMANCE, 600.0),
        (CacheKind.ROBOT, 60.0),
        (CacheKind.CONFIG, 1800.0),
    ],
)
def test_each_kind_expires_after_its_own_ttl(kind: CacheKind, ttl_s: float) -> None:
    clock = Clock()
    memory = tier(clock)
    assert memory.put(kind, "k", b"value", 1)
    clock.now += ttl_s - 0.001
    assert memory.get(kind, "k") == b"value"
    clock.now += 0.002
    assert memory.get(kind, "k") is None
    assert memory.stats[kind].expirations == 1
    assert memory.stats[kind].entries == 0 and memory.bytes == 0


def test_ttls_come_from_settings() -> None:
    policy = policy_from_settings(
        Settings(cache_ttl_robot_s=5, cache_ttl_module_health_s=7, cache_ttl_config_s=9)
    )
    assert policy.ttl(CacheKind.ROBOT) == 5
    assert policy.ttl(CacheKind.MODULE_HEALTH) == 7
    assert policy.ttl(CacheKind.CONFIG) == 9
    assert policy.ttl(CacheKind.PERFORMANCE) == 600
    clock = Clock()
    memory = MemoryTier(policy, clock=clock)
    memory.put(CacheKind.ROBOT, "r", b"x", 1)
    memory.put(CacheKind.MODULE_HEALTH, "m", b"x", 1)
    clock.now += 6
    assert memory.get(CacheKind.ROBOT, "r") is None
    assert memory.get(CacheKind.MODULE_HEALTH, "m") == b"x"


def test_lru_evicts_the_least_recently_used_entry_past_the_entry_bound() -> None:
    memory = tier(Clock(), max_entries=3)
    for key in "abc":
        memory.put(CacheKind.CONFIG, key, key.encode(), 1)
    assert memory.get(CacheKind.CONFIG, "a") == b"a"  # a is now the most recent
    memory.put(CacheKind.CONFIG, "d", b"d", 1)
    assert memory.get(CacheKind.CONFIG, "b") is None
    assert [memory.get(CacheKind.CONFIG, k) for k in "acd"] == [b"a", b"c", b"d"]
    assert memory.stats[CacheKind.CONFIG].evictions == 1
    assert len(memory) == 3


def test_lru_evicts_past_the_byte_bound() -> None:
    memory = tier(Clock(), max_bytes=1200, compress_min_bytes=10_000)
    for i in range(3):
        memory.put(CacheKind.ROBOT, f"r{i}", b"x" * 300, 1)
    assert memory.bytes <= 1200
    memory.get(CacheKind.ROBOT, "r0")
    memory.put(CacheKind.ROBOT, "r3", b"y" * 300, 1)
    assert memory.bytes <= 1200
    assert memory.get(CacheKind.ROBOT, "r1") is None  # least recently used went first
    assert memory.get(CacheKind.ROBOT, "r0") is not None
    assert memory.get(CacheKind.ROBOT, "r3") == b"y" * 300
    assert memory.stats[CacheKind.ROBOT].evictions >= 1
    assert memory.stats[CacheKind.ROBOT].bytes == memory.bytes


def test_a_value_larger_than_the_byte_bound_is_refused() -> None:
    memory = tier(Clock(), max_bytes=1024, compress_min_bytes=10_000)
    assert not memory.put(CacheKind.CONFIG, "big", b"x" * 2000, 1)
    assert len(memory) == 0


def test_an_older_version_never_overwrites_a_newer_one() -> None:
    memory = tier(Clock())
    assert memory.put(CacheKind.ROBOT, "r", b"running", 5)
    assert not memory.put(CacheKind.ROBOT, "r", b"queued", 4)
    assert memory.get(CacheKind.ROBOT, "r") == b"running"
    assert memory.stats[CacheKind.ROBOT].stale_writes == 1
    assert memory.put(CacheKind.ROBOT, "r", b"succeeded", 6)
    assert memory.put(CacheKind.ROBOT, "r", b"succeeded again", 6)  # same version: same state
    assert memory.get(CacheKind.ROBOT, "r") == b"succeeded again"


def test_a_mark_hides_the_value_and_fences_off_older_writes() -> None:
    memory = tier(Clock())
    memory.put(CacheKind.ROBOT, "r", b"queued", 4)
    assert memory.mark(CacheKind.ROBOT, "r", 5) == 5
    assert memory.get(CacheKind.ROBOT, "r") is None
    assert not memory.put(CacheKind.ROBOT, "r", b"queued", 4)
    assert memory.put(CacheKind.ROBOT, "r", b"running", 5)
    assert memory.get(CacheKind.ROBOT, "r") == b"running"
    # A mark never lowers a version.
    assert memory.mark(CacheKind.ROBOT, "r", 3) == 5


def test_large_values_are_stored_compressed_and_read_back_whole() -> None:
    memory = tier(Clock(), compress_min_bytes=100)
    value = b'{"result": "' + b"abc" * 2000 + b'"}'
    memory.put(CacheKind.ROBOT, "r", value, 1)
    entry = memory.entry(CacheKind.ROBOT, "r")
    assert entry is not None and entry.compressed
    assert entry.size < len(value) / 4
    assert memory.get(CacheKind.ROBOT, "r") == value
    memory.put(CacheKind.ROBOT, "small", b"tiny", 1)
    small = memory.entry(CacheKind.ROBOT, "small")
    assert small is not None and not small.compressed


def test_sweep_drops_expired_entries() -> None:
    clock = Clock()
    memory = tier(clock)
    memory.put(CacheKind.ROBOT, "r", b"x", 1)
    memory.put(CacheKind.CONFIG, "c", b"x", 1)
    clock.now += 61
    assert memory.sweep() == 1
    assert len(memory) == 1


def test_robot_versions_grow_with_every_transition() -> None:
    path = [
        (1, RobotStatus.QUEUED),
        (1, RobotStatus.RUNNING),
        (2, RobotStatus.QUEUED),
        (2, RobotStatus.RUNNING),
        (2, RobotStatus.SUCCEEDED),
    ]
    versions = [robot_version(a, s) for a, s in path]
    assert versions == sorted(set(versions))
    assert robot_version(1, RobotStatus.QUEUED) < robot_version(1, RobotStatus.CANCELLED)
