"""1,000 robots submitted concurrently over HTTP spread evenly over a module's replicas."""

from __future__ import annotations

import asyncio

from tests.integration.conftest import wait_terminal
from tests.integration.outcomes import assert_single_outcomes, query


async def test_thousand_concurrent_robots_all_succeed_and_spread(fleet, http):
    limit = asyncio.Semaphore(200)

    async def one(i: int) -> str:
        async with limit:
            robot = {"type": "sleep", "payload": {"seconds": 0.05, "i": i}}
            async with http.post(f"{fleet.url}/v1/robots", json=robot) as response:
                assert response.status == 202
                return (await response.json())["id"]

    ids = await asyncio.gather(*(one(i) for i in range(1000)))
    assert len(set(ids)) == 1000
    robots = await wait_terminal(http, fleet.url, ids, timeout_s=180)
    assert all(r["status"] == "succeeded" for r in robots.values())

    placeholders = ",".join("?" * len(ids))
    counts = dict(
        query(
            fleet.db_path,
            f"SELECT replica, COUNT(*) FROM attempts WHERE robot_id IN ({placeholders}) "
            "GROUP BY replica",
            *ids,
        )
    )
    print(f"\nper-replica counts: {counts}")
    assert set(counts) == {"module:sleep:0", "module:sleep:1", "module:sleep:2"}
    assert sum(counts.values()) == 1000
    assert max(counts.values()) / 1000 <= 0.45, counts
    assert_single_outcomes(fleet.db_path)
