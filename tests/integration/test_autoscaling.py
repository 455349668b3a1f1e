"""Autoscaling on the session's robofleet (issue 15, must-show 3).

A module of slow robots (the builtin ``sleep`` robot as type ``dawdle``) is registered with
``autoscaling = {min_replicas=1, max_replicas=4, ...}`` and short delays. A queue of slow
robots scales it up once the upscale has held ``upscale_delay_s``, and an idle module comes
back down once the downscale has held ``downscale_delay_s``; a backlog whose robots carry
deadlines they would miss scales it up on the first control tick that sees it. What a user
checks: ``GET /v1/modules`` (replicas and the recorded decisions) and ``/metrics``. The
wall times from submit to decision are printed, not asserted (rules: no timing assertions);
``tests/unit/test_autoscaling.py`` proves the timing bound with an injected clock.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import submit, wait_terminal, wait_until

pytestmark = pytest.mark.integration

NAME = "autoscaled"
ROBOT_S = 1.5
KNOBS = {
    "min_replicas": 1,
    "max_replicas": 4,
    "target_ongoing_requests": 2,
    "upscale_delay_s": 2.0,
    "downscale_delay_s": 3.0,
    "look_back_period_s": 1.0,
}
DUE_S = 4.0  # the deadline-carrying backlog is due this long after each submit
INTERVAL_S = 1.0  # the default autoscaling_interval_s the session's robofleet runs
_DECISIONS = re.compile(
    r'^robofleet_autoscaling_decisions_total\{direction="(\w+)",module="autoscaled"\} (\S+)$',
    re.M,
)


async def module(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """The module as ``GET /v1/modules`` shows it."""
    async with http.get(f"{url}/v1/modules") as response:
        assert response.status == 200
        modules = {m["name"]: m for m in (await response.json())["modules"]}
    return modules[NAME]


async def decisions_until(
    http: aiohttp.ClientSession, url: str, seen: int, to: int | None = None
) -> list[dict[str, Any]]:
    """Wait for a decision after the first ``seen`` (to ``to`` replicas, if given); return
    the decisions taken after those ``seen``, up to that one."""
    found: list[dict[str, Any]] = []

    async def decided() -> bool:
        found[:] = (await module(http, url))["autoscaling"]["decisions"][seen:]
        return any(to is None or d["to_replicas"] == to for d in found)

    await wait_until(decided, timeout_s=90)
    last = next(i for i, d in enumerate(found) if to is None or d["to_replicas"] == to)
    return found[: last + 1]


async def alive_replicas(http: aiohttp.ClientSession, url: str) -> int:
    """Replicas of the module up and taking work."""
    return sum(1 for r in (await module(http, url))["replicas"] if r["alive"])


def dawdle(deadline: float | None = None) -> dict[str, Any]:
    """A robot that sleeps ``ROBOT_S`` seconds, with a deadline if given."""
    robot: dict[str, Any] = {"type": "dawdle", "payload": {"seconds": ROBOT_S}}
    if deadline is not None:
        robot["deadline"] = deadline
    return robot


@pytest.mark.timeout(420)
async def test_a_module_scales_with_its_queue_and_ahead_of_deadlines(fleet, http, capsys):
    spec = {
        "name": NAME,
        "class": "tests.integration.robots:Dawdler",
        "max_concurrency": 2,
        "autoscaling": KNOBS,
    }
    async with http.post(f"{fleet.url}/v1/modules", json=spec) as response:
        body = await response.json()
        assert response.status == 201, body
    assert len(body["replicas"]) == 1 and body["autoscaling"]["config"]["max_replicas"] == 4
    await wait_until(lambda: _one_alive(http, fleet.url), timeout_s=60)

    # A queue of slow robots, no deadlines: up after upscale_delay_s.
    submitted = time.time()
    ids = [await submit(http, fleet.url, dawdle()) for _ in range(16)]
    [up] = await decisions_until(http, fleet.url, 0)
    assert (up["from_replicas"], up["direction"]) == (1, "up") and up["to_replicas"] > 1, up
    assert up["held_s"] >= KNOBS["upscale_delay_s"], up
    assert "ongoing robots" in up["reason"]
    assert len((await module(http, fleet.url))["replicas"]) >= up["to_replicas"]
    finished = await wait_terminal(http, fleet.url, ids, timeout_s=150)

    # Idle: back to min_replicas, each step down after downscale_delay_s.
    idle_from = max(r["finished_at"] for r in finished.values())  # the last robot's end
    seen = len((await module(http, fleet.url))["autoscaling"]["decisions"])
    down = (await decisions_until(http, fleet.url, seen - 1, to=1))[-1]
    assert down["direction"] == "down" and down["held_s"] >= KNOBS["downscale_delay_s"], down
    await wait_until(lambda: _alive(http, fleet.url, 1), timeout_s=60)

    # The same backlog, due in 4 s (1 replica needs 12 s): up on the first tick that sees it.
    seen = len((await module(http, fleet.url))["autoscaling"]["decisions"])
    due_submitted = time.time()
    due = [await submit(http, fleet.url, dawdle(time.time() + DUE_S)) for _ in range(16)]
    [early] = (await decisions_until(http, fleet.url, seen))[:1]
    assert early["direction"] == "up" and early["from_replicas"] == 1, early
    assert "would miss their deadlines" in early["reason"], early
    assert early["held_s"] == 0, early
    await wait_terminal(http, fleet.url, due, timeout_s=150)

    async with http.get(f"{fleet.url}/metrics") as response:
        text = await response.text()
    counts = {d: float(n) for d, n in _DECISIONS.findall(text)}
    assert counts["up"] >= 2 and counts["down"] >= 1, counts
    assert re.search(
        r'^robofleet_autoscaling_desired_replicas\{module="autoscaled"\} \d', text, re.M
    )
    with capsys.disabled():
        print(
            f"\nautoscaling (interval {INTERVAL_S:g} s): queue of 16 x {ROBOT_S} s robots "
            f"1 -> {up['to_replicas']} held {up['held_s']:.1f} s, {up['at'] - submitted:.1f} s "
            f"after the submits (upscale_delay_s {KNOBS['upscale_delay_s']:g}); "
            f"{down['from_replicas']} -> 1 held {down['held_s']:.1f} s, "
            f"{down['at'] - idle_from:.1f} s after the last robot ended (downscale_delay_s "
            f"{KNOBS['downscale_delay_s']:g}); the same backlog due in {DUE_S:g} s 1 -> "
            f"{early['to_replicas']} after {early['at'] - due_submitted:.1f} s"
        )


async def _one_alive(http: aiohttp.ClientSession, url: str) -> bool:
    return await alive_replicas(http, url) >= 1


async def _alive(http: aiohttp.ClientSession, url: str, n: int) -> bool:
    got = await alive_replicas(http, url)
    return got == n and len((await module(http, url))["replicas"]) == n


INVOICES = 32
OCR_FLEET = """
health_interval_s = 1.0
health_timeout_s = 5.0
"""
NO_SERVICES = {"ROBOFLEET_DATABASE_URL": "", "ROBOFLEET_REDIS_URL": "", "ROBOFLEET_CONFIG_FILE": ""}


@pytest.mark.timeout(420)
async def test_an_idle_ocr_pool_leaves_a_cpu_to_a_module_that_asks_for_one(tmp_path, capsys):
    """The shipped modules on a fresh ``robofleet up`` (no ``[[modules]]``): the OCR pool
    holds one CPU while idle, so a module reserving the other CPUs is placed and runs; under
    OCR load the pool asks for more workers but stays within the CPUs left (none)."""
    import cluster.invoice_samples as samples
    from runtime.ocr import TesseractEngine
    from tests.integration.conftest import robofleet_up, service_missing

    if not TesseractEngine().available() or not samples.fonts_available():
        service_missing("tesseract or the DejaVu fonts are not installed")
    cpus = os.cpu_count() or 1
    assert cpus >= 2, "an OCR pool of one worker leaves no CPU on a 1-CPU machine"
    config = tmp_path / "robofleet.toml"
    config.write_text(OCR_FLEET)
    with robofleet_up(tmp_path / "data", config, NO_SERVICES, timeout_s=180) as ocr_fleet:
        url = ocr_fleet.url
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60), headers=ocr_fleet.admin_headers
        ) as http:
            pool = await _named(http, url, "ocr")
            assert len(pool["replicas"]) == 1, pool
            assert pool["autoscaling"]["config"]["max_replicas"] == cpus
            spec = {
                "name": "cpu-bound",
                "class": "tests.integration.robots:Dawdler",
                "resources": {"num_cpus": cpus - 1},  # every CPU the idle pool leaves
            }
            async with http.post(f"{url}/v1/modules", json=spec) as response:
                assert response.status == 201, await response.json()

            async def placed() -> bool:
                replicas = (await _named(http, url, "cpu-bound"))["replicas"]
                return all(r["alive"] for r in replicas)

            await wait_until(placed, timeout_s=90)
            robot = await submit(http, url, {"type": "dawdle", "payload": {"seconds": 0.1}})
            [done] = (await wait_terminal(http, url, [robot], timeout_s=30)).values()
            assert done["status"] == "succeeded", done

            ids = []
            # enough that the backlog outlasts upscale_delay_s on an idle machine too
            # (8 ran through one worker in about 3 s, under the 10 s look-back's average)
            for sample in samples.invoice_samples(INVOICES, seed=77):
                async with http.post(f"{url}/v1/documents", data=sample.data) as response:
                    stored = await response.json()
                    assert response.status in (200, 201), stored
                body = {"type": "invoice.extract", "payload": {"document_id": stored["id"]}}
                ids.append(await submit(http, url, body))

            async def wants_more() -> bool:
                return (await _named(http, url, "ocr"))["autoscaling"]["desired"] == cpus

            await wait_until(wants_more, timeout_s=60)
            robots = await wait_terminal(http, url, ids, timeout_s=180)
            pool = await _named(http, url, "ocr")
    assert all(r["status"] == "succeeded" for r in robots.values())
    assert len(pool["replicas"]) == 1 and pool["unplaceable"] is None, pool
    assert all(d["direction"] != "up" for d in pool["autoscaling"]["decisions"]), pool
    with capsys.disabled():
        print(
            f"\nOCR pool on {cpus} CPUs: 1 idle worker, a {cpus - 1}-CPU module placed beside it; "
            f"{INVOICES} invoices: desired {cpus} workers, ran on {len(pool['replicas'])} "
            "(no CPU left)"
        )


async def _named(http: aiohttp.ClientSession, url: str, name: str) -> dict[str, Any]:
    async with http.get(f"{url}/v1/modules") as response:
        assert response.status == 200
        return {m["name"]: m for m in (await response.json())["modules"]}[name]
