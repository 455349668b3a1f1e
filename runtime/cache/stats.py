"""Per-kind cache statistics and their Prometheus text form."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from runtime.cache.kinds import CacheKind

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
}


@dataclass(slots=True)
class KindStats:
    """Counters and gauges of one kind."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0
    sets: int = 0
    stale_writes: int = 0
    marks: int = 0
    entries: int = 0
    bytes: int = 0

    @property
    def hit_rate(self) -> float:
        """Hits over lookups (0 before any lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class CacheStats:
    """Statistics of every kind plus the state of the Redis tier."""

    def __init__(self) -> None:
        self.kinds: dict[CacheKind, KindStats] = {kind: KindStats() for kind in CacheKind}
        self.backend_up: int = 0
        self.backend_configured: bool = False
        self.backend_fallbacks: int = 0
        self.backend_reads: int = 0
        self.backend_writes: int = 0

    def __getitem__(self, kind: CacheKind) -> KindStats:
        return self.kinds[kind]

    def snapshot(self) -> dict[str, Any]:
        """A plain dict of everything, as the cache actor returns it from ``stats()``."""
        return {
            "kinds": {kind.value: asdict(s) for kind, s in self.kinds.items()},
            "backend_up": self.backend_up,
            "backend_configured": self.backend_configured,
            "backend_fallbacks": self.backend_fallbacks,
            "backend_reads": self.backend_reads,
            "backend_writes": self.backend_writes,
        }


def prometheus_text(snapshot: dict[str, Any], prefix: str = "robofleet_cache") -> str:
    """Render a ``stats()`` snapshot in the Prometheus text format."""
    lines: list[str] = []
    kinds: dict[str, dict[str, int]] = snapshot.get("kinds", {})
    for name in COUNTERS + GAUGES:
        metric = f"{prefix}_{name}_total" if name in COUNTERS else f"{prefix}_{name}"
        lines.append(f"# HELP {metric} {_HELP[name]}")
        lines.append(f"# TYPE {metric} {'counter' if name in COUNTERS else 'gauge'}")
        for kind, values in sorted(kinds.items()):
            lines.append(f'{metric}{{kind="{kind}"}} {values.get(name, 0)}')
    lines.append(f"# HELP {prefix}_backend_up 1 while the Redis tier answers, 0 otherwise")
    lines.append(f"# TYPE {prefix}_backend_up gauge")
    lines.append(f"{prefix}_backend_up {snapshot.get('backend_up', 0)}")
    return "\n".join(lines) + "\n"
