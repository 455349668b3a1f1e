"""Real receivers for the notification tests: webhook endpoints (aiohttp servers on free
ports that verify each request with the Standard Webhooks reference ``Webhook.verify`` and
fail on demand). The SMTP server is :class:`cluster.smtp_sink.SmtpSink`."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from tests.integration.conftest import free_port


def new_secret(seed: str) -> str:
    """A ``whsec_`` secret (32 bytes, base64) derived from ``seed``."""
    return "whsec_" + base64.b64encode(seed.encode().ljust(32, b"_")[:32]).decode()


@dataclass
class WebhookReceiver:
    """One endpoint. ``mode``: ``ok``, ``flaky`` (``fail_rate`` of requests answer 500,
    hang past the sender's timeout, or reset the connection, after the id is seen), ``gone``
    (410), ``broken`` (always 500), ``redirect`` (302 to ``redirect_to``) or ``throttle``
    (429 with ``Retry-After: 1`` to each id's first request)."""

    secret: str
    mode: str = "ok"
    fail_rate: float = 0.0
    hang_s: float = 1.0
    redirect_to: str = ""
    seed: int = 7
    requests: int = 0
    bad_signatures: int = 0
    seen: Counter[str] = field(default_factory=Counter)
    delivered: dict[str, Any] = field(default_factory=dict)
    """Delivery id -> payload, for the requests answered 2xx (each id once)."""
    failures: Counter[str] = field(default_factory=Counter)
    arrivals: dict[str, float] = field(default_factory=dict)
    """Delivery id -> Unix time its 2xx answer was made."""
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.read()
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.Response(status=400, text="bad signature")
        delivery_id = request.headers["webhook-id"]
        self.seen[delivery_id] += 1
        if self.mode == "gone":
            return web.Response(status=410)
        if self.mode == "broken":
            self.failures["500"] += 1
            return web.Response(status=500)
        if self.mode == "redirect":
            self.failures["302"] += 1
            raise web.HTTPFound(self.redirect_to)
        if self.mode == "throttle" and self.seen[delivery_id] == 1:
            self.failures["429"] += 1
            return web.Response(status=429, headers={"Retry-After": "1"})
        if self.mode == "flaky" and self._random.random() < self.fail_rate:
            kind = self._random.choice(("500", "timeout", "reset"))
            self.failures[kind] += 1
            if kind == "timeout":
                await asyncio.sleep(self.hang_s)
            elif kind == "reset":
                assert request.transport is not None
                request.transport.abort()
                return web.Response(status=500)
            return web.Response(status=500)
        self.delivered.setdefault(delivery_id, payload)
        self.arrivals.setdefault(delivery_id, time.time())
        return web.Response(status=204)

    async def start(self, port: int | None = None) -> WebhookReceiver:
        """Listen on ``port`` (default: a free one)."""
        self._random = random.Random(self.seed)
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
