"""Assembly of the aiohttp application: middlewares, routes, OpenAPI, shared resources."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from prometheus_client import Counter, Histogram

from gateway.batching import SubmitBatcher
from gateway.errors import error_middleware
from gateway.openapi import build_openapi
from gateway.routes import BATCHER, FLEET, ROUTES, STORE, Fleet, json_response
from runtime.config import Settings
from runtime.store.base import RobotStore

REQUESTS = Counter("robofleet_http_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram(
    "robofleet_http_request_seconds",
    "HTTP request latency",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Count requests and time them per route template."""
    started = time.perf_counter()
    response = await handler(request)
    route = request.match_info.route.resource
    template = route.canonical if route is not None else "unmatched"
    LATENCY.labels(template, request.method).observe(time.perf_counter() - started)
    REQUESTS.labels(template, request.method, str(response.status)).inc()
    return response


def create_app(settings: Settings, fleet: Fleet, store: RobotStore) -> web.Application:
    """Build the gateway app around an orchestrator client and a store for reads."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[metrics_middleware, error_middleware],
    )
    app[FLEET] = fleet
    app[STORE] = store
    app[BATCHER] = SubmitBatcher(fleet.submit_many, max_batch=settings.submit_batch_max)
    app.add_routes(ROUTES)
    document = build_openapi()

    async def openapi(request: web.Request) -> web.Response:
        """``GET /openapi.json``: the OpenAPI document."""
        return json_response(document)

    app.router.add_get("/openapi.json", openapi)

    async def store_lifetime(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()

    app.cleanup_ctx.append(store_lifetime)
    return app
