"""What the cache holds: kinds of data with their TTLs, and how a robot's state is versioned."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from runtime.lifecycle import status_rank
from runtime.models import RobotStatus


class CacheKind(StrEnum):
    """A kind of cached data; each has its own TTL and its own statistics."""

    ROBOT = "robot"
    """One robot as ``GET /v1/robots/{id}`` shows it; versioned by :func:`robot_version`."""
    ROBOT_LIST = "robot_list"
    """The first page of ``GET /v1/robots`` for one query; valid for one list epoch."""
    MODULE_HEALTH = "module_health"
    """A module's health as the orchestrator last saw it."""
    PERFORMANCE = "performance"
    """A module's routing performance figures (EWMA success rate and latency)."""
    CONFIG = "config"
    """Deployment configuration, such as the active modules."""
    API_KEY = "api_key"
    """An API key record by hash, for the gateway's key validation."""


# Kinds whose versions come from the data itself; the others default to the writer's clock.
LIFECYCLE_VERSIONED = frozenset({CacheKind.ROBOT, CacheKind.ROBOT_LIST})
# Kinds kept only in the cache actor's memory: their validity is the actor's own list epoch.
MEMORY_ONLY = frozenset({CacheKind.ROBOT_LIST})


def robot_version(attempt: int, status: RobotStatus | str) -> int:
    """A number that grows with every transition a robot makes, derived from the row alone.

    The lifecycle only moves forward (:data:`runtime.lifecycle.STATUS_RANK`), so
    ``(attempt, rank of status)`` strictly increases at each applied transition. Readers and
    the orchestrator compute the same number without sharing a clock.
    """
    return attempt * 4 + status_rank(status)


def clock_version() -> int:
    """The version of a write to a clock-versioned kind: wall-clock milliseconds."""
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """TTL per kind and the bounds of the in-memory tier."""

    ttl_s: dict[CacheKind, float] = field(
        default_factory=lambda: {
            CacheKind.ROBOT: 60.0,
            CacheKind.ROBOT_LIST: 60.0,
            CacheKind.MODULE_HEALTH: 300.0,
            CacheKind.PERFORMANCE: 600.0,
            CacheKind.CONFIG: 1800.0,
            CacheKind.API_KEY: 60.0,
        }
    )
    max_entries: int = 100_000
    max_bytes: int = 64 * 1024 * 1024
    compress_min_bytes: int = 2048

    def ttl(self, kind: CacheKind) -> float:
        """Seconds an entry of ``kind`` lives."""
        return self.ttl_s[kind]
