import random

import pytest

from runtime.models import HealthState
from runtime.routing import (
    ModuleLoad,
    ReplicaLoad,
    choose_module,
    module_score,
    performance_score,
    pick_replica,
)

H = HealthState


def module(name, performance, *, health=H.HEALTHY, replicas=None, accepting=True):
    replicas = replicas if replicas is not None else [ReplicaLoad(f"{name}-0", 0, 4)]
    return ModuleLoad(name, performance, health, replicas, accepting)


# --- pick_replica --------------------------------------------------------------------------


def test_pick_replica_two_replicas_less_loaded_always_wins():
    light = ReplicaLoad("light", in_flight=1, slots=8)
    heavy = ReplicaLoad("heavy", in_flight=5, slots=8)
    for seed in range(500):
        for order in ([light, heavy], [heavy, light]):
            assert pick_replica(order, random.Random(seed)) is light


def test_pick_replica_most_loaded_of_three_is_never_chosen():
    replicas = [ReplicaLoad("a", 0, 8), ReplicaLoad("b", 3, 8), ReplicaLoad("c", 6, 8)]
    rng = random.Random(7)
    picks = [pick_replica(replicas, rng).name for _ in range(1000)]
    assert "c" not in picks
    # a wins both of its pairings, b only one of three: a is picked about twice as often
    assert picks.count("a") > picks.count("b")


def test_pick_replica_never_chooses_a_full_replica():
    # The full replicas look idle by in-flight count, so pow-2 would love them.
    full = ReplicaLoad("full", in_flight=0, slots=0)
    full_busy = ReplicaLoad("full-busy", in_flight=2, slots=2)
    open_replica = ReplicaLoad("open", in_flight=6, slots=8)
    rng = random.Random(1)
    for _ in range(1000):
        assert pick_replica([full, full_busy, open_replica], rng) is open_replica


def test_pick_replica_never_chooses_a_dead_replica():
    dead = ReplicaLoad("dead", in_flight=0, slots=8, alive=False)
    busy = ReplicaLoad("busy", in_flight=7, slots=8)
    other = ReplicaLoad("other", in_flight=5, slots=8)
    rng = random.Random(2)
    for _ in range(1000):
        assert pick_replica([dead, busy, other], rng) is not dead


def test_pick_replica_none_when_all_full_or_dead():
    replicas = [ReplicaLoad("a", 4, 4), ReplicaLoad("b", 0, 4, alive=False)]
    assert pick_replica(replicas, random.Random(0)) is None
    assert pick_replica([], random.Random(0)) is None


def test_pick_replica_single_open_replica_is_chosen_without_rng():
    only = ReplicaLoad("only", 3, 4)
    assert pick_replica([ReplicaLoad("full", 4, 4), only]) is only


# --- module scoring ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("performance", "capacity", "health", "expected"),
    [
        (1.0, 0.0, H.UNHEALTHY, 0.5),
        (0.0, 1.0, H.UNHEALTHY, 0.3),
        (0.0, 0.0, H.HEALTHY, 0.2),
        (0.0, 0.0, H.DEGRADED, 0.1),
        (1.0, 1.0, H.HEALTHY, 1.0),
        (0.6, 0.5, H.HEALTHY, 0.5 * 0.6 + 0.3 * 0.5 + 0.2),
        (0.4, 0.25, H.DEGRADED, 0.5 * 0.4 + 0.3 * 0.25 + 0.2 * 0.5),
    ],
)
def test_module_score_weights_are_half_three_tenths_one_fifth(
    performance, capacity, health, expected
):
    assert module_score(performance, capacity, health) == pytest.approx(expected)


def test_module_capacity_is_share_of_free_slots_on_live_replicas():
    m = module(
        "m",
        0.5,
        replicas=[
            ReplicaLoad("a", 1, 4),
            ReplicaLoad("b", 0, 4),
            ReplicaLoad("dead", 0, 100, alive=False),
        ],
    )
    assert m.capacity == pytest.approx(7 / 8)
    assert module("none", 0.5, replicas=[]).capacity == 0.0


