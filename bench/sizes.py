"""How big each scenario runs: the defaults fit ``make bench`` in its 15-minute budget.

``BENCH_SCALE`` (or ``--scale``) multiplies every robot count and duration, so
``BENCH_SCALE=0.1`` is a quick look and ``BENCH_SCALE=2`` a steadier figure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sizes:
    """Robot counts, durations and connection levels of one benchmark run."""

    e2e_robots: int = 20_000
    celery_tasks: int = 20_000
    scaling_robots: int = 5_000
    dispatch_robots: int = 20_000
    submit_levels: tuple[int, ...] = (1, 16, 64, 256)
    serve_levels: tuple[int, ...] = (16, 64)  # the goal row is at 64
    submit_duration_s: float = 5.0
    wrk_repeats: int = 3  # measured runs per level (after one warm-up); the median p99 is kept
    warmup_s: float = 1.0
    e2e_connections: int = 64
    ceiling_rounds: int = 3
    ceiling_round_s: float = 2.0
    scaling_replicas: tuple[int, ...] = (1, 2, 4)
    openloop_fractions: tuple[float, ...] = (0.25, 0.5, 0.75)  # of the maximum accept rate
    openloop_duration_s: float = 10.0  # measured, per rate, after the warm-up
    openloop_warmup_s: float = 2.0
    openloop_connections: int = 32  # one wrk thread each
    backlog_robots: int = 300_000  # queued robots at the backlog scenario's second window
    backlog_rss_at: int = 100_000  # queued robots when the orchestrator's RSS is read
    backlog_window_s: float = 3.0  # each accept-rate window of the backlog scenario
    cache_robots: int = 2_000  # finished robots the cache scenario reads at random
    cache_seconds: float = 3.0  # each measured read window, per gateway, client level and round
    cache_rounds: int = 2
    seed: int = 7

    def scaled(self, factor: float) -> Sizes:
        """These sizes with every count and duration multiplied by ``factor``."""
        if factor == 1.0:
            return self

        def count(n: int) -> int:
            return max(1, round(n * factor))

        def seconds(s: float) -> float:
            return max(0.2, s * factor)

        return dataclasses.replace(
            self,
            e2e_robots=count(self.e2e_robots),
            celery_tasks=count(self.celery_tasks),
            scaling_robots=count(self.scaling_robots),
            dispatch_robots=count(self.dispatch_robots),
            backlog_robots=count(self.backlog_robots),
            backlog_rss_at=count(self.backlog_rss_at),
            backlog_window_s=seconds(self.backlog_window_s),
            submit_duration_s=seconds(self.submit_duration_s),
            warmup_s=seconds(self.warmup_s) if factor < 1 else self.warmup_s,
            ceiling_round_s=seconds(self.ceiling_round_s),
            openloop_duration_s=seconds(self.openloop_duration_s),
            openloop_warmup_s=(
                seconds(self.openloop_warmup_s) if factor < 1 else self.openloop_warmup_s
            ),
            cache_robots=count(self.cache_robots),
            cache_seconds=seconds(self.cache_seconds),
        )

    @classmethod
    def tiny(cls) -> Sizes:
        """Sizes for the smoke test: every scenario in a few seconds."""
        return cls(
            e2e_robots=60,
            celery_tasks=60,
            scaling_robots=30,
            dispatch_robots=60,
            submit_levels=(1, 4),
            serve_levels=(4,),
            submit_duration_s=1.0,  # wrk counts whole seconds
            wrk_repeats=1,
            warmup_s=1.0,
            e2e_connections=4,
            ceiling_rounds=1,
            ceiling_round_s=0.3,
            scaling_replicas=(1, 2),
            openloop_duration_s=1.5,
            openloop_warmup_s=0.5,
            openloop_connections=4,
            backlog_robots=2_000,
            backlog_rss_at=1_000,
            backlog_window_s=1.0,
            cache_robots=20,
            cache_seconds=0.5,
            cache_rounds=1,
        )

    def as_dict(self) -> dict[str, Any]:
        """The sizes as plain JSON-able values."""
        return dataclasses.asdict(self)
