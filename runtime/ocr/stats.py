"""Counters of engine calls, successes and latency, and of dedup hits, for export as metrics."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from runtime.sdk import MetricSample


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
    shared_hits: int = 0
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

    def shared_hit(self) -> None:
        """Count a local dedup miss answered by a result another worker stored."""
        with self._lock:
            self.shared_hits += 1

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
                "shared_hits": self.shared_hits,
            }

    def samples(self) -> list[MetricSample]:
        """Return the counters as metric samples (``robofleet_ocr_*``) for ``/metrics``."""
        snap = self.snapshot()
        out: list[MetricSample] = []

        def add(name: str, value: float, help_: str, **labels: str) -> None:
            kind: Literal["counter", "gauge"] = "counter" if name.endswith("_total") else "gauge"
            out.append(MetricSample(f"robofleet_ocr_{name}", value, labels, kind, help_))

        for engine, c in snap["engines"].items():
            for outcome, key in (("ok", "successes"), ("failed", "failures")):
                add("engine_calls_total", c[key], _CALLS, engine=engine, outcome=outcome)
            add("engine_seconds_total", c["seconds_total"], _SECONDS, engine=engine)
            add("engine_wins_total", c["wins"], _WINS, engine=engine)
            add("engine_success_ratio", c["success_rate"], _RATIO, engine=engine)
            add("engine_mean_seconds", c["mean_seconds"], _MEAN, engine=engine)
        ok = snap["documents"] - snap["failures"]
        add("documents_total", ok, _DOCUMENTS, outcome="ok")
        add("documents_total", snap["failures"], _DOCUMENTS, outcome="failed")
        add("pages_total", snap["pages"], "Pages that went through the OCR engines")
        misses = snap["dedup_misses"] - snap["shared_hits"]
        add("dedup_total", snap["dedup_hits"], _DEDUP, result="hit")
        add("dedup_total", snap["shared_hits"], _DEDUP, result="shared_hit")
        add("dedup_total", misses, _DEDUP, result="miss")
        return out


_CALLS = "OCR engine page reads, by outcome"
_SECONDS = "Seconds spent in an OCR engine"
_WINS = "Pages whose kept text came from the engine"
_RATIO = "Engine successes over calls"
_MEAN = "Mean seconds per engine call"
_DOCUMENTS = "Documents that went through the OCR engines (dedup hits excluded)"
_DEDUP = "Dedup lookups: hit in this worker, hit in the shared result shelf, or miss"