def test_choose_module_capacity_beats_slightly_better_performance():
    # roomy: 0.5*0.6 + 0.3*1.0 + 0.2 = 0.80; busy: 0.5*0.7 + 0.3*0.25 + 0.2 = 0.625
    roomy = module("roomy", 0.6, replicas=[ReplicaLoad("r", 0, 4)])
    busy = module("busy", 0.7, replicas=[ReplicaLoad("b", 3, 4)])
    assert choose_module([busy, roomy]) is roomy


def test_choose_module_performance_beats_small_capacity_edge():
    # fast: 0.5*0.9 + 0.3*0.5 + 0.2 = 0.80; slow: 0.5*0.6 + 0.3*0.75 + 0.2 = 0.725
    fast = module("fast", 0.9, replicas=[ReplicaLoad("f", 2, 4)])
    slow = module("slow", 0.6, replicas=[ReplicaLoad("s", 1, 4)])
    assert choose_module([slow, fast]) is fast


def test_choose_module_degraded_can_win_on_performance_when_weights_say_so():
    # degraded: 0.5*1.0 + 0.3 + 0.2*0.5 = 0.90; healthy: 0.5*0.7 + 0.3 + 0.2 = 0.85
    degraded = module("degraded", 1.0, health=H.DEGRADED)
    healthy = module("healthy", 0.7)
    assert choose_module([healthy, degraded]) is degraded
    # ...but at equal performance and capacity health decides
    assert choose_module([module("d", 0.7, health=H.DEGRADED), healthy]) is healthy


def test_choose_module_picks_the_highest_module_score():
    rng = random.Random(3)
    modules = []
    for i in range(20):
        slots = rng.randint(1, 8)
        replicas = [ReplicaLoad(f"m{i}", rng.randint(0, slots - 1), slots)]
        health = rng.choice([H.HEALTHY, H.DEGRADED])
        modules.append(module(f"m{i}", rng.random(), health=health, replicas=replicas))
    best = max(modules, key=lambda m: module_score(m.performance, m.capacity, m.health))
    assert choose_module(modules) is best


def test_choose_module_skips_open_breaker():
    refused = module("refused", 1.0, accepting=False)
    ok = module("ok", 0.1)
    assert choose_module([refused, ok]) is ok
    assert choose_module([refused]) is None


def test_choose_module_skips_unhealthy():
    sick = module("sick", 1.0, health=H.UNHEALTHY)
    ok = module("ok", 0.1)
    assert choose_module([sick, ok]) is ok
    assert choose_module([sick]) is None


def test_choose_module_skips_modules_without_free_slots():
    full = module("full", 1.0, replicas=[ReplicaLoad("f", 4, 4)])
    dead = module("dead", 1.0, replicas=[ReplicaLoad("d", 0, 4, alive=False)])
    empty = module("empty", 1.0, replicas=[])
    ok = module("ok", 0.1)
    assert choose_module([full, dead, empty, ok]) is ok
    assert choose_module([full, dead, empty]) is None


def test_choose_module_none_for_no_modules():
    assert choose_module([]) is None


# --- performance_score ---------------------------------------------------------------------


def test_performance_score_perfect_module_scores_one():
    assert performance_score(1.0, 0.0) == 1.0


def test_performance_score_rises_with_success_rate():
    scores = [performance_score(rate / 10, 0.5) for rate in range(11)]
    assert scores == sorted(scores)
    assert len(set(scores)) == len(scores)


def test_performance_score_falls_with_latency():
    scores = [performance_score(0.9, latency) for latency in (0.0, 0.1, 0.5, 1, 2, 10, 100)]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)


@pytest.mark.parametrize(
    ("rate", "latency"), [(-1.0, 0.0), (2.0, 0.0), (1.0, -5.0), (0.5, 1e9), (0.0, 3.0)]
)
def test_performance_score_stays_within_zero_and_one(rate, latency):
    assert 0.0 <= performance_score(rate, latency) <= 1.0


def test_performance_score_clamps_out_of_range_inputs():
    assert performance_score(2.0, 0.0) == performance_score(1.0, 0.0)
    assert performance_score(-1.0, 0.0) == 0.0
    assert performance_score(1.0, -5.0) == performance_score(1.0, 0.0)
