"""Robot figures of the orchestrator and the replicas as Ray custom metrics.

Each actor keeps plain in-memory counts as robots move (``runtime.robot_tally``, a replica's
own counters) and a timer copies them into ``ray.util.metrics`` every
:data:`PUSH_INTERVAL_S` seconds: no robot pays for a metric call. Ray's metrics agent on
each node serves them on its export port (``ROBOFLEET_METRICS_EXPORT_PORT``) with a
``ray_`` prefix, e.g. ``ray_robofleet_queue_depth{module="sleep"}``.

Ray forgets a gauge nobody set since its last report, so gauges are set again at every push;
counters are pushed as the growth since the previous push.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from ray.util import metrics as ray_metrics

from runtime.robot_tally import DURATION_BOUNDS_S, RobotTally

__all__ = ["PUSH_INTERVAL_S", "OrchestratorFigures", "ReplicaFigures", "push_every"]

log = logging.getLogger(__name__)

PUSH_INTERVAL_S = 1.0
"""How often actors copy their counts into Ray's metrics."""


class _CounterPush:
    """A Ray counter fed with cumulative totals: each push adds the growth since the last."""

    def __init__(self, counter: ray_metrics.Counter) -> None:
        self.counter = counter
        self.sent: dict[tuple[tuple[str, str], ...], float] = {}

    def push(self, tags: dict[str, str], total: float) -> None:
        key = tuple(sorted(tags.items()))
        grown = total - self.sent.get(key, 0.0)
        if grown > 0:
            self.counter.inc(grown, tags)
            self.sent[key] = total


class _GaugeSet:
    """A Ray gauge set for a changing set of tag sets; one that went away is set to 0 once."""

    def __init__(self, gauge: ray_metrics.Gauge) -> None:
        self.gauge = gauge
        self.seen: set[tuple[tuple[str, str], ...]] = set()

    def set_all(self, values: Iterable[tuple[dict[str, str], float]]) -> None:
        now = set()
        for tags, value in values:
            self.gauge.set(value, tags)
            now.add(tuple(sorted(tags.items())))
        for gone in self.seen - now:
            self.gauge.set(0, dict(gone))
        self.seen = now


def _gauges(name: str, description: str, *tag_keys: str) -> _GaugeSet:
    return _GaugeSet(ray_metrics.Gauge(name, description, tag_keys=tag_keys))


def _counter(name: str, description: str, *tag_keys: str) -> _CounterPush:
    return _CounterPush(ray_metrics.Counter(name, description, tag_keys=tag_keys))


class OrchestratorFigures:
    """The orchestrator's Ray metrics: queue depth per module, in flight per replica,
    dispatches and outcomes, retries, attempt run times, unplaceable modules."""

    def __init__(self) -> None:
        self.queue_depth = _gauges("robofleet_queue_depth", "Robots queued for a module", "module")
        self.in_flight = _gauges(
            "robofleet_robots_in_flight",
            "Robots running on a replica, as the orchestrator dispatched them",
            "module",
            "replica",
        )
        self.unplaceable = _gauges(
            "robofleet_module_unplaceable",
            "1 while no live node offers the resources a module's replicas need",
            "module",
        )
        self.dispatched = _counter(
            "robofleet_robots_dispatched_total", "Robots handed to a module's replicas", "module"
        )
        self.outcomes = _counter(
            "robofleet_robot_outcomes_total",
            "Robots that reached a terminal status",
            "type",
            "status",
        )
        self.retries = _counter(
            "robofleet_robot_retries_total", "Attempts requeued for another try", "type"
        )
        self.durations = ray_metrics.Histogram(
            "robofleet_robot_duration_seconds",
            "Run time of an attempt on its replica",
            boundaries=list(DURATION_BOUNDS_S),
            tag_keys=("type",),
        )
        self._sent_runs: dict[str, tuple[list[int], list[float]]] = {}

    def push(
        self,
        queue_depth: dict[str, int],
        in_flight: dict[str, dict[str, int]],
        unplaceable: dict[str, bool],
        tally: RobotTally,
    ) -> None:
        """Copy the orchestrator's figures into Ray's metrics."""
        self.queue_depth.set_all(({"module": m}, n) for m, n in queue_depth.items())
        self.in_flight.set_all(
            ({"module": m, "replica": r}, n)
            for m, replicas in in_flight.items()
            for r, n in replicas.items()
        )
        self.unplaceable.set_all(({"module": m}, int(u)) for m, u in unplaceable.items())
        for module, total in tally.dispatched.items():
            self.dispatched.push({"module": module}, total)
        for robot_type, by_status in tally.outcomes.items():
            for status, total in by_status.items():
                self.outcomes.push({"type": robot_type, "status": status}, total)
        for robot_type, total in tally.retries.items():
            self.retries.push({"type": robot_type}, total)
        for robot_type, times in tally.run_times.items():
            self._push_run_times(robot_type, times.counts, times.sums)

    def _push_run_times(self, robot_type: str, counts: list[int], sums: list[float]) -> None:
        """Replay the attempts counted since the last push: each bucket's new attempts are
        observed at their mean, so Ray's buckets, count and sum match the tally's."""
        sent_counts, sent_sums = self._sent_runs.get(
            robot_type, ([0] * len(counts), [0.0] * len(sums))
        )
        tags = {"type": robot_type}
        for i, (count, total) in enumerate(zip(counts, sums, strict=True)):
            new = count - sent_counts[i]
            if new > 0:
                mean = (total - sent_sums[i]) / new
                for _ in range(new):
                    self.durations.observe(mean, tags)
        self._sent_runs[robot_type] = (list(counts), list(sums))


class ReplicaFigures:
    """A replica's own Ray metrics: robots running in it now and attempts it ran."""

    def __init__(self, module: str, replica: str) -> None:
        self.tags = {"module": module, "replica": replica}
        self.in_flight = ray_metrics.Gauge(
            "robofleet_replica_in_flight",
            "Robots running in a replica, as the replica counts them",
            tag_keys=("module", "replica"),
        )
        self.runs = _counter(
            "robofleet_replica_runs_total",
            "Attempts a replica ran, by how they ended",
            "module",
            "replica",
            "outcome",
        )

    def push(self, in_flight: int, runs: dict[str, int]) -> None:
        """Copy the replica's counts into Ray's metrics."""
        self.in_flight.set(in_flight, self.tags)
        for outcome, total in runs.items():
            self.runs.push({**self.tags, "outcome": outcome}, total)


async def push_every(push: Callable[[], None], stopped: Callable[[], bool]) -> None:
    """Call ``push`` every :data:`PUSH_INTERVAL_S` seconds until ``stopped()``; a failing
    push is logged and the loop goes on."""
    failing = False
    while not stopped():
        try:
            push()
            failing = False
        except Exception:
            if not failing:  # once per run of failures, not every second
                log.warning("pushing metrics to Ray failed", exc_info=True)
            failing = True
        await asyncio.sleep(PUSH_INTERVAL_S)
