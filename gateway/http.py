"""What every route handler uses to read a request and write an answer: JSON in, JSON out."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.errors import ApiError, validation_message

__all__ = ["json_response", "parse", "read_json"]

Model = TypeVar("Model", bound=BaseModel)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response serialised with orjson (dicts, lists, dataclasses and enums)."""
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )


async def read_json(request: web.Request) -> Any:
    """Parse a JSON body whatever its declared content type; raise a 400 ApiError if it is not."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "invalid_json", "the request body is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc.args[0]}") from None


def parse(model: type[Model], data: Any) -> Model:
    """Validate data against a model; raise a 422 ApiError naming each bad field."""
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "expected a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", validation_message(exc)) from None
