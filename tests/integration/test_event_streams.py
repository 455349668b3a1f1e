"""Event streams whose clients go away, on a real aiohttp server and SQLite store.

Hundreds of clients open ``GET /v1/robots/{id}/events`` on a robot that stays queued, read
the first event and leave: half close their connection, half reset it. The gateway must
stop reading the store for them, log no error, and count none of them as a 500.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.app import create_app
from runtime.config import Settings
from runtime.keys import Role, new_api_key
from runtime.models import Robot, new_robot_id
from runtime.store import SqliteStore
from tests.integration.conftest import free_port
from tests.integration.gateway_app import FakeControlPlane

STREAMS = 200
EVENTS_ROUTE = "/v1/robots/{robot_id}/events"


async def _open_and_leave(host: str, port: int, path: str, secret: str, reset: bool) -> None:
    """Open an event stream, read its first event, then close or reset the connection."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {secret}\r\n\r\n".encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"event: status"), 30)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    if reset:  # linger 0: close() sends RST instead of FIN
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    if not reset:
        await writer.wait_closed()


def _count(metrics: str, status: str) -> float:
    """The request count of the events route with ``status`` in a /metrics text."""
    total = 0.0
    for line in metrics.splitlines():
        if (
            line.startswith("robofleet_http_requests_total{")
            and f'route="{EVENTS_ROUTE}"' in line
            and f'status="{status}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


@asynccontextmanager
async def served_gateway(data_dir: Path) -> AsyncIterator[tuple[str, int, str, SqliteStore]]:
    """The gateway app served the way ``gateway/actor.py`` serves it (an ``AppRunner``, so a
    gone client does not cancel its handler); yields host, port, an admin key, the store."""
    store = SqliteStore(data_dir / "robofleet.db")
    settings = Settings(data_dir=data_dir, events_poll_s=0.05)
    runner = web.AppRunner(create_app(settings, FakeControlPlane(store), store), access_log=None)
    await runner.setup()
    try:
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        secret, record = new_api_key(Role.ADMIN)
        await store.create_api_key(record)
        yield "127.0.0.1", port, secret, store
    finally:
        await runner.cleanup()


async def test_streams_of_gone_clients_stop_and_are_no_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        served_gateway(tmp_path) as (host, port, secret, store),
        aiohttp.ClientSession(
            f"http://{host}:{port}", headers={"Authorization": f"Bearer {secret}"}
        ) as http,
    ):
        robot = Robot(id=new_robot_id(), type="echo")  # the fake control plane never runs it
        await store.create_robots([robot])
        reads = 0
        get_robot = store.get_robot

        async def counted_get_robot(robot_id: str) -> Robot | None:
            nonlocal reads
            reads += 1
            return await get_robot(robot_id)

        store.get_robot = counted_get_robot  # type: ignore[method-assign]
        async with http.get("/metrics") as response:
            before = await response.text()

        path = f"/v1/robots/{robot.id}/events"
        with caplog.at_level(logging.INFO):
            await asyncio.gather(
                *(
                    _open_and_leave(host, port, path, secret, reset=i % 2 == 0)
                    for i in range(STREAMS)
                )
            )
            # Each stream looks at its client before every poll; twenty polls on, none reads.
            await asyncio.sleep(1.0)
            settled = reads
            await asyncio.sleep(1.0)
            assert reads == settled, "event streams kept reading the store for gone clients"

            async with http.get("/metrics") as response:
                after = await response.text()
        assert _count(after, "500") == _count(before, "500")
        assert _count(after, "200") - _count(before, "200") == STREAMS
        loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
        assert not loud, [r.getMessage() for r in loud[:3]]
