"""The OpenAPI 3.1 document, generated from the same pydantic models the routes validate with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gateway.routes import Accepted, RobotListQuery
from runtime.models import ModuleInfo, ModuleSpec, Robot, RobotRequest


class ErrorBody(BaseModel):
    """The uniform error body."""

    error: dict[str, str]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel] | dict[str, Any], description: str) -> dict[str, Any]:
    schema = _ref(model) if isinstance(model, type) else model
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): _json(ErrorBody, "error") for s in statuses}


def build_openapi() -> dict[str, Any]:
    """Return the OpenAPI document of every route the gateway serves."""
    models = [RobotRequest, Robot, Accepted, ModuleSpec, ModuleInfo, ErrorBody]
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    query_params = [
        {"name": name, "in": "query", "required": False, "schema": field_schema}
        for name, field_schema in RobotListQuery.model_json_schema()["properties"].items()
    ]
    robot_id = {"name": "robot_id", "in": "path", "required": True, "schema": {"type": "string"}}
    plain = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}
    paths = {
        "/v1/robots": {
            "post": {
                "summary": "Submit a robot",
                "operationId": "submitRobot",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(RobotRequest)}},
                },
                "responses": {
                    "202": _json(Accepted, "accepted and durable"),
                    "200": _json(Accepted, "already accepted"),
                    **_errors(400, 413, 422, 429),
                },
            },
            "get": {
                "summary": "List robots",
                "operationId": "listRobots",
                "parameters": query_params,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "robots": {"type": "array", "items": _ref(Robot)},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                        "a page of robots",
                    ),
                    **_errors(422),
                },
            },
        },
        "/v1/robots/{robot_id}": {
            "get": {
                "summary": "Get a robot",
                "operationId": "getRobot",
                "parameters": [robot_id],
                "responses": {"200": _json(Robot, "the robot"), **_errors(404)},
            },
        },
        "/v1/modules": {
            "get": {
                "summary": "List modules",
                "operationId": "listModules",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"modules": {"type": "array", "items": _ref(ModuleInfo)}},
                        },
                        "modules",
                    )
                },
            },
            "post": {
                "summary": "Register a module",
                "operationId": "registerModule",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(ModuleSpec)}},
                },
                "responses": {"201": _json(ModuleInfo, "registered"), **_errors(400, 409, 422)},
            },
        },
        "/healthz": {
            "get": {"summary": "Liveness", "operationId": "healthz", "responses": {"200": plain}}
        },
        "/readyz": {
            "get": {
                "summary": "Readiness",
                "operationId": "readyz",
                "responses": {"200": plain, "503": plain},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "text exposition",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": plain},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "robofleet", "version": "0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
