"""``GET /v1/robots/{id}`` with cache reads on: a recorded change is seen at the next read.

The session fleet's gateway serves finished robots from its own memory and reads every other
robot from the store (here its SQLite file, read alongside it to know what is recorded).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.cache_reads import gateway_reads
from runtime.cache import robot_version
from tests.integration.cache_helpers import StoreVersions
from tests.integration.conftest import Fleet, get_robot, submit, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.timeout(90)
async def test_each_recorded_state_is_what_the_next_read_returns(fleet: Fleet, http) -> None:
    store = StoreVersions(fleet.db_path)
    robot_id = await submit(http, fleet.url, {"type": "sleep", "payload": {"seconds": 20}})
    try:
        # While it is queued, then running, every read shows at least what the store held
        # when the read began: nothing older is ever kept for it.
        statuses: set[str] = set()
        deadline = time.monotonic() + 20
        while "running" not in statuses and time.monotonic() < deadline:
            floor = store.version(robot_id)
            robot = await get_robot(http, fleet.url, robot_id)
            assert robot_version(robot["attempt"], robot["status"]) >= floor, (robot, floor)
            statuses.add(robot["status"])
        assert "running" in statuses, statuses
        async with http.post(f"{fleet.url}/v1/robots/{robot_id}/cancel") as response:
            assert response.status == 202, await response.text()
        running = robot_version(robot["attempt"], "running")
        before = await gateway_reads(fleet.url, fleet.admin_headers)

        async def recorded() -> bool:
            return store.version(robot_id) > running

        await wait_until(recorded, timeout_s=15)
        # The store has recorded the cancel: the very next read says so, and so does each after.
        seen = [(await get_robot(http, fleet.url, robot_id))["status"] for _ in range(5)]
        assert seen == ["cancelled"] * 5, seen
        after = await gateway_reads(fleet.url, fleet.admin_headers)
        # The first read after the change went to the store; the rest came from memory.
        assert after.get("gateway", 0) - before.get("gateway", 0) >= 4
    finally:
        store.close()


@pytest.mark.timeout(60)
async def test_finished_robots_read_concurrently_are_never_a_state_the_store_replaced(
    fleet: Fleet, http
) -> None:
    ids = [await submit(http, fleet.url, {"type": "echo", "payload": {"i": i}}) for i in range(20)]
    store = StoreVersions(fleet.db_path)
    stale: list[tuple[str, int, int]] = []

    async def read(robot_id: str) -> None:
        floor = store.version(robot_id)
        robot = await get_robot(http, fleet.url, robot_id)
        if robot_version(robot["attempt"], robot["status"]) < floor:
            stale.append((robot_id, floor, robot_version(robot["attempt"], robot["status"])))

    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            await asyncio.gather(*(read(robot_id) for robot_id in ids))
            if all(store.version(robot_id) >= robot_version(1, "succeeded") for robot_id in ids):
                break
        for _ in range(3):
            await asyncio.gather(*(read(robot_id) for robot_id in ids))
    finally:
        store.close()
    assert not stale, stale[:5]
    finals = {(await get_robot(http, fleet.url, robot_id))["status"] for robot_id in ids}
    assert finals == {"succeeded"}
