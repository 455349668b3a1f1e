"""Supervision on a real Ray cluster: lost replicas, a killed orchestrator, crashing modules."""

from __future__ import annotations

import asyncio
import os
import signal
import time

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


async def _module(http, url: str, name: str) -> dict:
    async with http.get(f"{url}/v1/modules") as response:
        assert response.status == 200
        modules = (await response.json())["modules"]
    return next(m for m in modules if m["name"] == name)


async def test_one_replica_killed_under_a_steady_queue_the_other_keeps_working(fleet, http):
    """SIGKILL of one of a module's two replicas while its queue is full: the other replica
    keeps completing robots with no pause over 2 s, and the module's breaker stays closed."""
    victim, survivor = "module:slow:0", "module:slow:1"

    async def both_alive_and_busy() -> bool:
        replicas = (await _module(http, fleet.url, "slow"))["replicas"]
        return all(r["alive"] and r["in_flight"] > 0 for r in replicas)

    async def both_alive() -> bool:
        return all(r["alive"] for r in (await _module(http, fleet.url, "slow"))["replicas"])

    await wait_until(both_alive, timeout_s=60)
    victim_pid = await _pid(victim)
    robot = {"type": "slow", "payload": {"seconds": 0.5}, "max_attempts": 5}
    ids = list(await asyncio.gather(*(submit(http, fleet.url, robot) for _ in range(240))))
    await wait_until(both_alive_and_busy, timeout_s=30, interval_s=0.05)

    breaker_seen: set[str] = set()
    watching = True

    async def watch_breaker() -> None:
        while watching:
            breaker_seen.add((await _module(http, fleet.url, "slow"))["breaker"])
            await asyncio.sleep(0.1)

    watcher = asyncio.ensure_future(watch_breaker())
    killed_at = time.time()
    os.kill(victim_pid, signal.SIGKILL)
    try:
        robots = await wait_terminal(http, fleet.url, ids, timeout_s=120)
    finally:
        watching = False
        await watcher

    assert all(r["status"] == "succeeded" for r in robots.values())
    assert any(r["attempt"] == 2 for r in robots.values())  # the victim had robots running
    assert breaker_seen == {"closed"}
    # While robots were still waiting to start, the survivor kept finishing them.
    queue_dry_at = max(r["started_at"] for r in robots.values())
    finished = sorted(
        r["finished_at"]
        for r in robots.values()
        if r["replica"] == survivor and killed_at <= r["finished_at"] <= queue_dry_at
    )
    assert len(finished) > 16, "the survivor finished too few robots to judge"
    moments = [killed_at, *finished]
    longest_pause = max(b - a for a, b in zip(moments, moments[1:], strict=False))
    assert longest_pause <= 2.0, f"the survivor paused {longest_pause:.2f}s"
    await wait_until(lambda: _new_pid(victim, victim_pid), timeout_s=60)
    assert_single_outcomes(fleet.db_path)
