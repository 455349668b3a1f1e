"""Routing explained: the decision ``place`` returns is the policy's own, and it survives
the store's compact JSON unchanged; a robot that waited records why.

The orchestrator tests at the end run real dispatch over in-process replicas and a real
SQLite store, and read the decisions back as ``GET /v1/robots/{id}/routing`` does.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

from runtime.breaker import BreakerState
from runtime.models import HealthState, RobotStatus
from runtime.route_record import decision_from_json, decision_json, decision_view
from runtime.routing import (
    CAPACITY_WEIGHT,
    HEALTH_VALUE,
    HEALTH_WEIGHT,
    PERFORMANCE_WEIGHT,
    Exclusion,
    ModuleLoad,
    ReplicaLoad,
    RouteDecision,
    WaitReason,
    WinReason,
    choose_module,
    module_score,
    pick_replica,
    place,
)
from tests.unit.fakes import SCRIPTED, eventually, fast_settings
from tests.unit.test_orchestrator import reaches, running, submit, task

H = HealthState


def random_fleet(rng: random.Random) -> list[ModuleLoad]:
    """Up to four modules with random figures, health, breakers and replicas."""
    modules = []
    for m in range(rng.randint(0, 4)):
        replicas = []
        for r in range(rng.randint(0, 4)):
            slots = rng.randint(0, 4)
            replicas.append(
                ReplicaLoad(f"m{m}:{r}", rng.randint(0, slots), slots, rng.random() > 0.1)
            )
        breaker = rng.choice(
            [BreakerState.CLOSED] * 4 + [BreakerState.OPEN, BreakerState.HALF_OPEN]
        )
        modules.append(
            ModuleLoad(
                name=f"m{m}",
                performance=rng.random(),
                health=rng.choice([H.HEALTHY, H.HEALTHY, H.DEGRADED, H.UNHEALTHY]),
                replicas=replicas,
                accepting=breaker is BreakerState.CLOSED
                or (breaker is BreakerState.HALF_OPEN and rng.random() < 0.5),
                probing=breaker is BreakerState.HALF_OPEN,
                breaker=breaker,
            )
        )
    return modules


def test_the_recorded_decision_is_the_policys_choice_for_random_fleets():
    """For 3,000 random fleets: ``place`` chooses what ``choose_module`` and ``pick_replica``
    choose (same seed), and every recorded number is the one the policy compared."""
    rng = random.Random(15)
    placed = waited = compared_two = 0
    for case in range(3000):
        modules = random_fleet(rng)
        seed = rng.random()
        module, replica, decision = place(modules, random.Random(seed))
        expected = choose_module(modules)
        assert module is expected
        expected_replica = (
            pick_replica(expected.replicas, random.Random(seed)) if expected else None
        )
        assert replica is expected_replica
        assert [c.module for c in decision.candidates] == [m.name for m in modules]
        for m, c in zip(modules, decision.candidates, strict=True):
            assert c.performance == m.performance and c.capacity == m.capacity
            assert c.health == HEALTH_VALUE[m.health]
            assert c.total == module_score(m.performance, m.capacity, m.health)
            assert c.total == (
                PERFORMANCE_WEIGHT * c.performance
                + CAPACITY_WEIGHT * c.capacity
                + HEALTH_WEIGHT * c.health
            )
            assert c.breaker == m.breaker_state.value
        eligible = [c for c in decision.candidates if c.excluded is None]
        if module is None:
            waited += 1
            assert not eligible and decision.wait is not None and decision.module is None
            assert decision.replica is None and decision.compared == ()
        else:
            placed += 1
            assert decision.module == module.name and decision.wait is None
            winner = next(c for c in decision.candidates if c.module == module.name)
            assert winner.excluded is None
            if decision.win == WinReason.BREAKER_TRIAL:
                assert module.probing
            else:
                assert winner.total == max(c.total for c in eligible)
                expected_win = (
                    WinReason.ONLY_CANDIDATE if len(eligible) == 1 else (WinReason.BEST_SCORE)
                )
                assert decision.win == expected_win
            assert replica is not None and decision.replica == replica.name
            by_name = {r.name: r for r in module.replicas}
            for seen in decision.compared:
                assert seen.in_flight == by_name[seen.name].in_flight
                assert by_name[seen.name].free > 0
            if len(decision.compared) == 2:
                compared_two += 1
                assert replica.in_flight == min(s.in_flight for s in decision.compared)
            else:
                assert [r for r in module.replicas if r.free > 0] == [replica]
        # What the store writes reads back to the very same numbers.
        assert decision_from_json(decision_json(decision)) == decision, case
        assert pickle.loads(pickle.dumps(decision)) == decision
    assert placed > 500 and waited > 500 and compared_two > 200, (placed, waited, compared_two)


def module(name, performance, *, health=H.HEALTHY, replicas=None, accepting=True, breaker=None):
    replicas = replicas if replicas is not None else [ReplicaLoad(f"{name}:0", 0, 4)]
    return ModuleLoad(name, performance, health, replicas, accepting, breaker=breaker)


def test_two_candidates_the_higher_total_wins_and_says_by_how_much():
    fast = module("fast", 0.9, replicas=[ReplicaLoad("fast:0", 2, 4), ReplicaLoad("fast:1", 1, 4)])
    slow = module("slow", 0.5, replicas=[ReplicaLoad("slow:0", 0, 4)])
    chosen, replica, decision = place([slow, fast], random.Random(1))
    assert chosen is fast and replica is not None and replica.name == "fast:1"
    assert decision.win == WinReason.BEST_SCORE
    totals = {c.module: round(c.total, 4) for c in decision.candidates}
    assert totals == {
        "slow": round(0.25 + 0.3 + 0.2, 4),
        "fast": round(0.45 + 0.3 * 5 / 8 + 0.2, 4),
    }
    assert [(r.name, r.in_flight) for r in decision.compared] in (
        [("fast:0", 2), ("fast:1", 1)],
        [("fast:1", 1), ("fast:0", 2)],
    )
    view = decision_view(decision)
    fast_total = 0.45 + 0.3 * 5 / 8 + 0.2
    assert view.why.startswith(f"fast {fast_total:.3f} won: the highest total, ahead of slow 0.750")
    assert "Replica fast:1: fewer in flight of" in view.why


def test_a_waiting_robot_records_why():
    full = module("full", 1.0, replicas=[ReplicaLoad("full:0", 4, 4)])
    open_ = module("open", 1.0, accepting=False)
    sick = module("sick", 1.0, health=H.UNHEALTHY)
    trial = module("trial", 1.0, accepting=False, breaker=BreakerState.HALF_OPEN)
    cases = [
        ([full], WaitReason.NO_FREE_SLOT),
        ([open_], WaitReason.BREAKER_OPEN),
        ([sick], WaitReason.NO_HEALTHY_MODULE),
        ([trial], WaitReason.TRIAL_OUT),
        ([full, open_, sick], WaitReason.NONE_AVAILABLE),
        ([], WaitReason.NO_MODULE),
    ]
    for modules, reason in cases:
        chosen, replica, decision = place(modules, random.Random(0))
        assert chosen is None and replica is None
        assert decision.wait == reason
    _, _, decision = place([full, open_, sick], random.Random(0))
    assert [c.excluded for c in decision.candidates] == [
        Exclusion.NO_FREE_SLOT,
        Exclusion.BREAKER_OPEN,
        Exclusion.UNHEALTHY,
    ]
    assert decision_view(decision).why == (
        "no module could take it (none_available; full: no_free_slot, open: breaker_open, "
        "sick: unhealthy)."
    )


def test_a_half_open_breakers_trial_wins_over_a_better_score():
    better = module("better", 1.0)
    recovering = ModuleLoad("recovering", 0.1, H.HEALTHY, [ReplicaLoad("r:0", 0, 4)], True, True)
    chosen, _, decision = place([better, recovering], random.Random(0))
    assert chosen is recovering and decision.win == WinReason.BREAKER_TRIAL
    assert decision.candidates[0].total > decision.candidates[1].total
    assert decision.candidates[1].breaker == "half_open"


def test_an_old_or_broken_record_is_refused_not_guessed():
    for text in ("{}", "[1]", "not json", '{"c": [[1]]}'):
        try:
            decision_from_json(text)
        except ValueError:
            continue
        raise AssertionError(f"{text!r} was read as a decision")


# -- through the orchestrator and the store ---------------------------------------------------


async def test_each_attempt_stores_the_decision_that_placed_it(tmp_path: Path) -> None:
    settings = fast_settings(
        tmp_path,
        [
            {"name": "alpha", "class": SCRIPTED, "replicas": 2, "max_concurrency": 2},
            {"name": "beta", "class": SCRIPTED, "replicas": 1, "max_concurrency": 2},
        ],
    )
    async with running(settings) as orchestrator:
        robots = [task(n=i, fail="flaky", fail_attempts=[1]) for i in range(6)]
        await submit(orchestrator, *robots)
        for robot in robots:
            await reaches(orchestrator, robot.id, RobotStatus.SUCCEEDED)
            routes = await orchestrator.store.attempt_routes(robot.id)
            assert [r.attempt for r in routes] == [1, 2]
            for route in routes:
                decision = route.decision
                assert isinstance(decision, RouteDecision)
                assert {c.module for c in decision.candidates} == {"alpha", "beta"}
                assert decision.module == route.module and decision.replica == route.replica
                winner = next(c for c in decision.candidates if c.module == route.module)
                assert winner.excluded is None
                for c in decision.candidates:
                    if c.excluded is None and decision.win == WinReason.BEST_SCORE:
                        assert winner.total >= c.total
                    assert c.total == (
                        PERFORMANCE_WEIGHT * c.performance
                        + CAPACITY_WEIGHT * c.capacity
                        + HEALTH_WEIGHT * c.health
                    )


async def test_a_robot_that_waited_for_a_slot_records_why(tmp_path: Path) -> None:
    settings = fast_settings(
        tmp_path, [{"name": "one", "class": SCRIPTED, "replicas": 1, "max_concurrency": 1}]
    )
    async with running(settings) as orchestrator:
        first, second = task(sleep=0.3), task(n=2)
        await submit(orchestrator, first)
        await reaches(orchestrator, first.id, RobotStatus.RUNNING)
        await submit(orchestrator, second)
        waiting = await eventually(
            lambda: orchestrator.route_wait(second.id), what="the second robot to wait"
        )
        assert waiting.wait == waiting.waited == WaitReason.NO_FREE_SLOT
        assert [(c.module, c.excluded) for c in waiting.candidates] == [
            ("one", Exclusion.NO_FREE_SLOT)
        ]
        assert orchestrator.route_wait(first.id) is None  # running, not waiting
        running_routes = await orchestrator.store.attempt_routes(first.id)
        assert [r.status for r in running_routes] == [RobotStatus.RUNNING]
        assert running_routes[0].decision is not None  # the running attempt's, from its row
        await reaches(orchestrator, second.id, RobotStatus.SUCCEEDED)
        assert orchestrator.route_wait(second.id) is None
        [route] = await orchestrator.store.attempt_routes(second.id)
        decision = route.decision
        assert decision is not None and decision.module == "one"
        assert decision.waited == WaitReason.NO_FREE_SLOT
        assert decision.waited_s is not None and decision.waited_s > 0
        assert decision.win == WinReason.ONLY_CANDIDATE
        [seen] = decision.compared
        assert (seen.name, seen.in_flight) == (route.replica, 0)
        [first_route] = await orchestrator.store.attempt_routes(first.id)
        assert first_route.decision is not None and first_route.decision.waited is None
        assert await orchestrator.store.attempt_routes("nosuchrobot") == []


def test_the_command_line_prints_scores_winner_and_why():
    from cluster.routing_cli import render_routing

    fast = module("fast", 0.9, replicas=[ReplicaLoad("fast:0", 2, 4), ReplicaLoad("fast:1", 1, 4)])
    slow = module("slow", 0.5)
    _, _, placed = place([slow, fast], random.Random(1))
    _, _, held = place([module("full", 1.0, replicas=[ReplicaLoad("full:0", 4, 4)])])
    held.waited, held.waited_s = held.wait, 1.25
    answer = {
        "robot_id": "r1",
        "type": "task",
        "status": "queued",
        "weights": "0.5 * performance + 0.3 * capacity + 0.2 * health",
        "attempts": [
            {
                "attempt": 1,
                "status": "queued",
                "module": "fast",
                "replica": "fast:1",
                "decision": decision_view(placed).model_dump(mode="json"),
            }
        ],
        "waiting": decision_view(held).model_dump(mode="json"),
    }
    text = render_routing(answer)
    assert "waiting 1.25s in line: no module could take it (no_free_slot" in text
    rows = [line for line in text.splitlines() if line.strip().startswith(("*", "slow"))]
    assert rows[0].split()[:2] == ["slow", "0.500"] and rows[1].split()[:3] == [
        "*",
        "fast",
        "0.900",
    ]
    assert "replicas compared:" in text and "-> fast:1" in text and "why: fast" in text
