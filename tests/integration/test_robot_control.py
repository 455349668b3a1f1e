"""Idempotent submits, cancel (queued, running, terminal) and the SSE stream, through real HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from tests.integration.conftest import Fleet, get_robot, submit, wait_terminal, wait_until
from tests.integration.outcomes import assert_single_outcomes, attempts_of, query


async def post_robot(http, url: str, robot: dict, key: str | None = None) -> tuple[int, dict]:
    headers = {"Idempotency-Key": key} if key else {}
    async with http.post(f"{url}/v1/robots", json=robot, headers=headers) as response:
        return response.status, await response.json()


async def test_idempotency_key_same_request_200_different_409(fleet: Fleet, http):
    key = f"order-{time.time_ns()}"
    robot = {"type": "echo", "payload": {"order": 42}, "priority": 7}
    first_status, first = await post_robot(http, fleet.url, robot, key)
    assert first_status == 202
    again_status, again = await post_robot(http, fleet.url, robot, key)
    assert (again_status, again["id"]) == (200, first["id"])
    # Concurrent replays all get the first robot.
    replays = await asyncio.gather(*(post_robot(http, fleet.url, robot, key) for _ in range(10)))
    assert {(s, b["id"]) for s, b in replays} == {(200, first["id"])}

    for changed in (
        {**robot, "payload": {"order": 43}},
        {**robot, "priority": 3},
        {**robot, "type": "sleep", "payload": {"seconds": 0}},
    ):
        status, body = await post_robot(http, fleet.url, changed, key)
        assert status == 409, body
        assert body["error"]["code"] == "idempotency_conflict"
        assert first["id"] in body["error"]["message"]
    # The body field is the same key as the header.
    status, body = await post_robot(http, fleet.url, {**robot, "idempotency_key": key})
    assert (status, body["id"]) == (200, first["id"])
    status, body = await post_robot(http, fleet.url, {**robot, "idempotency_key": "other"}, key)
    assert status == 422
    rows = query(fleet.db_path, "SELECT id FROM robots WHERE idempotency_key = ?", key)
    assert rows == [(first["id"],)]
    done = await wait_terminal(http, fleet.url, [first["id"]])
    assert done[first["id"]]["result"] == {"order": 42}


async def cancel(http, url: str, robot_id: str) -> tuple[int, dict]:
    async with http.post(f"{url}/v1/robots/{robot_id}/cancel") as response:
        return response.status, await response.json()


async def test_cancel_a_queued_robot(fleet: Fleet, http):
    # Fill the slow module's 16 slots so the next robot waits in the queue.
    blockers = [
        await submit(http, fleet.url, {"type": "slow", "payload": {"seconds": 3}})
        for _ in range(16)
    ]
    waiting = await submit(http, fleet.url, {"type": "slow", "payload": {"seconds": 0.1}})
    assert (await get_robot(http, fleet.url, waiting))["status"] == "queued"
    status, body = await cancel(http, fleet.url, waiting)
    assert (status, body["status"], body["cancel_requested"]) == (200, "cancelled", False)
    robot = await get_robot(http, fleet.url, waiting)
    assert robot["status"] == "cancelled" and robot["error"] == "cancelled by request"
    await wait_terminal(http, fleet.url, blockers, timeout_s=60)
    await asyncio.sleep(0.5)
    assert (await get_robot(http, fleet.url, waiting))["status"] == "cancelled"
    assert attempts_of(fleet.db_path, waiting) == []  # it never ran
    assert_single_outcomes(fleet.db_path)


async def test_cancel_a_running_robot_its_module_honours(fleet: Fleet, http):
    robot_id = await submit(http, fleet.url, {"type": "sleep", "payload": {"seconds": 20}})

    async def running() -> bool:
        return (await get_robot(http, fleet.url, robot_id))["status"] == "running"

    await wait_until(running, timeout_s=20)
    asked = time.monotonic()
    status, body = await cancel(http, fleet.url, robot_id)
    assert (status, body["status"], body["cancel_requested"]) == (202, "running", True)
    robot = (await wait_terminal(http, fleet.url, [robot_id], timeout_s=15))[robot_id]
    assert robot["status"] == "cancelled"
    assert robot["error"] == "cancelled by request"  # from the module, not the grace timer
    assert time.monotonic() - asked < 5  # sleep checks ctx.cancelled every 2 s
    [attempt] = attempts_of(fleet.db_path, robot_id)
    assert attempt[2] == "cancelled"


async def test_cancel_a_running_robot_that_ignores_it_ends_at_the_grace(fleet: Fleet, http):
    robot_id = await submit(http, fleet.url, {"type": "slow", "payload": {"seconds": 8}})

    async def running() -> bool:
        return (await get_robot(http, fleet.url, robot_id))["status"] == "running"

    await wait_until(running, timeout_s=20)
    asked = time.monotonic()
    status, _ = await cancel(http, fleet.url, robot_id)
    assert status == 202
    robot = (await wait_terminal(http, fleet.url, [robot_id], timeout_s=15))[robot_id]
    took = time.monotonic() - asked
    assert robot["status"] == "cancelled"
    assert "did not stop within 2s" in robot["error"]  # cancel_grace_s = 2 in the test config
    assert 1.5 < took < 6
    await asyncio.sleep(7)  # its late success is ignored
    assert (await get_robot(http, fleet.url, robot_id))["status"] == "cancelled"
    assert_single_outcomes(fleet.db_path)


async def test_cancel_a_terminal_robot_is_409_and_unknown_is_404(fleet: Fleet, http):
    robot_id = await submit(http, fleet.url, {"type": "echo"})
    await wait_terminal(http, fleet.url, [robot_id])
    status, body = await cancel(http, fleet.url, robot_id)
    assert status == 409 and body["error"]["code"] == "already_terminal"
    status, body = await cancel(http, fleet.url, "0000nothing")
    assert status == 404


async def read_events(http, url: str, robot_id: str) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    async with http.get(
        f"{url}/v1/robots/{robot_id}/events", timeout=aiohttp.ClientTimeout(total=60)
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["X-Request-ID"]
        kind = None
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                assert kind is not None
                events.append((kind, json.loads(line[len("data: ") :])))
    return events


async def test_event_stream_shows_progress_and_states_until_terminal(fleet: Fleet, http):
    robot_id = await submit(http, fleet.url, {"type": "sleep", "payload": {"seconds": 3}})
    events = await read_events(http, fleet.url, robot_id)
    kinds = [kind for kind, _ in events]
    statuses = [e["status"] for kind, e in events if kind == "status"]
    assert statuses[-1] == "succeeded" and "running" in statuses
    progress = [e["progress"] for kind, e in events if kind == "progress"]
    assert len(progress) >= 3 and progress == sorted(progress), progress
    assert kinds[-1] == "result" and events[-1][1]["result"] == {"slept": 3}
    assert all(e["robot_id"] == robot_id for kind, e in events if kind != "result")


async def test_event_stream_of_a_finished_robot_ends_at_once(fleet: Fleet, http):
    robot_id = await submit(http, fleet.url, {"type": "flaky", "payload": {"succeed_on": 1}})
    await wait_terminal(http, fleet.url, [robot_id])
    events = await asyncio.wait_for(read_events(http, fleet.url, robot_id), 5)
    assert [kind for kind, _ in events] == ["status", "result"]
    async with http.get(f"{fleet.url}/v1/robots/0000nothing/events") as response:
        assert response.status == 404
