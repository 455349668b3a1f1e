"""The HTTP floor: what this machine answers with a bare aiohttp app under the same load.

One process (uvloop, like the gateway's Ray worker) serves ``POST /v1/robots`` by reading
and parsing the JSON body and answering ``202`` with a robot-sized JSON body: no auth, no
validation, no actor call, no store. wrk drives it at the submit scenario's connection
levels (:func:`run`) and at the open-loop scenario's offered rates (:func:`open_loop`). Its
latency is the part of robofleet's submit latency that the machine and the HTTP stack take
before robofleet does anything; the rest is robofleet's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from bench.fleet import ROOT, free_port, pythonpath
from bench.open_loop import at_rates as open_loop_rows
from bench.sizes import Sizes
from bench.submit import measure_levels

ANSWER = b'{"id":"0192d3f4a5b60000000000000000","status":"queued"}'
START_TIMEOUT_S = 30.0


def serve(port: int) -> None:
    """Serve the bare app on 127.0.0.1:``port`` until stopped."""
    import orjson
    import uvloop
    from aiohttp import web

    async def accept(request: web.Request) -> web.Response:
        orjson.loads(await request.read())
        return web.Response(status=202, body=ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/robots", accept)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def _wait_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the floor server exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise TimeoutError("the floor server did not listen in time")


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[str]:
    """The bare app in a process of its own for the block; yields its ``POST`` URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.http_floor", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": pythonpath()},
    )
    try:
        await _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}/v1/robots"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


async def run(sizes: Sizes) -> dict[str, Any]:
    """Throughput and latency percentiles of the bare app at each submit level."""
    async with serving() as url:
        rows = await measure_levels(url, sizes.submit_levels, sizes, "requests_per_s")
    return {"levels": rows}


async def open_loop(
    rates: dict[str, list[tuple[float, float]]], sizes: Sizes
) -> dict[str, list[dict[str, Any]]]:
    """The bare app at robofleet's open-loop rates: ``{store: [(fraction, rate/s)]}`` in,
    ``{store: rows}`` out, rows as :func:`bench.open_loop.at_rates` makes them. A rate that
    two stores share is measured once.
    """
    measured: dict[tuple[float, float], dict[str, Any]] = {}
    async with serving() as url:
        for pairs in rates.values():
            for pair in pairs:
                if pair not in measured:
                    measured[pair] = (await open_loop_rows(url, [pair], sizes))[0]
    return {store: [measured[pair] for pair in pairs] for store, pairs in rates.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="serve the bare aiohttp floor app")
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
