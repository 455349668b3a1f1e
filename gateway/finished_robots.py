"""Robots that have finished, kept in the gateway's own memory: reads of them ask no one.

A terminal robot (succeeded, failed, cancelled, dead) never changes again: the lifecycle
allows no transition out of a terminal status (``runtime.lifecycle.ALLOWED``) and every
store update is conditional on the status it moves from, progress updates only touch
running robots, and no robot row is ever deleted. So a terminal row read from the store can
be served from this process for as long as memory allows, with no invalidation at all, and
no state the store has replaced can ever be served from here. Robots still queued or running
are never held.

Bounded by entries and bytes (LRU, :class:`runtime.cache.MemoryTier`); an entry lives
``ttl_s`` seconds, which only limits how long an unread robot takes up memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from runtime.cache import CacheKind, CachePolicy, MemoryTier, robot_version
from runtime.models import Robot


class FinishedRobots:
    """A gateway-local LRU of terminal robots by id, as the store recorded them."""

    def __init__(
        self,
        max_entries: int = 50_000,
        max_bytes: int = 32 * 1024 * 1024,
        ttl_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        policy = CachePolicy(
            ttl_s={CacheKind.ROBOT: ttl_s},
            max_entries=max_entries,
            max_bytes=max_bytes,
            compress_min_bytes=16 * 1024,  # decompressing small rows costs more than it saves
        )
        self._memory = MemoryTier(policy, clock=clock)

    def __len__(self) -> int:
        return len(self._memory)

    @property
    def bytes(self) -> int:
        """Approximate memory the held robots take (values, keys and per-entry overhead)."""
        return self._memory.bytes

    def get(self, robot_id: str) -> Robot | None:
        """The robot if it is held (so terminal), else None."""
        data = self._memory.get(CacheKind.ROBOT, robot_id)
        return None if data is None else Robot.model_validate_json(data)

    def keep(self, robot: Robot) -> bool:
        """Hold ``robot`` if it is terminal; return whether it is held now."""
        if not robot.status.terminal:
            return False
        data = orjson.dumps(robot.model_dump(mode="json"))
        version = robot_version(robot.attempt, robot.status)
        return self._memory.put(CacheKind.ROBOT, robot.id, data, version)
