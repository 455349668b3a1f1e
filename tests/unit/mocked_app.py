"""Answers of a small aiohttp app to a mocked request: routed and wrapped in the app's
middlewares the way aiohttp wraps them, with nothing listening or connecting."""

from __future__ import annotations

import functools

from aiohttp import web
from aiohttp.test_utils import make_mocked_request


async def respond(
    app: web.Application,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> web.Response:
    """The response ``app`` gives to ``method path`` (``headers`` and ``body`` sent with it)."""
    probe = make_mocked_request(method, path, app=app)
    match = await app.router.resolve(probe)
    request = make_mocked_request(
        method, path, headers=headers or {}, app=app, match_info=match, payload=None
    )
    if body is not None:

        async def read() -> bytes:
            return body

        request.read = read  # type: ignore[method-assign]
    handler = match.handler
    for middleware in reversed(app.middlewares):
        handler = functools.partial(middleware, handler=handler)
    response = await handler(request)
    assert isinstance(response, web.Response)
    return response
