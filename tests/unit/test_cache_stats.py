"""The cache's Redis value format and its Prometheus text."""

from __future__ import annotations

import re

from runtime.cache import (
    CacheKind,
    CacheStats,
    PushedMetrics,
    metric_families,
    prometheus_text,
)
from runtime.cache.redis_tier import COMPRESSED, MARK, PLAIN, decode, encode


def test_stored_values_carry_their_version_and_kind_of_payload() -> None:
    assert decode(encode(42, PLAIN, b"\x00value")) == (42, PLAIN, b"\x00value")
    assert decode(encode(2**53, COMPRESSED, b"z")) == (2**53, COMPRESSED, b"z")
    assert decode(encode(7, MARK)) == (7, MARK, b"")
    # Fixed-width versions: the Lua script reads the first 20 characters.
    assert encode(7, MARK)[:20] == b"00000000000000000007"


def test_prometheus_text_has_every_kind_and_the_backend_gauge() -> None:
    stats = CacheStats()
    stats[CacheKind.ROBOT].hits = 9
    stats[CacheKind.ROBOT].misses = 1
    stats.backend_up = 1
    snapshot = stats.snapshot()
    stats[CacheKind.ROBOT].hits = 99  # a snapshot is a copy
    text = prometheus_text(snapshot)
    assert 'robofleet_cache_hits_total{kind="robot"} 9' in text
    assert 'robofleet_cache_misses_total{kind="module_health"} 0' in text
    assert re.search(r"^robofleet_cache_backend_up 1$", text, re.M)
    assert snapshot.kinds["robot"].hit_rate == 0.9


class Recorded:
    """A push-style metric that records what it was given."""

    def __init__(self, name: str, help_: str, labels: tuple[str, ...]) -> None:
        self.name, self.labels = name, labels
        self.calls: list[tuple[str, float, dict[str, str] | None]] = []

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        self.calls.append(("inc", value, tags))

    def set(self, value: float, tags: dict[str, str] | None = None) -> None:
        self.calls.append(("set", value, tags))


def test_every_export_renders_the_same_families() -> None:
    stats = CacheStats()
    stats[CacheKind.ROBOT].hits = 3
    families = {f.name: f for f in metric_families(stats.snapshot())}
    assert families["robofleet_cache_hits"].counter
    assert not families["robofleet_cache_entries"].counter
    assert families["robofleet_cache_backend_up"].samples == [({}, 0)]
    assert ({"kind": "robot"}, 3) in families["robofleet_cache_hits"].samples


def test_pushed_counters_take_what_grew_and_gauges_their_value() -> None:
    made: dict[str, Recorded] = {}

    def factory(name: str, help_: str, labels: tuple[str, ...]) -> Recorded:
        made[name] = Recorded(name, help_, labels)
        return made[name]

    pushed = PushedMetrics(counter=factory, gauge=factory)
    stats = CacheStats()
    stats[CacheKind.ROBOT].hits = 4
    stats.backend_up = 1
    pushed.export(stats.snapshot())
    stats[CacheKind.ROBOT].hits = 6
    pushed.export(stats.snapshot())
    pushed.export(stats.snapshot())  # nothing grew: no increment
    hits = made["robofleet_cache_hits"]
    assert hits.labels == ("kind",)
    assert [c for c in hits.calls if c[2] == {"kind": "robot"}] == [
        ("inc", 4, {"kind": "robot"}),
        ("inc", 2, {"kind": "robot"}),
    ]
    assert made["robofleet_cache_backend_up"].calls[-1] == ("set", 1, {})
