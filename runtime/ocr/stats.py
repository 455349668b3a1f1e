"""Counters of engine calls, successes and latency, and of dedup hits, for export as metrics."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class EngineCounters:
    """One engine's page reads: calls, successes, failures and total seconds."""

    calls: int = 0
    successes: int = 0
    failures: int = 0
    wins: int = 0
    seconds_total: float = 0.0
    seconds_last: float = 0.0

    @property
    def success_rate(self) -> float:
        """Successes over calls (1.0 before the first call)."""
        return self.successes / self.calls if self.calls else 1.0

    @property
    def mean_seconds(self) -> float:
        """Mean seconds per call (0.0 before the first call)."""
        return self.seconds_total / self.calls if self.calls else 0.0


@dataclass
class OcrStats:
    """Thread-safe counters of one OCR worker; ``snapshot()`` gives a plain dict to export."""

    engines: dict[str, EngineCounters] = field(default_factory=dict)
    documents: int = 0
    pages: int = 0
    failures: int = 0
    dedup_hits: int = 0
    dedup_misses: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def engine_call(self, engine: str, seconds: float, ok: bool) -> None:
        """Count one engine read of one page."""
        with self._lock:
            counters = self.engines.setdefault(engine, EngineCounters())
            counters.calls += 1
            counters.seconds_total += seconds
            counters.seconds_last = seconds
            if ok:
                counters.successes += 1
            else:
                counters.failures += 1

    def engine_won(self, engine: str) -> None:
        """Count a page whose kept result came from ``engine``."""
        with self._lock:
            self.engines.setdefault(engine, EngineCounters()).wins += 1

    def document_done(self, pages: int, ok: bool) -> None:
        """Count one document that went through the engines (not a dedup hit)."""
        with self._lock:
            self.documents += 1
            self.pages += pages
            if not ok:
                self.failures += 1

    def dedup(self, hit: bool) -> None:
        """Count one dedup cache lookup."""
        with self._lock:
            if hit:
                self.dedup_hits += 1
            else:
                self.dedup_misses += 1

    def calls(self, engine: str) -> int:
        """Return how many times ``engine`` has been called."""
        with self._lock:
            counters = self.engines.get(engine)
            return counters.calls if counters else 0

    def snapshot(self) -> dict[str, Any]:
        """Return all counters as a JSON-ready dict (with success rate and mean latency)."""
        with self._lock:
            engines = {
                name: {
                    **asdict(counters),
                    "success_rate": round(counters.success_rate, 4),
                    "mean_seconds": round(counters.mean_seconds, 4),
                }
                for name, counters in self.engines.items()
            }
            return {
                "engines": engines,
                "documents": self.documents,
                "pages": self.pages,
                "failures": self.failures,
                "dedup_hits": self.dedup_hits,
                "dedup_misses": self.dedup_misses,
            }
