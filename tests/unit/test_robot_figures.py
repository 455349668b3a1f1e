"""The orchestrator's robot figures and how the gateway renders them for Prometheus.

The orchestrator runs without Ray on in-process replicas (``tests/unit/fakes.py``); the
figures are read the way the gateway reads them (``robot_figures()``) and rendered by the
gateway's code, then parsed back with ``prometheus_client``'s own parser, as a scraper would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.robot_metrics import fleet_metrics_text, render, robot_families
from runtime.lifecycle import give_up_or_retry, start, succeed
from runtime.messages import DurationBuckets, RobotFigures
from runtime.models import RobotStatus
from runtime.robot_tally import DURATION_BOUNDS_S, RobotTally, RunTimes
from tests.unit.fakes import FakeReplicaDriver, eventually, fast_settings
from tests.unit.test_orchestrator import running, submit, task


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_run_times_fall_in_prometheus_le_buckets() -> None:
    times = RunTimes()
    for seconds in (0.005, 0.006, 1.0, 7200.0, -1.0):
        times.observe(seconds)
    h = times.buckets()
    assert h.bounds == list(DURATION_BOUNDS_S)
    by_bound = dict(zip(h.bounds, h.cumulative, strict=True))
    assert by_bound[0.005] == 2  # -1 counts as 0, and 0.005 is "le 0.005"
    assert by_bound[0.01] == 3
    assert by_bound[1.0] == 4
    assert by_bound[3600.0] == 4
    assert h.count == 5 and h.total_s == pytest.approx(7201.011)


def test_the_tally_counts_outcomes_and_retries_not_starts() -> None:
    tally = RobotTally()
    tally.transition("ocr", start("r1", 1, "ocr", "ocr:0"))
    tally.transition("ocr", give_up_or_retry("r1", 1, 3, "lost", retryable=True))
    tally.transition("ocr", give_up_or_retry("r1", 3, 3, "lost", retryable=True))
    tally.transition("ocr", succeed("r2", 1, {}))
    assert tally.outcome_counts() == {"ocr": {"dead": 1, "succeeded": 1}}
    assert dict(tally.retries) == {"ocr": 1}


async def test_figures_count_what_happened_and_reading_them_resets_nothing(
    tmp_path: Path,
) -> None:
    async with running(fast_settings(tmp_path)) as orchestrator:
        ok = [task(n=i) for i in range(3)]
        failing = task(max_attempts=2, fail="boom")
        refused = task(fail="bad input", permanent=True)
        await submit(orchestrator, *ok, failing, refused)

        def settled() -> RobotFigures | None:
            figures = orchestrator.robot_figures()
            done = sum(figures.outcomes.get("task", {}).values())
            return figures if done == 5 else None

        figures = await eventually(settled, what="five outcomes")
        assert figures.outcomes == {"task": {"succeeded": 3, "dead": 1, "failed": 1}}
        assert figures.retries == {"task": 1}
        assert figures.dispatched == {"work": 6}
        assert figures.durations["task"].count == 6
        assert figures.active == {"queued": 0, "running": 0}
        assert figures.queue_depth == {"work": 0}
        assert figures.in_flight == {"work": {"module:work:0": 0, "module:work:1": 0}}
        assert figures.breaker_open == {"work": 0}
        assert figures.overdue == {"work": 0}
        again = orchestrator.robot_figures()
        assert again.outcomes == figures.outcomes and again.durations == figures.durations


async def test_figures_show_running_queued_and_overdue_robots(tmp_path: Path) -> None:
    driver = FakeReplicaDriver()
    modules = [{"name": "work", "class": "tests.unit.fakes:Scripted", "replicas": 1}]
    settings = fast_settings(tmp_path, modules)
    async with running(settings, driver) as orchestrator:
        slots = orchestrator.modules["work"].replicas[0].slots
        # One more than the replica's slots: one waits in the queue.
        robots = [task(hang_attempts=[1], ignore_cancel=True) for _ in range(slots + 1)]
        await submit(orchestrator, *robots)
        await eventually(
            lambda: orchestrator.robot_figures().active["running"] == slots, what="slots full"
        )
        figures = orchestrator.robot_figures()
        assert figures.active == {"queued": 1, "running": slots}
        assert figures.queue_depth == {"work": 1}
        assert figures.in_flight == {"work": {"module:work:0": slots}}
        for robot in orchestrator.robots.values():
            if robot.status is RobotStatus.RUNNING:
                robot.timeout_s = 0.0  # as if they had run past their timeout
        assert orchestrator.robot_figures().overdue == {"work": slots}
        assert repr(orchestrator) == (
            f"orchestrator(queued=1 running={slots} modules=1 starting=[] unhealthy=[] open=[])"
        )


def test_the_gateway_renders_every_robot_figure() -> None:
    figures = RobotFigures(
        queue_depth={"sleep": 4},
        in_flight={"sleep": {"module:sleep:0": 2, "module:sleep:1": 0}},
        active={"queued": 4, "running": 2},
        overdue={"sleep": 1},
        breaker_open={"sleep": 0},
        outcomes={"sleep": {"succeeded": 7, "dead": 1}},
        retries={"sleep": 2},
        dispatched={"sleep": 10},
        durations={
            "sleep": DurationBuckets([0.1, 1.0], [1, 3], count=4, total_s=12.5),
        },
        started_at=1_764_500_000.0,
        autoscaling_desired={"sleep": 3},
        autoscaling_decisions={"sleep": {"up": 2, "down": 1}},
    )
    got = samples(render(robot_families(figures)))
    assert got[("robofleet_autoscaling_desired_replicas", (("module", "sleep"),))] == 3
    up = ("robofleet_autoscaling_decisions_total", (("direction", "up"), ("module", "sleep")))
    assert got[up] == 2
    assert got[("robofleet_queue_depth", (("module", "sleep"),))] == 4
    key = ("robofleet_robots_in_flight", (("module", "sleep"), ("replica", "module:sleep:0")))
    assert got[key] == 2
    assert got[("robofleet_robots_active", (("status", "running"),))] == 2
    assert got[("robofleet_robots_overdue", (("module", "sleep"),))] == 1
    assert got[("robofleet_breaker_open", (("module", "sleep"),))] == 0
    outcome = ("robofleet_robot_outcomes_total", (("status", "dead"), ("type", "sleep")))
    assert got[outcome] == 1
    assert got[("robofleet_robot_retries_total", (("type", "sleep"),))] == 2
    assert got[("robofleet_robots_dispatched_total", (("module", "sleep"),))] == 10
    bucket = ("robofleet_robot_duration_seconds_bucket", (("le", "1.0"), ("type", "sleep")))
    assert got[bucket] == 3
    inf = ("robofleet_robot_duration_seconds_bucket", (("le", "+Inf"), ("type", "sleep")))
    assert got[inf] == 4
    assert got[("robofleet_robot_duration_seconds_sum", (("type", "sleep"),))] == 12.5


async def test_a_scrape_without_the_orchestrator_still_says_store_and_redis() -> None:
    async def no_orchestrator() -> RobotFigures:
        raise ConnectionError("orchestrator restarting")

    async def store_answers() -> None:
        return None

    async def store_fails() -> None:
        raise OSError("database is locked")

    async def redis_unconfigured() -> bool | None:
        return None

    async def redis_down() -> bool | None:
        return False

    text = await fleet_metrics_text(no_orchestrator, store_answers, redis_unconfigured)
    got = samples(text)
    assert got == {("robofleet_store_up", ()): 1.0}  # no robot figure, no redis_up
    got = samples(await fleet_metrics_text(no_orchestrator, store_fails, redis_down))
    assert got == {("robofleet_store_up", ()): 0.0, ("robofleet_redis_up", ()): 0.0}
