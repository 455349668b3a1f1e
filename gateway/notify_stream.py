"""``GET /v1/notifications/stream``: the caller's notifications as server-sent events.

The feed is the one ``GET /v1/notifications`` lists (an admin key: every delivery; any
other key: the in-app notifications addressed to its key id), one ``notification`` event
per delivery when it is written to the outbox, with the delivery id as the event's ``id``.
A client that reconnects with ``Last-Event-ID`` gets every delivery after that one; a new
client starts at the newest delivery (the list holds the history).

How: like the robot event streams, the gateway polls the store every ``events_poll_s``.
Delivery ids sort by their writer's clock, and two writers (the orchestrator, the alert
receiver) may commit a little out of that order, so each read looks back
``LOOKBACK_S`` before the newest id sent and skips the ids it has sent already. A comment
line (``: keep-alive``) goes out after ``[notify] stream_heartbeat_s`` of quiet, so
proxies keep the connection; the stream ends (a clean end of the body) when the gateway
shuts down or the client leaves.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CALLER
from gateway.errors import ApiError
from gateway.http import parse
from gateway.sse import SseWriter
from gateway.state import SETTINGS, STORE
from runtime.keys import Role
from runtime.notify.outbox import Delivery
from runtime.store.base import RobotStore

__all__ = [
    "DELIVERY_ID",
    "LOOKBACK_S",
    "StreamQuery",
    "STREAMS_CLOSING",
    "close_streams",
    "delivery_floor",
    "stream_notifications",
]

log = logging.getLogger(__name__)

LOOKBACK_S = 5.0
"""How far before the newest id sent each read looks for deliveries committed late."""

STREAMS_CLOSING = web.AppKey("notify_streams_closing", asyncio.Event)
"""Set when the gateway shuts down: every open notification stream ends."""

DELIVERY_ID = re.compile(r"^msg_[0-9a-f]{24}$")
"""A delivery id: ``msg_`` and 24 hex digits (milliseconds, then random)."""

_ID_PREFIX = "msg_"
_PAGE = 200


class StreamQuery(BaseModel):
    """Query of ``GET /v1/notifications/stream``."""

    model_config = ConfigDict(extra="forbid")

    max_s: float | None = Field(
        None,
        ge=0.1,
        le=86_400,
        allow_inf_nan=False,
        description="End the stream after this many seconds (default: never).",
    )


def delivery_floor(at: float) -> str:
    """The smallest delivery id a writer whose clock read ``at`` (Unix seconds) makes."""
    return f"{_ID_PREFIX}{int(at * 1000):012x}{0:012x}"


def _id_time(delivery_id: str) -> float:
    """The writer's clock (Unix seconds) in a delivery id; 0 for an id of another shape."""
    try:
        return int(delivery_id[len(_ID_PREFIX) : len(_ID_PREFIX) + 12], 16) / 1000
    except ValueError:
        return 0.0


async def close_streams(app: web.Application) -> None:
    """``on_shutdown`` hook: end every open notification stream."""
    app[STREAMS_CLOSING].set()


async def stream_notifications(request: web.Request) -> web.StreamResponse:
    """``GET /v1/notifications/stream``: the caller's new notifications as they are written.

    ``Last-Event-ID`` (a delivery id) resumes after that delivery; one that is not a
    delivery id, or a ``max_s`` that is not a number of seconds from 0.1 to 86400, is
    refused with 422 before the stream starts. ``max_s`` ends the stream (cleanly) after
    that long; without it the stream lasts until the client leaves or the gateway stops.
    """
    query = parse(StreamQuery, dict(request.query))
    store = request.app[STORE]
    settings = request.app[SETTINGS]
    caller = request[CALLER]
    recipient = None if caller.role is Role.ADMIN else caller.id
    last = request.headers.get("Last-Event-ID")
    if last is not None:  # given, even empty: it must name a delivery
        last = last.strip()
        if not DELIVERY_ID.match(last):
            raise ApiError(422, "validation_error", "Last-Event-ID is not a delivery id (msg_...)")
        cursor = last
    else:
        newest = await store.list_deliveries(1, None, None, recipient)
        cursor = newest.deliveries[0].id if newest.deliveries else delivery_floor(time.time())
    closing = request.app[STREAMS_CLOSING]
    stream = SseWriter(request, settings.notify.stream_heartbeat_s)
    sent: dict[str, float] = {}  # ids sent within the look-back, by their id time
    newest_sent = _id_time(cursor)
    ends_at = math.inf if query.max_s is None else time.monotonic() + query.max_s
    try:
        await stream.start(retry_ms=2000)
        while not closing.is_set() and time.monotonic() < ends_at:
            floor = max(cursor, delivery_floor(newest_sent - LOOKBACK_S))
            for delivery in await _after(store, floor, recipient):
                if delivery.id in sent:
                    continue
                await stream.send("notification", orjson.dumps(delivery.public()), delivery.id)
                at = _id_time(delivery.id)
                sent[delivery.id] = at
                newest_sent = max(newest_sent, at)
            sent = {k: v for k, v in sent.items() if v >= newest_sent - LOOKBACK_S - 1}
            await stream.keep_alive()
            try:
                wait_s = min(settings.events_poll_s, max(0.0, ends_at - time.monotonic()))
                await asyncio.wait_for(closing.wait(), wait_s)
            except TimeoutError:
                pass
            if stream.client_gone():
                log.debug("notification stream of %s: the client left", caller.id)
                return stream.response
        await stream.end()
    except ConnectionError as exc:
        log.debug("notification stream of %s: the client reset it (%s)", caller.id, exc)
    return stream.response


async def _after(store: RobotStore, floor: str, recipient: str | None) -> list[Delivery]:
    """Every delivery of the feed after ``floor``, oldest first, page by page."""
    found: list[Delivery] = []
    while True:
        page = await store.deliveries_after(floor, recipient, _PAGE)
        found += page
        if len(page) < _PAGE:
            return found
        floor = page[-1].id
