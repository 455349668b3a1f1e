"""Admin routes: API keys (``/v1/keys``) and the audit log (``/v1/audit``).

The ``robofleet keys`` commands use these routes with an admin key, so key management
works against any deployment (SQLite or PostgreSQL, local or remote) and every change is
audited and clears this gateway's key cache at once.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gateway.audit import AUDIT_TARGET
from gateway.errors import ApiError
from gateway.http import json_response, parse, read_json
from gateway.schemas import (
    AuditPage,
    AuditQuery,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    KeyList,
    KeyRotate,
)
from gateway.spec import body, json_answer, links, operation, path_id, query_parameters
from gateway.state import KEY_CACHE, STORE
from runtime.keys import ApiKey, AuditEntry, Permission, new_api_key

__all__ = ["MODELS", "PATHS", "ROUTES", "key_info"]


def key_info(key: ApiKey) -> KeyInfo:
    """What a listing shows of a key record."""
    return KeyInfo(**key.model_dump(exclude={"key_hash"}), state=key.state())


def _created(secret: str, key: ApiKey) -> web.Response:
    body = KeyCreated(key=secret, **key_info(key).model_dump())
    return json_response(body.model_dump(mode="json"), 201, headers={"Cache-Control": "no-store"})


async def create_key(request: web.Request) -> web.Response:
    """``POST /v1/keys``: make a key; the answer is the only place it appears in plain text."""
    body = parse(KeyCreate, await read_json(request))
    secret, key = new_api_key(body.role, body.modules, body.expires_in_s, body.name)
    await request.app[STORE].create_api_key(key)
    request[AUDIT_TARGET] = key.id
    return _created(secret, key)


async def list_keys(request: web.Request) -> web.Response:
    """``GET /v1/keys``: every key with its role, modules and state, never the key itself."""
    keys = await request.app[STORE].list_api_keys()
    return json_response({"keys": [key_info(k).model_dump(mode="json") for k in keys]})


async def _existing_key(request: web.Request) -> ApiKey:
    key_id = request.match_info["key_id"]
    key = await request.app[STORE].get_api_key(key_id) if len(key_id) <= 64 else None
    if key is None:
        raise ApiError(404, "not_found", f"no API key with id {key_id!r}")
    return key


async def revoke_key(request: web.Request) -> web.Response:
    """``POST /v1/keys/{key_id}/revoke``: the key stops working (at once on this gateway)."""
    key = await _existing_key(request)
    if not await request.app[STORE].revoke_api_key(key.id, time.time()):
        raise ApiError(409, "already_revoked", f"API key {key.id} is already revoked")
    request.app[KEY_CACHE].invalidate()
    revoked = await request.app[STORE].get_api_key(key.id)
    return json_response(key_info(revoked or key).model_dump(mode="json"))


async def rotate_key(request: web.Request) -> web.Response:
    """``POST /v1/keys/{key_id}/rotate``: a new key with the same role; the old one keeps
    working for ``overlap_s`` seconds (default one hour)."""
    old = await _existing_key(request)
    raw = await request.read()
    body = parse(KeyRotate, await read_json(request)) if raw.strip() else KeyRotate()
    if old.problem() is not None:
        raise ApiError(409, "not_rotatable", f"API key {old.id} cannot be rotated: {old.problem()}")
    now = time.time()
    remaining = old.expires_at - now if old.expires_at is not None else None
    secret, new = new_api_key(old.role, old.modules, remaining, old.name, rotated_from=old.id)
    overlap_until = now + body.overlap_s
    if old.overlap_until is not None:
        overlap_until = min(overlap_until, old.overlap_until)
    if not await request.app[STORE].rotate_api_key(old.id, new, overlap_until):
        raise ApiError(409, "not_rotatable", f"API key {old.id} was revoked meanwhile")
    request.app[KEY_CACHE].invalidate()
    request[AUDIT_TARGET] = old.id
    return _created(secret, new)


async def list_audit(request: web.Request) -> web.Response:
    """``GET /v1/audit``: audit entries newest first, optionally of one actor (key id)."""
    query = parse(AuditQuery, dict(request.query))
    page = await request.app[STORE].list_audit(query.limit, query.cursor, query.actor)
    return json_response(
        {
            "entries": [e.model_dump(mode="json") for e in page.entries],
            "next_cursor": page.next_cursor,
        }
    )


ROUTES: list[tuple[web.RouteDef, Permission]] = [
    (web.post("/v1/keys", create_key), Permission.ADMIN),
    (web.get("/v1/keys", list_keys), Permission.ADMIN),
    (web.post("/v1/keys/{key_id}/revoke", revoke_key), Permission.ADMIN),
    (web.post("/v1/keys/{key_id}/rotate", rotate_key), Permission.ADMIN),
    (web.get("/v1/audit", list_audit), Permission.ADMIN),
]
"""The admin routes with the permission each needs (all: admin)."""

MODELS: list[type[BaseModel]] = [
    KeyCreate,
    KeyRotate,
    KeyInfo,
    KeyCreated,
    KeyList,
    AuditEntry,
    AuditPage,
]
"""The models :data:`PATHS` refers to."""

_KEY_ID = [path_id("key_id")]
_KEY_LINKS = links(("revokeKey", "rotateKey"), "key_id")

PATHS: dict[str, Any] = {
    "/v1/keys": {
        "get": operation(
            "listKeys", "List API keys (admin)", {"200": json_answer(KeyList, "keys")}
        ),
        "post": operation(
            "createKey",
            "Create an API key (admin); the answer is the only time the key is shown",
            {"201": {**json_answer(KeyCreated, "the new key"), "links": _KEY_LINKS}},
            (400, 422),
            requestBody=body(KeyCreate),
        ),
    },
    "/v1/keys/{key_id}/revoke": {
        "post": operation(
            "revokeKey",
            "Revoke an API key (admin)",
            {"200": json_answer(KeyInfo, "the revoked key")},
            (404, 409),
            parameters=_KEY_ID,
        ),
    },
    "/v1/keys/{key_id}/rotate": {
        "post": operation(
            "rotateKey",
            "Rotate an API key (admin): a new key; the old one works during the overlap",
            {"201": {**json_answer(KeyCreated, "the new key"), "links": _KEY_LINKS}},
            (400, 404, 409, 422),
            parameters=_KEY_ID,
            requestBody=body(KeyRotate, required=False),
        ),
    },
    "/v1/audit": {
        "get": operation(
            "listAudit",
            "Read the audit log (admin)",
            {"200": json_answer(AuditPage, "a page of audit entries")},
            (422,),
            parameters=query_parameters(AuditQuery),
        ),
    },
}
"""This module's part of the OpenAPI document's ``paths``."""
