"""The gateway as a Ray actor (``gateway:<node ip>:<port>``) serving the aiohttp app on its node.

The one file above ``actors/`` that applies ``ray.remote``; it reaches the orchestrator, the
``documents`` actor and the cache through their typed clients in ``actors.ray``.
"""

from __future__ import annotations

import logging
from typing import Any

import ray
from aiohttp import web
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.ray.cache import RayCacheCalls
from actors.ray.common import GATEWAY_PREFIX
from actors.ray.documents import RayDocuments
from actors.ray.email_monitor import EmailMonitorClient
from actors.ray.notifier import NotifierClient
from actors.ray.orchestrator import OrchestratorClient
from gateway.app import create_app
from gateway.http import GatewayRunner
from gateway.state import BATCHER
from runtime.config import Settings
from runtime.heap import GcPauses, settle_heap
from runtime.store import create_store

__all__ = ["GatewayHost", "RemoteGateway", "gateway_name", "gateway_options"]

log = logging.getLogger(__name__)


class GatewayHost:
    """Runs the gateway app on the actor's event loop, on ``settings``' host and port."""

    async def __init__(self, settings: dict[str, Any]) -> None:  # type: ignore[misc]
        # Ray awaits an async actor's __init__ before the first call.
        self.settings = Settings(**settings)
        app = create_app(
            self.settings,
            OrchestratorClient(self.settings.namespace),
            create_store(self.settings),
            RayDocuments(self.settings.namespace),
            cache=RayCacheCalls(self.settings.namespace),
            mail=EmailMonitorClient(self.settings.namespace),
            notifier=NotifierClient(self.settings.namespace),
        )
        self._app = app
        self._runner = GatewayRunner(app, access_log=None)
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
        self._gc = GcPauses()
        settle_heap()

    def __repr__(self) -> str:
        """Live state for the Ray dashboard's Repr column and logs: its URL and the submits
        it holds, e.g. ``gateway(http://127.0.0.1:8080 submits_waiting=0)``."""
        app = getattr(self, "_app", None)
        waiting = app[BATCHER].waiting if app is not None else 0
        return f"gateway({self.settings.gateway_url()} submits_waiting={waiting})"

    def url(self) -> str:
        """The URL this gateway serves."""
        return self.settings.gateway_url()

    def node_id(self) -> str:
        """The Ray node this gateway runs on."""
        return ray.get_runtime_context().get_node_id()

    async def shutdown(self) -> None:
        """Stop serving and release the app's resources."""
        await self._runner.cleanup()


RemoteGateway = ray.remote(GatewayHost)


def gateway_name(node_ip: str, port: int) -> str:
    """The actor name of the gateway serving ``port`` on a node."""
    return f"{GATEWAY_PREFIX}{node_ip}:{port}"


def gateway_options(name: str, namespace: str, node_id: str) -> dict[str, Any]:
    """Ray options of a gateway: named, detached, pinned to its node, restarted forever."""
    return {
        "name": name,
        "namespace": namespace,
        "lifetime": "detached",
        "max_restarts": -1,
        "num_cpus": 0,
        "max_concurrency": 10_000,
        "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False),
    }
