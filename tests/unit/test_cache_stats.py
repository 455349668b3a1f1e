"""The cache's Redis value format and its Prometheus text."""

from __future__ import annotations

import re

from runtime.cache import CacheKind, CacheStats, prometheus_text
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
    text = prometheus_text(stats.snapshot())
    assert 'robofleet_cache_hits_total{kind="robot"} 9' in text
    assert 'robofleet_cache_misses_total{kind="module_health"} 0' in text
    assert re.search(r"^robofleet_cache_backend_up 1$", text, re.M)
    assert stats[CacheKind.ROBOT].hit_rate == 0.9
