"""Supervision without Ray: replica states, health checks, lost nodes, drain, scale, placement.

Replicas are in-process (``tests/unit/fakes.py``); robots go through a real orchestrator and
SQLite store so each test can check what a client would see.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import actors.deployment
import actors.supervisor
from actors.deployment import ReplicaSlot, ReplicaState
from runtime.errors import ModuleRejected, UnknownModule
from runtime.models import HealthState, RobotStatus
from runtime.placement import NodeView
from tests.unit.fakes import SCRIPTED, FakeReplicaDriver, eventually, fast_settings
from tests.unit.test_orchestrator import reaches, running, submit, task

S = RobotStatus


def one_module(replicas: int = 1, **spec: object) -> list[dict[str, object]]:
    """The settings' module list: one Scripted module named ``work``."""
    return [{"name": "work", "class": SCRIPTED, "replicas": replicas, **spec}]


# -- the replica slot's own state machine ----------------------------------------------------


def test_a_slot_moves_through_its_states_by_its_own_methods() -> None:
    slot = ReplicaSlot("work", 0, slots=2)
    assert slot.state is ReplicaState.STARTING and not slot.alive
    assert slot.up("handle-1", "node-a")
    assert slot.alive and slot.routable and slot.generation == 1
    slot.run("r1")
    slot.run("r2")
    slot.finish("r1")
    assert slot.in_flight == {"r2"} and slot.completed == 1
    slot.set_health(HealthState.UNHEALTHY)
    assert slot.alive and not slot.routable
    assert slot.start_replacing() == {"r2"}
    assert slot.state is ReplicaState.REPLACING and slot.in_flight == set()
    assert slot.start_replacing() is None  # already on its way: nothing to hand back twice
    assert slot.detach() == "handle-1" and slot.handle is None and slot.node_id is None
    assert slot.up("handle-2", "node-b") and slot.generation == 2 and slot.replacements == 1
    assert slot.health is HealthState.HEALTHY
    slot.stop_taking_work()
    assert slot.state is ReplicaState.DRAINING and not slot.routable
    slot.retire()
    assert slot.retired and not slot.up("handle-3", "node-c")
    assert slot.start_replacing() is None


def test_only_the_slot_writes_its_state() -> None:
    """Every assignment to a slot's state fields sits in actors/deployment.py."""
    import ast

    fields = {"state", "handle", "health", "node_id", "completed", "generation", "replacements"}
    root = Path(actors.supervisor.__file__).parent
    for path in root.rglob("*.py"):
        if path.name == "deployment.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr in fields:
                    owner = ast.unparse(target.value)
                    assert owner == "self", f"{path.name}: {ast.unparse(target)} is assigned"


# -- health ------------------------------------------------------------------------------------


async def test_an_unhealthy_replica_is_replaced(tmp_path: Path) -> None:
    driver = FakeReplicaDriver()
    async with running(fast_settings(tmp_path, one_module()), driver) as orchestrator:
        first = await eventually(lambda: driver.live.get("module:work:0"))
        first.health = HealthState.UNHEALTHY
        await eventually(lambda: first.stopped, what="the unhealthy replica to stop")
        second = await eventually(
            lambda: (r := driver.live.get("module:work:0")) is not first and r
        )
        assert second.health is HealthState.HEALTHY
        await eventually(
            lambda: orchestrator.list_modules()[0].health is HealthState.HEALTHY,
            what="the module to be healthy again",
        )
        robot = task()
        await submit(orchestrator, robot)
        assert (await reaches(orchestrator, robot.id, S.SUCCEEDED)).attempt == 1


async def test_a_replica_whose_health_check_hangs_is_replaced(tmp_path: Path) -> None:
    driver = FakeReplicaDriver()
    settings = fast_settings(tmp_path, one_module(), health_timeout_s=0.1)
    async with running(settings, driver) as orchestrator:
        first = await eventually(lambda: driver.live.get("module:work:0"))
        first.health = None
        await eventually(lambda: first.stopped, what="the silent replica to stop")
        slot = orchestrator.modules["work"].replicas[0]
        await eventually(lambda: slot.alive and slot.replacements == 1)


async def test_a_replica_that_fails_to_start_is_retried(tmp_path: Path) -> None:
    driver = FakeReplicaDriver()
    driver.start_failures = 2
    async with running(fast_settings(tmp_path, one_module()), driver) as orchestrator:
        robot = task()
        await submit(orchestrator, robot)
        assert (await reaches(orchestrator, robot.id, S.SUCCEEDED)).replica == "module:work:0"
        assert len(driver.started) == 1


# -- nodes -------------------------------------------------------------------------------------


