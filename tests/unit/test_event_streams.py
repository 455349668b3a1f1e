"""Event streams without a socket: a gone client is noticed at once and a reset is no error.

The request is aiohttp's mocked request over a transport the test closes and a writer that
records frames (or fails the way aiohttp's does once the peer reset the connection).
"""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import pytest
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.test_utils import make_mocked_request
from aiohttp.web import Request

from gateway.errors import CLIENT_CLOSED
from gateway.events import stream_robot
from runtime.models import Robot, RobotStatus

S = RobotStatus
POLL_S = 0.01


class Transport:
    """Stands for the client's connection; ``is_closing`` once the client left."""

    def __init__(self) -> None:
        self.closing = False

    def is_closing(self) -> bool:
        """Whether the connection is going away."""
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """No peer details."""
        return default


class Writer:
    """Records what the stream writes; raises as aiohttp does once ``reset`` is set."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.reset = False
        self.eof = False
        self.buffer_size = 0
        self.output_size = 0

    async def write_headers(self, status_line: str, headers: Any) -> None:
        """Headers are buffered, as aiohttp's writer does."""

    def send_headers(self) -> None:
        """Nothing to flush."""

    def enable_chunking(self) -> None:
        """Streams are chunked."""

    async def write(self, data: bytes, *args: Any, **kwargs: Any) -> None:
        """Record a frame, or fail like a write to a reset connection."""
        if self.reset:
            raise ClientConnectionResetError("Cannot write to closing transport")
        self.frames.append(bytes(data))

    async def write_eof(self, data: bytes = b"") -> None:
        """The stream ended."""
        self.eof = True

    async def drain(self) -> None:
        """Nothing buffered."""


class Store:
    """Answers reads of one robot from a script of states; counts the reads."""

    def __init__(self, states: list[Robot], on_read: Any = None) -> None:
        self.states = states
        self.reads = 0
        self.on_read = on_read

    async def get_robot(self, robot_id: str) -> Robot | None:
        """The next scripted state (the last one forever)."""
        self.reads += 1
        if self.on_read is not None:
            self.on_read(self.reads)
        return self.states[min(self.reads, len(self.states)) - 1]


def robot(status: RobotStatus, progress: float = 0.0) -> Robot:
    """The same robot in another state."""
    return Robot(id="r-1", type="task", status=status, progress=progress)


def request(transport: Transport, writer: Writer) -> Request:
    """A mocked ``GET /v1/robots/r-1/events`` over ``transport``."""
    protocol = mock.Mock(transport=transport)
    return make_mocked_request(
        "GET", "/v1/robots/r-1/events", protocol=protocol, transport=transport, writer=writer
    )


async def test_a_stream_sends_each_change_then_the_result() -> None:
    transport, writer = Transport(), Writer()
    store = Store([robot(S.RUNNING, 0.5), robot(S.RUNNING, 0.5), robot(S.SUCCEEDED, 1.0)])
    response = await stream_robot(
        request(transport, writer), robot(S.QUEUED), POLL_S, store.get_robot
    )
    assert response.status == 200
    kinds = [frame.split(b"\n")[1] for frame in writer.frames]
    assert kinds == [b"event: status", b"event: status", b"event: status", b"event: result"]
    assert writer.eof and store.reads == 3


async def test_a_gone_client_is_noticed_before_the_next_store_read() -> None:
    transport, writer = Transport(), Writer()

    def leave_after_the_second_read(reads: int) -> None:
        if reads == 2:
            transport.closing = True

    store = Store([robot(S.RUNNING)], on_read=leave_after_the_second_read)
    await stream_robot(request(transport, writer), robot(S.QUEUED), POLL_S, store.get_robot)
    assert store.reads == 2  # no read for a client that is not there


async def test_a_client_reset_is_no_error(caplog: pytest.LogCaptureFixture) -> None:
    transport, writer = Transport(), Writer()

    def reset_on_the_first_read(reads: int) -> None:
        writer.reset = True  # the next write meets a reset connection

    store = Store([robot(S.RUNNING)], on_read=reset_on_the_first_read)
    with caplog.at_level(logging.DEBUG):
        response = await stream_robot(
            request(transport, writer), robot(S.QUEUED), POLL_S, store.get_robot
        )
    assert response.status == 200 and store.reads == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_client_gone_before_the_first_byte_is_counted_as_closed() -> None:
    transport, writer = Transport(), Writer()
    transport.closing = True
    store = Store([robot(S.RUNNING)])
    response = await stream_robot(
        request(transport, writer), robot(S.QUEUED), POLL_S, store.get_robot
    )
    assert response.status == CLIENT_CLOSED and not response.prepared
    assert store.reads == 0 and writer.frames == []
