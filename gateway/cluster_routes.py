"""Routes about the cluster: its nodes, gateways and replicas, and scaling modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import ApiError
from gateway.routes import FLEET, json_response, parse, read_json
from runtime.keys import Permission
from runtime.models import MODULE_NAME_PATTERN, ClusterNode, ClusterView, ModuleInfo


class ScaleRequest(BaseModel):
    """Body of ``POST /v1/modules/{name}/scale``."""

    model_config = ConfigDict(extra="forbid")

    replicas: int = Field(ge=0, le=256)


async def cluster_view(request: web.Request) -> web.Response:
    """``GET /v1/cluster``: nodes with their resources, gateways and replicas."""
    view = ClusterView.model_validate(await request.app[FLEET].cluster())
    return json_response(view.model_dump(mode="json"))


async def scale_module(request: web.Request) -> web.Response:
    """``POST /v1/modules/{name}/scale``: change a module's replica count."""
    body = parse(ScaleRequest, await read_json(request))
    name = request.match_info["name"]
    modules = {m["name"] for m in await request.app[FLEET].list_modules()}
    if name not in modules:
        raise ApiError(404, "not_found", f"no module named {name!r}")
    return json_response(await request.app[FLEET].scale_module(name, body.replicas))


def cluster_paths(
    op: Callable[..., dict[str, Any]], ref: Callable[[type[BaseModel]], dict[str, Any]]
) -> dict[str, Any]:
    """The OpenAPI paths of these routes, built with the document's own helpers."""

    def body(model: type[BaseModel]) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": ref(model)}}}

    def answer(model: type[BaseModel], description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": ref(model)}}}

    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": MODULE_NAME_PATTERN},
    }
    return {
        "/v1/cluster": {
            "get": op(
                "getCluster",
                "Nodes with their resources, gateways and replicas",
                {"200": answer(ClusterView, "the cluster")},
            ),
        },
        "/v1/modules/{name}/scale": {
            "post": op(
                "scaleModule",
                "Change a module's replica count (admin)",
                {"200": answer(ModuleInfo, "the module")},
                (400, 404, 422),
                parameters=[name],
                requestBody=body(ScaleRequest),
            ),
        },
    }


CLUSTER_ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.get("/v1/cluster", cluster_view), Permission.READ),
    (web.post("/v1/modules/{name}/scale", scale_module), Permission.ADMIN),
]
"""The cluster routes with the permission a key needs to call each."""