async def test_replicas_of_a_lost_node_move_and_their_robots_run_again(tmp_path: Path) -> None:
    driver = FakeReplicaDriver(["node-a", "node-b"])
    settings = fast_settings(tmp_path, one_module(replicas=2, max_concurrency=1))
    async with running(settings, driver) as orchestrator:
        orchestrator.supervisor.node_watch_interval_s = 0.02
        robots = [task(sleep=0.3), task(sleep=0.3)]
        await submit(orchestrator, *robots)
        on = {r.id: (await reaches(orchestrator, r.id, S.RUNNING)).replica for r in robots}
        nodes = orchestrator.replica_nodes()
        assert {nodes[name or ""] for name in on.values()} == {"node-a", "node-b"}
        driver.kill_node("node-a")
        for robot in robots:
            done = await reaches(orchestrator, robot.id, S.SUCCEEDED)
            assert done.attempt == (2 if nodes[on[robot.id] or ""] == "node-a" else 1)
        assert set(orchestrator.replica_nodes().values()) == {"node-b"}
        lost = [name for name in on.values() if nodes[name or ""] == "node-a"]
        [slot] = [s for s in orchestrator.modules["work"].replicas if s.name in lost]
        assert slot.alive and slot.replacements == 1


async def test_drain_lets_running_robots_finish_then_moves_replicas(tmp_path: Path) -> None:
    driver = FakeReplicaDriver(["node-a", "node-b"])
    settings = fast_settings(tmp_path, one_module(replicas=1))
    async with running(settings, driver) as orchestrator:
        robot = task(sleep=0.2)
        await submit(orchestrator, robot)
        on = (await reaches(orchestrator, robot.id, S.RUNNING)).replica
        assert orchestrator.replica_nodes()[on or ""] == "node-a"
        moved = await orchestrator.drain_node("node-a", timeout_s=5.0)
        assert moved == 1
        done = await reaches(orchestrator, robot.id, S.SUCCEEDED)
        assert done.attempt == 1  # it finished where it ran
        await eventually(lambda: orchestrator.replica_nodes() == {"module:work:0": "node-b"})
        after = task()
        await submit(orchestrator, after)
        assert (await reaches(orchestrator, after.id, S.SUCCEEDED)).attempt == 1
        assert driver.replica("module:work:0").node_id == "node-b"


async def test_drain_requeues_robots_still_running_at_its_timeout(tmp_path: Path) -> None:
    driver = FakeReplicaDriver(["node-a", "node-b"])
    settings = fast_settings(tmp_path, one_module(replicas=1))
    async with running(settings, driver) as orchestrator:
        robot = task(hang_attempts=[1])
        await submit(orchestrator, robot)
        await reaches(orchestrator, robot.id, S.RUNNING)
        assert await orchestrator.drain_node("node-a", timeout_s=0.1) == 1
        done = await reaches(orchestrator, robot.id, S.SUCCEEDED)
        assert done.attempt == 2
        [moved, _] = await orchestrator.store.attempts(robot.id)
        assert moved.error == "replica module:work:0 its node is draining"
    driver.close()


# -- scale -------------------------------------------------------------------------------------


async def test_scale_up_and_down(tmp_path: Path) -> None:
    driver = FakeReplicaDriver()
    async with running(fast_settings(tmp_path, one_module(replicas=1)), driver) as orchestrator:
        info = await orchestrator.scale_module("work", 3)
        assert [r.name for r in info.replicas] == [f"module:work:{i}" for i in range(3)]
        await eventually(lambda: all(r.alive for r in orchestrator.list_modules()[0].replicas))
        [saved] = await orchestrator.store.list_modules()
        assert saved.replicas == 3

        slow = task(sleep=0.2)
        await submit(orchestrator, slow)
        on = (await reaches(orchestrator, slow.id, S.RUNNING)).replica
        keep = 0 if on == "module:work:2" else 2  # scale the robot's replica away
        leaving = orchestrator.modules["work"].replicas[keep:]
        info = await orchestrator.scale_module("work", keep)
        assert len(info.replicas) == keep
        assert (await reaches(orchestrator, slow.id, S.SUCCEEDED)).attempt == 1
        await eventually(lambda: all(s.retired for s in leaving), what="leaving replicas retired")
        gone = {s.name for s in leaving}
        assert all(r.stopped for r in driver.started if r.name in gone)
        assert (await orchestrator.store.list_modules())[0].replicas == keep

        with pytest.raises(UnknownModule):
            await orchestrator.scale_module("nope", 1)
        with pytest.raises(ModuleRejected):
            await orchestrator.scale_module("work", 257)


