"""``GET /v1/robots/{id}/routing``: why each attempt of a robot went where it went.

Read from the store: each attempt carries the decision the routing policy returned with its
choice (``runtime.routing.place``), written with the attempt, so what this shows is what the
policy compared. Scoped like ``GET /v1/robots/{id}``. Exports ``ROUTES``, ``PATHS`` and
``MODELS`` like every route module.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gateway.http import json_response
from gateway.routes import visible_robot
from gateway.spec import json_answer, operation, path_id
from gateway.state import CONTROL, STORE
from runtime.keys import Permission
from runtime.models import Robot, RobotStatus
from runtime.route_record import RobotRouting, attempt_view, decision_view
from runtime.routing import RouteDecision

__all__ = ["MODELS", "PATHS", "ROUTES"]

WAIT_ASK_S = 2.0
"""How long the route waits for the orchestrator to say why a queued robot waits."""


async def robot_routing(request: web.Request) -> web.Response:
    """``GET /v1/robots/{id}/routing``: the robot's attempts, each with its routing decision,
    and for a queued robot held up in line, why it waits (asked of the orchestrator).

    404 for an unknown robot; 403 for a key limited to modules other than the robot's.
    """
    robot = await visible_robot(request)
    routes, waiting = await asyncio.gather(
        request.app[STORE].attempt_routes(robot.id), _waiting(request, robot)
    )
    answer = RobotRouting(
        robot_id=robot.id,
        type=robot.type,
        status=robot.status,
        attempts=[attempt_view(route) for route in routes],
        waiting=decision_view(waiting) if waiting is not None else None,
    )
    return json_response(answer.model_dump(mode="json"))


async def _waiting(request: web.Request, robot: Robot) -> RouteDecision | None:
    """Why a queued robot waits, from the orchestrator; None if it is not queued or the
    orchestrator does not answer in time (the stored attempts are shown all the same)."""
    if robot.status is not RobotStatus.QUEUED:
        return None
    try:
        return await asyncio.wait_for(request.app[CONTROL].route_wait(robot.id), WAIT_ASK_S)
    except Exception:
        return None


ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.get("/v1/robots/{robot_id}/routing", robot_routing), Permission.READ),
]
"""Every route of this module with the permission a key needs to call it."""

MODELS: list[type[BaseModel]] = [RobotRouting]
"""The models :data:`PATHS` refers to."""

PATHS: dict[str, Any] = {
    "/v1/robots/{robot_id}/routing": {
        "get": operation(
            "robotRouting",
            "Why each attempt of a robot went where it went: candidates' scores, replicas "
            "compared, breaker states, why it waited",
            {"200": json_answer(RobotRouting, "the robot's attempts with their decisions")},
            (404,),
            parameters=[path_id("robot_id")],
        ),
    },
}
"""This module's part of the OpenAPI document's ``paths``."""
