"""The HTTP floor: what this machine answers with a bare aiohttp app under the same load.

One process (uvloop, like the gateway's Ray worker) serves ``POST /v1/robots`` by reading
and parsing the JSON body and answering ``202`` with a robot-sized JSON body: no auth, no
validation, no actor call, no store. wrk drives it at the submit scenario's connection
levels. Its latency is the part of robofleet's submit latency that the machine and the
HTTP stack take before robofleet does anything; the rest is robofleet's own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

from bench.fleet import ROOT, free_port, pythonpath
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


async def run(sizes: Sizes) -> dict[str, Any]:
    """Throughput and latency percentiles of the bare app at each submit level."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.http_floor", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": pythonpath()},
    )
    try:
        await _wait_listening(port, process)
        url = f"http://127.0.0.1:{port}/v1/robots"
        rows = await measure_levels(url, sizes.submit_levels, sizes, "requests_per_s")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
    return {"levels": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="serve the bare aiohttp floor app")
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
