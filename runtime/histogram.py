"""A histogram counted in memory: one count and one sum per bucket, read out in Prometheus's
cumulative form (:class:`~runtime.messages.DurationBuckets`).

The orchestrator's attempt run times (:mod:`runtime.robot_tally`) and the notifier's delivery
latencies (:mod:`runtime.notify.outbox`) both count with it, each on its own bounds. Counting
costs one bisection; nothing here talks to Prometheus or Ray.
"""

from __future__ import annotations

import bisect

from runtime.messages import DurationBuckets

__all__ = ["Histogram"]


class Histogram:
    """Observations of one figure (seconds) in the buckets of ``bounds``, with each bucket's
    own sum.

    ``bounds`` are the buckets' upper bounds in seconds, ascending. ``counts[i]`` and
    ``sums[i]`` are the observations that fell in bucket ``i`` alone (``value <= bounds[i]``
    and above the bound before; the last bucket is past every bound) and their seconds.
    Keeping each bucket's sum lets a reader that can only observe single values
    (``ray.util.metrics.Histogram``) replay a batch into the same buckets with the same total.
    """

    __slots__ = ("bounds", "counts", "sums")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sums = [0.0] * (len(bounds) + 1)

    def observe(self, seconds: float) -> None:
        """Count one observation of ``seconds`` (negative values count as 0)."""
        seconds = max(0.0, seconds)
        i = bisect.bisect_left(self.bounds, seconds)  # le semantics: x <= bound
        self.counts[i] += 1
        self.sums[i] += seconds

    def buckets(self) -> DurationBuckets:
        """The histogram as Prometheus reads it: cumulative counts per bound, count, sum."""
        cumulative, running = [], 0
        for count in self.counts[:-1]:
            running += count
            cumulative.append(running)
        return DurationBuckets(
            list(self.bounds), cumulative, running + self.counts[-1], sum(self.sums)
        )
