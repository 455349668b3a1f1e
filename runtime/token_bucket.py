"""Token buckets: the model of a configured limit and buckets kept in this process's memory.

The gateway limits requests with them (and with the same semantics in Redis, see
``gateway.ratelimit``); the notifier limits each channel's sends with them. No Ray and no
HTTP here: both sit on top.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Bucket", "Decision", "LocalBuckets", "RateLimit"]


class RateLimit(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``rate`` per second."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0, description="Tokens added per second.")
    burst: float = Field(ge=1, description="Bucket size: requests allowed at once.")


@dataclass(frozen=True, slots=True)
class Bucket:
    """One token bucket: its name (without prefix), refill rate and size."""

    name: str
    rate: float
    burst: float

    @classmethod
    def of(cls, name: str, limit: RateLimit) -> Bucket:
        """A bucket named ``name`` with a configured limit."""
        return cls(name, limit.rate, limit.burst)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of taking a token: allowed or not, and what the headers say."""

    allowed: bool
    limit: float
    remaining: float
    retry_after_s: float
    reset_s: float

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit/Remaining/Reset``, plus ``Retry-After`` when refused."""
        headers = {
            "RateLimit-Limit": str(int(self.limit)),
            "RateLimit-Remaining": str(max(0, math.floor(self.remaining))),
            "RateLimit-Reset": str(max(0, math.ceil(self.reset_s))),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers


class LocalBuckets:
    """Token buckets in this process's memory: same semantics as the Lua script."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_buckets: int = 50_000):
        self._clock = clock
        self._max_buckets = max_buckets
        self._state: dict[str, tuple[float, float]] = {}

    def acquire(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Decision:
        """Take ``cost`` tokens from every bucket, or from none if one lacks them."""
        now = self._clock()
        levels = []
        retry = 0.0
        for bucket in buckets:
            level, ts = self._state.get(bucket.name, (bucket.burst, now))
            level = min(bucket.burst, level + max(0.0, now - ts) * bucket.rate)
            levels.append(level)
            if level < cost:
                retry = max(retry, (cost - level) / bucket.rate)
        allowed = retry == 0.0
        if len(self._state) > self._max_buckets:
            self._prune(now)
        remaining, reset = math.inf, 0.0
        for bucket, level in zip(buckets, levels, strict=True):
            if allowed:
                level -= cost
            self._state[bucket.name] = (level, now)
            remaining = min(remaining, level)
            reset = max(reset, (bucket.burst - level) / bucket.rate)
        limit = min(b.burst for b in buckets)
        return Decision(allowed, limit, remaining, retry, reset)

    def _prune(self, now: float) -> None:
        # A bucket untouched for a minute is full again or close to it; forgetting it is safe
        # for every limit whose burst refills within that time.
        self._state = {k: v for k, v in self._state.items() if now - v[1] < 60.0}
