"""The aiohttp gateway: routes, middlewares, OpenAPI, and the actor that hosts it."""

from gateway.app import create_app

__all__ = ["create_app"]
