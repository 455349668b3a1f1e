"""One error shape for every response, request ids, and no internals in any body."""

from __future__ import annotations

import logging
import math
import os
import random
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import ValidationError

from runtime.errors import GatewayError, RobofleetError

log = logging.getLogger(__name__)

_request_ids = random.Random(os.urandom(16))

REQUEST_ID = web.RequestKey("request_id", str)
REQUEST_ID_HEADER = "X-Request-ID"

STATUS_OF_CODE = {
    "not_found": 404,
    "unknown_robot_type": 422,
    "queue_full": 429,
    "module_rejected": 422,
    "module_exists": 409,
    "store_unavailable": 503,
    "bad_config": 400,
}


def raise_for_answer(answer: dict[str, Any], default_status: int) -> None:
    """Raise the HTTP error of an orchestrator answer that carries ``{"error": ...}``.

    The status comes from :data:`STATUS_OF_CODE` (``default_status`` for other codes), and
    an answer with ``retry_after_s`` gets a ``Retry-After`` header, rounded up.
    """
    error = answer.get("error")
    if error is None:
        return
    headers = None
    if "retry_after_s" in error:
        headers = {"Retry-After": str(max(1, math.ceil(error["retry_after_s"])))}
    status = STATUS_OF_CODE.get(error["code"], default_status)
    raise ApiError(status, error["code"], error["message"], headers=headers)


class ApiError(GatewayError):
    """An HTTP error with robofleet's JSON body; raise it from any handler."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status
        self.code = code
        self.headers = dict(headers or {})

    def __reduce__(self):
        return (type(self), (self.status_code, self.code, self.message, self.headers))


def error_response(
    status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> web.Response:
    """Build the uniform error body ``{"error": {"code", "message", "request_id"}}``."""
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    response = web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def validation_message(exc: ValidationError) -> str:
    """Say which fields were wrong and why, without echoing the input back."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _new_request_id(request: web.Request) -> str:
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    if 0 < len(supplied) <= 64 and supplied.replace("-", "").isalnum():
        return supplied
    return f"{_request_ids.getrandbits(64):016x}"


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Give every request an id and turn every failure into the uniform error body."""
    request_id = _new_request_id(request)
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except ApiError as exc:
        return error_response(exc.status_code, exc.code, exc.message, request_id, exc.headers)
    except web.HTTPException as exc:
        if exc.status_code < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status_code, code, exc.reason, request_id)
    except HttpProcessingError as exc:
        # aiohttp's parsers (multipart parts, chunked bodies) raise these outside of
        # web.HTTPException; they are the client's fault. The parser's message may echo
        # the input, so it stays out of the body.
        status = exc.code if 400 <= exc.code < 500 else 400
        log.info("request %s: malformed request: %s", request_id, exc)
        return error_response(status, "bad_request", "the request is malformed", request_id)
    except RobofleetError as exc:
        status = STATUS_OF_CODE.get(exc.code, 500)
        if status >= 500:
            log.error("request %s failed: %r", request_id, exc, exc_info=exc)
            return error_response(
                status, exc.code, "the service could not complete the request", request_id
            )
        return error_response(status, exc.code, exc.message, request_id)
    except Exception:
        log.exception("request %s failed with an internal error", request_id)
        return error_response(500, "internal", "internal error; quote the request id", request_id)
    if not response.prepared:  # a stream already sent its headers, request id included
        response.headers[REQUEST_ID_HEADER] = request_id
    return response
