"""Routing decisions on both stores: written by the start transition, kept by the attempt.

The decision rides on the write that already records the attempt (migration 0005): the
start puts it on the robot's row, the end of the attempt copies it to the attempt's row; a
retry's new start writes its own. Read back, every number is the one written.
"""

from __future__ import annotations

import random

from runtime import lifecycle
from runtime.models import HealthState, RobotStatus
from runtime.route_record import AttemptRoute
from runtime.routing import ModuleLoad, ReplicaLoad, RouteDecision, place
from runtime.store import RobotStore
from tests.integration.test_store_contract import (  # noqa: F401 (fixtures)
    open_backend,
    robot,
    store,
)

S = RobotStatus


def decision(seed: int) -> RouteDecision:
    """A two-module decision with awkward floats (thirds, a random performance)."""
    rng = random.Random(seed)
    modules = [
        ModuleLoad("alpha", rng.random(), HealthState.HEALTHY, [ReplicaLoad("a:0", 1, 3)]),
        ModuleLoad(
            "beta",
            rng.random(),
            HealthState.DEGRADED,
            [ReplicaLoad("b:0", 2, 3), ReplicaLoad("b:1", 0, 3)],
        ),
    ]
    _, _, made = place(modules, rng)
    assert made.module is not None
    return made


async def test_each_attempt_keeps_the_decision_that_placed_it(store: RobotStore) -> None:  # noqa: F811
    r = robot()
    await store.create_robots([r])
    first, second = decision(1), decision(2)
    second.waited, second.waited_s = "no_free_slot", 0.25
    assert await store.apply(
        [lifecycle.start(r.id, 1, first.module or "", first.replica or "", first)]
    ) == [True]
    [running] = await store.attempt_routes(r.id)
    assert running == AttemptRoute(
        1, first.module, first.replica, S.RUNNING, running.started_at, None, first
    )
    retry = lifecycle.give_up_or_retry(r.id, 1, 3, "lost", retryable=True, backoff=False)
    start = lifecycle.start(r.id, 2, second.module or "", second.replica or "", second)
    assert await store.apply([retry, start, lifecycle.succeed(r.id, 2, "ok")]) == [True] * 3
    routes = await store.attempt_routes(r.id)
    assert [(a.attempt, a.status, a.module, a.decision) for a in routes] == [
        (1, S.QUEUED, first.module, first),
        (2, S.SUCCEEDED, second.module, second),
    ]
    assert all(a.finished_at is not None for a in routes)
    assert await store.attempt_routes("missing") == []


async def test_an_attempt_without_a_decision_reads_as_none(store: RobotStore) -> None:  # noqa: F811
    r = robot()
    await store.create_robots([r])
    assert await store.apply([lifecycle.start(r.id, 1, "m", "m-0")]) == [True]
    assert await store.apply([lifecycle.succeed(r.id, 1, None)]) == [True]
    [route] = await store.attempt_routes(r.id)
    assert (route.attempt, route.status, route.module, route.decision) == (
        1,
        S.SUCCEEDED,
        "m",
        None,
    )
