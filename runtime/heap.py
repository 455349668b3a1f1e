"""The garbage collector of long-lived actor processes: short, rare pauses under load.

A Ray actor process starts with a large heap (Ray, pydantic, aiohttp, asyncpg). CPython's
full collection walks all of it, about 40 ms here, and every request or robot the process
holds at that moment waits; the orchestrator holding 36,000 queued robots paused 290 ms.
:func:`settle_heap` moves what start-up made into the permanent generation (``gc.freeze``),
so later collections walk only what the process made since. It keeps young collections
small (each walks at most a few thousand new objects: under 1 ms) and makes full ones rare
(one per 1,000 middle collections instead of 10): a queue that grows by thousands of robots
a second no longer sets off a walk of the whole queue every few seconds. Cyclic garbage
that reaches the old generation waits longer to be freed. :class:`GcPauses` records the
pauses as ``robofleet_gc_pause_seconds``.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

YOUNG_THRESHOLD = 2_000  # allocations between young collections (CPython's default: 700)
OLD_THRESHOLD = 1_000  # middle collections between full ones (CPython's default: 10)
GC_PAUSE = Histogram(
    "robofleet_gc_pause_seconds",
    "Pauses of the Python garbage collector, by generation",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)


def settle_heap(young: int = YOUNG_THRESHOLD, old: int = OLD_THRESHOLD) -> None:
    """Collect once, freeze what survives and raise the young and old thresholds."""
    gc.collect()
    gc.freeze()
    _, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, old)


class GcPauses:
    """Times each collection of this process into ``robofleet_gc_pause_seconds``."""

    def __init__(self) -> None:
        self._started = 0.0
        # Labelled now: labels() takes the metric's lock, which a collection could interrupt.
        self._series = {generation: GC_PAUSE.labels(str(generation)) for generation in (0, 1, 2)}
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = info["generation"]
        self._series[generation].observe(seconds)

    def close(self) -> None:
        """Stop timing collections."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
