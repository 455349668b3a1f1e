"""One error shape for every response, request ids, and no internals in any body.

Every :class:`~runtime.errors.RobofleetError` a handler raises (or an orchestrator call
raises through it) is turned into a response here and nowhere else (:func:`translate`): the
class declares its ``http_status`` and ``code``, and ``retry_after_s`` becomes a
``Retry-After`` header. :class:`ApiError` is the gateway's own error, for refusals that
carry their status with them (validation, authentication, rate limits).
"""

from __future__ import annotations

import logging
import math
import os
import random

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from runtime.errors import GatewayError, RobofleetError

__all__ = [
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "ApiError",
    "error_middleware",
    "error_response",
    "new_request_id",
    "translate",
]

log = logging.getLogger(__name__)

_request_ids = random.Random(os.urandom(16))

REQUEST_ID = web.RequestKey("request_id", str)
"""Request item: the id the error body and the ``X-Request-ID`` header carry."""
REQUEST_ID_HEADER = "X-Request-ID"

HIDDEN_MESSAGE = "the service could not complete the request"


class ApiError(GatewayError):
    """Raised by the gateway itself with the HTTP status, code and headers to answer."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.http_status = status
        self.code = code
        self.headers = dict(headers or {})

    def __reduce__(self) -> tuple[type[ApiError], tuple[int, str, str, dict[str, str]]]:
        return (type(self), (self.http_status, self.code, self.message, self.headers))


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


def translate(exc: RobofleetError, request_id: str) -> web.Response:
    """The response of a robofleet error: its class's status and code, its message.

    ``retry_after_s`` (seconds) becomes ``Retry-After``, rounded up to a whole second, at
    least 1. A status of 500 or more hides the message (it may name internals) and logs the
    error with the request id instead; one that says when to come back (an unavailable
    store) is a passing condition its source logs once, so it is logged here at debug level.
    """
    status = exc.http_status
    headers = dict(exc.headers) if isinstance(exc, ApiError) else {}
    if exc.retry_after_s is not None and "Retry-After" not in headers:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if status >= 500:
        if exc.retry_after_s is None:
            log.error("request %s failed: %r", request_id, exc, exc_info=exc)
        else:
            log.debug("request %s: %r", request_id, exc)
        return error_response(status, exc.code, HIDDEN_MESSAGE, request_id, headers)
    return error_response(status, exc.code, exc.message, request_id, headers)


# Headers of aiohttp's own HTTP errors that the uniform body keeps: a 405 says which
# methods the resource allows (RFC 9110), a 413 or 429 when to come back.
_KEPT_HEADERS = ("Allow", "Retry-After")

CLIENT_CLOSED = 499
"""The status a request is counted with when its client left before the answer began
(nginx's "client closed request"); never sent, since no one is there to read it."""


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}


def new_request_id(request: web.BaseRequest) -> str:
    """The request's own ``X-Request-Id`` when it is a sane one, else a fresh random id."""
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    if 0 < len(supplied) <= 64 and supplied.replace("-", "").isalnum():
        return supplied
    return f"{_request_ids.getrandbits(64):016x}"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id and turn every failure into the uniform error body."""
    request_id = new_request_id(request)
    request[REQUEST_ID] = request_id
    try:
        response: web.StreamResponse = await handler(request)
    except RobofleetError as exc:
        return translate(exc, request_id)
    except web.HTTPException as exc:
        if exc.status_code < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        message = exc.reason
        if isinstance(exc, web.HTTPRequestEntityTooLarge) and exc.text:
            message = exc.text  # aiohttp's "Maximum request body size N exceeded, ..."
        return error_response(exc.status_code, code, message, request_id, _kept_headers(exc))
    except web.RequestPayloadError as exc:
        # The body did not decode as its Content-Encoding says, or ended short of its
        # Content-Length: the client's fault, and the decoder's text stays in the log.
        log.info("request %s: unreadable body: %s", request_id, exc.__cause__ or exc)
        request.content.feed_eof()  # nothing more is read of it (aiohttp would try again)
        answer = error_response(
            400,
            "bad_request",
            "the request body could not be read: it does not match its Content-Encoding, "
            "or it ended before its Content-Length",
            request_id,
        )
        answer.force_close()
        return answer
    except ConnectionError:
        # The client went away mid-request (aiohttp's ClientConnectionResetError is one):
        # no one reads this answer; it is counted as a client closed request.
        log.info("request %s: the client closed the connection", request_id)
        return error_response(CLIENT_CLOSED, "client_closed", "client closed request", request_id)
    except HttpProcessingError as exc:
        # aiohttp's parsers (multipart parts, chunked bodies) raise these outside of
        # web.HTTPException; they are the client's fault. The parser's message may echo
        # the input, so it stays out of the body.
        status = exc.code if 400 <= exc.code < 500 else 400
        log.info("request %s: malformed request: %s", request_id, exc)
        return error_response(status, "bad_request", "the request is malformed", request_id)
    except Exception:
        log.exception("request %s failed with an internal error", request_id)
        return error_response(500, "internal", "internal error; quote the request id", request_id)
    if not response.prepared:  # a stream already sent its headers, request id included
        response.headers[REQUEST_ID_HEADER] = request_id
    return response
