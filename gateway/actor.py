"""The gateway as a Ray actor (``gateway:<node>``) serving the aiohttp app on its node."""

from __future__ import annotations

import logging
from typing import Any

import ray
from aiohttp import web

from actors.remote import get_orchestrator
from gateway.app import create_app
from runtime.config import Settings
from runtime.store import create_store

log = logging.getLogger(__name__)


class RayFleet:
    """Reaches the orchestrator actor; calls retry by themselves while it restarts."""

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self._handle: Any = None

    @property
    def handle(self) -> Any:
        """The orchestrator's handle, looked up once."""
        if self._handle is None:
            self._handle = get_orchestrator(self._namespace)
        return self._handle

    async def submit_many(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Persist and enqueue robots."""
        return await self.handle.submit_many.remote(items)

    async def list_modules(self) -> list[dict[str, Any]]:
        """Registered modules and their state."""
        return await self.handle.list_modules.remote()

    async def register_module(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Validate and deploy a module."""
        return await self.handle.register_module.remote(spec)

    async def ready(self) -> bool:
        """Whether the orchestrator answers."""
        return await self.handle.ready.remote()


class GatewayHost:
    """Runs the gateway app on the actor's event loop."""

    async def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = Settings(**settings)
        app = create_app(
            self.settings, RayFleet(self.settings.namespace), create_store(self.settings)
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self.settings.gateway_host,
            self.settings.gateway_port,
            reuse_address=True,
            backlog=2048,
        )
        await site.start()
        log.info("gateway listening on %s", self.settings.gateway_url())

    def url(self) -> str:
        """The URL this gateway serves."""
        return self.settings.gateway_url()

    async def shutdown(self) -> None:
        """Stop serving and release the app's resources."""
        await self._runner.cleanup()


RemoteGateway = ray.remote(GatewayHost)


def gateway_name(node_ip: str, port: int) -> str:
    """The actor name of the gateway serving ``port`` on a node."""
    return f"gateway:{node_ip}:{port}"
