"""Assembly of the aiohttp application: middlewares, routes, OpenAPI, shared resources.

Middlewares, outermost first: metrics, errors (request id, uniform error body), audit,
authentication and roles, rate limit; then the route's handler.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from prometheus_client import Counter, Histogram

from actors.cache import CacheCalls
from gateway.admin import ADMIN_ROUTES
from gateway.audit import AUDIT_LOG, AuditLog, audit_middleware
from gateway.auth import CALLER, KEY_CACHE, PERMISSIONS, KeyCache, auth_middleware
from gateway.batching import SubmitBatcher
from gateway.cluster_routes import CLUSTER_ROUTES
from gateway.documents import DOCUMENT_ROUTES, DOCUMENTS, LocalShelf, Shelf
from gateway.errors import error_middleware
from gateway.openapi import build_openapi
from gateway.ratelimit import (
    RATE_LIMITER,
    SETTINGS,
    RateLimiter,
    rate_limit_middleware,
    stamp_rate_headers,
)
from gateway.robot_reads import install_cache
from gateway.routes import BATCHER, FLEET, ROUTES, STORE, Fleet, json_response
from gateway.scope import MODULE_DIRECTORY, ModuleDirectory
from runtime.config import Settings
from runtime.keys import Permission
from runtime.ocr.shelf import DocumentShelf
from runtime.store.base import RobotStore

REQUESTS = Counter("robofleet_http_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram(
    "robofleet_http_request_seconds",
    "HTTP request latency",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _series(template: str, method: str, status: int) -> tuple[Any, Any]:
    """The latency and count series of one route, method and status (labelled once)."""
    key = (template, method, status)
    series = _SERIES.get(key)
    if series is None:
        series = (LATENCY.labels(template, method), REQUESTS.labels(template, method, str(status)))
        if len(_SERIES) < 4096:  # unmatched paths may bring any method
            _SERIES[key] = series
    return series


@web.middleware
async def metrics_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Count requests and time them per route template."""
    started = time.perf_counter()
    response = await handler(request)
    route = request.match_info.route.resource
    latency, count = _series(
        route.canonical if route is not None else "unmatched", request.method, response.status
    )
    latency.observe(time.perf_counter() - started)
    count.inc()
    return response


def _caller(request: web.Request) -> Any:
    return request.get(CALLER)


def create_app(
    settings: Settings,
    fleet: Fleet,
    store: RobotStore,
    documents: Shelf | None = None,
    cache: CacheCalls | None = None,
) -> web.Application:
    """Build the gateway app around an orchestrator client, a store and a document shelf.

    Without a shelf, documents are stored in this process under ``settings.documents_dir()``.
    """
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            metrics_middleware,
            error_middleware,
            audit_middleware(_caller),
            auth_middleware,
            rate_limit_middleware(_caller),
        ],
    )
    app[SETTINGS] = settings
    app[FLEET] = fleet
    app[STORE] = store
    app[BATCHER] = SubmitBatcher(
        fleet.submit_many,
        max_batch=settings.submit_batch_max,
        min_overlap=settings.submit_overlap_min,
    )
    app[KEY_CACHE] = KeyCache(store, settings.key_cache_ttl_s)
    app[MODULE_DIRECTORY] = ModuleDirectory(fleet.list_modules)
    app[RATE_LIMITER] = RateLimiter(settings.redis_url, settings.redis_prefix)
    app[AUDIT_LOG] = AuditLog(store)
    install_cache(app, settings, store, cache)  # robot reads through the cache actor
    app[DOCUMENTS] = documents or LocalShelf(
        DocumentShelf(settings.documents_dir(), settings.max_document_bytes)
    )
    document = build_openapi()

    async def openapi(request: web.Request) -> web.Response:
        """``GET /openapi.json``: the OpenAPI document."""
        return json_response(document)

    permissions: dict[tuple[str, str], Permission] = {}
    for route, permission in [
        *ROUTES,
        *ADMIN_ROUTES,
        *CLUSTER_ROUTES,
        *DOCUMENT_ROUTES,
        (web.get("/openapi.json", openapi), Permission.READ),
    ]:
        route.register(app.router)
        permissions[(route.method, route.path)] = permission
    app[PERMISSIONS] = permissions
    app.on_response_prepare.append(stamp_rate_headers)

    async def store_lifetime(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()

    async def audit_lifetime(app: web.Application) -> AsyncIterator[None]:
        app[AUDIT_LOG].start()
        yield
        await app[AUDIT_LOG].close()

    async def rate_limiter_lifetime(app: web.Application) -> AsyncIterator[None]:
        await app[RATE_LIMITER].start()
        yield
        await app[RATE_LIMITER].close()

    app.cleanup_ctx.extend([store_lifetime, audit_lifetime, rate_limiter_lifetime])
    return app
