"""Routes about the cluster: its nodes, gateways and replicas, and scaling modules.

Exports ``ROUTES``, ``PATHS`` and ``MODELS`` like every route module.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.http import json_response, parse, read_json
from gateway.spec import body, json_answer, operation, path_id
from gateway.state import CONTROL
from runtime.keys import Permission
from runtime.models import MODULE_NAME_PATTERN, ClusterNode, ClusterView, JsonInt, ModuleInfo

__all__ = ["MODELS", "PATHS", "ROUTES", "ScaleRequest"]


class ScaleRequest(BaseModel):
    """Body of ``POST /v1/modules/{name}/scale``."""

    model_config = ConfigDict(extra="forbid")

    replicas: JsonInt = Field(ge=0, le=256)


async def cluster_view(request: web.Request) -> web.Response:
    """``GET /v1/cluster``: nodes with their resources, gateways and replicas."""
    view = await request.app[CONTROL].cluster()
    return json_response(view.model_dump(mode="json"))


async def scale_module(request: web.Request) -> web.Response:
    """``POST /v1/modules/{name}/scale``: change a module's replica count.

    An unknown module is 404 (``UnknownModule``), a count the cluster cannot place 422.
    """
    scale = parse(ScaleRequest, await read_json(request))
    info = await request.app[CONTROL].scale_module(request.match_info["name"], scale.replicas)
    return json_response(info.model_dump(mode="json"))


ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.get("/v1/cluster", cluster_view), Permission.READ),
    (web.post("/v1/modules/{name}/scale", scale_module), Permission.ADMIN),
]
"""The cluster routes with the permission a key needs to call each."""

MODELS: list[type[BaseModel]] = [ClusterNode, ClusterView, ScaleRequest, ModuleInfo]
"""The models :data:`PATHS` refers to."""

_NAME = path_id("name", MODULE_NAME_PATTERN)

PATHS: dict[str, Any] = {
    "/v1/cluster": {
        "get": operation(
            "getCluster",
            "Nodes with their resources, gateways and replicas",
            {"200": json_answer(ClusterView, "the cluster")},
        ),
    },
    "/v1/modules/{name}/scale": {
        "post": operation(
            "scaleModule",
            "Change a module's replica count (admin)",
            {"200": json_answer(ModuleInfo, "the module")},
            (400, 404, 422),
            parameters=[_NAME],
            requestBody=body(ScaleRequest),
        ),
    },
}
"""This module's part of the OpenAPI document's ``paths``."""
