"""What every route handler uses to read a request and write an answer: JSON in, JSON out.

:func:`text_middleware` checks the text of every request bound for the store (path ids and
query parameters; bodies are checked by their models, see :mod:`runtime.text`).
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

import orjson
from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestHandler
from pydantic import BaseModel, ValidationError

from gateway.errors import ApiError, error_response, new_request_id
from runtime.errors import validation_message
from runtime.text import MAX_JSON_DEPTH, text_problem

__all__ = [
    "GatewayRunner", "json_response", "parse", "read_json", "text_middleware", "unstorable",
]  # fmt: skip

log = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)

BODY_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate", "br"})
"""The ``Content-Encoding`` values of a JSON body that aiohttp decodes (or that need none)."""

UNSUPPORTED_ENCODING = (
    "the body's Content-Encoding is not supported: send it as is, or as gzip, deflate or br"
)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response serialised with orjson (dicts, lists, dataclasses and enums)."""
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )


async def read_json(request: web.Request, unique_keys: bool = True) -> Any:
    """Parse a JSON body whatever its declared content type; raise a 400 ApiError if it is not.

    ``unique_keys``: refuse (400, naming it) a key given twice in one object, which JSON
    parsers otherwise settle silently with the last value. orjson does not see it, and the
    second parse that does costs about 5x orjson's, so the robot submit routes (the hot
    path, whose payload is the robot's own) pass False; rules, schedules, mailboxes, keys
    and the other admin and config bodies are checked.
    """
    if request.headers.get("Content-Encoding", "").strip().lower() not in BODY_ENCODINGS:
        raise ApiError(415, "unsupported_media_type", UNSUPPORTED_ENCODING)
    raw = await request.read()
    if not raw:
        raise ApiError(400, "invalid_json", "the request body is empty")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = str(exc.args[0])
        # Well-formed JSON as far as it was read, but beyond what robofleet takes: the
        # request is understood and refused (422), like a payload a level too deep.
        if reason.startswith("depth limit exceeded"):
            raise ApiError(
                422,
                "validation_error",
                f"the body is nested deeper than {MAX_JSON_DEPTH} levels, the most a payload "
                "may nest",
            ) from None
        if reason.startswith("number is infinity"):
            raise ApiError(
                422, "validation_error", "the body holds a number too large to be finite"
            ) from None
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {reason}") from None
    if unique_keys:
        try:
            json.loads(raw, object_pairs_hook=_refuse_duplicate_keys)
        except RecursionError:
            pass  # nested past Python's stack: the models refuse that depth anyway
    return data


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            shown = key if len(key) <= 80 else key[:80] + "..."
            raise ApiError(
                400, "invalid_json", f"the body gives the key {shown!r} more than once in an object"
            )
        found[key] = value
    return found


def parse(model: type[Model], data: Any, strict: bool = False) -> Model:
    """Validate data against a model; raise a 422 ApiError naming each bad field.

    ``strict``: validate as pydantic's strict JSON mode does, so a number given as a string
    (``"every_s": "5"``) is refused rather than converted, the way robot fields already are
    (enum values, timestamps in text and the like are still read from their JSON form).
    The rule, schedule and mailbox bodies use it; query strings cannot (all their values
    are text).
    """
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "expected a JSON object")
    try:
        if strict:
            return model.model_validate_json(orjson.dumps(data), strict=True)
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", validation_message(exc)) from None


def unstorable(where: str, problem: str) -> ApiError:
    """The 422 refusing text the store cannot hold: ``where`` names the input."""
    return ApiError(422, "validation_error", f"{where}: {problem}")


@web.middleware
async def text_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (422) a request whose path parameters or query hold text the store cannot.

    Path ids and query values reach store queries as parameters, and refusals echo them
    into the audit trail; a NUL there must stop here, before any handler, for every route.
    A request no route matched goes on to its 404 or 405.
    """
    if request.match_info.http_exception is None:
        for name, value in request.match_info.items():
            problem = text_problem(value)
            if problem is not None:
                raise unstorable(f"path parameter {name}", problem)
        for name, value in request.query.items():
            problem = text_problem(name) or text_problem(value)
            if problem is not None:
                raise unstorable("query parameter", problem)
    return await handler(request)


class _GatewayConnection(RequestHandler):
    """aiohttp's connection handler, answering a body it cannot decode in the gateway's way.

    aiohttp's parser picks the decoder of ``Content-Encoding: zstd`` before any handler or
    middleware runs, and without a zstd package it answers a plain-text 400 asking to
    install one. That request gets the same 415 JSON answer as any other encoding
    robofleet does not take (:func:`read_json`); other parser errors keep aiohttp's answer.
    """

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The 415 JSON error for an undecodable Content-Encoding, else aiohttp's answer."""
        if not isinstance(exc, ContentEncodingError):
            return super().handle_error(request, status, exc, message)
        log.info("request with an undecodable Content-Encoding: %s", exc)
        answer = error_response(
            415, "unsupported_media_type", UNSUPPORTED_ENCODING, new_request_id(request)
        )
        answer.force_close()
        return answer


class _GatewayServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _GatewayConnection(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer an undecodable body with the gateway's
    JSON error (see :class:`_GatewayConnection`)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GatewayServer
        return server
