"""A user's first minutes: submit over HTTP and the CLI, read the status, see the actors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.integration.conftest import ROOT, get_robot, submit, wait_terminal


async def test_curl_robot_succeeds_and_cli_shows_it(fleet, http):
    body = b'{"type":"echo","payload":{"x":1}}'
    # No content type, as `curl -d` sends it.
    async with http.post(
        f"{fleet.url}/v1/robots",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as response:
        assert response.status == 202
        assert response.headers["Location"].startswith("/v1/robots/")
        robot_id = (await response.json())["id"]
    robot = (await wait_terminal(http, fleet.url, [robot_id]))[robot_id]
    assert robot["status"] == "succeeded"
    assert robot["result"] == {"x": 1}

    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "cluster.cli",
            "status",
            robot_id,
            "--url",
            fleet.url,
            "--api-key",
            fleet.admin_key,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "succeeded"


def test_cli_submit_waits_for_the_outcome(fleet):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cluster.cli",
            "submit",
            "sleep",
            "--payload",
            '{"seconds": 1.2}',
            "--wait",
            "--url",
            fleet.url,
            "--api-key",
            fleet.admin_key,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert '"status": "succeeded"' in done.stdout
    modules = subprocess.run(
        [
            sys.executable,
            "-m",
            "cluster.cli",
            "modules",
            "--url",
            fleet.url,
            "--api-key",
            fleet.admin_key,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "module:sleep:2" in modules.stdout


async def test_progress_is_visible_while_running(fleet, http):
    robot_id = await submit(http, fleet.url, {"type": "sleep", "payload": {"seconds": 3}})
    seen = set()
    for _ in range(40):
        robot = await get_robot(http, fleet.url, robot_id)
        if robot["status"] == "running" and robot["progress"] > 0:
            seen.add(robot["progress"])
        if robot["status"] == "succeeded":
            break
        import asyncio

        await asyncio.sleep(0.1)
    assert seen, "no progress was reported while the robot ran"


def test_dashboard_lists_actors_by_name(fleet):
    from ray.util.state import list_actors

    alive = list_actors(address=fleet.ray_address, filters=[("state", "=", "ALIVE")], limit=1000)
    names = {a.name for a in alive if a.ray_namespace == "robofleet"}
    assert "orchestrator" in names
    assert {"module:sleep:0", "module:sleep:1", "module:sleep:2", "module:echo:0"} <= names
    assert any(n.startswith("gateway:") for n in names)


async def test_list_robots_pages_with_cursor(fleet, http):
    ids = [await submit(http, fleet.url, {"type": "echo", "payload": {"i": i}}) for i in range(7)]
    await wait_terminal(http, fleet.url, ids)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"type": "echo", "status": "succeeded", "limit": "3"}
        if cursor:
            params["cursor"] = cursor
        async with http.get(f"{fleet.url}/v1/robots", params=params) as response:
            assert response.status == 200
            page = await response.json()
        seen += [r["id"] for r in page["robots"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen)), "a robot appeared on two pages"
    assert seen == sorted(seen, reverse=True)
