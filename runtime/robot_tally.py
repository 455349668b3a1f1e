"""What the orchestrator counts of its robots for metrics: outcomes, retries, dispatches and
attempt run times, as plain in-memory counts.

Counting costs a dict lookup or two per robot; nothing here talks to Prometheus or Ray. The
counts only grow while the orchestrator lives, so every reader (each gateway's ``/metrics``,
the actor's timer that feeds ``ray.util.metrics``) sees the same cumulative figures and no
read resets them. A restarted orchestrator counts from zero again, which Prometheus reads as
a counter reset (``rate()`` and ``increase()`` handle it).
"""

from __future__ import annotations

from collections import defaultdict

from runtime.histogram import Histogram
from runtime.lifecycle import Transition
from runtime.messages import DurationBuckets
from runtime.models import TERMINAL_STATUSES, RobotStatus

__all__ = ["DURATION_BOUNDS_S", "RobotTally", "RunTimes"]

DURATION_BOUNDS_S: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
)
"""Upper bounds (seconds) of the run-time histogram's buckets: from a 5 ms echo to an hour."""


class RunTimes(Histogram):
    """A histogram of one robot type's attempt run times on :data:`DURATION_BOUNDS_S`
    (see :class:`~runtime.histogram.Histogram` for ``counts``, ``sums`` and ``buckets()``)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(DURATION_BOUNDS_S)


class RobotTally:
    """Cumulative counts of what happened to robots, by robot type or module.

    ``outcomes[type][status]`` counts robots that reached a terminal status; ``retries[type]``
    attempts requeued for another try (a lost replica, a restarted orchestrator, a retryable
    failure or a timeout); ``dispatched[module]`` robots handed to the module's replicas;
    ``run_times[type]`` attempt run times as replicas measured them.
    """

    def __init__(self) -> None:
        self.outcomes: defaultdict[str, defaultdict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self.retries: defaultdict[str, int] = defaultdict(int)
        self.dispatched: defaultdict[str, int] = defaultdict(int)
        self.run_times: dict[str, RunTimes] = {}

    def transition(self, robot_type: str, transition: Transition) -> None:
        """Count a transition applied to a robot of ``robot_type``: an outcome or a retry."""
        status = transition.to_status
        if status in TERMINAL_STATUSES:
            self.outcomes[robot_type][status.value] += 1
        elif status is RobotStatus.QUEUED and transition.new_attempt is not None:
            self.retries[robot_type] += 1

    def dispatch(self, module: str, robots: int) -> None:
        """Count ``robots`` handed to a replica of ``module``."""
        self.dispatched[module] += robots

    def run_time(self, robot_type: str, seconds: float) -> None:
        """Count one attempt of ``robot_type`` that ran ``seconds`` on its replica."""
        times = self.run_times.get(robot_type)
        if times is None:
            times = self.run_times[robot_type] = RunTimes()
        times.observe(seconds)

    def outcome_counts(self) -> dict[str, dict[str, int]]:
        """A copy of ``outcomes`` (type → status → robots)."""
        return {t: dict(by_status) for t, by_status in self.outcomes.items()}

    def durations(self) -> dict[str, DurationBuckets]:
        """The run-time histogram of each robot type seen so far."""
        return {t: times.buckets() for t, times in self.run_times.items()}
