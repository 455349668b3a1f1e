"""The optional Redis tier: shared by every cache actor, versioned, pipelined, self-healing.

Values are stored as ``<20-digit version><flag><bytes>`` strings (flag ``v`` plain, ``z``
zlib, ``m`` a mark without value) with the kind's TTL. Writes go through one Lua script that
sets each key only if the stored version is not newer, so an older write never overwrites a
newer one whichever actor sends it. A whole batch is one ``MGET`` or one script call.

When Redis stops answering the tier reports itself down (logged once), the caller serves
from memory, and a background task pings with exponential backoff; once Redis answers, the
caller's ``on_recover`` replays what changed meanwhile before the tier is used again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from runtime.cache.stats import CacheStats
from runtime.redis_link import RedisLink

VERSION_DIGITS = 20
PLAIN, COMPRESSED, MARK = b"v", b"z", b"m"

# KEYS: keys. ARGV: per key, version, TTL in ms, blob. Returns 1 per key written, else 0.
VERSIONED_SET_LUA = """
local out = {}
for i = 1, #KEYS do
  local version = tonumber(ARGV[3 * i - 2])
  local current = redis.call('GET', KEYS[i])
  if current and tonumber(string.sub(current, 1, 20)) > version then
    out[i] = 0
  else
    redis.call('SET', KEYS[i], ARGV[3 * i], 'PX', ARGV[3 * i - 1])
    out[i] = 1
  end
end
return out
"""

Write = tuple[str, int, int, bytes]
"""(key, version, TTL in ms, blob) of one versioned write."""


def encode(version: int, flag: bytes, data: bytes = b"") -> bytes:
    """The stored form of a value or mark."""
    return b"%020d" % version + flag + data


def decode(blob: bytes) -> tuple[int, bytes, bytes]:
    """``(version, flag, data)`` of a stored blob."""
    return int(blob[:VERSION_DIGITS]), blob[VERSION_DIGITS : VERSION_DIGITS + 1], blob[21:]


class RedisTier:
    """Versioned batch reads and writes of cache entries over one :class:`RedisLink`."""

    def __init__(
        self,
        url: str,
        prefix: str,
        stats: CacheStats,
        timeout_s: float = 0.25,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 5.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.stats = stats
        self.link = RedisLink(
            url,
            "cache",
            while_down="serving from memory until it is back",
            when_back="sharing entries again",
            timeout_s=timeout_s,
            backoff_min_s=backoff_min_s,
            backoff_max_s=backoff_max_s,
            on_state=self._state_changed,
            on_fallback=self._fell_back,
        )
        self._script: Any = None
        self.stats.backend_configured = True

    @property
    def up(self) -> bool:
        """Whether reads and writes currently go to Redis."""
        return self.link.up

    @property
    def on_recover(self) -> Callable[[], Awaitable[None]] | None:
        """Run once Redis answers again, before the tier is used (a failure retries later)."""
        return self.link.on_recover

    @on_recover.setter
    def on_recover(self, replay: Callable[[], Awaitable[None]] | None) -> None:
        self.link.on_recover = replay

    @property
    def _client(self) -> Any:
        return self.link.client

    async def start(self) -> None:
        """Connect; if Redis does not answer, start reconnecting in the background."""
        self._script = self.link.connect().register_script(VERSIONED_SET_LUA)
        await self.link.start()

    async def close(self) -> None:
        """Stop reconnecting and close the connection pool."""
        await self.link.close()

    def key(self, kind: str, key: str) -> str:
        """The Redis key of a cache key."""
        return f"{self.prefix}{kind}:{key}"

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None] | None:
        """Stored blobs of ``keys`` (None where absent), or None when Redis is unreachable."""
        if not self.up or not keys:
            return None if not self.up else []
        try:
            blobs = await self._client.mget(list(keys))
        except Exception as exc:
            self.went_down(exc)
            return None
        self.stats.backend_reads += 1
        return blobs

    async def put_many(self, writes: Sequence[Write]) -> list[bool] | None:
        """Versioned writes in one script call; per write whether it landed; None if down."""
        if not self.up:
            return None
        if not writes:
            return []
        args: list[Any] = []
        for _, version, ttl_ms, blob in writes:
            args += [version, max(1, ttl_ms), blob]
        try:
            landed = await self._script(keys=[w[0] for w in writes], args=args)
        except Exception as exc:
            self.went_down(exc)
            return None
        self.stats.backend_writes += 1
        return [bool(x) for x in landed]

    async def delete_many(self, keys: Sequence[str]) -> bool:
        """Delete keys; False when Redis is unreachable."""
        if not keys:
            return True
        try:
            await self._client.delete(*keys)
        except Exception as exc:
            self.went_down(exc)
            return False
        return True

    async def delete_matching(self, pattern: str) -> bool:
        """Delete every key matching a glob pattern (under this tier's prefix)."""
        try:
            batch: list[Any] = []
            async for found in self._client.scan_iter(match=self.prefix + pattern, count=1000):
                batch.append(found)
                if len(batch) >= 1000:
                    await self._client.delete(*batch)
                    batch = []
            if batch:
                await self._client.delete(*batch)
        except Exception as exc:
            self.went_down(exc)
            return False
        return True

    def went_down(self, exc: BaseException) -> None:
        """Switch to memory only (logged once per outage) and start reconnecting."""
        self.link.went_down(exc)

    async def replay(self, writes: Sequence[Write], deletes: Sequence[str]) -> None:
        """Write back changes made while Redis was down (raises if Redis fails again)."""
        args: list[Any] = []
        for _, version, ttl_ms, blob in writes:
            args += [version, max(1, ttl_ms), blob]
        if writes:
            await self._script(keys=[w[0] for w in writes], args=args)
        if deletes:
            await self._client.delete(*deletes)

    def _state_changed(self, up: bool) -> None:
        self.stats.backend_up = 1 if up else 0

    def _fell_back(self) -> None:
        self.stats.backend_fallbacks += 1
