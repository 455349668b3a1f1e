"""The orchestrator's robot paths without Ray: submit, dispatch, settle, retry, recover, cancel.

Replicas are in-process (``tests/unit/fakes.py``); the store is a real SQLite file. Each
test checks what a client would see: the robot's status, attempts and error in the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from actors.orchestrator import Orchestrator
from runtime.config import Settings
from runtime.errors import (
    AlreadyTerminal,
    ModuleExists,
    ModuleRejected,
    NotCancellable,
    QueueFull,
    RobotNotFound,
    UnknownRobotType,
)
from runtime.messages import AuditCaller, SubmitAnswer, SubmitRequest
from runtime.models import Robot, RobotStatus, new_robot_id
from runtime.store import create_store
from tests.unit.fakes import SCRIPTED, FakeReplicaDriver, eventually, fast_settings

S = RobotStatus


@asynccontextmanager
async def running(
    settings: Settings, driver: FakeReplicaDriver | None = None
) -> AsyncIterator[Orchestrator]:
    """An orchestrator started on ``settings`` with in-process replicas; stopped after."""
    driver = driver or FakeReplicaDriver()
    orchestrator = Orchestrator(settings, create_store(settings), driver)
    driver.on_progress = orchestrator.report_progress
    await orchestrator.start()
    try:
        yield orchestrator
    finally:
        await orchestrator.stop()


def task(max_attempts: int = 3, timeout_s: float = 5.0, **payload: Any) -> Robot:
    """A new robot of the Scripted module's type; the payload is its script."""
    return Robot(
        id=new_robot_id(),
        type="task",
        payload=payload,
        max_attempts=max_attempts,
        timeout_s=timeout_s,
    )


async def submit(orchestrator: Orchestrator, *robots: Robot) -> list[SubmitAnswer]:
    """Submit robots as the gateway does."""
    return await orchestrator.submit_many([SubmitRequest(r) for r in robots])


async def reaches(
    orchestrator: Orchestrator, robot_id: str, status: RobotStatus, timeout_s: float = 5.0
) -> Robot:
    """Wait until the store shows the robot in ``status``; return it."""

    async def stored() -> Robot | None:
        robot = await orchestrator.store.get_robot(robot_id)
        return robot if robot is not None and robot.status is status else None

    return await eventually(stored, timeout_s, f"robot {robot_id} to be {status}")


async def test_submitted_robots_run_and_succeed(tmp_path: Path) -> None:
    async with running(fast_settings(tmp_path)) as orchestrator:
        robots = [task(n=i) for i in range(6)]
        answers = await submit(orchestrator, *robots)
        assert [(a.id, a.status, a.created, a.error) for a in answers] == [
            (r.id, S.QUEUED, True, None) for r in robots
        ]
        for i, r in enumerate(robots):
            done = await reaches(orchestrator, r.id, S.SUCCEEDED)
            assert done.result == {"done": i, "attempt": 1}
            assert done.attempt == 1 and done.module == "work" and done.progress == 1.0
            assert done.replica in {"module:work:0", "module:work:1"}
        stats = orchestrator.stats()
        assert stats.dispatched == 6 and stats.in_memory == 0 and stats.queued == 0
        info = {m.name: m for m in orchestrator.list_modules()}["work"]
        assert sum(r.completed for r in info.replicas) == 6


async def test_refusals_are_answered_per_robot(tmp_path: Path) -> None:
    settings = fast_settings(
        tmp_path,
        [{"name": "work", "class": SCRIPTED, "replicas": 0}],
        max_queued_per_type=1,
    )
    async with running(settings) as orchestrator:
        stray = Robot(id=new_robot_id(), type="nobody-does-this")
        first, second = task(), task()
        answers = await submit(orchestrator, stray, first, second)
        assert isinstance(answers[0].error, UnknownRobotType)
        assert answers[1].error is None and answers[1].status is S.QUEUED
        assert isinstance(answers[2].error, QueueFull)
        assert answers[2].error.retry_after_s == 1.0
        assert await orchestrator.store.get_robot(first.id) is not None
        assert await orchestrator.store.get_robot(stray.id) is None
        assert await orchestrator.store.get_robot(second.id) is None
        assert orchestrator.robot_types() == ["task"]


