"""The cache actor's statistics as Prometheus metrics on the gateway's ``/metrics``.

A background task pulls ``stats()`` from the cache actor every ``every_s`` seconds; scrapes
read the latest snapshot, so ``/metrics`` never waits on the actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.cache_client import GatewayCache
from runtime.cache.stats import COUNTERS, GAUGES

log = logging.getLogger(__name__)


class CacheCollector(Collector):
    """Yields the latest cache snapshot as metric families (empty until the first pull)."""

    def __init__(self) -> None:
        self.snapshot: dict[str, Any] | None = None
        self.reachable = 0

    def collect(self) -> Iterator[Any]:
        """Metric families of the latest snapshot."""
        reachable = GaugeMetricFamily(
            "robofleet_cache_reachable", "1 when the gateway's last stats pull reached the cache"
        )
        reachable.add_metric([], self.reachable)
        yield reachable
        if self.snapshot is None:
            return
        kinds: dict[str, dict[str, int]] = self.snapshot["kinds"]
        for name in COUNTERS:
            family = CounterMetricFamily(
                f"robofleet_cache_{name}", f"cache {name} per kind", labels=["kind"]
            )
            for kind, values in sorted(kinds.items()):
                family.add_metric([kind], values[name])
            yield family
        for name in GAUGES:
            gauge = GaugeMetricFamily(
                f"robofleet_cache_{name}", f"cache {name} per kind", labels=["kind"]
            )
            for kind, values in sorted(kinds.items()):
                gauge.add_metric([kind], values[name])
            yield gauge
        up = GaugeMetricFamily(
            "robofleet_cache_backend_up", "1 while the cache's Redis tier answers, 0 otherwise"
        )
        up.add_metric([], self.snapshot["backend_up"])
        yield up


COLLECTOR = CacheCollector()
with contextlib.suppress(ValueError):  # registered once per process
    REGISTRY.register(COLLECTOR)


async def pull_stats(cache: GatewayCache, every_s: float = 1.0) -> None:
    """Keep :data:`COLLECTOR` up to date with the cache actor's statistics."""
    while True:
        try:
            snapshot = await cache.stats()
            COLLECTOR.reachable = 0 if snapshot is None else 1
            if snapshot is not None:
                COLLECTOR.snapshot = snapshot
        except Exception:
            log.debug("pulling cache stats failed", exc_info=True)
        await asyncio.sleep(every_s)
