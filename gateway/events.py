"""``GET /v1/robots/{id}/events``: server-sent events of a robot's progress and state changes.

How: the gateway polls the store for the robot every ``events_poll_s`` (0.25 s) and sends
what changed. The store already has everything a client wants to see (the orchestrator
records every transition and writes coalesced progress), so this needs no new call into
the orchestrator, survives an orchestrator restart, and works from any gateway. The cost is
one primary-key read per open stream per interval, and none once its client has left: the
stream checks its connection before every read and ends as soon as the client is gone (a
reset is the client's doing, logged at debug level, never an internal error). A state that
comes and goes within one interval (queued → running → succeeded in 0.1 s) is reported as
its end state; the terminal state is always sent, followed by a ``result`` event with the
whole robot, and then the stream ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from gateway.sse import SseWriter, client_closed, client_gone
from runtime.models import Robot, RobotEvent

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0


def robot_events(previous: Robot | None, current: Robot) -> list[RobotEvent]:
    """The events that take a client from ``previous`` (None: nothing seen) to ``current``."""
    events: list[RobotEvent] = []
    if previous is None or (previous.status, previous.attempt) != (current.status, current.attempt):
        events.append(
            RobotEvent(
                robot_id=current.id,
                attempt=current.attempt,
                kind="status",
                status=current.status,
                progress=current.progress,
                message=current.error if current.status.terminal else current.message,
                at=current.updated_at,
            )
        )
    elif (previous.progress, previous.message) != (current.progress, current.message):
        events.append(
            RobotEvent(
                robot_id=current.id,
                attempt=current.attempt,
                kind="progress",
                status=current.status,
                progress=current.progress,
                message=current.message,
                at=time.time(),
            )
        )
    return events


async def stream_robot(
    request: web.Request,
    first: Robot,
    poll_s: float,
    fetch: Callable[[str], Awaitable[Robot | None]],
) -> web.StreamResponse:
    """Send events for a robot until it is terminal or the client goes away.

    ``poll_s`` is the store poll interval in seconds; ``fetch`` reads a robot by id. A
    client that leaves is noticed before the next store read, and nothing more is read for
    it. A client that resets the connection is the client's doing, not a failure: it is
    logged at debug level, raises nothing, and a stream it left before any byte was sent
    answers ``499`` (client closed request), as the request metrics then count it.
    """
    if client_gone(request):
        return client_closed(request)
    stream = SseWriter(request, HEARTBEAT_S)
    previous: Robot | None = None
    current: Robot | None = first
    sequence = 0
    try:
        await stream.start()
        while current is not None:
            for event in robot_events(previous, current):
                sequence += 1
                await stream.send(event.kind, event.model_dump_json().encode(), sequence)
            previous = current
            if current.status.terminal:
                sequence += 1
                await stream.send("result", orjson.dumps(current.model_dump(mode="json")), sequence)
                break
            await stream.keep_alive()
            await asyncio.sleep(poll_s)
            if stream.client_gone():
                log.debug("event stream of robot %s: the client left", first.id)
                return stream.response
            current = await fetch(current.id)
        await stream.end()
    except ConnectionError as exc:  # aiohttp's ClientConnectionResetError is one too
        log.debug("event stream of robot %s: the client reset it (%s)", first.id, exc)
        if not stream.response.prepared:
            return client_closed(request)
    return stream.response
