"""The gateway's input checks with mocked requests (no socket): text bound for the store in
paths and queries, bodies nested past what any reader reads, ``Allow`` on a 405, and an
OpenAPI document as strict as the server."""

from __future__ import annotations

import re

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.documents import MediaType
from gateway.errors import ApiError, error_middleware
from gateway.http import read_json, text_middleware
from gateway.openapi import build_openapi
from runtime.models import MODULE_NAME_PATTERN, ROBOT_TYPE_PATTERN
from runtime.ocr.documents import MEDIA_TYPES
from runtime.text import MAX_JSON_DEPTH
from tests.unit.mocked_app import respond


async def ok(request: web.Request) -> web.Response:
    return web.json_response({"seen": dict(request.match_info)})


async def answer(method: str, path: str, body: bytes = b"") -> web.Response:
    """What a small app with the error and text middlewares answers (aiohttp's wrapping)."""
    app = web.Application(middlewares=[error_middleware, text_middleware])
    app.router.add_get("/v1/robots", ok)
    app.router.add_post("/v1/robots", ok)
    app.router.add_get("/v1/robots/{robot_id}", ok)
    return await respond(app, method, path)


def error_of(response: web.Response) -> dict:
    assert isinstance(response.body, bytes)
    return orjson.loads(response.body)["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/robots/a%00b",
        "/v1/robots?type=a%00b",
        "/v1/robots?cursor=%00",
        "/v1/robots?a%00=1",
    ],
)
async def test_text_the_store_cannot_hold_in_a_path_or_query_is_422(path):
    response = await answer("GET", path)
    assert response.status == 422
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert "\x00" not in error["message"]


@pytest.mark.parametrize("path", ["/v1/robots/abc", "/v1/robots/ab-c%20d", "/v1/robots?type=ü"])
async def test_storable_paths_and_queries_pass(path):
    assert (await answer("GET", path)).status == 200


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("DELETE", "/v1/robots", {"GET", "HEAD", "POST"}), ("PUT", "/v1/robots/x", {"GET", "HEAD"})],
)
async def test_a_405_says_which_methods_are_allowed(method, path, allowed):
    response = await answer(method, path)
    assert response.status == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    assert error_of(response)["code"] == "method_not_allowed"


async def test_a_body_nested_past_the_parser_is_422_and_malformed_json_400():
    deep = b"[" * 5000 + b"]" * 5000
    request = make_mocked_request("POST", "/v1/robots", payload=None)
    request.read = _reader(deep)  # type: ignore[method-assign]
    with pytest.raises(ApiError) as caught:
        await read_json(request)
    assert caught.value.http_status == 422
    assert str(MAX_JSON_DEPTH) in caught.value.message
    request.read = _reader(b"[1, ")  # type: ignore[method-assign]
    with pytest.raises(ApiError) as caught:
        await read_json(request)
    assert caught.value.http_status == 400


def _reader(raw: bytes):
    async def read() -> bytes:
        return raw

    return read


# --- the OpenAPI document -----------------------------------------------------------------


def _schemas() -> dict:
    return build_openapi()["components"]["schemas"]


def test_the_document_names_the_patterns_the_server_checks():
    schemas = _schemas()
    spec = schemas["ModuleSpec"]["properties"]
    assert spec["name"]["pattern"] == MODULE_NAME_PATTERN
    assert spec["types"]["items"]["pattern"] == ROBOT_TYPE_PATTERN
    key_modules = schemas["KeyCreate"]["properties"]["modules"]["anyOf"][0]
    assert key_modules["items"]["pattern"] == MODULE_NAME_PATTERN
    assert schemas["RobotRequest"]["properties"]["type"]["pattern"] == ROBOT_TYPE_PATTERN
    idempotency = schemas["RobotRequest"]["properties"]["idempotency_key"]["anyOf"][0]
    assert re.fullmatch(idempotency["pattern"].replace("\\u0000", "\x00"), "a\x00b") is None
    assert set(schemas["StoredDocument"]["properties"]["type"]["enum"]) == set(MEDIA_TYPES)
    deadline = schemas["RobotRequest"]["properties"]["deadline"]["anyOf"][0]
    assert deadline["minimum"] == 0 and deadline["maximum"] > 2e9


def test_the_media_types_of_the_document_are_the_stored_ones():
    from typing import get_args

    assert get_args(MediaType) == MEDIA_TYPES


def test_every_query_and_path_parameter_is_bounded_by_a_pattern_or_enum():
    document = build_openapi()
    loose = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                variants = schema.get("anyOf", [schema])
                for variant in variants:
                    if variant.get("type") == "string" and not (
                        "pattern" in variant or "enum" in variant or "$ref" in variant
                    ):
                        loose.append((method, path, parameter["name"]))
    assert not loose, loose


def test_every_operation_documents_the_422_and_created_resources_link_onwards():
    document = build_openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "422" in operation["responses"], (method, path)
    submit = document["paths"]["/v1/robots"]["post"]["responses"]["202"]
    assert set(submit["links"]) == {"getRobot", "cancelRobot", "robotEvents", "robotRouting"}
    created = document["paths"]["/v1/keys"]["post"]["responses"]["201"]
    assert set(created["links"]) == {"revokeKey", "rotateKey"}


async def test_a_public_paths_405_needs_no_key_and_others_still_do():
    from gateway.auth import route_permission
    from runtime.keys import Permission

    app = web.Application()
    app.router.add_get("/healthz", ok)
    app.router.add_get("/v1/robots/{robot_id}", ok)
    table = {
        ("GET", "/healthz"): Permission.PUBLIC,
        ("GET", "/v1/robots/{robot_id}"): Permission.READ,
    }
    for path, expected in [("/healthz", Permission.PUBLIC), ("/v1/robots/abc", None)]:
        probe = make_mocked_request("TRACE", path, app=app)
        match = await app.router.resolve(probe)
        request = make_mocked_request("TRACE", path, app=app)
        request._match_info = match  # as aiohttp's dispatch sets it (a mock would rewrap it)
        assert route_permission(request, table) is expected
