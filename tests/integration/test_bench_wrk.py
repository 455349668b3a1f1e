"""wrk's counted mode, which sends the end-to-end and dispatch robots of the benchmarks.

A small aiohttp server stands in for the gateway and counts what it stored, so the test
sees what a robofleet would: exactly the robots asked for, refused ones sent again after
their ``Retry-After``, and a run that ends as soon as the last one is in.
"""

from __future__ import annotations

import time

import pytest
from aiohttp import web

from bench import wrk
from bench.loadgen import Load
from tests.integration.conftest import free_port, service_missing

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway_stand_in():
    """A server answering ``POST /v1/robots``; refuses the first request and every 7th."""
    seen = {"posts": 0, "stored": 0, "refused_at": []}

    async def submit(request: web.Request) -> web.Response:
        await request.read()
        seen["posts"] += 1
        if seen["posts"] == 1 or seen["posts"] % 7 == 0:
            seen["refused_at"].append(time.monotonic())
            retry = "1" if seen["posts"] == 1 else "0"
            headers = {"Retry-After": retry}
            return web.json_response({"error": "slow down"}, status=429, headers=headers)
        seen["stored"] += 1
        return web.json_response({"id": str(seen["stored"])}, status=202)

    app = web.Application()
    app.router.add_post("/v1/robots", submit)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/v1/robots", seen
    await runner.cleanup()


async def test_a_counted_run_stores_exactly_the_robots_asked_for(gateway_stand_in):
    if wrk.missing():
        service_missing(wrk.missing() or "")
    url, seen = gateway_stand_in
    started = time.monotonic()
    out = await wrk.send(Load(url=url, connections=8, requests=300, robot_type="echo"))
    elapsed = time.monotonic() - started
    assert seen["stored"] == 300
    assert out["ok"] == 300
    assert out["statuses"]["429"] == len(seen["refused_at"]) == seen["posts"] - 300
    # the first refusal said "Retry-After: 1": its replacement waited, the run did not hang
    assert 1.0 <= elapsed < 30


async def test_a_counted_run_that_cannot_finish_says_so(gateway_stand_in):
    if wrk.missing():
        service_missing(wrk.missing() or "")
    url, _ = gateway_stand_in
    with pytest.raises(RuntimeError, match="robots accepted"):
        await wrk.send(Load(url=url.replace("/v1/robots", "/nowhere"), connections=2, requests=5))
