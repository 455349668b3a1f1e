"""How actors hand their counts to Ray's metrics, and what their reprs say, without Ray.

The Ray metric objects are replaced by recorders with the same methods (``inc``, ``set``,
``observe``), so the pushes are checked for what Ray would receive: counters get the growth
since the last push, gauges are set at every push, run times are replayed into the same
buckets with the same sum.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

import pytest

from actors.cache import CacheHost
from actors.ray.figures import OrchestratorFigures, ReplicaFigures, _CounterPush, _GaugeSet
from actors.replica import ReplicaHost
from runtime.config import Settings
from runtime.lifecycle import succeed
from runtime.messages import Dispatch
from runtime.models import Robot, new_robot_id
from runtime.ocr.shelf import DocumentShelf
from runtime.robot_tally import DURATION_BOUNDS_S, RobotTally


class Recorder:
    """Stands in for a Ray Counter, Gauge or Histogram: records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, dict[str, str]]] = []

    def inc(self, value: float, tags: dict[str, str]) -> None:
        self.calls.append(("inc", value, dict(tags)))

    def set(self, value: float, tags: dict[str, str]) -> None:
        self.calls.append(("set", value, dict(tags)))

    def observe(self, value: float, tags: dict[str, str]) -> None:
        self.calls.append(("observe", value, dict(tags)))


def orchestrator_figures() -> tuple[OrchestratorFigures, dict[str, Recorder]]:
    """An OrchestratorFigures whose Ray metrics are recorders."""
    figures = OrchestratorFigures.__new__(OrchestratorFigures)
    recorders = {name: Recorder() for name in ("queue", "in_flight", "unplaceable")}
    recorders |= {name: Recorder() for name in ("dispatched", "outcomes", "retries", "durations")}
    figures.queue_depth = _GaugeSet(recorders["queue"])  # type: ignore[arg-type]
    figures.in_flight = _GaugeSet(recorders["in_flight"])  # type: ignore[arg-type]
    figures.unplaceable = _GaugeSet(recorders["unplaceable"])  # type: ignore[arg-type]
    figures.dispatched = _CounterPush(recorders["dispatched"])  # type: ignore[arg-type]
    figures.outcomes = _CounterPush(recorders["outcomes"])  # type: ignore[arg-type]
    figures.retries = _CounterPush(recorders["retries"])  # type: ignore[arg-type]
    figures.durations = recorders["durations"]  # type: ignore[assignment]
    figures._sent_runs = {}
    return figures, recorders


def test_counters_get_the_growth_and_gauges_are_set_every_push() -> None:
    figures, rec = orchestrator_figures()
    tally = RobotTally()
    tally.dispatch("sleep", 5)
    tally.transition("sleep", succeed("r1", 1, {}))
    in_flight = {"sleep": {"module:sleep:0": 2}}
    figures.push({"sleep": 3}, in_flight, {"sleep": False}, tally)
    figures.push({"sleep": 3}, in_flight, {"sleep": False}, tally)  # nothing grew
    tally.dispatch("sleep", 2)
    figures.push({"sleep": 1}, in_flight, {"sleep": False}, tally)
    assert rec["dispatched"].calls == [
        ("inc", 5, {"module": "sleep"}),
        ("inc", 2, {"module": "sleep"}),
    ]
    assert rec["outcomes"].calls == [("inc", 1, {"type": "sleep", "status": "succeeded"})]
    assert [c[1] for c in rec["queue"].calls] == [3, 3, 1]  # Ray forgets a gauge not set
    assert rec["in_flight"].calls[0] == ("set", 2, {"module": "sleep", "replica": "module:sleep:0"})


def test_a_replica_that_went_away_is_set_to_zero_once() -> None:
    figures, rec = orchestrator_figures()
    tally = RobotTally()
    figures.push({}, {"sleep": {"a": 1, "b": 2}}, {}, tally)
    figures.push({}, {"sleep": {"a": 1}}, {}, tally)
    figures.push({}, {"sleep": {"a": 1}}, {}, tally)
    zeros = [c for c in rec["in_flight"].calls if c[2]["replica"] == "b"]
    assert [c[1] for c in zeros] == [2, 0]


def test_run_times_are_replayed_into_the_same_buckets_with_the_same_sum() -> None:
    figures, rec = orchestrator_figures()
    tally = RobotTally()
    for seconds in (0.003, 0.004, 0.2, 0.3, 40.0):
        tally.run_time("ocr", seconds)
    figures.push({}, {}, {}, tally)
    tally.run_time("ocr", 0.001)
    figures.push({}, {}, {}, tally)
    observed = [value for _, value, _ in rec["durations"].calls]
    assert len(observed) == 6 and sum(observed) == pytest.approx(40.508)
    buckets = [bisect.bisect_left(DURATION_BOUNDS_S, v) for v in observed]
    expected = [bisect.bisect_left(DURATION_BOUNDS_S, v) for v in (0.003, 0.004, 0.2, 0.3, 40.0)]
    assert sorted(buckets[:5]) == sorted(expected)
    assert buckets[5] == 0


async def test_a_replica_counts_its_runs_and_says_so_in_its_repr() -> None:
    spec = {"name": "sleep", "class": "runtime.builtin:Sleep", "max_concurrency": 16}
    host = ReplicaHost(spec, "module:sleep:0")
    assert repr(host) == "module:sleep:0(in_flight=0/16 health=unchecked runs=0)"
    robots = [Robot(id=new_robot_id(), type="sleep", payload={"seconds": 0}) for _ in range(3)]
    await host.run_batch(Dispatch(robots))
    await host.check_health()
    assert host.runs["succeeded"] == 3
    assert repr(host) == "module:sleep:0(in_flight=0/16 health=healthy runs=3)"
    pushed = ReplicaFigures.__new__(ReplicaFigures)
    pushed.tags = {"module": "sleep", "replica": "module:sleep:0"}
    gauge, runs = Recorder(), Recorder()
    pushed.in_flight = gauge  # type: ignore[assignment]
    pushed.runs = _CounterPush(runs)  # type: ignore[arg-type]
    pushed.push(host.in_flight, host.runs)
    assert gauge.calls == [("set", 0, pushed.tags)]
    assert runs.calls == [("inc", 3, {**pushed.tags, "outcome": "succeeded"})]


def test_the_cache_and_the_documents_actor_say_their_state(tmp_path: Path) -> None:
    cache = CacheHost(Settings(data_dir=tmp_path))
    assert repr(cache) == "cache(entries=0 bytes=0 redis=none warm=False)"
    shelf: Any = DocumentShelf(tmp_path / "documents")
    assert repr(shelf) == "documents(stored=0 fetched=0 result_hits=0 remembered=0)"
