"""The HTTP routes of the gateway under ``/v1``, plus health, readiness and metrics."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from gateway.audit import AUDIT_TARGET, AUDITED, audit_context
from gateway.auth import caller
from gateway.batching import SubmitBatcher
from gateway.errors import ApiError, raise_for_answer, validation_message
from gateway.events import stream_robot
from gateway.module_metrics import module_metrics_text
from gateway.ratelimit import SETTINGS, Bucket, take_token
from gateway.robot_reads import ROBOT_READS
from gateway.schemas import Accepted, RobotListQuery
from gateway.scope import MODULE_DIRECTORY, check_robot, check_type, may_see
from runtime.keys import Permission
from runtime.models import Robot, RobotRequest, new_robot_id
from runtime.store.base import RobotStore

__all__ = [
    "BATCHER",
    "FLEET",
    "ROUTES",
    "STORE",
    "Accepted",
    "Fleet",
    "RobotListQuery",
    "json_response",
    "parse",
    "read_json",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"


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

    async def cancel(self, robot_id: str) -> dict[str, Any]:
        """Cancel a queued robot, or ask a running one to stop."""


FLEET = web.AppKey("fleet", Fleet)
STORE = web.AppKey("store", RobotStore)
BATCHER = web.AppKey("batcher", SubmitBatcher)


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


def _idempotency_key(request: web.Request, robot: RobotRequest) -> str | None:
    header = request.headers.get(IDEMPOTENCY_HEADER)
    if header is None:
        return robot.idempotency_key
    header = header.strip()
    if not 1 <= len(header) <= 200:
        raise ApiError(422, "validation_error", f"{IDEMPOTENCY_HEADER} must be 1 to 200 characters")
    if robot.idempotency_key not in (None, header):
        raise ApiError(
            422,
            "validation_error",
            f"the {IDEMPOTENCY_HEADER} header and the body's idempotency_key differ",
        )
    return header


async def submit_robot(request: web.Request) -> web.Response:
    """``POST /v1/robots``: durably accept a robot; 202 once it is in the store.

    With an ``Idempotency-Key`` header (or body ``idempotency_key``), a repeat of the same
    request answers 200 with the first robot; the same key with a different request is 409.
    """
    key = caller(request)
    robot = parse(RobotRequest, await read_json(request))
    robot.idempotency_key = _idempotency_key(request, robot)
    modules = await check_type(request, key, robot.type)
    limits = request.app[SETTINGS].module_rate_limits
    if limits:
        modules = modules or await request.app[MODULE_DIRECTORY].modules_of_type(robot.type)
        buckets = [Bucket.of(f"key:{key.id}:module:{m}", limits[m]) for m in modules if m in limits]
        if buckets:
            await take_token(request, buckets, "module")
    item = robot.model_dump()
    item["id"] = new_robot_id()
    item["audit"] = audit_context(request, key)
    answer = await request.app[BATCHER].submit(item)
    raise_for_answer(answer, 422)
    request[AUDIT_TARGET] = answer["id"]
    request[AUDITED] = bool(answer.get("audited"))
    created = answer.get("created", True)
    if not created and not answer.get("same_request", True):
        raise ApiError(
            409,
            "idempotency_conflict",
            f"idempotency key {robot.idempotency_key!r} was already used for a different "
            f"request (robot {answer['id']})",
        )
    body = {"id": answer["id"], "status": answer["status"]}
    return json_response(
        body, 202 if created else 200, headers={"Location": f"/v1/robots/{answer['id']}"}
    )


async def _visible_robot(request: web.Request) -> Robot:
    robot_id = request.match_info["robot_id"]
    robot = await request.app[ROBOT_READS].robot(robot_id) if len(robot_id) <= 64 else None
    if robot is None:
        raise ApiError(404, "not_found", f"no robot with id {robot_id!r}")
    await check_robot(request, caller(request), robot)
    return robot


async def get_robot(request: web.Request) -> web.Response:
    """``GET /v1/robots/{id}``: one robot with its status, progress and result."""
    robot = await _visible_robot(request)
    return json_response(robot.model_dump(mode="json"))


async def cancel_robot(request: web.Request) -> web.Response:
    """``POST /v1/robots/{id}/cancel``: cancel a queued robot (200), ask a running one (202).

    A running robot is asked through ``ctx.cancelled``; it is recorded cancelled when its
    module stops, or after ``cancel_grace_s`` if it does not. A terminal robot is 409.
    """
    robot = await _visible_robot(request)
    if robot.status.terminal:
        raise ApiError(409, "already_terminal", f"robot {robot.id} is already {robot.status}")
    answer = await request.app[FLEET].cancel(robot.id)
    raise_for_answer(answer, 409)
    return json_response(answer, 202 if answer.get("cancel_requested") else 200)


async def robot_events(request: web.Request) -> web.StreamResponse:
    """``GET /v1/robots/{id}/events``: server-sent progress and state changes until terminal."""
    robot = await _visible_robot(request)
    poll_s = request.app[SETTINGS].events_poll_s
    return await stream_robot(request, robot, poll_s, request.app[STORE].get_robot)


async def list_robots(request: web.Request) -> web.Response:
    """``GET /v1/robots``: robots newest first, filtered by status and type, paginated.

    For a key limited to some modules, robots of other modules are left out of each page
    (so a page may hold fewer than ``limit``; ``next_cursor`` still walks every robot).
    """
    key = caller(request)
    query = parse(RobotListQuery, dict(request.query))
    if query.type is not None:
        await check_type(request, key, query.type)
    page = await request.app[ROBOT_READS].page(query.status, query.type, query.limit, query.cursor)
    robots = [r for r in page.robots if await may_see(request, key, r)]
    return json_response(
        {"robots": [r.model_dump(mode="json") for r in robots], "next_cursor": page.next_cursor}
    )


async def list_modules(request: web.Request) -> web.Response:
    """``GET /v1/modules``: modules with health, breaker state, queue and replicas."""
    key = caller(request)
    modules = await request.app[FLEET].list_modules()
    return json_response({"modules": [m for m in modules if key.allows_module(m["name"])]})


async def register_module(request: web.Request) -> web.Response:
    """``POST /v1/modules``: validate and deploy a module; 422 with the reason if refused."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "expected a JSON object")
    if isinstance(data.get("name"), str):
        request[AUDIT_TARGET] = data["name"]
    info = await request.app[FLEET].register_module(data)
    request.app[MODULE_DIRECTORY].invalidate()
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
    """``GET /metrics``: Prometheus text exposition, the modules' own metrics included."""
    body = generate_latest() + await module_metrics_text(request.app[FLEET])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.post("/v1/robots", submit_robot), Permission.OPERATE),
    (web.get("/v1/robots", list_robots), Permission.READ),
    (web.get("/v1/robots/{robot_id}", get_robot), Permission.READ),
    (web.post("/v1/robots/{robot_id}/cancel", cancel_robot), Permission.OPERATE),
    (web.get("/v1/robots/{robot_id}/events", robot_events), Permission.READ),
    (web.get("/v1/modules", list_modules), Permission.READ),
    (web.post("/v1/modules", register_module), Permission.ADMIN),
    (web.get("/healthz", healthz), Permission.PUBLIC),
    (web.get("/readyz", readyz), Permission.PUBLIC),
    (web.get("/metrics", metrics), Permission.READ),
]
"""Every route of this module with the permission a key needs to call it."""