async def test_scaled_down_robots_still_running_after_the_grace_are_requeued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actors.supervisor, "SCALE_DOWN_GRACE_S", 0.1)
    driver = FakeReplicaDriver()
    async with running(fast_settings(tmp_path, one_module(replicas=1)), driver) as orchestrator:
        robot = task(hang_attempts=[1])
        await submit(orchestrator, robot)
        await reaches(orchestrator, robot.id, S.RUNNING)
        await orchestrator.scale_module("work", 0)
        requeued = await reaches(orchestrator, robot.id, S.QUEUED)
        assert requeued.attempt == 2 and requeued.error == "replica module:work:0 scaled down"
        await orchestrator.scale_module("work", 1)
        assert (await reaches(orchestrator, robot.id, S.SUCCEEDED)).attempt == 2
    driver.close()


# -- placement ---------------------------------------------------------------------------------


async def test_an_unplaceable_module_waits_for_a_node_that_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actors.supervisor, "PLACEMENT_RETRY_S", 0.02)
    driver = FakeReplicaDriver([NodeView("cpu-only", True, {"CPU": 8.0})])
    settings = fast_settings(tmp_path, one_module(resources={"num_gpus": 1}))
    async with running(settings, driver) as orchestrator:
        robot = task()
        await submit(orchestrator, robot)
        await eventually(lambda: orchestrator.list_modules()[0].unplaceable)
        assert orchestrator.list_modules()[0].unplaceable == "no live node offers {'GPU': 1.0}"
        assert (await orchestrator.store.get_robot(robot.id)).status is S.QUEUED  # type: ignore[union-attr]
        driver.node_views["gpu"] = NodeView("gpu", True, {"CPU": 8.0, "GPU": 1.0})
        done = await reaches(orchestrator, robot.id, S.SUCCEEDED)
        assert orchestrator.replica_nodes()[done.replica or ""] == "gpu"
        assert orchestrator.list_modules()[0].unplaceable is None


# -- a lost replica is supervision's business, not a module failure ---------------------------


async def test_a_lost_replica_leaves_the_breaker_closed_and_the_other_working(
    tmp_path: Path,
) -> None:
    driver = FakeReplicaDriver()
    # A single counted failure would open this breaker: a lost replica must count as none.
    settings = fast_settings(
        tmp_path, one_module(replicas=2, max_concurrency=2), breaker_failures=1
    )
    async with running(settings, driver) as orchestrator:
        module = orchestrator.modules["work"]
        await eventually(lambda: all(s.alive for s in module.replicas), what="both replicas")
        first = [task(sleep=0.3) for _ in range(4)]
        await submit(orchestrator, *first)
        await eventually(lambda: all(len(s.in_flight) == 2 for s in module.replicas))
        on_victim = set(module.replicas[0].in_flight)
        driver.start_failures = 10**6  # the replacement cannot start until we say so
        driver.replica("module:work:0").kill()
        await eventually(lambda: not module.replicas[0].alive, what="the loss to be noticed")

        after = [task(n=i) for i in range(6)]
        await submit(orchestrator, *after)
        for robot in first + after:
            done = await reaches(orchestrator, robot.id, S.SUCCEEDED)
            lost = robot.id in on_victim
            assert (done.replica, done.attempt) == ("module:work:1", 2 if lost else 1)
        for robot_id in on_victim:
            [gone, _] = await orchestrator.store.attempts(robot_id)
            assert gone.error is not None and gone.error.startswith("replica module:work:0 ")
        assert not module.replicas[0].alive  # all of that ran while it was being replaced
        assert [m.breaker for m in orchestrator.list_modules()] == ["closed"]

        driver.start_failures = 0
        await eventually(lambda: module.replicas[0].alive, 15.0, "the replacement")
        assert module.replicas[0].replacements == 1


def test_a_slot_that_keeps_losing_its_replica_restarts_it_later_and_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1_000.0]
    monkeypatch.setattr(actors.deployment, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    slot = ReplicaSlot("work", 0, slots=1)
    delays = []
    for _ in range(5):
        assert slot.up("handle", "node-a")
        clock[0] += 1.0  # lost a second after it came up
        slot.start_replacing()
        delays.append(slot.restart_delay())
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0]  # the first loss is replaced at once
    for _ in range(10):
        slot.up("handle", "node-a")
        clock[0] += 1.0
        slot.start_replacing()
    assert slot.restart_delay() == actors.deployment.MAX_RESTART_DELAY_S
    slot.up("handle", "node-a")
    clock[0] += actors.deployment.STABLE_AFTER_S  # it ran long enough: no crash loop
    slot.start_replacing()
    assert slot.restart_delay() == 0.0


def test_a_slot_crash_looping_for_days_waits_the_longest_delay() -> None:
    slot = ReplicaSlot("work", 0, slots=1)
    slot.quick_losses = 5_000  # 0.5 * 2**4998 would not fit a float
    assert slot.restart_delay() == actors.deployment.MAX_RESTART_DELAY_S
