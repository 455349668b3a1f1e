"""Token-bucket rate limiting per API key (and per key and module), and per client address
for failed authentications.

With ``ROBOFLEET_REDIS_URL`` set, buckets live in Redis and are updated by one Lua script
(atomic, timed by the Redis clock), so every gateway shares one budget. When Redis is
absent or stops answering, each gateway falls back to buckets in its own memory: the
switch is logged once, ``robofleet_ratelimit_redis_up`` drops to 0, and a background task
reconnects by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import Counter, Gauge

from gateway.errors import ApiError
from runtime.config import Settings
from runtime.keys import ApiKey
from runtime.redis_link import RedisLink
from runtime.token_bucket import Bucket, Decision, LocalBuckets, RateLimit

__all__ = [
    "TOKEN_BUCKET_LUA",
    "Bucket",
    "Decision",
    "LocalBuckets",
    "RateLimiter",
    "rate_limit_middleware",
    "stamp_rate_headers",
    "take_token",
]

REDIS_UP = Gauge(
    "robofleet_ratelimit_redis_up", "1 while rate limits are kept in Redis, 0 on local buckets"
)
FALLBACKS = Counter(
    "robofleet_ratelimit_local_fallbacks_total", "Times the rate limiter fell back to local buckets"
)
LIMITED = Counter("robofleet_ratelimit_rejected_total", "Requests refused with 429", ["bucket"])

RATE_HEADERS = web.RequestKey("rate_headers", dict)
"""Request item: the ``RateLimit-*`` headers to stamp on the response."""

# KEYS: bucket keys. ARGV: cost, then rate and burst of each bucket. Takes ``cost`` tokens
# from every bucket or from none; returns allowed, tokens left, retry-after, time to full.
TOKEN_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cost = tonumber(ARGV[1])
local tokens = {}
local allowed = 1
local retry = 0
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local level = tonumber(state[1])
  local ts = tonumber(state[2])
  if level == nil or ts == nil then
    level = burst
    ts = now
  end
  level = math.min(burst, level + math.max(0, now - ts) * rate)
  tokens[i] = level
  if level < cost then
    allowed = 0
    retry = math.max(retry, (cost - level) / rate)
  end
end
local remaining = -1
local reset = 0
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local level = tokens[i]
  if allowed == 1 then
    level = level - cost
  end
  redis.call('HSET', KEYS[i], 'tokens', tostring(level), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst / rate * 1000) + 1000)
  if remaining < 0 or level < remaining then
    remaining = level
  end
  reset = math.max(reset, (burst - level) / rate)
end
return {allowed, tostring(remaining), tostring(retry), tostring(reset)}
"""


class RateLimiter:
    """Shared buckets in Redis when configured and reachable, local buckets otherwise."""

    def __init__(
        self,
        redis_url: str | None,
        prefix: str = "robofleet:",
        *,
        reconnect_s: float = 1.0,
        timeout_s: float = 0.25,
    ) -> None:
        self.redis_url = redis_url
        self.prefix = prefix + "rl:"
        self.local = LocalBuckets()
        self._link: RedisLink | None = None
        if redis_url:
            self._link = RedisLink(
                redis_url,
                "rate limiter",
                while_down="local buckets until it is back",
                when_back="buckets are shared again",
                timeout_s=timeout_s,
                backoff_min_s=reconnect_s,
                backoff_max_s=reconnect_s,
                jitter=0.0,
                on_state=lambda up: REDIS_UP.set(1 if up else 0),
                on_fallback=FALLBACKS.inc,
            )
        self._script: Any = None

    @property
    def using_redis(self) -> bool:
        """Whether decisions currently come from Redis."""
        return self._link is not None and self._link.up

    async def redis_answers(self) -> bool | None:
        """Whether Redis answers a ping now (None when no Redis is configured).

        While the link is down its reconnect loop does the pinging, so this answers False
        at once; a ping that fails switches the limiter to local buckets, as a failed call
        would.
        """
        if self._link is None:
            return None
        if not self._link.up or self._link.client is None:
            return False
        try:
            await self._link.client.ping()
        except Exception as exc:
            self._link.went_down(exc)
            return False
        return True

    async def start(self) -> None:
        """Connect to Redis if configured; fall back (and keep trying) if it does not answer."""
        REDIS_UP.set(0)
        if self._link is None:
            return
        self._script = self._link.connect().register_script(TOKEN_BUCKET_LUA)
        await self._link.start()

    async def close(self) -> None:
        """Stop reconnecting and close the Redis connection."""
        if self._link is not None:
            await self._link.close()

    async def redis_state(self, timeout_s: float = 0.5) -> Literal["ok", "down", "not_configured"]:
        """``"not_configured"``, ``"down"``, or ``"ok"`` after a live ping (for ``/readyz``).

        A failed ping switches the limiter to local buckets, as a failed call would.
        """
        if self._link is None:
            return "not_configured"
        if not self._link.up:
            return "down"
        try:
            await asyncio.wait_for(self._link.client.ping(), timeout_s)
        except Exception as exc:
            self._link.went_down(exc)
            return "down"
        return "ok"

    async def acquire(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Decision:
        """Take a token from every bucket (atomically), in Redis when it is up."""
        if self._link is not None and self._link.up:
            args: list[Any] = [cost]
            for bucket in buckets:
                args += [bucket.rate, bucket.burst]
            try:
                raw = await self._script(keys=[self.prefix + b.name for b in buckets], args=args)
            except Exception as exc:
                self._link.went_down(exc)
            else:
                return Decision(
                    allowed=int(raw[0]) == 1,
                    limit=min(b.burst for b in buckets),
                    remaining=float(raw[1]),
                    retry_after_s=float(raw[2]),
                    reset_s=float(raw[3]),
                )
        return self.local.acquire(buckets, cost)

    async def charge_auth_failure(self, request: web.Request, limit: RateLimit) -> None:
        """Count a failed authentication of the client; raise 429 once its budget is spent."""
        bucket = Bucket.of(f"authfail:{request.remote or 'unknown'}", limit)
        decision = await self.acquire([bucket])
        if not decision.allowed:
            LIMITED.labels("auth_failure").inc()
            raise ApiError(
                429,
                "too_many_auth_failures",
                "too many failed authentications from this address; retry later",
                headers=decision.headers(),
            )


async def take_token(
    limiter: RateLimiter, request: web.Request, buckets: Sequence[Bucket], label: str
) -> None:
    """Take a token from ``buckets`` for this request; raise a 429 ApiError if refused.

    The ``RateLimit-*`` headers of the decision go on the response either way.
    """
    decision = await limiter.acquire(buckets)
    request[RATE_HEADERS] = decision.headers()
    if not decision.allowed:
        LIMITED.labels(label).inc()
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {decision.limit:g} requests reached; retry after "
            f"{request[RATE_HEADERS]['Retry-After']}s",
            headers=request[RATE_HEADERS],
        )


def rate_limit_middleware(
    limiter: RateLimiter, settings: Settings, caller_of: Callable[[web.Request], ApiKey | None]
) -> Middleware:
    """Middleware taking one token per authenticated request from its key's bucket."""

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse with 429 once the calling key's token bucket is empty."""
        key = caller_of(request)
        if key is not None:
            limit = settings.role_rate_limit(key.role.value)
            await take_token(limiter, request, [Bucket.of(f"key:{key.id}", limit)], "key")
        return await handler(request)

    return rate_limit


async def stamp_rate_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: put the ``RateLimit-*`` headers on every response."""
    headers = request.get(RATE_HEADERS)
    if headers:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
