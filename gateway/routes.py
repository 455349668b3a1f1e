"""The robot and module routes under ``/v1``, plus health, readiness and metrics.

Exports ``ROUTES`` (each with the permission a key needs), and ``PATHS`` and ``MODELS``,
their part of the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from gateway.audit import AUDIT_TARGET, AUDITED, audit_caller
from gateway.auth import caller
from gateway.backup_metrics import backup_metrics_text
from gateway.errors import ApiError
from gateway.events import stream_robot
from gateway.http import json_response, parse, read_json, unstorable
from gateway.mail_routes import mail_metrics_text
from gateway.module_metrics import module_metrics_text
from gateway.notify_routes import notify_metrics_text, notify_readiness
from gateway.ratelimit import Bucket, take_token
from gateway.readiness import (
    CHECK_TIMEOUT_S,
    MailboxReadiness,
    ModuleReadiness,
    Readiness,
    ReadinessDetails,
    RedisReadiness,
    cache_readiness,
    module_readiness,
    store_readiness,
)
from gateway.robot_metrics import fleet_metrics_text
from gateway.rule_metrics import schedule_metrics_text
from gateway.schemas import Accepted, CancelAnswer, Health, ModuleList, RobotListQuery, RobotPage
from gateway.scope import check_robot, check_type, may_see
from gateway.spec import body, json_answer, links, operation, path_id, query_parameters
from gateway.state import (
    BATCHER,
    CACHE,
    CONTROL,
    MAILBOXES,
    MODULE_DIRECTORY,
    RATE_LIMITER,
    ROBOT_READS,
    SETTINGS,
    STORE,
)
from runtime.errors import AlreadyTerminal, RobotNotFound
from runtime.keys import Permission
from runtime.messages import SubmitRequest
from runtime.models import ModuleInfo, ModuleSpec, Robot, RobotEvent, RobotRequest, new_robot_id
from runtime.text import text_problem

__all__ = ["MODELS", "PATHS", "ROUTES", "visible_robot"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Printable ASCII, neither starting nor ending with a space (HTTP strips those anyway).
IDEMPOTENCY_HEADER_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"


def _idempotency_key(request: web.Request, robot: RobotRequest) -> str | None:
    header = request.headers.get(IDEMPOTENCY_HEADER)
    if header is None:
        return robot.idempotency_key
    header = header.strip()
    if not 1 <= len(header) <= 200:
        raise ApiError(422, "validation_error", f"{IDEMPOTENCY_HEADER} must be 1 to 200 characters")
    problem = text_problem(header)
    if problem is not None:
        raise unstorable(f"header {IDEMPOTENCY_HEADER}", problem)
    if not re.fullmatch(IDEMPOTENCY_HEADER_PATTERN, header):
        raise ApiError(
            422, "validation_error", f"{IDEMPOTENCY_HEADER} must be printable ASCII characters"
        )
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
    A robot the orchestrator refuses raises its error (``UnknownRobotType``, ``QueueFull``).
    """
    key = caller(request)
    app = request.app
    # the hot path: duplicate keys are not looked for (see read_json)
    robot = parse(RobotRequest, await read_json(request, unique_keys=False))
    robot.idempotency_key = _idempotency_key(request, robot)
    directory = app[MODULE_DIRECTORY]
    modules = await check_type(directory, key, robot.type)
    limits = app[SETTINGS].module_rate_limits
    if limits:
        modules = modules or await directory.modules_of_type(robot.type)
        buckets = [Bucket.of(f"key:{key.id}:module:{m}", limits[m]) for m in modules if m in limits]
        if buckets:
            await take_token(app[RATE_LIMITER], request, buckets, "module")
    answer = await app[BATCHER].submit(
        SubmitRequest(
            Robot.accepted(new_robot_id(), robot, time.time()), audit_caller(request, key)
        )
    )
    if answer.error is not None:
        raise answer.error
    request[AUDIT_TARGET] = answer.id
    request[AUDITED] = answer.audited
    if not answer.created and not answer.same_request:
        raise ApiError(
            409,
            "idempotency_conflict",
            f"idempotency key {robot.idempotency_key!r} was already used for a different "
            f"request (robot {answer.id})",
        )
    return json_response(
        {"id": answer.id, "status": answer.status},
        202 if answer.created else 200,
        headers={"Location": f"/v1/robots/{answer.id}"},
    )


async def visible_robot(request: web.Request) -> Robot:
    """The robot of the path's ``robot_id``, if the caller's key may see it.

    Raises ``RobotNotFound`` (404) for an unknown robot and an ``ApiError`` (403) for a key
    limited to modules other than the robot's.
    """
    robot_id = request.match_info["robot_id"]
    robot = await request.app[ROBOT_READS].robot(robot_id) if len(robot_id) <= 64 else None
    if robot is None:
        raise RobotNotFound(f"no robot with id {robot_id!r}")
    await check_robot(request.app[MODULE_DIRECTORY], caller(request), robot)
    return robot


