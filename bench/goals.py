"""The performance goals: each a ratio of two figures measured side by side in one run.

A goal names a key of :func:`bench.report.ratios` (``{store}`` stands for each store the run
measured), a comparison and a bound. Ratios, not absolute times, so that a goal means the
same on any host: both figures share the machine, its load and its noise. A goal whose
figure the run did not measure is shown as not measured, never as met.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Goal:
    """One row of the goals table.

    ``key`` is a ratio key (with ``{store}`` for per-store figures); ``op`` is ``"<="``,
    ``">="`` or ``""`` for a figure that is reported with no bound.
    """

    figure: str
    key: str
    op: str = ""
    bound: float | None = None

    def met(self, value: float | None) -> bool | None:
        """Whether ``value`` meets the goal; None if unmeasured or the figure has no bound."""
        if value is None or not self.op or self.bound is None:
            return None
        return _OPS[self.op](value, self.bound)

    @property
    def wanted(self) -> str:
        """The bound as text, e.g. ``<= 1.3``, or ``reported`` for a figure with none."""
        return f"{self.op} {self.bound:g}" if self.op and self.bound is not None else "reported"


GOALS: tuple[Goal, ...] = (
    Goal(
        "end-to-end no-op robots/s ÷ best of Celery, dramatiq, arq",
        "e2e_vs_best_queue_peer[{store}]",
        ">=",
        3.0,
    ),
    Goal(
        "CPU per robot end to end ÷ HTTP-floor CPU per request",
        "cpu_per_robot_vs_floor[{store}]",
        "<=",
        5.0,
    ),
    Goal(
        "submit p99 @64 conns ÷ shape-floor p99",
        "submit_p99_vs_shape_floor[{store}]",
        "<=",
        1.3,
    ),
    Goal("submit p99 @64 conns ÷ HTTP-floor p99", "submit_p99_vs_floor[{store}]", "<=", 3.0),
    Goal(
        "open-loop p99 at 50% of max rate ÷ HTTP-floor p99 at that rate",
        "openloop_p99_vs_floor[{store}]",
        "<=",
        5.0,
    ),
    Goal(
        "accept rate at 300k queued ÷ at an empty queue (first store)",
        "accept_rate_300k_vs_empty",
        ">=",
        0.95,
    ),
    Goal(
        "cache-hit GET /v1/robots/{id} p50 ÷ store-only p50, 1 client",
        "cache_hit_p50_vs_store_p50[sqlite@1]",
        "<=",
        1.0,
    ),
    Goal(
        "cache-hit GET /v1/robots/{id} p50 ÷ store-only p50, 32 clients",
        "cache_hit_p50_vs_store_p50[sqlite@32]",
        "<=",
        1.0,
    ),
    Goal(
        "robofleet submit req/s ÷ tuned Ray Serve req/s @64 conns",
        "submit_over_serve_throughput[{store}@64]",
    ),
    Goal("orchestrator RSS at 100k queued ÷ RSS empty", "orchestrator_rss_ratio"),
    Goal(
        "orchestrator RSS at 100k queued (MB)",
        "orchestrator_rss_100k_mb",
        "<=",
        200.0,
    ),
)


def evaluate(ratios: dict[str, Any], stores: list[str]) -> list[dict[str, Any]]:
    """Every goal for every store, in table order.

    Returns dicts ``{"figure", "store", "key", "value", "goal", "met"}``; ``store`` is ``"-"``
    for figures that do not depend on the store, ``value`` None when the run did not measure
    it, ``met`` None when unmeasured or unbounded.
    """
    rows: list[dict[str, Any]] = []
    for goal in GOALS:
        per_store = "{store}" in goal.key
        for store in stores if per_store else ["-"]:
            key = goal.key.replace("{store}", store)
            value = ratios.get(key)
            rows.append(
                {
                    "figure": goal.figure,
                    "store": store,
                    "key": key,
                    "value": value,
                    "goal": goal.wanted,
                    "met": goal.met(value),
                }
            )
    return rows
