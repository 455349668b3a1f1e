"""Retries with backoff, permanent failures, the circuit breaker and module registration."""

from __future__ import annotations

import asyncio

from tests.integration.conftest import submit, wait_terminal, wait_until
from tests.integration.outcomes import assert_single_outcomes, attempts_of


async def test_retryable_failure_succeeds_after_backoff(fleet, http):
    robot_id = await submit(http, fleet.url, {"type": "flaky", "payload": {"succeed_on": 3}})
    robot = (await wait_terminal(http, fleet.url, [robot_id]))[robot_id]
    assert robot["status"] == "succeeded"
    assert robot["attempt"] == 3
    attempts = attempts_of(fleet.db_path, robot_id)
    assert [a[2] for a in attempts] == ["queued", "queued", "succeeded"]
    assert "failed on purpose" in attempts[0][3]
    # retry_base_s = 0.2 in the test config: the wait before attempt 2 is >= 0.1 s,
    # before attempt 3 >= 0.2 s.
    assert attempts[1][4] - attempts[0][5] >= 0.1
    assert attempts[2][4] - attempts[1][5] >= 0.2
    assert_single_outcomes(fleet.db_path)


async def test_non_retryable_failure_fails_at_once(fleet, http):
    robot_id = await submit(http, fleet.url, {"type": "picky", "max_attempts": 5})
    robot = (await wait_terminal(http, fleet.url, [robot_id]))[robot_id]
    assert robot["status"] == "failed"
    assert robot["attempt"] == 1
    assert "payload.document is missing" in robot["error"]


async def _module(http, url, name):
    async with http.get(f"{url}/v1/modules") as response:
        modules = (await response.json())["modules"]
    return next(m for m in modules if m["name"] == name)


async def test_breaker_opens_fails_over_and_closes_after_recovery(fleet, http):
    fleet.flag("primary-broken", True)
    try:
        # At once, more than the secondary's 8 slots: the primary surely gets the 3 robots
        # that open its breaker (one at a time, the faster secondary could take them all).
        body = {"type": "convert", "max_attempts": 5}
        first = list(await asyncio.gather(*(submit(http, fleet.url, body) for _ in range(24))))
        await wait_until(lambda: _breaker_is(http, fleet.url, "primary", "open"), timeout_s=30)
        during = [await submit(http, fleet.url, {"type": "convert"}) for _ in range(10)]
        robots = await wait_terminal(http, fleet.url, first + during)
        assert all(r["status"] == "succeeded" for r in robots.values())
        assert all(robots[rid]["result"] == {"by": "secondary"} for rid in during)
        # Routing explained: the last attempts of those robots say the primary was left out.
        left_out = set()
        for rid in during:
            async with http.get(f"{fleet.url}/v1/robots/{rid}/routing") as response:
                decision = (await response.json())["attempts"][-1]["decision"]
            scores = {c["module"]: c for c in decision["candidates"]}
            assert decision["module"] == "secondary"
            left_out.add((scores["primary"]["breaker"], scores["primary"]["excluded"]))
        assert ("open", "breaker_open") in left_out, left_out
    finally:
        fleet.flag("primary-broken", False)

    async def primary_back() -> bool:
        robot_id = await submit(http, fleet.url, {"type": "convert"})
        robot = (await wait_terminal(http, fleet.url, [robot_id]))[robot_id]
        return robot["result"] == {"by": "primary"}

    await wait_until(primary_back, timeout_s=30, interval_s=0.5)
    assert (await _module(http, fleet.url, "primary"))["breaker"] == "closed"


async def _breaker_is(http, url, name, state) -> bool:
    return (await _module(http, url, name))["breaker"] == state


async def test_registration_refuses_a_bad_module_with_the_reason(fleet, http):
    bad = [
        ({"name": "never", "class": "tests.integration.robots:Unhealthy"}, "unhealthy"),
        (
            {"name": "ghost", "class": "no_such_package.mod:Thing", "types": ["ghost"]},
            "cannot import",
        ),
        (
            {"name": "notamodule", "class": "tests.integration.conftest:Fleet", "types": ["x"]},
            "not a subclass",
        ),
        ({"name": "Bad Name!", "class": "runtime.builtin:Echo"}, "name"),
    ]
    for spec, reason in bad:
        async with http.post(f"{fleet.url}/v1/modules", json=spec) as response:
            body = await response.json()
            assert response.status == 422, body
            assert reason in body["error"]["message"]
    names = {
        m["name"] for m in (await (await http.get(f"{fleet.url}/v1/modules")).json())["modules"]
    }
    assert not names & {"never", "ghost", "notamodule"}
    async with http.post(f"{fleet.url}/v1/robots", json={"type": "never"}) as response:
        assert response.status == 422
        assert (await response.json())["error"]["code"] == "unknown_robot_type"


async def test_registration_at_run_time_takes_work(fleet, http):
    spec = {
        "name": "extra",
        "class": "tests.integration.robots:Extra",
        "types": ["extra"],
        "replicas": 1,
        "max_concurrency": 4,
    }
    async with http.post(f"{fleet.url}/v1/modules", json=spec) as response:
        assert response.status == 201, await response.text()
    async with http.post(f"{fleet.url}/v1/modules", json=spec) as response:
        assert response.status == 409
    robot_id = await submit(http, fleet.url, {"type": "extra", "payload": {"ok": True}})
    robot = (await wait_terminal(http, fleet.url, [robot_id]))[robot_id]
    assert robot["status"] == "succeeded" and robot["module"] == "extra"
    await asyncio.sleep(0)
