"""A body whose Content-Encoding aiohttp's parser cannot decode (zstd without a zstd package)
gets the gateway's 415 JSON error, like any other encoding robofleet does not take."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from gateway.http import GatewayRunner


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def writelines(self, data) -> None:  # type: ignore[no-untyped-def]
        for chunk in data:
            self.write(chunk)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        return None

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def _answer(encoding: str) -> bytes:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text="read")

    app = web.Application()
    app.router.add_post("/v1/robots", echo)
    runner = GatewayRunner(app, access_log=None)
    await runner.setup()
    try:
        assert runner.server is not None
        connection = runner.server()
        transport = _Transport()
        connection.connection_made(transport)
        body = b"\x28\xb5\x2f\xfd" + b"x" * 10
        connection.data_received(
            b"POST /v1/robots HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: " + encoding.encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        for _ in range(200):
            head, _, body = bytes(transport.written).partition(b"\r\n\r\n")
            length = [h for h in head.split(b"\r\n") if h.startswith(b"Content-Length: ")]
            if length and len(body) >= int(length[0].split()[1]):
                break
            await asyncio.sleep(0.005)
        connection.connection_lost(None)
        return bytes(transport.written)
    finally:
        await runner.cleanup()


async def test_zstd_gets_the_415_json_error_not_aiohttps_text():
    raw = await _answer("zstd")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split()[1] == b"415", raw
    assert b"application/json" in head
    error = orjson.loads(body)["error"]
    assert error["code"] == "unsupported_media_type"
    assert "Content-Encoding is not supported" in error["message"]
    assert error["request_id"]
    assert b"backports" not in raw
