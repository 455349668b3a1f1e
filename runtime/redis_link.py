"""One connection to Redis that falls back while Redis is away and reconnects by itself.

The rate limiter and the cache's Redis tier hold a :class:`RedisLink` each. Calls go through
``link.client`` while ``link.up``; a call that fails goes to :meth:`RedisLink.went_down`, which
switches the owner to its local state (logged once per outage, reported to ``on_state`` and
``on_fallback`` for the owner's metrics) and starts one background task that pings with
backoff until Redis answers. Before the link is up again, the owner's ``on_recover`` runs
(e.g. the cache writes back what changed meanwhile); if it fails, the task keeps trying.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from runtime.backoff import backoff_delay
from runtime.tasks import BackgroundTasks

log = logging.getLogger(__name__)


class RedisLink:
    """A ``redis.asyncio`` client with short timeouts, no retries, and self-healing.

    ``name`` starts every log line (``"rate limiter"``, ``"cache"``); ``while_down`` and
    ``when_back`` end the outage and recovery lines. Reconnection waits ``backoff_min_s``
    seconds, doubling up to ``backoff_max_s``, each wait spread by +-``jitter`` (a fraction).
    """

    def __init__(
        self,
        url: str,
        name: str,
        *,
        while_down: str = "local state until it is back",
        when_back: str = "shared again",
        timeout_s: float = 0.25,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 5.0,
        jitter: float = 0.2,
        on_state: Callable[[bool], None] | None = None,
        on_fallback: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.while_down = while_down
        self.when_back = when_back
        self.timeout_s = timeout_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.jitter = jitter
        self.on_state = on_state
        self.on_fallback = on_fallback
        self.on_recover: Callable[[], Awaitable[None]] | None = None
        self.client: Any = None
        self._up = False
        self._reported = False  # the current outage has been logged
        self._tasks = BackgroundTasks(f"{name} Redis link")
        self._reconnect: asyncio.Task[Any] | None = None

    @property
    def up(self) -> bool:
        """Whether calls currently go to Redis."""
        return self._up

    def connect(self) -> Any:
        """Create the client (no I/O yet) and return it; scripts may be registered on it."""
        from redis.asyncio import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.client = Redis.from_url(
            self.url,
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        return self.client

    async def start(self) -> None:
        """Connect and ping once; if Redis does not answer, fall back and keep trying."""
        if self.client is None:
            self.connect()
        try:
            await self.client.ping()
        except Exception as exc:
            self.went_down(exc)
            return
        self._set_up(True)

    async def close(self) -> None:
        """Stop reconnecting and close the connection pool."""
        self._tasks.cancel_all()
        self._reconnect = None
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def went_down(self, exc: BaseException) -> None:
        """Switch the owner to local state (logged once per outage) and start reconnecting.

        Call it from the running loop with the exception a Redis call raised.
        """
        if not self._reported:
            self._reported = True
            log.warning(
                "%s: Redis at %s is unavailable (%s); %s",
                self.name,
                safe_url(self.url),
                type(exc).__name__,
                self.while_down,
            )
            if self.on_fallback is not None:
                self.on_fallback()
        self._set_up(False)
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = self._tasks.spawn(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        spread = (1 - self.jitter, 1 + self.jitter)
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(
                backoff_delay(attempt, self.backoff_min_s, self.backoff_max_s, spread=spread)
            )
            try:
                # Pooled connections to a restarted server are dead: drop them all at once
                # rather than failing (and falling back) once per connection.
                await self.client.connection_pool.disconnect()
                await self.client.ping()
                if self.on_recover is not None:
                    await self.on_recover()
            except Exception:
                continue
            log.warning(
                "%s: Redis at %s is back; %s", self.name, safe_url(self.url), self.when_back
            )
            self._reported = False
            self._set_up(True)
            return

    def _set_up(self, up: bool) -> None:
        self._up = up
        if self.on_state is not None:
            self.on_state(up)


def safe_url(url: str | None) -> str:
    """A Redis URL without its password, for logs."""
    if not url or "@" not in url:
        return url or ""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
