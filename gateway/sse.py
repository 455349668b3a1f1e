"""The server-sent event writer every event stream of the gateway uses: the robot event
streams (:mod:`gateway.events`) and the notification stream (:mod:`gateway.notify_stream`).

It opens the ``text/event-stream`` answer (no caching, no proxy buffering, the request id),
writes one frame per event, sends a ``: keep-alive`` comment after a quiet spell so proxies
keep the connection, tells whether the client has left, and answers ``499`` (client closed
request) for a client that left before the first byte.
"""

from __future__ import annotations

import time

from aiohttp import web

from gateway.errors import CLIENT_CLOSED, REQUEST_ID, REQUEST_ID_HEADER

__all__ = ["SseWriter", "client_closed", "client_gone", "sse_frame"]


def sse_frame(event: str, data: bytes, event_id: int | str | None = None) -> bytes:
    """One server-sent event; ``event_id`` (a sequence number or a delivery id) is its ``id:``."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\n".encode() + b"data: " + data + b"\n\n"


def client_gone(request: web.Request) -> bool:
    """Whether the client of ``request`` closed or reset its connection."""
    transport = request.transport
    return transport is None or transport.is_closing()


def client_closed(request: web.Request) -> web.Response:
    """What a request whose client left before the answer began is counted as (``499``)."""
    headers = {REQUEST_ID_HEADER: request.get(REQUEST_ID, "")}
    return web.Response(status=CLIENT_CLOSED, reason="Client Closed Request", headers=headers)


class SseWriter:
    """One server-sent event stream answering ``request``.

    ``heartbeat_s`` is the quiet spell (seconds, monotonic clock) after which
    :meth:`keep_alive` writes a comment. Writes raise ``ConnectionError`` once the client
    has reset the connection (aiohttp's ``ClientConnectionResetError`` is one); the caller
    ends its stream on it.
    """

    def __init__(self, request: web.Request, heartbeat_s: float) -> None:
        self.request = request
        self.heartbeat_s = heartbeat_s
        self.response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                REQUEST_ID_HEADER: request.get(REQUEST_ID, ""),
            }
        )
        self.quiet_since = time.monotonic()

    async def start(self, retry_ms: int | None = None) -> None:
        """Send the answer's head; ``retry_ms`` tells clients how long to wait before they
        reconnect (the ``retry:`` field), when given."""
        await self.response.prepare(self.request)
        if retry_ms is not None:
            await self.response.write(f"retry: {retry_ms}\n\n".encode())
        self.quiet_since = time.monotonic()

    async def send(self, event: str, data: bytes, event_id: int | str | None = None) -> None:
        """Write one event (see :func:`sse_frame`)."""
        await self.response.write(sse_frame(event, data, event_id))
        self.quiet_since = time.monotonic()

    async def keep_alive(self) -> None:
        """Write a ``: keep-alive`` comment when nothing went out for ``heartbeat_s``."""
        if time.monotonic() - self.quiet_since >= self.heartbeat_s:
            await self.response.write(b": keep-alive\n\n")
            self.quiet_since = time.monotonic()

    def client_gone(self) -> bool:
        """Whether the client closed or reset its connection."""
        return client_gone(self.request)

    async def end(self) -> None:
        """End the body cleanly (the client sees the stream end, not a reset)."""
        await self.response.write_eof()
