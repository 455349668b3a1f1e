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
from runtime.errors import (
    ModuleRejected,
    RuleRejected,
    UnknownModule,
    UnknownRobotType,
    UnknownRule,
)
from runtime.keys import Role, new_api_key
from runtime.messages import (
    CancelAnswer,
    ModuleInfo,
    RobotFigures,
    ScheduleAnswer,
    SubmitAnswer,
    SubmitRequest,
)
from runtime.models import ClusterView, HealthState, RobotStatus
from runtime.rules.model import Rule, RuleRecord
from runtime.sdk import MetricSample
from runtime.store import SqliteStore

MODULES = [
    ModuleInfo(
        name=name,
        class_path=f"tests.fake:{name.title()}",
        types=[name],
        health=HealthState.HEALTHY,
        breaker="closed",
        performance=1.0,
        queued=0,
        replicas=[],
    )
    for name in ("echo", "sleep")
]


class FakeControlPlane:
    """Stands in for the orchestrator: accepts echo/sleep robots into the store."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.cancelled: list[str] = []

    async def submit_many(self, requests: list[SubmitRequest]) -> list[SubmitAnswer]:
        """Store robots of known types; refuse others like the orchestrator does."""
        answers = []
        for request in requests:
            robot = request.robot
            if robot.type not in ("echo", "sleep"):
                error = UnknownRobotType(f"no module handles type {robot.type!r}")
                answers.append(SubmitAnswer(id=robot.id, error=error))
                continue
            [stored] = await self.store.create_robots([robot])
            created = stored.id == robot.id
            answers.append(
                SubmitAnswer(
                    id=stored.id,
                    status=stored.status,
                    created=created,
                    same_request=stored.same_request(robot),
                )
            )
        return answers

    async def list_modules(self) -> list[ModuleInfo]:
        """Two modules, echo and sleep."""
        return [m.model_copy(deep=True) for m in MODULES]

    async def register_module(self, raw_spec: dict[str, Any]) -> ModuleInfo:
        """Refuse every module."""
        raise ModuleRejected("the fake orchestrator takes no modules")

    async def scale_module(self, name: str, replicas: int) -> ModuleInfo:
        """Scale nothing: an unknown name is refused, a known one stays as it is."""
        for module in MODULES:
            if module.name == name:
                return module.model_copy(deep=True)
        raise UnknownModule(f"no module named {name!r}")

    async def cancel(self, robot_id: str) -> CancelAnswer:
        """Pretend a cancel worked."""
        self.cancelled.append(robot_id)
        return CancelAnswer(id=robot_id, status=RobotStatus.CANCELLED, cancel_requested=False)

    async def route_wait(self, robot_id: str) -> None:
        """Nothing waits: this control plane runs no robots."""
        return None

    async def ready(self) -> bool:
        """Always ready."""
        return True

    async def cluster(self) -> ClusterView:
        """No nodes."""
        return ClusterView(nodes=[])

    async def module_metrics(self) -> list[MetricSample]:
        """No replica exports metrics."""
        return []

    async def robot_figures(self) -> RobotFigures:
        """No robot runs: empty figures."""
        return RobotFigures()

    async def create_rule(self, rule: Rule) -> RuleRecord:
        """Refuse every rule, as it refuses every module."""
        raise RuleRejected("the fake orchestrator keeps no rules")

    async def delete_rule(self, rule_id: str) -> None:
        """Know no rule."""
        raise UnknownRule(f"no rule with id {rule_id!r}")

    async def pause_schedule(self, rule_id: str, paused: bool) -> RuleRecord:
        """Know no schedule."""
        raise UnknownRule(f"no schedule with id {rule_id!r}")

    async def trigger_schedule(self, rule_id: str) -> ScheduleAnswer:
        """Know no schedule."""
        raise UnknownRule(f"no schedule with id {rule_id!r}")

    async def backfill_schedule(self, rule_id: str, start: float, end: float) -> ScheduleAnswer:
        """Know no schedule."""
        raise UnknownRule(f"no schedule with id {rule_id!r}")


@asynccontextmanager
async def local_gateway(
    data_dir: Path, **settings: Any
) -> AsyncIterator[tuple[TestClient, str, SqliteStore]]:
    """Serve a gateway app; yield its client, an admin key and its store."""
    store = SqliteStore(data_dir / "robofleet.db")
    app = create_app(Settings(data_dir=data_dir, **settings), FakeControlPlane(store), store)
    async with TestClient(TestServer(app)) as client:
        secret, record = new_api_key(Role.ADMIN)
        await store.create_api_key(record)
        yield client, secret, store
