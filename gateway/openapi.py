"""The OpenAPI 3.1 document, merged from the paths and models each route module exports.

The schemas are generated from the same pydantic models the routes validate with. A test
compares the document's paths with the app's routes both ways, so a route added without a
document entry (or the reverse) fails the build. ``HEAD`` routes aiohttp adds next to each
``GET`` are implied by the ``GET`` and not listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gateway import (
    admin,
    alert_routes,
    cluster_routes,
    documents,
    mail_routes,
    notify_routes,
    routes,
    routing_routes,
    rule_routes,
)
from gateway.http import json_response
from gateway.spec import ErrorBody, ErrorDetail, operation
from runtime.keys import Permission

__all__ = ["MODELS", "PATHS", "ROUTES", "build_openapi"]


async def serve_openapi(request: web.Request) -> web.Response:
    """``GET /openapi.json``: the OpenAPI document."""
    return json_response(_document())


ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.get("/openapi.json", serve_openapi), Permission.READ),
]
"""The document's own route."""

MODELS: list[type[BaseModel]] = [ErrorBody, ErrorDetail]
"""The models every document holds: the error body every operation may answer."""

PATHS: dict[str, Any] = {
    "/openapi.json": {
        "get": operation(
            "openapi",
            "This document",
            {
                "200": {
                    "description": "the OpenAPI document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        )
    },
}
"""This module's part of the document's ``paths``."""


def _merge_paths(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One ``paths`` object; two modules documenting the same operation is a ValueError."""
    merged: dict[str, dict[str, Any]] = {}
    for part in parts:
        for path, operations in part.items():
            existing = merged.setdefault(path, {})
            for method in operations.keys() & existing.keys():
                raise ValueError(f"{method.upper()} {path} is documented twice")
            existing.update(operations)
    return merged


def _schemas(models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    """``components/schemas`` of the models and of every model they refer to."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


ROUTE_PARTS = (
    routes, admin, cluster_routes, documents, mail_routes, rule_routes, routing_routes,
    notify_routes, alert_routes,
)
"""The route modules besides this one; each exports ``ROUTES``, ``PATHS`` and ``MODELS``."""


def build_openapi() -> dict[str, Any]:
    """Return the OpenAPI document of every route the gateway serves (a new dict each call)."""
    parts = ROUTE_PARTS
    return {
        "openapi": "3.1.0",
        "info": {"title": "robofleet", "version": "0.1.0"},
        "paths": _merge_paths([*(part.PATHS for part in parts), PATHS]),
        "security": [{"bearer": []}, {"apiKey": []}],
        "components": {
            "schemas": _schemas([*(m for part in parts for m in part.MODELS), *MODELS]),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


@cache
def _document() -> dict[str, Any]:
    """The document this process serves, built once."""
    return build_openapi()
