"""The words the route modules write their OpenAPI paths in (OpenAPI 3.1).

Each route module exports ``PATHS`` (its part of the document's ``paths``) and ``MODELS``
(the pydantic models those paths name with :func:`ref`); ``gateway.openapi`` merges them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = [
    "COMMON_ERRORS",
    "ErrorBody",
    "ErrorDetail",
    "INPUT_ERRORS",
    "body",
    "json_answer",
    "links",
    "operation",
    "path_id",
    "query_parameters",
    "ref",
]

# Every authenticated operation may answer these.
COMMON_ERRORS = (401, 403, 429, 503)
# Every operation answers 422 to a path or query parameter holding text the store cannot
# hold (a NUL), whatever its other parameters (gateway.http.text_middleware).
INPUT_ERRORS = (422,)
# Every operation with a body answers 400 to a body that is not JSON or does not decode as its
# Content-Encoding, 413 to one over the size limit, 415 to an encoding it does not take.
BODY_ERRORS = (400, 413, 415)


class ErrorDetail(BaseModel):
    """What went wrong, and the request id to quote."""

    code: str
    message: str
    request_id: str


class ErrorBody(BaseModel):
    """The uniform error body."""

    error: ErrorDetail


def ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to a model's schema under ``components/schemas``."""
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def json_answer(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A response whose JSON body is ``model``."""
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


def body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """A request body of JSON ``model``."""
    return {"required": required, "content": {"application/json": {"schema": ref(model)}}}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One optional query parameter per field of ``model``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return [
        {"name": name, "in": "query", "required": False, "schema": field_schema}
        for name, field_schema in schema["properties"].items()
    ]


def links(operation_ids: tuple[str, ...], parameter: str) -> dict[str, Any]:
    """OpenAPI links from an answer whose body has an ``id`` to operations taking it.

    Each linked operation gets ``parameter`` (a path parameter) from ``$response.body#/id``;
    clients and stateful testers follow them from a created resource to its operations.
    """
    return {
        operation_id: {
            "operationId": operation_id,
            "parameters": {f"path.{parameter}": "$response.body#/id"},
        }
        for operation_id in operation_ids
    }


def path_id(name: str, pattern: str | None = None) -> dict[str, Any]:
    """A path parameter: an alphanumeric id of 1 to 64 characters, or a string matching
    ``pattern`` (a regular expression) when one is given."""
    schema: dict[str, Any] = (
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9]+$"}
        if pattern is None
        else {"type": "string", "pattern": pattern}
    )
    return {"name": name, "in": "path", "required": True, "schema": schema}


def operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    errors: tuple[int, ...] = (),
    *,
    public: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """One operation: its answers plus an :class:`ErrorBody` for each error status.

    ``errors`` are the statuses of this operation; every operation also answers
    :data:`INPUT_ERRORS`, and one that is not ``public`` :data:`COMMON_ERRORS` too and
    needs a key (the document's default security).
    ``extra`` adds fields such as ``parameters`` and ``requestBody``.
    """
    statuses = set(errors) | set(INPUT_ERRORS) | (set() if public else set(COMMON_ERRORS))
    if "requestBody" in extra:
        statuses |= set(BODY_ERRORS)
    answer = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {
            **responses,
            **{str(s): json_answer(ErrorBody, "error") for s in sorted(statuses)},
        },
        **extra,
    }
    if public:
        answer["security"] = []
    return answer
