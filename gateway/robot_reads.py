"""Cache-aside reads of robots: ``GET /v1/robots/{id}`` and the list's first page.

A hit is served from the cache; a miss reads the store and offers the row back with the
token of the miss (``runtime.cache.guard`` decides whether it may land). Running robots are
never cached: their progress changes without a transition. List pages are cached only when
no robot on them is running, and only the first page (no cursor) of each query.
"""

from __future__ import annotations

import orjson

from gateway.cache_client import GatewayCache
from runtime.cache import CacheKind, robot_version
from runtime.models import Robot, RobotStatus
from runtime.store.base import RobotPage, RobotStore


class RobotReads:
    """Robots by id and first list pages, through the cache when it is enabled."""

    def __init__(self, store: RobotStore, cache: GatewayCache, enabled: bool = True) -> None:
        self.store = store
        self.cache = cache
        self.enabled = enabled

    async def robot(self, robot_id: str) -> Robot | None:
        """One robot, or None when the store has no such robot."""
        if not self.enabled:
            return await self.store.get_robot(robot_id)
        cached, token = await self.cache.lookup(CacheKind.ROBOT, robot_id)
        if cached is not None:
            return Robot.model_validate_json(cached)
        robot = await self.store.get_robot(robot_id)
        if robot is not None and token is not None and robot.status is not RobotStatus.RUNNING:
            body = orjson.dumps(robot.model_dump(mode="json"))
            version = robot_version(robot.attempt, robot.status)
            self.cache.fill(CacheKind.ROBOT, robot_id, body, version, token)
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
