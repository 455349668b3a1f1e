"""The gateway's way to the cache actor: coalesced reads, background fills, store fallback.

Concurrent requests share one actor call: a read goes out at once when no call is in flight,
and reads arriving meanwhile leave together in the next one. Nothing here ever fails a
request: a cache that does not answer within ``timeout_s`` is a miss, and after a failure
the gateway leaves the cache alone for ``retry_after_s`` (it is restarting, most likely).

Besides robot reads this is the generic cache API of the gateway (:meth:`get`, :meth:`set`,
:meth:`evict`), e.g. for API-key validation: ``await cache.get(CacheKind.API_KEY, hash)``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from actors.cache import CacheCalls
from runtime.cache import CacheKind
from runtime.messages import CacheEntry, CacheFill, CacheKeys, CacheStatsSnapshot, FillToken
from runtime.tasks import BackgroundTasks

log = logging.getLogger(__name__)

Lookup = tuple[bytes | None, FillToken | None]
"""A value (None on a miss) and the token a fill of it must carry; within the gateway only."""


class GatewayCache:
    """Batched, never-failing access to the cache actor for one gateway."""

    def __init__(
        self,
        calls: CacheCalls | None,
        timeout_s: float = 0.25,
        retry_after_s: float = 1.0,
        max_batch: int = 512,
        max_in_flight: int = 2,
    ) -> None:
        self.calls = calls
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._reads: list[tuple[str, str, asyncio.Future]] = []  # kind, key, reader
        self._reads_in_flight = 0
        self._fills: list[CacheFill] = []
        self._fill_scheduled = False
        self._skip_until = 0.0
        self._tasks = BackgroundTasks("gateway cache client")
        self.calls_made = 0
        self.failures = 0

    @property
    def available(self) -> bool:
        """Whether the cache is worth asking right now."""
        return self.calls is not None and time.monotonic() >= self._skip_until

    # -- reads ---------------------------------------------------------------------------

    async def lookup(self, kind: CacheKind, key: str) -> Lookup:
        """A key's value (None on a miss) and the token a fill of it must carry."""
        if not self.available:
            return None, None
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._reads.append((kind.value, key, future))
        self._kick_reads()
        result: Lookup = await future
        return result

    async def get(self, kind: CacheKind, key: str) -> bytes | None:
        """A key's value, or None on a miss or when the cache is unavailable."""
        value, _ = await self.lookup(kind, key)
        return value

    def _kick_reads(self) -> None:
        while self._reads and self._reads_in_flight < self.max_in_flight:
            batch, self._reads = self._reads[: self.max_batch], self._reads[self.max_batch :]
            self._reads_in_flight += 1
            self._tasks.spawn(self._read(batch))

    async def _read(self, batch: list[tuple[str, str, asyncio.Future]]) -> None:
        values: list[bytes | None] = [None] * len(batch)
        token: FillToken | None = None
        try:
            if self.available and self.calls is not None:
                self.calls_made += 1
                keys = CacheKeys([kind for kind, _, _ in batch], [key for _, key, _ in batch])
                read = await asyncio.wait_for(self.calls.get_many(keys), self.timeout_s)
                values, token = read.values, read.token
        except Exception as exc:
            self._failed(exc)
            values, token = [None] * len(batch), None
        finally:
            self._reads_in_flight -= 1
        for (_, _, future), value in zip(batch, values, strict=True):
            if not future.done():
                future.set_result((value, token))
        self._kick_reads()

    # -- writes --------------------------------------------------------------------------

    def fill(
        self, kind: CacheKind, key: str, value: bytes, version: int | None, token: FillToken | None
    ) -> None:
        """Offer what a miss read from the store back to the cache, in the background."""
        if token is None or not self.available:
            return
        self._fills.append(CacheFill(kind.value, key, value, version, token))
        if not self._fill_scheduled:
            self._fill_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_fills)

    def _flush_fills(self) -> None:
        self._fill_scheduled = False
        batch, self._fills = self._fills, []
        if batch and self.calls is not None:
            self._tasks.spawn(self._quietly(self.calls.fill_many(batch)))

    async def set(
        self, kind: CacheKind, key: str, value: bytes, version: int | None = None
    ) -> bool:
        """Store a value (clock-versioned kinds may omit the version); False if it did not land."""
        if not self.available or self.calls is None:
            return False
        entry = CacheEntry(kind.value, key, value, version)
        landed = await self._quietly(self.calls.set_many([entry]))
        return bool(landed and landed[0])

    async def evict(self, kind: CacheKind, key: str) -> bool:
        """Invalidate a key for every gateway (e.g. a revoked API key); False if not delivered."""
        if self.calls is None:
            return False
        keys = CacheKeys([kind.value], [key])
        return await self._quietly(self.calls.evict_many(keys)) is not None

    async def stats(self) -> CacheStatsSnapshot | None:
        """The cache actor's statistics, or None when it does not answer."""
        stats = getattr(self.calls, "stats", None)
        if stats is None:
            return None
        result: CacheStatsSnapshot | None = await self._quietly(stats())
        return result

    # -- plumbing ------------------------------------------------------------------------

    async def _quietly(self, call: Any) -> Any:
        try:
            self.calls_made += 1
            return await asyncio.wait_for(call, self.timeout_s)
        except Exception as exc:
            self._failed(exc)
            return None

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if time.monotonic() >= self._skip_until:
            log.info("cache not answering (%r); using the store for %.1fs", exc, self.retry_after_s)
        self._skip_until = time.monotonic() + self.retry_after_s

    async def close(self) -> None:
        """Cancel background calls."""
        self._tasks.cancel_all()