async def get_robot(request: web.Request) -> web.Response:
    """``GET /v1/robots/{id}``: one robot with its status, progress and result."""
    robot = await visible_robot(request)
    return json_response(robot.model_dump(mode="json"))


async def cancel_robot(request: web.Request) -> web.Response:
    """``POST /v1/robots/{id}/cancel``: cancel a queued robot (200), ask a running one (202).

    A running robot is asked through ``ctx.cancelled``; it is recorded cancelled when its
    module stops, or after ``cancel_grace_s`` if it does not. A terminal robot is 409.
    """
    robot = await visible_robot(request)
    if robot.status.terminal:
        raise AlreadyTerminal(f"robot {robot.id} is already {robot.status}")
    answer = await request.app[CONTROL].cancel(robot.id)
    return json_response(
        {"id": answer.id, "status": answer.status, "cancel_requested": answer.cancel_requested},
        202 if answer.cancel_requested else 200,
    )


async def robot_events(request: web.Request) -> web.StreamResponse:
    """``GET /v1/robots/{id}/events``: server-sent progress and state changes until terminal."""
    robot = await visible_robot(request)
    poll_s = request.app[SETTINGS].events_poll_s
    return await stream_robot(request, robot, poll_s, request.app[STORE].get_robot)


async def list_robots(request: web.Request) -> web.Response:
    """``GET /v1/robots``: robots newest first, filtered by status and type, paginated.

    For a key limited to some modules, robots of other modules are left out of each page
    (so a page may hold fewer than ``limit``; ``next_cursor`` still walks every robot).
    """
    key = caller(request)
    directory = request.app[MODULE_DIRECTORY]
    query = parse(RobotListQuery, dict(request.query))
    if query.type is not None:
        await check_type(directory, key, query.type)
    page = await request.app[ROBOT_READS].page(query.status, query.type, query.limit, query.cursor)
    robots = [r for r in page.robots if await may_see(directory, key, r)]
    return json_response(
        {"robots": [r.model_dump(mode="json") for r in robots], "next_cursor": page.next_cursor}
    )


async def list_modules(request: web.Request) -> web.Response:
    """``GET /v1/modules``: modules with health, breaker state, queue and replicas."""
    key = caller(request)
    modules = await request.app[CONTROL].list_modules()
    return json_response(
        {"modules": [m.model_dump(mode="json") for m in modules if key.allows_module(m.name)]}
    )


async def register_module(request: web.Request) -> web.Response:
    """``POST /v1/modules``: validate and deploy a module; 422 with the reason if refused."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "expected a JSON object")
    if isinstance(data.get("name"), str):
        request[AUDIT_TARGET] = data["name"]
    info = await request.app[CONTROL].register_module(data)
    request.app[MODULE_DIRECTORY].invalidate()
    return json_response(
        info.model_dump(mode="json"), 201, headers={"Location": f"/v1/modules/{info.name}"}
    )


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: the gateway process answers."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: 200 when the orchestrator and the store answer, else 503.

    The body details every part (store, cache, Redis, each module, each mailbox, the
    webhook endpoints and the dead letter); only the
    orchestrator and the store decide the status (see ``gateway.readiness``).
    """
    app = request.app
    control = app[CONTROL]

    async def orchestrator() -> tuple[str, list[ModuleReadiness]]:
        try:
            await asyncio.wait_for(control.ready(), CHECK_TIMEOUT_S)
        except Exception:
            return "unavailable", []
        try:
            infos = await asyncio.wait_for(control.list_modules(), CHECK_TIMEOUT_S)
        except Exception:
            return "ok", []
        return "ok", [module_readiness(info) for info in infos]

    async def mailboxes() -> list[MailboxReadiness]:
        watch = app.get(MAILBOXES)
        if watch is None:
            return []
        try:
            return await asyncio.wait_for(watch.mailbox_states(), CHECK_TIMEOUT_S)
        except Exception:
            silent = "the email monitor does not answer"
            return [MailboxReadiness(name="email-monitor", status="unreachable", detail=silent)]

    kind: Literal["sqlite", "postgresql"] = "postgresql" if app[SETTINGS].database_url else "sqlite"
    (orchestrator_state, modules), store, cache, redis, mailbox_states, notify = (
        await asyncio.gather(
            orchestrator(),
            store_readiness(lambda: app[STORE].get_robot("-"), kind),
            cache_readiness(app[CACHE]),
            app[RATE_LIMITER].redis_state(),
            mailboxes(),
            notify_readiness(app),
        )
    )
    checks = {"orchestrator": orchestrator_state, "store": store.status}
    ready = all(v == "ok" for v in checks.values())
    document = Readiness(
        status="ready" if ready else "not_ready",
        checks=checks,
        details=ReadinessDetails(
            orchestrator=orchestrator_state,
            store=store,
            cache=cache,
            redis=RedisReadiness(status=redis),
            modules=modules,
            mailboxes=mailbox_states,
            notify=notify,
        ),
    )
    return json_response(document.model_dump(mode="json"), 200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text exposition: the gateway's own, the fleet's robot
    figures (see :mod:`gateway.robot_metrics`) and the modules' own metrics."""
    control, store = request.app[CONTROL], request.app[STORE]
    fleet, modules = await asyncio.gather(
        fleet_metrics_text(
            control.robot_figures,
            lambda: store.get_robot("-"),
            request.app[RATE_LIMITER].redis_answers,
        ),
        module_metrics_text(control.module_metrics),
    )
    body = generate_latest() + fleet + modules
    body += await schedule_metrics_text(store)
    body += backup_metrics_text(request.app[SETTINGS].backups_dir())
    body += await mail_metrics_text(request.app)
    body += await notify_metrics_text(request.app)
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

MODELS: list[type[BaseModel]] = [
    RobotRequest,
    Robot,
    RobotPage,
    RobotEvent,
    Accepted,
    CancelAnswer,
    ModuleSpec,
    ModuleInfo,
    ModuleList,
    Health,
    Readiness,
]
"""The models :data:`PATHS` refers to."""

# One server-sent event (OpenAPI before 3.2: the schema of an event stream describes each event).
SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["status", "progress", "result"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/RobotEvent"},
                    {"$ref": "#/components/schemas/Robot"},
                ]
            },
        },
        "id": {"type": "string"},
    },
}

