"""The fleet's robot figures, the store and Redis on the gateway's ``/metrics``.

At each scrape the gateway makes one orchestrator call, ``robot_figures()``, whatever the
number of robots, and renders the answer; it checks its store and Redis at the same time.

The orchestrator owns every robot figure: counters and histograms count from its start and
no read resets them, so each scrape sees cumulative values. Every gateway serves the same
figures (any gateway answers for the fleet, so losing one loses no figure). A Prometheus
scraping several gateways therefore holds one identical copy per gateway: aggregate
across them with ``max without (instance)`` (after ``rate()`` for counters), never
``sum``, or scrape one gateway. A gateway that cannot reach the orchestrator leaves the
robot figures out of that scrape rather than report zeros.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from runtime.messages import DurationBuckets, RobotFigures

__all__ = [
    "FIGURES_TIMEOUT_S",
    "CHECK_TIMEOUT_S",
    "fleet_metrics_text",
    "histogram_family",
    "render",
    "robot_families",
]

log = logging.getLogger(__name__)

FIGURES_TIMEOUT_S = 5.0
"""Longest wait for the orchestrator's figures before a scrape goes on without them."""
CHECK_TIMEOUT_S = 2.0
"""Longest wait for the store or Redis to answer before it counts as down."""


def _samples(values: Mapping[str, Any]) -> Iterator[tuple[list[str], float]]:
    """(label values, value) of a figure keyed by one label, or by two (a nested mapping)."""
    for key, value in values.items():
        if isinstance(value, Mapping):
            for inner, n in value.items():
                yield [key, inner], n
        else:
            yield [key], value


def _gauge(
    name: str, help_text: str, labels: list[str], values: Mapping[str, Any]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=labels)
    for label_values, n in _samples(values):
        family.add_metric(label_values, n)
    return family


def _counter(
    name: str, help_text: str, labels: list[str], values: Mapping[str, Any], created: float | None
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_text, labels=labels)
    for label_values, n in _samples(values):
        family.add_metric(label_values, n, created=created)
    return family


def histogram_family(
    name: str, help_text: str, label: str, histograms: Mapping[str, DurationBuckets]
) -> HistogramMetricFamily:
    """One Prometheus histogram family: a series per ``label`` value, its cumulative
    ``le`` buckets, ``+Inf`` (the count) and ``_sum`` (seconds) from each histogram."""
    family = HistogramMetricFamily(name, help_text, labels=[label])
    for value, h in sorted(histograms.items()):
        buckets = [(_le(b), float(c)) for b, c in zip(h.bounds, h.cumulative, strict=True)]
        buckets.append(("+Inf", float(h.count)))
        family.add_metric([value], buckets, sum_value=h.total_s)
    return family


def robot_families(figures: RobotFigures) -> list[Any]:
    """The robot figures as Prometheus metric families (names in the project's metric list)."""
    created = figures.started_at or None
    durations = histogram_family(
        "robofleet_robot_duration_seconds",
        "Run time of an attempt on its replica",
        "type",
        figures.durations,
    )
    return [
        _gauge(
            "robofleet_queue_depth", "Robots queued for a module", ["module"], figures.queue_depth
        ),
        _gauge(
            "robofleet_robots_in_flight",
            "Robots running on a replica",
            ["module", "replica"],
            figures.in_flight,
        ),
        _gauge(
            "robofleet_robots_active", "Unfinished robots by status", ["status"], figures.active
        ),
        _gauge(
            "robofleet_robots_overdue",
            "Robots running past their timeout",
            ["module"],
            figures.overdue,
        ),
        _gauge(
            "robofleet_breaker_open",
            "1 when the module's circuit breaker is open",
            ["module"],
            figures.breaker_open,
        ),
        _counter(
            "robofleet_robot_outcomes",
            "Robots that reached a terminal status",
            ["type", "status"],
            figures.outcomes,
            created,
        ),
        _counter(
            "robofleet_robot_retries",
            "Attempts requeued for another try",
            ["type"],
            figures.retries,
            created,
        ),
        _counter(
            "robofleet_robots_dispatched",
            "Robots handed to a module's replicas",
            ["module"],
            figures.dispatched,
            created,
        ),
        durations,
        _gauge(
            "robofleet_autoscaling_desired_replicas",
            "Replicas an autoscaled module's policy asks for now",
            ["module"],
            figures.autoscaling_desired,
        ),
        _counter(
            "robofleet_autoscaling_decisions",
            "Scaling decisions an autoscaled module's policy acted on",
            ["module", "direction"],
            figures.autoscaling_decisions,
            created,
        ),
    ]


def _le(bound: float) -> str:
    return repr(float(bound))


class _Families(Collector):
    """A one-scrape collector of families already built."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> Iterator[Any]:
        """The families, as given."""
        return iter(self.families)


def render(families: list[Any]) -> bytes:
    """Families in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


async def _answers(check: Callable[[], Awaitable[Any]]) -> bool:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception:
        return False
    return True


async def fleet_metrics_text(
    figures: Callable[[], Awaitable[RobotFigures]],
    store_check: Callable[[], Awaitable[Any]],
    redis_answers: Callable[[], Awaitable[bool | None]],
) -> bytes:
    """The robot figures, ``robofleet_store_up`` and ``robofleet_redis_up`` as Prometheus text.

    ``figures`` asks the orchestrator (left out of the scrape if it fails or takes over
    :data:`FIGURES_TIMEOUT_S`); ``store_check`` is any store read (up if it returns within
    :data:`CHECK_TIMEOUT_S`); ``redis_answers`` says None when no Redis is configured, and
    ``robofleet_redis_up`` is then absent.
    """
    got, store_up, redis_up = await asyncio.gather(
        asyncio.wait_for(figures(), FIGURES_TIMEOUT_S),
        _answers(store_check),
        asyncio.wait_for(redis_answers(), CHECK_TIMEOUT_S),
        return_exceptions=True,
    )
    families: list[Any] = []
    if isinstance(got, RobotFigures):
        families += robot_families(got)
    else:
        log.warning("the orchestrator's robot figures are missing from this scrape: %r", got)
    families.append(
        GaugeMetricFamily(
            "robofleet_store_up",
            "1 when the store answered the last check",
            value=1 if store_up is True else 0,
        )
    )
    if redis_up is not None:
        families.append(
            GaugeMetricFamily(
                "robofleet_redis_up",
                "1 when Redis is configured and answers",
                value=1 if redis_up is True else 0,
            )
        )
    return render(families)
