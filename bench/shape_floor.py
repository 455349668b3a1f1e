"""The shape floor: robofleet's submit design with none of robofleet's own work in it.

A bare aiohttp handler runs inside a Ray actor (:class:`WaveHost`, on the actor's uvloop
event loop, as the gateway does). It parses each ``POST /v1/robots`` body, collects the
requests that arrive together into a wave and makes ONE Ray call per wave to a second actor
(:class:`WaveAnswerer`) that answers at once with one id per request, then answers each
request ``202``. No auth, no validation, no store, no queue: what is left is the shape (HTTP
in an actor, a wave, an actor call, the answers), so robofleet's submit p99 divided by this
floor's p99 at the same load says what robofleet's own work costs on top of its design.

The wave logic is a minimal mirror of the gateway's submit batching
(``gateway/batching.py``, not imported: this is a floor): a call goes out at once when none
is in flight; while one is, later requests pile up and go together when it returns; a second
call may overlap the first once half the crowd waits (the crowd being the most requests held
at once, forgotten slowly), at most :data:`OVERLAP` requests, two calls in flight at most.

wrk drives it at the submit scenario's connection levels with the submit scenario's bodies
(:func:`bench.submit.measure_levels`); rows are shaped like the HTTP floor's.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from bench.fleet import free_port
from bench.sizes import Sizes
from bench.submit import measure_levels
from runtime.heap import settle_heap

MAX_IN_FLIGHT = 2  # as the gateway's SubmitBatcher
OVERLAP = 32  # its min_overlap: at most this many must wait before a second call overlaps
CROWD_DECAY = 0.01  # its crowd estimate: up at once, down by 1% of the gap per request
ANSWER = b'{"id":"%d","status":"queued"}'


class WaveAnswerer:
    """The second actor: answers a wave at once with one id per request (no work)."""

    def __init__(self) -> None:
        self.next_id = 0
        self.calls = 0
        settle_heap()  # as robofleet's actors do after start-up

    async def accept(self, count: int) -> list[int]:
        """``count`` consecutive ids, one per request of the wave."""
        first = self.next_id
        self.next_id += count
        self.calls += 1
        return list(range(first, first + count))

    def figures(self) -> dict[str, int]:
        """Calls answered and ids handed out so far."""
        return {"calls": self.calls, "ids": self.next_id}


class Waves:
    """Requests that arrive together go out in one call of ``send`` (a count -> its ids)."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self._pending: list[asyncio.Future[int]] = []
        self._in_flight = 0
        self._in_flight_requests = 0
        self._crowd = float(OVERLAP * MAX_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0

    async def add(self) -> int:
        """Wait for this request's wave to be answered; return its id."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        held = float(len(self._pending) + self._in_flight_requests)
        self._crowd = max(held, self._crowd - (self._crowd - held) * CROWD_DECAY)
        self._kick()
        return await future

    # Mirrors SubmitBatcher._may_send and overlap_at (gateway/batching.py), same rule and
    # constants. Not imported: SubmitBatcher carries the gateway's SubmitRequest/SubmitAnswer
    # types, its max_batch split and its max_wait_s timer, work the floor leaves out by
    # design. A change to the rule there belongs here too.
    def _may_send(self) -> bool:
        if not self._pending:
            return False
        if self._in_flight == 0:
            return True
        overlap_at = max(1, min(OVERLAP, math.ceil(self._crowd / MAX_IN_FLIGHT)))
        return self._in_flight < MAX_IN_FLIGHT and len(self._pending) >= overlap_at

    def _kick(self) -> None:
        while self._may_send():
            wave, self._pending = self._pending, []
            self._in_flight += 1
            self._in_flight_requests += len(wave)
            task = asyncio.ensure_future(self._flush(wave))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, wave: list[asyncio.Future[int]]) -> None:
        try:
            self.calls += 1
            ids = await self._send(len(wave))
            for future, robot_id in zip(wave, ids, strict=True):
                if not future.done():
                    future.set_result(robot_id)
        except Exception as exc:
            for future in wave:
                if not future.done():
                    future.set_exception(exc)
        finally:
            self._in_flight -= 1
            self._in_flight_requests -= len(wave)
            self._kick()


class WaveHost:
    """The first actor: the bare aiohttp app on 127.0.0.1:``port``, one Ray call per wave."""

    async def __init__(self, port: int, answerer: Any) -> None:  # type: ignore[misc]
        import orjson
        from aiohttp import web

        async def send(count: int) -> list[int]:
            return await answerer.accept.remote(count)  # type: ignore[no-any-return]

        self._waves = Waves(send)

        async def accept(request: web.Request) -> web.Response:
            orjson.loads(await request.read())
            robot_id = await self._waves.add()
            return web.Response(status=202, body=ANSWER % robot_id, content_type="application/json")

        app = web.Application()
        app.router.add_post("/v1/robots", accept)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port, backlog=2048).start()
        settle_heap()  # as the gateway does after start-up

    def calls(self) -> int:
        """Ray calls made to the answerer so far (one per wave)."""
        return self._waves.calls

    async def shutdown(self) -> None:
        """Stop serving."""
        await self._runner.cleanup()


def _start(port: int) -> tuple[Any, Any]:
    import ray

    answerer = ray.remote(num_cpus=0)(WaveAnswerer).remote()
    host = ray.remote(num_cpus=0)(WaveHost).remote(port, answerer)
    ray.get(host.calls.remote(), timeout=60)  # its __init__ has run: it listens
    return host, answerer


async def run(sizes: Sizes) -> dict[str, Any]:
    """Throughput and latency percentiles of the shape floor at each submit level.

    Returns ``levels`` (rows of :func:`bench.submit.load_row`, with ``requests_per_s``) and
    ``waves`` (Ray calls made) and ``requests_per_wave`` over the whole run.
    """
    import ray

    port = free_port()
    host, answerer = await asyncio.to_thread(_start, port)
    try:
        url = f"http://127.0.0.1:{port}/v1/robots"
        rows = await measure_levels(url, sizes.submit_levels, sizes, "requests_per_s")
        figures = await answerer.figures.remote()
        await host.shutdown.remote()
    finally:
        ray.kill(host)
        ray.kill(answerer)
    calls = figures["calls"]
    return {
        "levels": rows,
        "waves": calls,
        "requests_per_wave": round(figures["ids"] / calls, 1) if calls else None,
    }
