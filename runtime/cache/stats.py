"""Per-kind cache statistics and the one way they become metrics.

:func:`metric_families` names, types and describes every metric of a ``stats()`` snapshot
(a :class:`~runtime.messages.CacheStatsSnapshot`); each place that exports them only renders
those families: :func:`prometheus_text` (the cache actor's ``metrics_text()``), the
gateway's ``/metrics`` collector, and :class:`PushedMetrics` for metric libraries that take
increments (Ray custom metrics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from runtime.cache.kinds import CacheKind
from runtime.messages import CacheKindStats, CacheStatsSnapshot

COUNTERS = ("hits", "misses", "evictions", "expirations", "sets", "stale_writes", "marks")
GAUGES = ("entries", "bytes")
_HELP = {
    "hits": "Cache lookups answered from the cache",
    "misses": "Cache lookups the caller had to answer from the store",
    "evictions": "Entries dropped to stay within the entry and byte bounds",
    "expirations": "Entries dropped because their TTL passed",
    "sets": "Entries written",
    "stale_writes": "Writes refused because the cache held a newer version",
    "marks": "Entries invalidated ahead of a robot transition",
    "entries": "Entries held in the cache actor's memory",
    "bytes": "Bytes held in the cache actor's memory (compressed size)",
    "backend_up": "1 while the cache's Redis tier answers, 0 otherwise",
}


class CacheStats:
    """Statistics of every kind plus the state of the Redis tier."""

    def __init__(self) -> None:
        self.kinds: dict[CacheKind, CacheKindStats] = {kind: CacheKindStats() for kind in CacheKind}
        self.backend_up: int = 0
        self.backend_configured: bool = False
        self.backend_fallbacks: int = 0
        self.backend_reads: int = 0
        self.backend_writes: int = 0

    def __getitem__(self, kind: CacheKind) -> CacheKindStats:
        return self.kinds[kind]

    def snapshot(self) -> CacheStatsSnapshot:
        """A copy of everything, as the cache actor returns it from ``stats()``."""
        return CacheStatsSnapshot(
            kinds={kind.value: replace(s) for kind, s in self.kinds.items()},
            backend_up=self.backend_up,
            backend_configured=self.backend_configured,
            backend_fallbacks=self.backend_fallbacks,
            backend_reads=self.backend_reads,
            backend_writes=self.backend_writes,
        )


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One metric: its name (a counter's without ``_total``), type, help and samples.

    Each sample is ``(labels, value)``; the per-kind families carry a ``kind`` label.
    """

    name: str
    counter: bool
    help: str
    label_names: tuple[str, ...]
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)


def metric_families(
    snapshot: CacheStatsSnapshot, prefix: str = "robofleet_cache"
) -> list[MetricFamily]:
    """The metrics of a ``stats()`` snapshot, named under ``prefix``.

    Every counter and gauge per kind (kinds in name order), then ``backend_up``.
    """
    kinds = sorted(snapshot.kinds.items())
    families = [
        MetricFamily(
            f"{prefix}_{name}",
            name in COUNTERS,
            _HELP[name],
            ("kind",),
            [({"kind": kind}, getattr(figures, name)) for kind, figures in kinds],
        )
        for name in COUNTERS + GAUGES
    ]
    up = MetricFamily(f"{prefix}_backend_up", False, _HELP["backend_up"], ())
    up.samples.append(({}, snapshot.backend_up))
    return [*families, up]


def prometheus_text(snapshot: CacheStatsSnapshot, prefix: str = "robofleet_cache") -> str:
    """Render a ``stats()`` snapshot in the Prometheus text format."""
    lines: list[str] = []
    for family in metric_families(snapshot, prefix):
        metric = f"{family.name}_total" if family.counter else family.name
        lines.append(f"# HELP {metric} {family.help}")
        lines.append(f"# TYPE {metric} {'counter' if family.counter else 'gauge'}")
        for labels, value in family.samples:
            tags = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"{metric}{{{tags}}} {value}" if tags else f"{metric} {value}")
    return "\n".join(lines) + "\n"


class PushedMetric(Protocol):
    """A counter or gauge of a push-style library (``ray.util.metrics`` has this shape)."""

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        """Add to a counter."""

    def set(self, value: float, tags: dict[str, str] | None = None) -> None:
        """Set a gauge."""


MetricFactory = Callable[[str, str, tuple[str, ...]], PushedMetric]
"""Builds a metric from its name, help and label names."""


class PushedMetrics:
    """Publishes snapshots to a library whose counters take increments, not totals.

    ``counter`` and ``gauge`` build the library's metrics (once per family); :meth:`export`
    adds to each counter what grew since the previous snapshot and sets each gauge.
    """

    def __init__(self, counter: MetricFactory, gauge: MetricFactory) -> None:
        self._factories = {True: counter, False: gauge}
        self._metrics: dict[str, PushedMetric] = {}
        self._last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def export(self, snapshot: CacheStatsSnapshot) -> None:
        """Publish one ``stats()`` snapshot."""
        for family in metric_families(snapshot):
            metric = self._metrics.get(family.name)
            if metric is None:
                factory = self._factories[family.counter]
                metric = factory(family.name, family.help, family.label_names)
                self._metrics[family.name] = metric
            for labels, value in family.samples:
                if not family.counter:
                    metric.set(value, tags=labels)
                    continue
                key = (family.name, tuple(sorted(labels.items())))
                delta = value - self._last.get(key, 0)
                if delta > 0:
                    metric.inc(delta, tags=labels)
                self._last[key] = value