async def test_a_resubmitted_robot_is_not_created_twice(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, [{"name": "work", "class": SCRIPTED, "replicas": 0}])
    async with running(settings) as orchestrator:
        robot = task(n=1).model_copy(update={"idempotency_key": "order-7"})
        caller = AuditCaller("req-1", "key-a", "10.0.0.9", "POST /v1/robots")
        [first] = await orchestrator.submit_many([SubmitRequest(robot, caller)])
        assert first.created and first.audited
        # The gateway retrying its own call (same id): the robot it already made.
        [retried] = await orchestrator.submit_many([SubmitRequest(robot, caller)])
        assert (retried.id, retried.created, retried.same_request) == (robot.id, True, True)
        # A client resending its request (same key, new id): the stored robot, not a new one.
        resent = robot.model_copy(update={"id": new_robot_id()})
        [again] = await orchestrator.submit_many([SubmitRequest(resent, caller)])
        assert (again.id, again.created, again.same_request, again.audited) == (
            robot.id,
            False,
            True,
            False,
        )
        changed = robot.model_copy(update={"id": new_robot_id(), "payload": {"n": 2}})
        [other] = await submit(orchestrator, changed)
        assert other.id == robot.id and not other.created and not other.same_request
        entries = (await orchestrator.store.list_audit()).entries
        assert [(e.target, e.actor, e.status) for e in entries] == [(robot.id, "key-a", 202)]
        assert orchestrator.stats().queued == 1


async def test_a_passing_failure_is_retried(tmp_path: Path) -> None:
    async with running(fast_settings(tmp_path)) as orchestrator:
        robot = task(fail="flaky", fail_attempts=[1])
        await submit(orchestrator, robot)
        done = await reaches(orchestrator, robot.id, S.SUCCEEDED)
        assert done.attempt == 2 and done.result == {"done": None, "attempt": 2}
        attempts = await orchestrator.store.attempts(robot.id)
        assert [(a.attempt, a.status, a.error) for a in attempts] == [
            (1, S.QUEUED, "RetryableError: flaky"),
            (2, S.SUCCEEDED, None),
        ]


async def test_a_robot_that_keeps_failing_is_dead_after_its_attempts(tmp_path: Path) -> None:
    async with running(fast_settings(tmp_path)) as orchestrator:
        robot = task(max_attempts=3, fail="boom")
        await submit(orchestrator, robot)
        dead = await reaches(orchestrator, robot.id, S.DEAD)
        assert dead.attempt == 3
        assert dead.error == "gave up after 3 attempt(s): RetryableError: boom"
        assert len(await orchestrator.store.attempts(robot.id)) == 3


async def test_a_permanent_failure_fails_at_once(tmp_path: Path) -> None:
    async with running(fast_settings(tmp_path)) as orchestrator:
        robot = task(max_attempts=5, fail="no such invoice", permanent=True)
        await submit(orchestrator, robot)
        failed = await reaches(orchestrator, robot.id, S.FAILED)
        assert failed.attempt == 1 and failed.error == "PermanentError: no such invoice"


async def test_a_robot_past_its_timeout_is_retried_then_dead(tmp_path: Path) -> None:
    async with running(fast_settings(tmp_path)) as orchestrator:
        robot = task(max_attempts=2, timeout_s=0.05, sleep=5)
        await submit(orchestrator, robot)
        dead = await reaches(orchestrator, robot.id, S.DEAD)
        assert dead.error == "gave up after 2 attempt(s): timed out after 0.05s"


