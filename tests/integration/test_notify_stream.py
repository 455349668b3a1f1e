"""``GET /v1/notifications/stream`` on a real aiohttp server and SQLite store, read by a real
HTTP client: each key gets its feed as events with the delivery id as ``id:``, a reconnect
with ``Last-Event-ID`` resumes after it, quiet streams send keep-alive comments, the
stream ends cleanly when the gateway shuts down, and ``robofleet notifications follow``
prints each notification as it arrives."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient

from runtime.keys import Role, new_api_key
from runtime.notify.model import Channel
from runtime.notify.outbox import Delivery, new_delivery
from runtime.store import SqliteStore
from tests.integration.gateway_app import local_gateway

MESSAGE = {"subject": "Invoice paid", "text": "total 12.50", "html": ""}
STREAM = "/v1/notifications/stream"


def _auth(secret: str, last: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {secret}"}
    if last is not None:
        headers["Last-Event-ID"] = last
    return headers


async def _event(response: aiohttp.ClientResponse, timeout_s: float = 10.0) -> dict[str, str]:
    """The next event's fields (``id``, ``event``, ``data``); comments are under ``:``."""
    fields: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(response.content.readline(), timeout_s)).decode()
        assert line, "the stream ended"
        line = line.rstrip("\n")
        if not line:
            if fields:
                return fields
            continue
        name, _, value = line.partition(":")
        fields[name] = value.strip()
        if name == "" and "retry" not in fields:  # a comment is an event of its own here
            return fields


async def _notification(response: aiohttp.ClientResponse) -> tuple[str, dict]:
    while True:
        fields = await _event(response)
        if fields.get("event") == "notification":
            return fields["id"], json.loads(fields["data"])


async def _viewer(store: SqliteStore) -> tuple[str, str]:
    secret, record = new_api_key(Role.VIEWER)
    await store.create_api_key(record)
    return secret, record.id


def _inapp(to: str, key: str) -> Delivery:
    return new_delivery(key, Channel.INAPP, to, MESSAGE)


async def test_each_key_gets_its_feed_and_resumes_after_last_event_id(tmp_path: Path) -> None:
    async with local_gateway(tmp_path, events_poll_s=0.05) as (client, admin, store):
        secret, key_id = await _viewer(store)
        old = _inapp(key_id, "old")
        await store.add_deliveries([old])  # before the stream opens: not sent
        mine = await client.get(STREAM, headers=_auth(secret))
        every = await client.get(STREAM, headers=_auth(admin))
        assert mine.status == 200 and every.status == 200
        assert mine.headers["Content-Type"] == "text/event-stream"
        first, other, hook = (
            _inapp(key_id, "a"),
            _inapp("someone-else", "b"),
            new_delivery("c", Channel.WEBHOOK, key_id, MESSAGE),
        )
        await store.add_deliveries([first, other, hook])
        event_id, data = await _notification(mine)
        assert (event_id, data["id"], data["subject"]) == (first.id, first.id, "Invoice paid")
        assert "dedup_key" not in data
        seen = {(await _notification(every))[0] for _ in range(3)}
        assert seen == {first.id, other.id, hook.id}
        mine.close()

        second, third = _inapp(key_id, "d"), _inapp(key_id, "e")
        await store.add_deliveries([second, third])  # written while the viewer is away
        again = await client.get(STREAM, headers=_auth(secret, first.id))
        # in id order (two ids of one millisecond sort by their random part)
        expected = sorted([second.id, third.id])
        assert [(await _notification(again))[0] for _ in range(2)] == expected
        again.close()
        every.close()

        refused = await client.get(STREAM, headers=_auth(secret, "not-an-id"))
        assert refused.status == 422
        assert "Last-Event-ID" in (await refused.json())["error"]["message"]


async def test_a_quiet_stream_sends_keep_alive_comments(tmp_path: Path) -> None:
    settings = {"events_poll_s": 0.05, "notify": {"stream_heartbeat_s": 0.2}}
    async with local_gateway(tmp_path, **settings) as (client, admin, _store):
        response = await client.get(STREAM, headers=_auth(admin))
        comments = 0
        while comments < 2:
            fields = await _event(response, timeout_s=5.0)
            comments += fields.get("") == "keep-alive"
        response.close()
        bounded = await client.get(STREAM + "?max_s=0.5", headers=_auth(admin))
        assert bounded.status == 200
        await asyncio.wait_for(bounded.content.read(), 5)  # ends by itself
        assert bounded.content.at_eof()
        refused = await client.get(STREAM + "?max_s=0", headers=_auth(admin))
        assert refused.status == 422


async def test_the_stream_ends_cleanly_when_the_gateway_shuts_down(tmp_path: Path) -> None:
    async with local_gateway(tmp_path, events_poll_s=0.05) as (client, admin, store):
        response = await client.get(STREAM, headers=_auth(admin))
        await store.add_deliveries([_inapp("k", "a")])
        await _notification(response)
        started = asyncio.get_running_loop().time()
        await _close_server(client)
        rest = await asyncio.wait_for(response.content.read(), 10)
        assert rest == b""  # a clean end of the chunked body, no reset
        assert response.content.at_eof()
        assert asyncio.get_running_loop().time() - started < 5


async def _close_server(client: TestClient) -> None:
    await client.server.close()


async def test_follow_prints_each_notification_as_it_arrives(tmp_path: Path) -> None:
    async with local_gateway(tmp_path, events_poll_s=0.05) as (client, _admin, store):
        secret, key_id = await _viewer(store)
        seen = _inapp(key_id, "seen")
        await store.add_deliveries([seen])
        url = str(client.make_url("/"))
        env = {**os.environ, "ROBOFLEET_API_KEY": secret}
        follower = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cluster.cli", "notifications", "follow", "--url", url,
            "--after", seen.id, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            for key in ("a", "b"):
                delivery = _inapp(key_id, key)
                await store.add_deliveries([delivery])
                assert follower.stdout is not None
                line = await asyncio.wait_for(follower.stdout.readline(), 20)
                assert line.decode().startswith(delivery.id), line
        finally:
            follower.terminate()
            await follower.wait()
