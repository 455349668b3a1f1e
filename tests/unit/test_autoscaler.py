"""The autoscaling control loop in the orchestrator, with in-process replicas: it scales a
busy module up through the scale path and back down, stays within the cluster's room,
records and counts each decision; bad knobs are refused where they are given."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gateway.readiness import module_readiness
from runtime.config import load_settings
from runtime.errors import ConfigError, ModuleRejected
from runtime.placement import NodeView
from tests.unit.fakes import SCRIPTED, FakeReplicaDriver, eventually, fast_settings
from tests.unit.test_orchestrator import running, submit, task

KNOBS = {
    "min_replicas": 1,
    "max_replicas": 4,
    "target_ongoing_requests": 2,
    "upscale_delay_s": 0.2,
    "downscale_delay_s": 0.3,
    "look_back_period_s": 0.2,
}


def scaled(name: str = "work", **extra: Any) -> dict[str, Any]:
    """A Scripted module spec with autoscaling ``KNOBS`` and two slots a replica."""
    return {
        "name": name,
        "class": SCRIPTED,
        "max_concurrency": 2,
        "autoscaling": KNOBS,
        **extra,
    }


async def test_a_busy_module_scales_up_then_back_down(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, [scaled()], autoscaling_interval_s=0.05)
    async with running(settings) as orchestrator:
        module = orchestrator.modules["work"]
        assert module.spec.replicas == 1
        answers = await submit(orchestrator, *[task(sleep=0.3) for _ in range(16)])
        await eventually(lambda: module.spec.replicas == 4, 5, "the module at 4 replicas")
        up = (await eventually(lambda: orchestrator.autoscaler.status(module).decisions))[-1]
        assert (up.from_replicas, up.direction.value) == (1, "up")
        assert up.held_s >= KNOBS["upscale_delay_s"]
        assert "ongoing robots" in up.reason
        assert (await orchestrator.store.list_modules())[0].replicas == module.spec.replicas
        for answer in answers:
            await eventually(lambda a=answer: a.id not in orchestrator.robots, 10, "robots done")

        def came_down() -> bool:
            decisions = orchestrator.autoscaler.status(module).decisions
            return module.spec.replicas == 1 and decisions[-1].to_replicas == 1

        await eventually(came_down, 5, "the module back at 1 replica")
        status = orchestrator.autoscaler.status(module)
        assert status.decisions[-1].direction.value == "down"
        assert status.decisions[-1].held_s >= KNOBS["downscale_delay_s"]
        figures = orchestrator.robot_figures()
        assert figures.autoscaling_desired == {"work": 1}
        counts = figures.autoscaling_decisions["work"]
        assert counts["up"] >= 1 and counts["down"] >= 1
        info = orchestrator.module_info(module)
        assert info.autoscaling is not None and info.autoscaling.config.max_replicas == 4


async def test_upscale_stays_within_the_room_the_cluster_has(tmp_path: Path) -> None:
    driver = FakeReplicaDriver([NodeView("head", True, {"CPU": 3.0})])
    fixed = {"name": "fixed", "class": SCRIPTED, "resources": {"CPU": 1}}  # holds a CPU
    settings = fast_settings(
        tmp_path,
        [scaled(resources={"num_cpus": 1}), fixed],
        autoscaling_interval_s=0.05,
    )
    async with running(settings, driver) as orchestrator:
        module = orchestrator.modules["work"]
        await submit(orchestrator, *[task(sleep=0.5) for _ in range(16)])
        await eventually(lambda: orchestrator.autoscaler.status(module).decisions, 5, "an upscale")
        [up] = orchestrator.autoscaler.status(module).decisions
        assert (up.from_replicas, up.to_replicas) == (1, 2)
        assert "the cluster has room for 1 more" in up.reason
        for _ in range(10):  # more ticks under load: never a replica that cannot be placed
            await orchestrator.autoscaler.tick()
            assert module.spec.replicas == 2
            assert orchestrator.autoscaler.status(module).desired == 4


async def test_deadlines_scale_up_before_the_queue_rule(tmp_path: Path) -> None:
    """A lenient queue target and a long delay: only the deadline rule can act at once."""
    knobs = {**KNOBS, "target_ongoing_requests": 100, "upscale_delay_s": 60}
    settings = fast_settings(
        tmp_path,
        [scaled(autoscaling=knobs)],
        autoscaling_interval_s=0.05,
    )
    async with running(settings) as orchestrator:
        module = orchestrator.modules["work"]
        await submit(orchestrator, task(sleep=0.2))
        await eventually(lambda: module.run_seconds is not None, 5, "a measured run time")
        due = time.time() + 1.0  # 5 runs of 0.2 s on 2 slots: 10 robots of these 40 in time
        robots = [task(sleep=0.2).model_copy(update={"deadline": due}) for _ in range(40)]
        await submit(orchestrator, *robots)
        await eventually(lambda: orchestrator.autoscaler.status(module).decisions, 5, "an upscale")
        decision = orchestrator.autoscaler.status(module).decisions[-1]
        assert "would miss their deadlines" in decision.reason
        assert decision.held_s == 0


async def test_bad_knobs_are_refused_at_registration_and_in_the_config(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, [scaled()], autoscaling_interval_s=0.05)
    async with running(settings) as orchestrator:
        bad = scaled("other", autoscaling={"min_replicas": 3, "max_replicas": 2})
        with pytest.raises(ModuleRejected, match="min_replicas \\(3\\) is above max_replicas"):
            await orchestrator.register_module(bad)
        unknown = scaled("other", autoscaling={"max_replica": 2})
        with pytest.raises(ModuleRejected, match="autoscaling.max_replica"):
            await orchestrator.register_module(unknown)
        with pytest.raises(ModuleRejected, match="replicas \\(9\\) is outside"):
            await orchestrator.scale_module("work", 9)
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[modules]]\nname = "w"\nclass = "a.b:C"\n'
        "autoscaling = { max_replicas = 2, upscale_delay_s = -1 }\n"
    )
    with pytest.raises(ConfigError, match="autoscaling.upscale_delay_s"):
        load_settings(config)


async def test_a_module_at_zero_replicas_keeps_its_robots_queued_and_wakes_up(
    tmp_path: Path,
) -> None:
    knobs = {**KNOBS, "min_replicas": 0, "upscale_delay_s": 60}
    settings = fast_settings(tmp_path, [scaled(autoscaling=knobs)], autoscaling_interval_s=0.05)
    async with running(settings) as orchestrator:
        module = orchestrator.modules["work"]
        assert module.spec.replicas == 0 and module.replicas == []
        assert module_readiness(orchestrator.module_info(module)).status == "ok"  # asleep
        [answer] = await submit(orchestrator, task(sleep=0.05))
        assert answer.error is None  # accepted: it waits in the queue, it does not fail
        [up] = await eventually(lambda: orchestrator.autoscaler.status(module).decisions, 5)
        assert (up.from_replicas, up.to_replicas, up.held_s) == (0, 1, 0)  # no delay from zero
        await eventually(lambda: answer.id not in orchestrator.robots, 5, "the robot done")
        stored = await orchestrator.store.get_robot(answer.id)
        assert stored is not None and stored.status.value == "succeeded"
        await eventually(lambda: module.spec.replicas == 0, 5, "back to zero replicas")
