"""Every error class reaches the client through the gateway's one translation.

Each :class:`~runtime.errors.RobofleetError` subclass, wherever robofleet defines it, is
raised in a handler of a small app that has only the gateway's error middleware, and the
answer must be the class's ``http_status`` with the uniform body
``{"error": {"code", "message", "request_id"}}`` (the message hidden from 500 up) and a
``Retry-After`` when the error says when to come back. The request is a mocked one: no socket.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import math
import pkgutil
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from gateway.errors import HIDDEN_MESSAGE, REQUEST_ID_HEADER, ApiError, error_middleware
from runtime import errors
from runtime.errors import QueueFull, RobofleetError
from tests.unit.mocked_app import respond

PACKAGES = ("runtime", "actors", "gateway", "cluster")
ROOT = Path(__file__).resolve().parents[2]
REQUEST_ID = "4be1c0de5f3a9d27"
MESSAGE = "robot 019ad4c7b2e1a3f5c8d90b12 cannot be cancelled while it is recovered"


def _import_every_module() -> None:
    """Import the four packages whole, so error classes outside runtime.errors are found."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(info.name)


def _subclasses(root: type[RobofleetError]) -> list[type[RobofleetError]]:
    found = [root]
    for sub in root.__subclasses__():
        found += _subclasses(sub)
    return found


_import_every_module()
# ApiError carries its status per instance and is tested on its own below.
ERRORS = sorted(
    {cls for cls in _subclasses(RobofleetError) if cls is not ApiError},
    key=lambda cls: (cls.__module__, cls.__name__),
)


def _name(cls: type) -> str:
    return cls.__name__


async def answer(exc: BaseException, request_id: str | None = REQUEST_ID) -> web.Response:
    """The response a small app with the gateway's error middleware gives when ``exc`` is raised.

    The route is resolved by the app's router and the handler wrapped in the app's middlewares
    the way aiohttp wraps them; the request is mocked, so nothing listens or connects.
    """

    async def submit(request: web.Request) -> web.Response:
        raise exc

    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/v1/robots", submit)
    headers = {REQUEST_ID_HEADER: request_id} if request_id else {}
    return await respond(app, "POST", "/v1/robots", headers)


def body_of(response: web.Response) -> dict:
    assert response.content_type == "application/json"
    assert isinstance(response.body, bytes)
    return orjson.loads(response.body)


def test_the_walk_finds_every_error_class():
    names = {cls.__name__ for cls in ERRORS}
    assert {"RobofleetError", "QueueFull", "UnknownModule", "RobotNotFound"} <= names
    assert {"DocumentNotFound", "EngineFailed"} <= names  # defined outside runtime.errors
    declared = {
        obj
        for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, RobofleetError)
    }
    assert declared <= set(ERRORS)


@pytest.mark.parametrize("cls", ERRORS, ids=_name)
def test_every_error_class_declares_its_own_code_and_a_status(cls):
    assert "code" in vars(cls), f"{cls.__name__} inherits its parent's code"
    assert isinstance(cls.http_status, int) and 400 <= cls.http_status <= 599
    assert cls.retry_after_s is None or cls.retry_after_s > 0


def test_error_codes_are_unique():
    by_code: dict[str, list[str]] = {}
    for cls in ERRORS:
        by_code.setdefault(cls.code, []).append(cls.__name__)
    assert {code: names for code, names in by_code.items() if len(names) > 1} == {}


@pytest.mark.parametrize("cls", ERRORS, ids=_name)
async def test_every_error_answers_with_its_class_status(cls, caplog):
    exc = cls(MESSAGE)
    with caplog.at_level(logging.ERROR, logger="gateway.errors"):
        response = await answer(exc)

    assert response.status == cls.http_status
    assert response.headers[REQUEST_ID_HEADER] == REQUEST_ID
    error = body_of(response)["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == cls.code
    assert error["request_id"] == REQUEST_ID
    if cls.http_status >= 500:
        assert error["message"] == HIDDEN_MESSAGE
        assert b"019ad4c7" not in response.body  # nothing of the real message leaks
        if exc.retry_after_s is None:
            assert REQUEST_ID in caplog.text and MESSAGE in caplog.text  # but it is logged
        else:  # a passing 503 is logged once by its source, not once per request
            assert caplog.text == ""
    else:
        assert error["message"] == MESSAGE
    if exc.retry_after_s is None:
        assert "Retry-After" not in response.headers
    else:
        assert response.headers["Retry-After"] == str(max(1, math.ceil(exc.retry_after_s)))


@pytest.mark.parametrize(("retry_after_s", "header"), [(2.5, "3"), (0.2, "1"), (30.0, "30")])
async def test_queue_full_says_when_to_come_back(retry_after_s, header):
    response = await answer(QueueFull("queue of 'ocr.invoice' holds 10000 robots", retry_after_s))
    assert response.status == 429
    assert response.headers["Retry-After"] == header
    assert body_of(response)["error"]["code"] == "queue_full"


async def test_a_request_without_an_id_gets_one():
    response = await answer(errors.RobotNotFound("no robot 019ad4c7b2e1a3f5c8d90b12"), None)
    request_id = body_of(response)["error"]["request_id"]
    assert response.status == 404
    assert request_id and response.headers[REQUEST_ID_HEADER] == request_id


@pytest.mark.parametrize(
    ("exc", "status", "headers"),
    [
        (ApiError(400, "bad_request", "priority: must be at most 9"), 400, {}),
        (ApiError(401, "unauthorized", "missing API key"), 401, {}),
        (
            ApiError(429, "rate_limited", "slow down", {"Retry-After": "7"}),
            429,
            {"Retry-After": "7"},
        ),
    ],
    ids=["bad_request", "unauthorized", "rate_limited"],
)
async def test_the_gateways_own_errors_keep_their_status_and_headers(exc, status, headers):
    response = await answer(exc)
    assert response.status == status
    assert body_of(response)["error"] == {
        "code": exc.code,
        "message": exc.message,
        "request_id": REQUEST_ID,
    }
    for name, value in headers.items():
        assert response.headers[name] == value


async def test_an_unexpected_exception_is_a_hidden_500():
    response = await answer(KeyError("/srv/robofleet/secret.toml"))
    assert response.status == 500
    assert body_of(response)["error"]["code"] == "internal"
    assert b"secret" not in response.body


def _error_dicts_returned(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        value = node.value if isinstance(node, ast.Return | ast.Yield) else None
        if isinstance(value, ast.Dict) and any(
            isinstance(key, ast.Constant) and key.value == "error" for key in value.keys
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_error_travels_as_a_dict():
    """Refusals are raised as error classes; only gateway/errors.py builds an error body."""
    found = [
        where
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "gateway" / "errors.py"
        for where in _error_dicts_returned(path)
    ]
    assert not found, "error dicts returned instead of raised:\n  " + "\n  ".join(found)


async def test_a_body_over_the_size_limit_names_the_limit() -> None:
    """aiohttp's 413 keeps its text, which names the limit, in the uniform body."""

    async def too_large(request: web.Request) -> web.Response:
        raise web.HTTPRequestEntityTooLarge(max_size=1_048_576, actual_size=2_000_000)

    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/v1/robots", too_large)
    response = await respond(app, "POST", "/v1/robots")
    assert response.status == 413
    assert response.body is not None
    error = orjson.loads(response.body)["error"]  # type: ignore[arg-type]
    assert error["code"] == "request_entity_too_large"
    assert "1048576" in error["message"]
