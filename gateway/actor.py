"""The gateway as a Ray actor (``gateway:<node>``) serving the aiohttp app on its node."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray
from aiohttp import web

from actors.remote import RayCacheCalls, RayDocuments, get_orchestrator
from gateway.app import create_app
from runtime.config import Settings
from runtime.heap import GcPauses, settle_heap
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

    async def cancel(self, robot_id: str) -> dict[str, Any]:
        """Cancel a queued robot, or ask a running one to stop."""
        return await self.handle.cancel.remote(robot_id)

    async def scale_module(self, name: str, replicas: int) -> dict[str, Any]:
        """Change a module's replica count."""
        return await self.handle.scale_module.remote(name, replicas)

    async def cluster(self) -> dict[str, Any]:
        """Nodes with resources, the gateways and replicas on each."""
        nodes = await asyncio.to_thread(ray.nodes)
        named = await asyncio.to_thread(ray.util.list_named_actors, True)
        gateways = sorted(
            a["name"]
            for a in named
            if a.get("namespace") == self._namespace and a["name"].startswith("gateway:")
        )
        replica_nodes = await self.handle.replica_nodes.remote()
        gateway_nodes = await asyncio.gather(*(self._gateway_node(g) for g in gateways))
        view = []
        for node in nodes:
            node_id = node["NodeID"]
            view.append(
                {
                    "node_id": node_id,
                    "address": node.get("NodeManagerAddress"),
                    "alive": bool(node["Alive"]),
                    "resources": {
                        k: v
                        for k, v in node.get("Resources", {}).items()
                        if not k.startswith("node:")
                    },
                    "gateways": [
                        g for g, n in zip(gateways, gateway_nodes, strict=True) if n == node_id
                    ],
                    "replicas": sorted(r for r, n in replica_nodes.items() if n == node_id),
                }
            )
        return {"nodes": view}

    async def module_metrics(self) -> list[dict[str, Any]]:
        """Every live replica's own metric samples, labelled with its module and replica."""
        replicas = [
            (module["name"], replica["name"])
            for module in await self.list_modules()
            for replica in module["replicas"]
            if replica["alive"]
        ]
        answers = await asyncio.gather(*(self._replica_metrics(name) for _, name in replicas))
        return [
            {**sample, "labels": {"module": module, "replica": name, **sample["labels"]}}
            for (module, name), samples in zip(replicas, answers, strict=True)
            for sample in samples
        ]

    async def _replica_metrics(self, name: str) -> list[dict[str, Any]]:
        try:
            handle = ray.get_actor(name, namespace=self._namespace)
            return await asyncio.wait_for(handle.module_metrics.remote(), 2)
        except Exception:
            return []  # a replica being replaced just misses this scrape

    async def _gateway_node(self, name: str) -> str | None:
        try:
            handle = ray.get_actor(name, namespace=self._namespace)
            return await asyncio.wait_for(handle.node_id.remote(), 2)
        except Exception:
            return None


class GatewayHost:
    """Runs the gateway app on the actor's event loop."""

    async def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = Settings(**settings)
        app = create_app(
            self.settings,
            RayFleet(self.settings.namespace),
            create_store(self.settings),
            RayDocuments(self.settings.namespace),
            cache=RayCacheCalls(self.settings.namespace),
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
        self._gc = GcPauses()
        settle_heap()

    def gc_pauses(self) -> dict[str, dict[str, float]]:
        """Garbage-collector pauses of this gateway since the last call (for benchmarks)."""
        return self._gc.summary(reset=True)

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
    return f"gateway:{node_ip}:{port}"
