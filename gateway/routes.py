"""The HTTP routes of the gateway under ``/v1``, plus health, readiness and metrics."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.batching import SubmitBatcher
from gateway.errors import ApiError, validation_message
from runtime.models import RobotRequest, RobotStatus, new_robot_id
from runtime.store.base import RobotStore


class Fleet(Protocol):
    """What the gateway needs of the orchestrator."""

    async def submit_many(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Persist and enqueue robots."""

    async def list_modules(self) -> list[dict[str, Any]]:
        """Registered modules and their state."""

    async def register_module(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Validate and deploy a module."""

    async def ready(self) -> bool:
        """Whether the orchestrator answers."""


FLEET = web.AppKey("fleet", Fleet)
STORE = web.AppKey("store", RobotStore)
BATCHER = web.AppKey("batcher", SubmitBatcher)


class RobotListQuery(BaseModel):
    """Query of ``GET /v1/robots``."""

    model_config = ConfigDict(extra="forbid")

    status: RobotStatus | None = None
    type: str | None = Field(None, max_length=128)
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=64)


class Accepted(BaseModel):
    """Answer to an accepted submit."""

    id: str
    status: RobotStatus


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response serialised with orjson."""
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )


async def read_json(request: web.Request) -> Any:
    """Parse a JSON body whatever its declared content type, or raise a 400 saying why not."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "invalid_json", "the request body is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc.args[0]}") from None


def parse(model: type[BaseModel], data: Any) -> Any:
    """Validate data against a model, or raise a 422 naming each bad field."""
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "expected a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", validation_message(exc)) from None


async def submit_robot(request: web.Request) -> web.Response:
    """``POST /v1/robots``: durably accept a robot; 202 once it is in the store."""
    robot = parse(RobotRequest, await read_json(request))
    item = robot.model_dump()
    item["id"] = new_robot_id()
    answer = await request.app[BATCHER].submit(item)
    if "error" in answer:
        error = answer["error"]
        if error["code"] == "queue_full":
            retry = str(max(1, round(error.get("retry_after_s", 1))))
            raise ApiError(429, "queue_full", error["message"], headers={"Retry-After": retry})
        raise ApiError(422, error["code"], error["message"])
    status = 202 if answer.get("created", True) else 200
    body = {"id": answer["id"], "status": answer["status"]}
    return json_response(body, status, headers={"Location": f"/v1/robots/{answer['id']}"})


async def get_robot(request: web.Request) -> web.Response:
    """``GET /v1/robots/{id}``: one robot with its status, progress and result."""
    robot_id = request.match_info["robot_id"]
    robot = await request.app[STORE].get_robot(robot_id) if len(robot_id) <= 64 else None
    if robot is None:
        raise ApiError(404, "not_found", f"no robot with id {robot_id!r}")
    return json_response(robot.model_dump(mode="json"))


async def list_robots(request: web.Request) -> web.Response:
    """``GET /v1/robots``: robots newest first, filtered by status and type, paginated."""
    query = parse(RobotListQuery, dict(request.query))
    page = await request.app[STORE].list_robots(query.status, query.type, query.limit, query.cursor)
    return json_response(
        {
            "robots": [r.model_dump(mode="json") for r in page.robots],
            "next_cursor": page.next_cursor,
        }
    )


async def list_modules(request: web.Request) -> web.Response:
    """``GET /v1/modules``: modules with health, breaker state, queue and replicas."""
    return json_response({"modules": await request.app[FLEET].list_modules()})


async def register_module(request: web.Request) -> web.Response:
    """``POST /v1/modules``: validate and deploy a module; 422 with the reason if refused."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "expected a JSON object")
    info = await request.app[FLEET].register_module(data)
    return json_response(info, 201, headers={"Location": f"/v1/modules/{info['name']}"})


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: the gateway process answers."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: the orchestrator and the store both answer."""
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(request.app[FLEET].ready(), 2.0)
        checks["orchestrator"] = "ok"
    except Exception:
        checks["orchestrator"] = "unavailable"
    try:
        await asyncio.wait_for(request.app[STORE].get_robot("-"), 2.0)
        checks["store"] = "ok"
    except Exception:
        checks["store"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503
    )


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text exposition."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


ROUTES = [
    web.post("/v1/robots", submit_robot),
    web.get("/v1/robots", list_robots),
    web.get("/v1/robots/{robot_id}", get_robot),
    web.get("/v1/modules", list_modules),
    web.post("/v1/modules", register_module),
    web.get("/healthz", healthz),
    web.get("/readyz", readyz),
    web.get("/metrics", metrics),
]
