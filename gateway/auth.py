"""Authentication and role checks: API keys from ``Authorization: Bearer`` or ``X-API-Key``.

Keys are looked up by their SHA-256 in the store and the record is cached for
``key_cache_ttl_s`` (2 s by default), so a check costs a hash and a dict lookup. The
record's own times are compared on every request, so expiry and the end of a rotation
overlap are exact; a revocation made through another gateway is seen within the TTL, one
made through this gateway at once (it clears the cache).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.errors import ApiError
from gateway.ratelimit import RateLimiter
from runtime.config import RateLimit
from runtime.keys import ApiKey, Permission, denial, hash_key
from runtime.store.base import RobotStore

CALLER = web.RequestKey("caller", ApiKey)
"""Request item: the :class:`ApiKey` of an authenticated request."""

MAX_KEY_CHARS = 256
_CACHE_MAX = 10_000


class KeyCache:
    """Key records by hash, trusted for ``ttl_s`` seconds (unknown keys too).

    One store read per key at a time: when an entry expires under load, the requests that
    arrive while it is being read again wait for that read instead of each making their own
    (64 clients of one key would otherwise queue 64 reads every ``ttl_s``).
    """

    def __init__(
        self, store: RobotStore, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, ApiKey | None]] = {}
        self._reads: dict[str, asyncio.Task[ApiKey | None]] = {}  # reads under way, by hash

    async def lookup(self, key: str) -> ApiKey | None:
        """The record of a presented key, or None if the store has no such key."""
        key_hash = hash_key(key)
        cached = self._entries.get(key_hash)
        if cached is not None and self._clock() - cached[0] < self._ttl_s:
            return cached[1]
        read = self._reads.get(key_hash)
        if read is None:
            read = self._reads[key_hash] = asyncio.ensure_future(self._read(key_hash))
        return await asyncio.shield(read)  # one waiter cancelled must not cancel the read

    async def _read(self, key_hash: str) -> ApiKey | None:
        now = self._clock()
        try:
            record = await self._store.api_key_by_hash(key_hash)
        finally:
            # Still the read of record unless invalidate() dropped it meanwhile.
            current = self._reads.get(key_hash) is asyncio.current_task()
            if current:
                del self._reads[key_hash]
        if current:
            if len(self._entries) >= _CACHE_MAX:
                self._entries.clear()
            self._entries[key_hash] = (now, record)
        return record

    def invalidate(self) -> None:
        """Forget every cached record (after a revocation or rotation through this gateway).

        A read already under way still answers the requests waiting for it, but what it
        read is not kept.
        """
        self._entries.clear()
        self._reads.clear()


Permissions = Mapping[tuple[str, str], Permission]
"""(method, route template) -> what a key needs to call it."""


def presented_key(request: web.Request) -> str | None:
    """The key a request carries, from ``Authorization: Bearer`` or ``X-API-Key``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    value = request.headers.get("X-API-Key", "").strip()
    return value or None


def route_permission(request: web.Request, table: Permissions) -> Permission | None:
    """What the matched route needs; None when no route matched (the handler answers 404)."""
    route = request.match_info.route
    resource = route.resource
    refusal = request.match_info.http_exception
    if isinstance(refusal, web.HTTPMethodNotAllowed) and all(
        table.get(("GET" if m == "HEAD" else m, request.path)) is Permission.PUBLIC
        for m in refusal.allowed_methods
    ):
        return Permission.PUBLIC  # a public path's 405 (and its Allow) needs no key either
    if resource is None or refusal is not None:
        return None
    method = "GET" if route.method == "HEAD" else route.method
    # A route nobody declared a permission for is admin-only: fail closed.
    return table.get((method, resource.canonical), Permission.ADMIN)


def caller(request: web.Request) -> ApiKey:
    """The authenticated key of a request that passed the auth middleware."""
    key: ApiKey = request[CALLER]
    return key


def _unauthenticated(message: str) -> ApiError:
    return ApiError(
        401, "unauthenticated", message, headers={"WWW-Authenticate": 'Bearer realm="robofleet"'}
    )


def auth_middleware(
    keys: KeyCache, limiter: RateLimiter, permissions: Permissions, failure_limit: RateLimit
) -> Middleware:
    """Middleware letting public routes through and requiring, elsewhere, a valid key whose
    role allows the route; each failed authentication is charged to the client's
    ``failure_limit`` bucket."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Check the request's key against the route's permission, then run the handler."""
        permission = route_permission(request, permissions)
        if permission is Permission.PUBLIC:
            return await handler(request)
        presented = presented_key(request)
        problem: str | None
        key: ApiKey | None = None
        if presented is None:
            problem = "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'"
        elif len(presented) > MAX_KEY_CHARS or not presented.isascii():
            problem = "unknown API key"  # robofleet's keys are short and ASCII"
        else:
            key = await keys.lookup(presented)
            problem = "unknown API key" if key is None else key.problem()
        if problem is not None or key is None:
            await limiter.charge_auth_failure(request, failure_limit)
            raise _unauthenticated(problem or "unknown API key")
        request[CALLER] = key
        if permission is not None and not key.may(permission):
            raise ApiError(403, "forbidden", denial(key.role, permission))
        return await handler(request)

    return authenticate