_ROBOT_ID = [path_id("robot_id")]
_ROBOT_OPERATIONS = ("getRobot", "cancelRobot", "robotEvents", "robotRouting")
_IDEMPOTENCY: dict[str, Any] = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "Same key and same request: 200 with the first robot; else 409.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "pattern": IDEMPOTENCY_HEADER_PATTERN,
    },
}

PATHS: dict[str, Any] = {
    "/v1/robots": {
        "post": operation(
            "submitRobot",
            "Submit a robot",
            {
                "202": {
                    **json_answer(Accepted, "accepted and durable"),
                    "links": links(_ROBOT_OPERATIONS, "robot_id"),
                },
                "200": {
                    **json_answer(Accepted, "a replay of an earlier request (Idempotency-Key)"),
                    "links": links(_ROBOT_OPERATIONS, "robot_id"),
                },
            },
            (400, 409, 413, 422),
            parameters=[_IDEMPOTENCY],
            requestBody=body(RobotRequest),
        ),
        "get": operation(
            "listRobots",
            "List robots, newest first",
            {"200": json_answer(RobotPage, "a page of robots")},
            (422,),
            parameters=query_parameters(RobotListQuery),
        ),
    },
    "/v1/robots/{robot_id}": {
        "get": operation(
            "getRobot",
            "Get a robot",
            {"200": json_answer(Robot, "the robot")},
            (404,),
            parameters=_ROBOT_ID,
        ),
    },
    "/v1/robots/{robot_id}/cancel": {
        "post": operation(
            "cancelRobot",
            "Cancel a robot",
            {
                "200": json_answer(CancelAnswer, "a queued robot, now cancelled"),
                "202": json_answer(CancelAnswer, "a running robot, asked to stop"),
            },
            (404, 409),
            parameters=_ROBOT_ID,
        ),
    },
    "/v1/robots/{robot_id}/events": {
        "get": operation(
            "robotEvents",
            "Server-sent events of a robot's progress and state until it is terminal",
            {
                "200": {
                    "description": "events 'status' and 'progress' (RobotEvent JSON), then "
                    "'result' (Robot JSON)",
                    "content": {"text/event-stream": {"schema": SSE_EVENT}},
                }
            },
            (404,),
            parameters=_ROBOT_ID,
        ),
    },
    "/v1/modules": {
        "get": operation(
            "listModules", "List modules", {"200": json_answer(ModuleList, "modules")}
        ),
        "post": operation(
            "registerModule",
            "Register a module (admin)",
            {"201": json_answer(ModuleInfo, "registered")},
            (400, 409, 422),
            requestBody=body(ModuleSpec),
        ),
    },
    "/healthz": {
        "get": operation("healthz", "Liveness", {"200": json_answer(Health, "alive")}, public=True)
    },
    "/readyz": {
        "get": operation(
            "readyz",
            "Readiness: the orchestrator and the store answer; details of every part",
            {
                "200": json_answer(Readiness, "ready"),
                "503": json_answer(Readiness, "not ready"),
            },
            public=True,
        )
    },
    "/metrics": {
        "get": operation(
            "metrics",
            "Prometheus metrics",
            {
                "200": {
                    "description": "text exposition",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        )
    },
}
"""This module's part of the OpenAPI document's ``paths``."""
