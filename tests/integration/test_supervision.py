"""Supervision on a real Ray cluster: lost replicas, a killed orchestrator, crashing modules."""

from __future__ import annotations

import asyncio
import os
import signal

import ray

from tests.integration.conftest import get_robot, submit, wait_terminal, wait_until
from tests.integration.outcomes import assert_single_outcomes, attempts_of


async def _pid(name: str) -> int:
    handle = ray.get_actor(name, namespace="robofleet")
    return (await handle.ping.remote()).pid


async def _new_pid(name: str, old: int) -> bool:
    try:
        return await asyncio.wait_for(_pid(name), 2) != old
    except Exception:
        return False


async def test_killed_replica_robots_are_requeued_and_replica_replaced(fleet, http):
    victim = "module:slow:0"
    old_pid = await _pid(victim)
    ids = [
        await submit(http, fleet.url, {"type": "slow", "payload": {"seconds": 2.5}})
        for _ in range(8)
    ]

    async def some_running_on_victim() -> bool:
        robots = [await get_robot(http, fleet.url, rid) for rid in ids]
        return any(r["status"] == "running" and r["replica"] == victim for r in robots)

    await wait_until(some_running_on_victim, timeout_s=20)
    on_victim = [rid for rid in ids if (await get_robot(http, fleet.url, rid))["replica"] == victim]
    os.kill(old_pid, signal.SIGKILL)

    robots = await wait_terminal(http, fleet.url, ids, timeout_s=90)
    assert all(r["status"] == "succeeded" for r in robots.values())
    for rid in on_victim:
        assert robots[rid]["attempt"] == 2
        first = attempts_of(fleet.db_path, rid)[0]
        assert first[1] == victim and first[2] == "queued" and "lost" in first[3]
    await wait_until(lambda: _new_pid(victim, old_pid), timeout_s=60)
    assert_single_outcomes(fleet.db_path)


async def test_crashing_module_leaves_robots_dead_with_the_reason(fleet, http):
    ids = [await submit(http, fleet.url, {"type": "crash", "max_attempts": 2}) for _ in range(2)]
    robots = await wait_terminal(http, fleet.url, ids, timeout_s=120)
    for robot in robots.values():
        assert robot["status"] == "dead"
        assert robot["attempt"] == 2
        assert "gave up after 2 attempt(s)" in robot["error"]
        assert "module:crash:0" in robot["error"]
    assert_single_outcomes(fleet.db_path)


async def test_unhealthy_replica_is_replaced(fleet, http):
    name = "module:sickly:0"
    old_pid = await _pid(name)
    fleet.flag("sickly-unhealthy", True)
    try:
        await wait_until(lambda: _new_pid(name, old_pid), timeout_s=60)
    finally:
        fleet.flag("sickly-unhealthy", False)
    robot_id = await submit(http, fleet.url, {"type": "sickly"})
    robot = (await wait_terminal(http, fleet.url, [robot_id], timeout_s=60))[robot_id]
    assert robot["status"] == "succeeded"
    assert robot["result"]["pid"] != old_pid


async def test_orchestrator_killed_with_robots_queued_and_running(fleet, http):
    ids = [
        await submit(http, fleet.url, {"type": "slow", "payload": {"seconds": 1.0}})
        for _ in range(40)
    ]
    ids += [await submit(http, fleet.url, {"type": "echo", "payload": {"i": i}}) for i in range(20)]
    orchestrator = ray.get_actor("orchestrator", namespace="robofleet")
    ray.kill(orchestrator, no_restart=False)

    # Submits during the restart wait for the orchestrator and are not lost either.
    ids += [
        await submit(http, fleet.url, {"type": "echo", "payload": {"late": i}}) for i in range(5)
    ]
    robots = await wait_terminal(http, fleet.url, ids, timeout_s=180)
    assert all(r["status"] == "succeeded" for r in robots.values()), {
        r["id"]: (r["status"], r["error"]) for r in robots.values() if r["status"] != "succeeded"
    }
    assert_single_outcomes(fleet.db_path)
