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
from runtime.cache.stats import metric_families
from runtime.messages import CacheStatsSnapshot

log = logging.getLogger(__name__)


class CacheCollector(Collector):
    """Yields the latest cache snapshot as metric families (empty until the first pull)."""

    def __init__(self) -> None:
        self.snapshot: CacheStatsSnapshot | None = None
        self.reachable = 0

    def collect(self) -> Iterator[Any]:
        """Metric families of the latest snapshot (see ``runtime.cache.metric_families``)."""
        reachable = GaugeMetricFamily(
            "robofleet_cache_reachable", "1 when the gateway's last stats pull reached the cache"
        )
        reachable.add_metric([], self.reachable)
        yield reachable
        if self.snapshot is None:
            return
        for family in metric_families(self.snapshot):
            kind = CounterMetricFamily if family.counter else GaugeMetricFamily
            out = kind(family.name, family.help, labels=list(family.label_names))
            for labels, value in family.samples:
                out.add_metric([labels[name] for name in family.label_names], value)
            yield out


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
