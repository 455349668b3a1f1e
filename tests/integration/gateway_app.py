"""An in-process gateway (``gateway.app.create_app``) on a real SQLite store and a fake
orchestrator, served on a local port by aiohttp's test utilities: no Ray needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from runtime.config import Settings
from runtime.keys import Role, new_api_key
from runtime.models import RobotStatus
from runtime.store import SqliteStore

MODULES = [
    {"name": "echo", "types": ["echo"]},
    {"name": "sleep", "types": ["sleep"]},
]


class FakeFleet:
    """Stands in for the orchestrator: accepts echo/sleep robots into the store."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.cancelled: list[str] = []

    async def submit_many(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store robots of known types; refuse others like the orchestrator does."""
        from runtime.models import Robot

        answers = []
        for item in items:
            if item["type"] not in ("echo", "sleep"):
                answers.append(
                    {"error": {"code": "unknown_robot_type", "message": "no module handles it"}}
                )
                continue
            [stored] = await self.store.create_robots([Robot.model_validate(item)])
            answers.append(
                {"id": stored.id, "status": stored.status.value, "created": stored.id == item["id"]}
            )
        return answers

    async def list_modules(self) -> list[dict[str, Any]]:
        """Two modules, echo and sleep."""
        return [dict(m) for m in MODULES]

    async def register_module(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Refuse every module."""
        from runtime.errors import ModuleRejected

        raise ModuleRejected("the fake orchestrator takes no modules")

    async def ready(self) -> bool:
        """Always ready."""
        return True

    async def cancel(self, robot_id: str) -> dict[str, Any]:
        """Pretend a cancel worked."""
        self.cancelled.append(robot_id)
        return {"id": robot_id, "status": RobotStatus.CANCELLED.value, "cancel_requested": False}


@asynccontextmanager
async def local_gateway(
    data_dir: Path, **settings: Any
) -> AsyncIterator[tuple[TestClient, str, SqliteStore]]:
    """Serve a gateway app; yield its client, an admin key and its store."""
    store = SqliteStore(data_dir / "robofleet.db")
    app = create_app(Settings(data_dir=data_dir, **settings), FakeFleet(store), store)
    async with TestClient(TestServer(app)) as client:
        secret, record = new_api_key(Role.ADMIN)
        await store.create_api_key(record)
        yield client, secret, store
