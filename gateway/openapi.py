"""The OpenAPI 3.1 document, generated from the same pydantic models the routes validate with.

A test compares its paths with the app's routes both ways, so a route added without a
document entry (or the reverse) fails the build. ``HEAD`` routes aiohttp adds next to each
``GET`` are implied by the ``GET`` and not listed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from gateway.cluster_routes import ClusterNode, ClusterView, ScaleRequest, cluster_paths
from gateway.documents import StoredDocument
from gateway.schemas import (
    Accepted,
    AuditQuery,
    CancelAnswer,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    KeyList,
    KeyRotate,
    RobotListQuery,
)
from runtime.keys import AuditEntry
from runtime.models import ModuleInfo, ModuleSpec, Robot, RobotEvent, RobotRequest


class ErrorDetail(BaseModel):
    """What went wrong, and the request id to quote."""

    code: str
    message: str
    request_id: str


class ErrorBody(BaseModel):
    """The uniform error body."""

    error: ErrorDetail


class RobotPage(BaseModel):
    """A page of robots, newest first."""

    robots: list[Robot]
    next_cursor: str | None = None


class ModuleList(BaseModel):
    """Registered modules."""

    modules: list[ModuleInfo]


class AuditPage(BaseModel):
    """A page of the audit log, newest first."""

    entries: list[AuditEntry]
    next_cursor: str | None = None


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    checks: dict[str, str] = Field(default_factory=dict)


MODELS: list[type[BaseModel]] = [
    ClusterNode,
    ClusterView,
    ScaleRequest,
    StoredDocument,
    RobotRequest,
    Robot,
    RobotPage,
    RobotEvent,
    Accepted,
    CancelAnswer,
    ModuleSpec,
    ModuleInfo,
    ModuleList,
    KeyCreate,
    KeyRotate,
    KeyInfo,
    KeyCreated,
    KeyList,
    AuditEntry,
    AuditPage,
    Health,
    ErrorBody,
    ErrorDetail,
]

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

# Every authenticated operation may answer these.
COMMON_ERRORS = (401, 403, 429, 503)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(model)}}}


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return [
        {"name": name, "in": "query", "required": False, "schema": field_schema}
        for name, field_schema in schema["properties"].items()
    ]


def _path(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9]+$"},
    }


def _op(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    errors: tuple[int, ...] = (),
    *,
    public: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    statuses = sorted(set(errors) | (set() if public else set(COMMON_ERRORS)))
    operation = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {**responses, **{str(s): _json(ErrorBody, "error") for s in statuses}},
        **extra,
    }
    if public:
        operation["security"] = []
    return operation


def _document_paths() -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    upload = {
        "required": True,
        "description": "A PNG, JPEG, TIFF or PDF: the raw body, or a multipart part 'file'.",
        "content": {
            "application/octet-stream": {"schema": binary},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": binary},
                    "required": ["file"],
                }
            },
        },
    }
    document_id = {
        "name": "document_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    }
    return {
        "/v1/documents": {
            "post": _op(
                "uploadDocument",
                "Store a document by SHA-256; robots name it by id (payload.document_id)",
                {
                    "201": _json(StoredDocument, "stored"),
                    "200": _json(StoredDocument, "already stored"),
                },
                (400, 413, 415, 422),
                requestBody=upload,
            ),
        },
        "/v1/documents/{document_id}": {
            "get": _op(
                "getDocument",
                "A stored document's size and type",
                {"200": _json(StoredDocument, "the document")},
                (404,),
                parameters=[document_id],
            ),
        },
    }


def build_openapi() -> dict[str, Any]:
    """Return the OpenAPI document of every route the gateway serves."""
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    robot_id, key_id = [_path("robot_id")], [_path("key_id")]
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Same key and same request: 200 with the first robot; else 409.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    }
    paths = {
        "/v1/robots": {
            "post": _op(
                "submitRobot",
                "Submit a robot",
                {
                    "202": _json(Accepted, "accepted and durable"),
                    "200": _json(Accepted, "a replay of an earlier request (Idempotency-Key)"),
                },
                (400, 409, 413, 422),
                parameters=[idempotency],
                requestBody=_body(RobotRequest),
            ),
            "get": _op(
                "listRobots",
                "List robots, newest first",
                {"200": _json(RobotPage, "a page of robots")},
                (422,),
                parameters=_query(RobotListQuery),
            ),
        },
        "/v1/robots/{robot_id}": {
            "get": _op(
                "getRobot",
                "Get a robot",
                {"200": _json(Robot, "the robot")},
                (404,),
                parameters=robot_id,
            ),
        },
        "/v1/robots/{robot_id}/cancel": {
            "post": _op(
                "cancelRobot",
                "Cancel a robot",
                {
                    "200": _json(CancelAnswer, "a queued robot, now cancelled"),
                    "202": _json(CancelAnswer, "a running robot, asked to stop"),
                },
                (404, 409),
                parameters=robot_id,
            ),
        },
        "/v1/robots/{robot_id}/events": {
            "get": _op(
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
                parameters=robot_id,
            ),
        },
        "/v1/modules": {
            "get": _op("listModules", "List modules", {"200": _json(ModuleList, "modules")}),
            "post": _op(
                "registerModule",
                "Register a module (admin)",
                {"201": _json(ModuleInfo, "registered")},
                (400, 409, 422),
                requestBody=_body(ModuleSpec),
            ),
        },
        "/v1/keys": {
            "get": _op("listKeys", "List API keys (admin)", {"200": _json(KeyList, "keys")}),
            "post": _op(
                "createKey",
                "Create an API key (admin); the answer is the only time the key is shown",
                {"201": _json(KeyCreated, "the new key")},
                (400, 422),
                requestBody=_body(KeyCreate),
            ),
        },
        "/v1/keys/{key_id}/revoke": {
            "post": _op(
                "revokeKey",
                "Revoke an API key (admin)",
                {"200": _json(KeyInfo, "the revoked key")},
                (404, 409),
                parameters=key_id,
            ),
        },
        "/v1/keys/{key_id}/rotate": {
            "post": _op(
                "rotateKey",
                "Rotate an API key (admin): a new key; the old one works during the overlap",
                {"201": _json(KeyCreated, "the new key")},
                (400, 404, 409, 422),
                parameters=key_id,
                requestBody=_body(KeyRotate, required=False),
            ),
        },
        "/v1/audit": {
            "get": _op(
                "listAudit",
                "Read the audit log (admin)",
                {"200": _json(AuditPage, "a page of audit entries")},
                (422,),
                parameters=_query(AuditQuery),
            ),
        },
        "/healthz": {
            "get": _op("healthz", "Liveness", {"200": _json(Health, "alive")}, public=True)
        },
        "/readyz": {
            "get": _op(
                "readyz",
                "Readiness: the orchestrator and the store answer",
                {"200": _json(Health, "ready"), "503": _json(Health, "not ready")},
                public=True,
            )
        },
        "/metrics": {
            "get": _op(
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
        "/openapi.json": {
            "get": _op(
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
    paths.update(_document_paths())
    paths.update(cluster_paths(_op, _ref))
    return {
        "openapi": "3.1.0",
        "info": {"title": "robofleet", "version": "0.1.0"},
        "paths": paths,
        "security": [{"bearer": []}, {"apiKey": []}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
