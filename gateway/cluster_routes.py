"""Routes about the cluster: its nodes, gateways and replicas, and scaling modules."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import ApiError
from gateway.routes import FLEET, json_response, parse, read_json
from runtime.keys import Permission


class ScaleRequest(BaseModel):
    """Body of ``POST /v1/modules/{name}/scale``."""

    model_config = ConfigDict(extra="forbid")

    replicas: int = Field(ge=0, le=256)


async def cluster_view(request: web.Request) -> web.Response:
    """``GET /v1/cluster``: nodes with their resources, gateways and replicas."""
    return json_response(await request.app[FLEET].cluster())


async def scale_module(request: web.Request) -> web.Response:
    """``POST /v1/modules/{name}/scale``: change a module's replica count."""
    body = parse(ScaleRequest, await read_json(request))
    name = request.match_info["name"]
    modules = {m["name"] for m in await request.app[FLEET].list_modules()}
    if name not in modules:
        raise ApiError(404, "not_found", f"no module named {name!r}")
    return json_response(await request.app[FLEET].scale_module(name, body.replicas))


CLUSTER_ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.get("/v1/cluster", cluster_view), Permission.READ),
    (web.post("/v1/modules/{name}/scale", scale_module), Permission.ADMIN),
]
"""The cluster routes with the permission a key needs to call each."""
