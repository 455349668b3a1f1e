"""Assembly of the aiohttp application: middlewares, routes, OpenAPI, shared resources.

Middlewares, outermost first: metrics, errors (request id, uniform error body), audit,
authentication and roles, text bound for the store, rate limit; then the route's handler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import Counter, Histogram

from actors.cache import CacheCalls
from gateway import openapi
from gateway.audit import AuditLog, audit_middleware
from gateway.auth import CALLER, KeyCache, auth_middleware
from gateway.batching import SubmitBatcher
from gateway.cache_client import GatewayCache
from gateway.cache_metrics import pull_stats
from gateway.documents import LocalShelf
from gateway.errors import error_middleware
from gateway.finished_robots import FinishedRobots
from gateway.http import text_middleware
from gateway.mail_routes import MAIL_DESK, DeskMailboxes, MailDesk
from gateway.notify_routes import NOTIFIER, NotifierTally
from gateway.notify_stream import STREAMS_CLOSING, close_streams
from gateway.ratelimit import RateLimiter, rate_limit_middleware, stamp_rate_headers
from gateway.robot_reads import RobotReads
from gateway.scope import ModuleDirectory
from gateway.state import (
    AUDIT_LOG,
    BATCHER,
    CACHE,
    CONTROL,
    DOCUMENTS,
    KEY_CACHE,
    MAILBOXES,
    MODULE_DIRECTORY,
    PERMISSIONS,
    RATE_LIMITER,
    ROBOT_READS,
    SETTINGS,
    STORE,
    ControlPlane,
    Shelf,
)
from runtime.config import Settings
from runtime.keys import ApiKey, Permission
from runtime.ocr.shelf import DocumentShelf
from runtime.store.base import RobotStore

ROUTE_MODULES = (*openapi.ROUTE_PARTS, openapi)
"""Every module that exports ``ROUTES`` (and its OpenAPI ``PATHS``)."""

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
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
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


def _caller(request: web.Request) -> ApiKey | None:
    return request.get(CALLER)


def create_app(
    settings: Settings,
    control: ControlPlane,
    store: RobotStore,
    documents: Shelf | None = None,
    cache: CacheCalls | None = None,
    mail: MailDesk | None = None,
    notifier: NotifierTally | None = None,
) -> web.Application:
    """Build the gateway app around the orchestrator, a store and a document shelf.

    Without a shelf, documents are stored in this process under ``settings.documents_dir()``;
    without cache calls, robots are read from the store alone; without a mail desk (the
    email monitor), the mailbox routes answer 503.
    """
    route_table = [entry for module in ROUTE_MODULES for entry in module.ROUTES]
    permissions: dict[tuple[str, str], Permission] = {
        (route.method, route.path): permission for route, permission in route_table
    }
    key_cache = KeyCache(store, settings.key_cache_ttl_s)
    rate_limiter = RateLimiter(settings.redis_url, settings.redis_prefix)
    audit_log = AuditLog(store)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            metrics_middleware,
            error_middleware,
            audit_middleware(audit_log, _caller),
            auth_middleware(key_cache, rate_limiter, permissions, settings.auth_failure_limit),
            text_middleware,
            rate_limit_middleware(rate_limiter, settings, _caller),
        ],
    )
    app[SETTINGS] = settings
    app[CONTROL] = control
    app[STORE] = store
    app[BATCHER] = SubmitBatcher(
        control.submit_many,
        max_batch=settings.submit_batch_max,
        min_overlap=settings.submit_overlap_min,
    )
    app[KEY_CACHE] = key_cache
    app[PERMISSIONS] = permissions
    app[MODULE_DIRECTORY] = ModuleDirectory(control.list_modules)
    app[RATE_LIMITER] = rate_limiter
    app[AUDIT_LOG] = audit_log
    app[CACHE] = GatewayCache(cache, timeout_s=settings.cache_timeout_s)
    finished = FinishedRobots(
        settings.cache_gateway_max_entries,
        settings.cache_gateway_max_bytes,
        settings.cache_ttl_robot_s,
    )
    app[ROBOT_READS] = RobotReads(store, app[CACHE], settings.cache_reads, finished)
    app[DOCUMENTS] = documents or LocalShelf(
        DocumentShelf(settings.documents_dir(), settings.max_document_bytes)
    )
    if notifier is not None:
        app[NOTIFIER] = notifier
    if mail is not None:
        app[MAIL_DESK] = mail
        app[MAILBOXES] = DeskMailboxes(mail)
    for route, _ in route_table:
        route.register(app.router)
    app.on_response_prepare.append(stamp_rate_headers)
    app[STREAMS_CLOSING] = asyncio.Event()
    app.on_shutdown.append(close_streams)

    async def store_lifetime(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()

    async def audit_lifetime(app: web.Application) -> AsyncIterator[None]:
        audit_log.start()
        yield
        await audit_log.close()

    async def rate_limiter_lifetime(app: web.Application) -> AsyncIterator[None]:
        await rate_limiter.start()
        yield
        await rate_limiter.close()

    if cache is not None:
        app.cleanup_ctx.append(_cache_lifetime)
    app.cleanup_ctx.extend([store_lifetime, audit_lifetime, rate_limiter_lifetime])
    return app


async def _cache_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Pull the cache actor's statistics for ``/metrics`` while the app runs."""
    puller = asyncio.get_running_loop().create_task(pull_stats(app[CACHE]))
    yield
    puller.cancel()
    await app[CACHE].close()
