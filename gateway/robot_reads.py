"""Reads of robots: ``GET /v1/robots/{id}`` and the list's first page.

One robot: a finished robot comes from the gateway's own :class:`FinishedRobots` (it can
never change again, so it needs no invalidation); any other is read from the store, and kept
if the store says it has finished. The cache actor is not asked: one actor call costs more
than a store read (``bench/results/optimisation/cache-read-path``), and a robot still
queued or running may change at any moment, so only the store can say what it is now.

List pages go cache-aside through the cache actor: a hit is served from it, a miss reads the
store and offers the page back with the token of the miss (``runtime.cache.guard`` decides
whether it may land). Pages are cached only when no robot on them is running, and only the
first page (no cursor) of each query.
"""

from __future__ import annotations

import orjson
from prometheus_client import Counter

from gateway.cache_client import GatewayCache
from gateway.finished_robots import FinishedRobots
from runtime.cache import CacheKind
from runtime.models import Robot, RobotStatus
from runtime.store.base import RobotPage, RobotStore

READS = Counter(
    "robofleet_gateway_robot_reads_total",
    "GET /v1/robots/{id} lookups by where they were answered: 'gateway' (a finished robot "
    "held in this gateway's memory) or 'store'",
    ["source"],
)
_FROM_GATEWAY = READS.labels("gateway")
_FROM_STORE = READS.labels("store")


class RobotReads:
    """Robots by id and first list pages, through the caches when they are enabled."""

    def __init__(
        self,
        store: RobotStore,
        cache: GatewayCache,
        enabled: bool = True,
        finished: FinishedRobots | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.enabled = enabled
        self.finished = finished if finished is not None else FinishedRobots()

    async def robot(self, robot_id: str) -> Robot | None:
        """One robot as the store last recorded it, or None when the store has no such robot."""
        if not self.enabled:
            return await self.store.get_robot(robot_id)
        robot = self.finished.get(robot_id)
        if robot is not None:
            _FROM_GATEWAY.inc()
            return robot
        _FROM_STORE.inc()
        robot = await self.store.get_robot(robot_id)
        if robot is not None:
            self.finished.keep(robot)
        return robot

    async def page(
        self, status: RobotStatus | None, robot_type: str | None, limit: int, cursor: str | None
    ) -> RobotPage:
        """A page of robots newest first; the first page of a query may come from the cache."""
        if not self.enabled or cursor is not None:
            return await self.store.list_robots(status, robot_type, limit, cursor)
        key = f"{status.value if status else ''}|{robot_type or ''}|{limit}"
        cached, token = await self.cache.lookup(CacheKind.ROBOT_LIST, key)
        if cached is not None:
            data = orjson.loads(cached)
            return RobotPage([Robot.model_validate(r) for r in data["robots"]], data["next_cursor"])
        page = await self.store.list_robots(status, robot_type, limit, None)
        if token is not None and all(r.status is not RobotStatus.RUNNING for r in page.robots):
            body = orjson.dumps(
                {
                    "robots": [r.model_dump(mode="json") for r in page.robots],
                    "next_cursor": page.next_cursor,
                }
            )
            self.cache.fill(CacheKind.ROBOT_LIST, key, body, None, token)
        return page