async def test_progress_reaches_the_store(tmp_path: Path) -> None:
    async with running(fast_settings(tmp_path)) as orchestrator:
        robot = task(progress=0.5, hang_attempts=[1])
        await submit(orchestrator, robot)

        async def halfway() -> bool:
            stored = await orchestrator.store.get_robot(robot.id)
            return stored is not None and stored.progress == 0.5

        await eventually(halfway, what="progress 0.5 in the store")
        stored = await orchestrator.store.get_robot(robot.id)
        assert stored is not None and stored.status is S.RUNNING
        assert stored.message == "halfway"
        await orchestrator.cancel(robot.id)
        await reaches(orchestrator, robot.id, S.CANCELLED)


async def test_a_restarted_orchestrator_requeues_what_was_running(tmp_path: Path) -> None:
    settings = fast_settings(
        tmp_path, [{"name": "work", "class": SCRIPTED, "replicas": 1, "max_concurrency": 1}]
    )
    driver = FakeReplicaDriver()
    stuck, waiting = task(hang_attempts=[1]), task(n=2)
    async with running(settings, driver) as first:
        await submit(first, stuck, waiting)
        await reaches(first, stuck.id, S.RUNNING)
        assert (await first.store.get_robot(waiting.id)).status is S.QUEUED  # type: ignore[union-attr]
    replicas_before = len(driver.started)
    async with running(settings, driver) as second:
        done = await reaches(second, stuck.id, S.SUCCEEDED)
        assert done.attempt == 2
        [lost, _] = await second.store.attempts(stuck.id)
        assert lost.status is S.QUEUED
        assert lost.error == "orchestrator restarted while attempt 1 ran"
        assert (await reaches(second, waiting.id, S.SUCCEEDED)).attempt == 1
        assert len(driver.started) == replicas_before  # the live replica was adopted
    driver.close()


async def test_cancel_a_queued_robot(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, [{"name": "work", "class": SCRIPTED, "replicas": 0}])
    async with running(settings) as orchestrator:
        robot = task()
        await submit(orchestrator, robot)
        answer = await orchestrator.cancel(robot.id)
        assert (answer.id, answer.status, answer.cancel_requested) == (
            robot.id,
            S.CANCELLED,
            False,
        )
        cancelled = await reaches(orchestrator, robot.id, S.CANCELLED)
        assert cancelled.error == "cancelled by request"
        assert orchestrator.stats().queued == 0
        with pytest.raises(AlreadyTerminal):
            await orchestrator.cancel(robot.id)
        with pytest.raises(RobotNotFound):
            await orchestrator.cancel("no-such-robot")


async def test_cancel_a_robot_not_yet_recovered_says_retry(tmp_path: Path) -> None:
    async with running(fast_settings(tmp_path)) as orchestrator:
        behind_its_back = task()
        await orchestrator.store.create_robots([behind_its_back])
        with pytest.raises(NotCancellable) as raised:
            await orchestrator.cancel(behind_its_back.id)
        assert raised.value.retry_after_s == 1.0


async def test_cancel_a_running_robot_whose_module_stops(tmp_path: Path) -> None:
    driver = FakeReplicaDriver()
    async with running(fast_settings(tmp_path), driver) as orchestrator:
        robot = task(hang_attempts=[1])
        await submit(orchestrator, robot)
        running_robot = await reaches(orchestrator, robot.id, S.RUNNING)
        answer = await orchestrator.cancel(robot.id, "no longer needed")
        assert (answer.status, answer.cancel_requested) == (S.RUNNING, True)
        cancelled = await reaches(orchestrator, robot.id, S.CANCELLED)
        assert cancelled.error == "cancelled by request"  # the module's own word
        assert driver.replica(running_robot.replica or "").cancels == [robot.id]


async def test_cancel_a_running_robot_that_ignores_it_after_the_grace(tmp_path: Path) -> None:
    driver = FakeReplicaDriver()
    async with running(fast_settings(tmp_path, cancel_grace_s=0.2), driver) as orchestrator:
        robot = task(hang_attempts=[1], ignore_cancel=True)
        await submit(orchestrator, robot)
        await reaches(orchestrator, robot.id, S.RUNNING)
        await orchestrator.cancel(robot.id)
        cancelled = await reaches(orchestrator, robot.id, S.CANCELLED)
        assert cancelled.error == ("cancelled by request; the module did not stop within 0.2s")
        assert orchestrator.stats().in_memory == 0
    driver.close()


