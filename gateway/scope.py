"""Module scoping of keys: which modules handle a robot type, and whether a key may touch it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from gateway.errors import ApiError
from runtime.keys import ApiKey
from runtime.messages import ModuleInfo
from runtime.models import Robot

ListModules = Callable[[], Awaitable[list[ModuleInfo]]]


class ModuleDirectory:
    """Robot type → module names, from the orchestrator, refreshed at most every ``ttl_s``.

    Only scoped keys and per-module rate limits need it, so an unscoped deployment never
    pays the orchestrator call.
    """

    def __init__(self, list_modules: ListModules, ttl_s: float = 5.0) -> None:
        self._list_modules = list_modules
        self._ttl_s = ttl_s
        self._by_type: dict[str, list[str]] = {}
        self._fetched_at = -float("inf")

    async def modules_of_type(self, robot_type: str) -> list[str]:
        """Names of the modules that handle ``robot_type`` (empty if none)."""
        if time.monotonic() - self._fetched_at > self._ttl_s:
            by_type: dict[str, list[str]] = {}
            for module in await self._list_modules():
                for handled in module.types:
                    by_type.setdefault(handled, []).append(module.name)
            self._by_type, self._fetched_at = by_type, time.monotonic()
        return self._by_type.get(robot_type, [])

    def invalidate(self) -> None:
        """Refetch on next use (a module was registered)."""
        self._fetched_at = -float("inf")


def _scope_error(key: ApiKey, what: str) -> ApiError:
    allowed = ", ".join(key.modules or []) or "none"
    return ApiError(403, "forbidden", f"this key is limited to modules [{allowed}]; {what}")


async def check_type(directory: ModuleDirectory, key: ApiKey, robot_type: str) -> list[str]:
    """Refuse (403) a scoped key a robot type none of its modules handles; return its modules.

    A type no module handles is let through: the submit then fails with 422 as for anyone.
    """
    if key.unscoped:
        return []
    modules = await directory.modules_of_type(robot_type)
    if modules and not any(key.allows_module(m) for m in modules):
        raise _scope_error(key, f"type {robot_type!r} is handled by [{', '.join(modules)}]")
    return modules


async def may_see(directory: ModuleDirectory, key: ApiKey, robot: Robot) -> bool:
    """Whether a key may read or cancel a robot: unscoped, or the robot's module is allowed."""
    if key.unscoped:
        return True
    if robot.module is not None and key.allows_module(robot.module):
        return True
    modules = await directory.modules_of_type(robot.type)
    return any(key.allows_module(m) for m in modules)


async def check_robot(directory: ModuleDirectory, key: ApiKey, robot: Robot) -> None:
    """Refuse (403) a scoped key a robot of a module it is not allowed."""
    if not await may_see(directory, key, robot):
        raise _scope_error(key, f"robot {robot.id} is of type {robot.type!r}")