async def test_a_lost_replica_is_replaced_and_its_robots_requeued(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, [{"name": "work", "class": SCRIPTED, "replicas": 1}])
    driver = FakeReplicaDriver()
    async with running(settings, driver) as orchestrator:
        robot = task(hang_attempts=[1])
        await submit(orchestrator, robot)
        await reaches(orchestrator, robot.id, S.RUNNING)
        first = driver.replica("module:work:0")
        first.kill()
        done = await reaches(orchestrator, robot.id, S.SUCCEEDED)
        assert done.attempt == 2
        [lost, _] = await orchestrator.store.attempts(robot.id)
        assert lost.error is not None
        assert lost.error.startswith("replica module:work:0 lost: ")
        assert first.stopped and driver.replica("module:work:0") is not first
        slot = orchestrator.modules["work"].replicas[0]
        assert slot.alive and slot.replacements == 1 and slot.generation == 2


async def test_a_failing_module_breaker_opens_and_work_goes_to_the_other(tmp_path: Path) -> None:
    settings = fast_settings(
        tmp_path,
        [
            {
                "name": "broken",
                "class": SCRIPTED,
                "replicas": 1,
                "max_concurrency": 1,
                "options": {"fail_all": "disk full"},
            },
            {"name": "healthy", "class": SCRIPTED, "replicas": 0},
        ],
        breaker_failures=3,
    )
    async with running(settings) as orchestrator:
        first_wave = [task(max_attempts=10) for _ in range(3)]
        await submit(orchestrator, *first_wave)

        def broken_is_open() -> bool:
            return {m.name: m.breaker for m in orchestrator.list_modules()}["broken"] == "open"

        await eventually(broken_is_open, what="the broken module's breaker to open")
        await orchestrator.scale_module("healthy", 1)
        second_wave = [task(max_attempts=10) for _ in range(4)]
        await submit(orchestrator, *second_wave)
        for robot in first_wave + second_wave:
            done = await reaches(orchestrator, robot.id, S.SUCCEEDED)
            assert done.module == "healthy"
            for attempt in (await orchestrator.store.attempts(robot.id))[:-1]:
                assert attempt.module == "broken" and attempt.error == "RetryableError: disk full"
        for robot in second_wave:
            assert len(await orchestrator.store.attempts(robot.id)) == 1  # straight to healthy


async def test_register_a_module_at_run_time(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, [{"name": "work", "class": SCRIPTED, "replicas": 0}])
    async with running(settings) as orchestrator:
        with pytest.raises(ModuleRejected, match="invalid module spec"):
            await orchestrator.register_module({"name": "x"})
        with pytest.raises(ModuleRejected, match="cannot import"):
            await orchestrator.register_module({"name": "x", "class": "nowhere.at:All"})
        with pytest.raises(ModuleExists):
            await orchestrator.register_module({"name": "work", "class": SCRIPTED})
        info = await orchestrator.register_module(
            {"name": "extra", "class": SCRIPTED, "replicas": 1}
        )
        assert info.name == "extra" and info.types == ["task"]
        assert [s.name for s in await orchestrator.store.list_modules()] == ["extra"]
        robot = task()
        await submit(orchestrator, robot)
        assert (await reaches(orchestrator, robot.id, S.SUCCEEDED)).module == "extra"


async def test_a_config_module_that_fails_to_load_is_kept_with_its_reason(tmp_path: Path) -> None:
    """Start-up leaves out a module that cannot load and says why (robofleet up prints it)."""
    settings = fast_settings(
        tmp_path,
        [
            {"name": "work", "class": SCRIPTED, "replicas": 0},
            {"name": "broken", "class": "nowhere.at:All", "replicas": 0},
        ],
    )
    async with running(settings) as orchestrator:
        refused = orchestrator.refused_modules()
        assert list(refused) == ["broken"]
        assert "cannot import" in refused["broken"]
        assert [m.name for m in orchestrator.list_modules()] == ["work"]
