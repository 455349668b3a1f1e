"""Every ``ray.remote`` of the actor classes, their options, and the Ray replica driver.

This is the one module of ``actors/`` where Ray appears; the classes it wraps are plain.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError
from ray.util import metrics as ray_metrics
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.cache import CacheHost
from actors.orchestrator import Orchestrator
from actors.replica import ReplicaHost
from runtime.config import Settings
from runtime.errors import ReplicaLost, RetryableError
from runtime.heap import GcPauses, settle_heap
from runtime.models import HealthState, ModuleSpec
from runtime.ocr.results import OcrResult
from runtime.ocr.shelf import DocumentShelf, FetchedDocument
from runtime.placement import NodeView
from runtime.store import create_store

log = logging.getLogger(__name__)

ORCHESTRATOR_NAME = "orchestrator"
HEAD_NODE_RESOURCE = "node:__internal_head__"
CONTROL_SLOTS = 8  # extra concurrency on a replica so health checks pass busy slots
LOST_ERRORS = (RayActorError, ActorDiedError, ActorUnavailableError)
START_TIMEOUT_S = 60.0


class OrchestratorActor(Orchestrator):
    """The orchestrator as a Ray actor: builds its store and driver from settings."""

    async def __init__(self, settings: dict[str, Any]) -> None:
        parsed = Settings(**settings)
        super().__init__(
            parsed,
            create_store(parsed),
            RayReplicaDriver(parsed.namespace),
            RayCacheCalls(parsed.namespace),
        )
        await self.start()
        # After start(): a queue recovered from the store is frozen with the rest, so no
        # later collection walks it (settle_heap collects first: no garbage is frozen).
        self._gc = GcPauses()
        settle_heap()
        self._gauges = {
            "unplaceable": ray_metrics.Gauge(
                "robofleet_module_unplaceable",
                "1 while no live node offers the resources a module's replicas need",
                tag_keys=("module",),
            ),
            "queued": ray_metrics.Gauge(
                "robofleet_module_queued", "Robots waiting for a module", tag_keys=("module",)
            ),
        }
        asyncio.get_running_loop().create_task(self._export_gauges())

    def gc_pauses(self) -> dict[str, dict[str, float]]:
        """Garbage-collector pauses of this process since the last call (for benchmarks)."""
        return self._gc.summary(reset=True)

    def ready(self) -> bool:
        """Answer once the orchestrator has started (used by readiness checks)."""
        return True

    async def _export_gauges(self) -> None:
        while not self.stopping:
            try:
                for info in self.list_modules():
                    tags = {"module": info["name"]}
                    self._gauges["unplaceable"].set(1 if info["unplaceable"] else 0, tags)
                    self._gauges["queued"].set(info["queued"], tags)
            except Exception:
                log.debug("exporting orchestrator gauges failed", exc_info=True)
            await asyncio.sleep(5)


class ReplicaActor(ReplicaHost):
    """A replica as a Ray actor: sends coalesced progress to the orchestrator."""

    def __init__(self, spec: dict[str, Any], replica_name: str, namespace: str) -> None:
        self._namespace = namespace
        self._orchestrator: Any = None
        super().__init__(spec, replica_name, flush_progress=self._send_progress)

    def ping(self) -> dict[str, Any]:
        """Identify the replica, with the node it runs on."""
        return {**super().ping(), "node_id": ray.get_runtime_context().get_node_id()}

    def _send_progress(self, batch: list[tuple[str, int, float, str | None]]) -> None:
        if self._orchestrator is None:
            self._orchestrator = ray.get_actor(ORCHESTRATOR_NAME, namespace=self._namespace)
        self._orchestrator.report_progress.remote(batch)


class CacheActor(CacheHost):
    """The cache as a Ray actor: warms from the orchestrator, exports Ray custom metrics."""

    async def __init__(self, settings: dict[str, Any]) -> None:
        parsed = Settings(**settings)
        self._namespace = parsed.namespace
        super().__init__(parsed, self._orchestrator_modules, RayCacheMetrics())
        await self.start()
        settle_heap()

    async def _orchestrator_modules(self) -> list[dict[str, Any]]:
        return await get_orchestrator(self._namespace).list_modules.remote()

    def ready(self) -> str:
        """Answer once started, with this incarnation's id."""
        return self.cache.guard.incarnation


class RayCacheMetrics:
    """Exports cache statistics as Ray custom metrics (``ray.util.metrics``), tagged by kind."""

    def __init__(self) -> None:
        from ray.util.metrics import Counter, Gauge

        from runtime.cache.stats import COUNTERS, GAUGES

        self._counters = {
            name: Counter(f"robofleet_cache_{name}", f"cache {name}", tag_keys=("kind",))
            for name in COUNTERS
        }
        self._gauges = {
            name: Gauge(f"robofleet_cache_{name}", f"cache {name}", tag_keys=("kind",))
            for name in GAUGES
        }
        self._backend_up = Gauge("robofleet_cache_backend_up", "1 while Redis answers")
        self._last: dict[tuple[str, str], int] = {}

    def export(self, snapshot: dict[str, Any]) -> None:
        """Publish a ``stats()`` snapshot: counter deltas since the last one, gauge values."""
        for kind, values in snapshot["kinds"].items():
            for name, counter in self._counters.items():
                delta = values[name] - self._last.get((kind, name), 0)
                if delta > 0:
                    counter.inc(delta, tags={"kind": kind})
                self._last[(kind, name)] = values[name]
            for name, gauge in self._gauges.items():
                gauge.set(values[name], tags={"kind": kind})
        self._backend_up.set(snapshot["backend_up"])


RemoteOrchestrator = ray.remote(OrchestratorActor)
RemoteReplica = ray.remote(ReplicaActor)
RemoteCache = ray.remote(CacheActor)

CACHE_NAME = "cache"


def cache_options(namespace: str, name: str = CACHE_NAME) -> dict[str, Any]:
    """Ray options of the cache: named, detached, on the head node, restarted forever.

    Calls are not retried: a caller that gets no answer in time reads the store instead.
    """
    return {
        "name": name,
        "namespace": namespace,
        "lifetime": "detached",
        "max_restarts": -1,
        "max_task_retries": 0,
        "max_concurrency": 1000,
        "num_cpus": 0,
        "resources": {HEAD_NODE_RESOURCE: 0.001},
    }


class RayCacheCalls:
    """Reaches a cache actor by name; looks the actor up again after a failed call."""

    def __init__(self, namespace: str, name: str = CACHE_NAME) -> None:
        self.namespace = namespace
        self.name = name
        self._handle: Any = None

    def _actor(self) -> Any:
        if self._handle is None:
            self._handle = ray.get_actor(self.name, namespace=self.namespace)
        return self._handle

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self._actor(), method).remote(*args)
        except asyncio.CancelledError:
            raise  # the caller's timeout: the actor may just be restarting
        except BaseException:
            self._handle = None  # killed for good or never created: look it up again
            raise

    async def get_many(self, items: list[Any]) -> Any:
        """Values (None for a miss) and the token fills must carry."""
        return await self._call("get_many", items)

    async def set_many(self, items: list[Any], token: Any = None) -> list[bool]:
        """Store values; per item whether it landed."""
        return await self._call("set_many", items, token)

    async def fill_many(self, items: list[Any]) -> int:
        """Cache-aside fills, each with the token of its miss; how many landed."""
        return await self._call("fill_many", items)

    async def evict_many(self, items: list[Any]) -> None:
        """Invalidate keys everywhere."""
        await self._call("evict_many", items)

    async def robots_changing(
        self,
        versions: dict[str, int],
        backlog: dict[str, int],
        reset: bool,
        lists: bool,
        settled: int = 0,
        created: bool = False,
    ) -> str:
        """Mark robots about to change (plus undelivered marks); return the incarnation."""
        return await self._call(
            "robots_changing", versions, backlog, reset, lists, settled, created
        )

    async def lists_changed(self, settled: int = 0, created: bool = False) -> None:
        """``settled`` announced commits finished; ``created``: robots appeared."""
        await self._call("lists_changed", settled, created)

    async def stats(self) -> dict[str, Any]:
        """The cache actor's statistics."""
        return await self._call("stats")


def orchestrator_options(namespace: str) -> dict[str, Any]:
    """Ray options of the orchestrator: named, detached, on the head node, restarted forever."""
    return {
        "name": ORCHESTRATOR_NAME,
        "namespace": namespace,
        "lifetime": "detached",
        "max_restarts": -1,
        "max_task_retries": -1,
        "max_concurrency": 10_000,
        "num_cpus": 0,
        "resources": {HEAD_NODE_RESOURCE: 0.001},
    }


def replica_options(
    spec: ModuleSpec, name: str, namespace: str, node_id: str | None = None
) -> dict[str, Any]:
    """Ray options of a module replica: named, detached, on the node placement chose."""
    resources = dict(spec.resources)
    num_cpus = resources.pop("num_cpus", resources.pop("CPU", 0))
    num_gpus = resources.pop("num_gpus", resources.pop("GPU", 0))
    return {
        "name": name,
        "namespace": namespace,
        "lifetime": "detached",
        "max_restarts": 0,
        "max_task_retries": 0,
        "max_concurrency": spec.max_concurrency + CONTROL_SLOTS,
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "resources": resources,
        "scheduling_strategy": (
            NodeAffinitySchedulingStrategy(node_id, soft=False) if node_id else "SPREAD"
        ),
    }


def get_orchestrator(namespace: str) -> Any:
    """The orchestrator's handle."""
    return ray.get_actor(ORCHESTRATOR_NAME, namespace=namespace)


class RayReplicaDriver:
    """Reaches replicas as named Ray actors."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._node_of: dict[str, str] = {}

    async def start(self, spec: ModuleSpec, name: str, node_id: str | None = None) -> Any:
        """Create the replica actor and wait for its first answer."""
        options = replica_options(spec, name, self.namespace, node_id)
        handle = RemoteReplica.options(**options).remote(
            spec.model_dump(by_alias=True), name, self.namespace
        )
        try:
            answer = await asyncio.wait_for(handle.ping.remote(), START_TIMEOUT_S)
        except (*LOST_ERRORS, TimeoutError):
            ray.kill(handle, no_restart=True)
            raise
        self._node_of[handle._actor_id.hex()] = answer["node_id"]
        return handle

    async def find(self, name: str) -> Any | None:
        """Adopt a live replica of this name, if one survived an orchestrator restart."""
        try:
            handle = ray.get_actor(name, namespace=self.namespace)
        except ValueError:
            return None
        try:
            answer = await asyncio.wait_for(handle.ping.remote(), 10)
        except (*LOST_ERRORS, TimeoutError):
            return None
        self._node_of[handle._actor_id.hex()] = answer.get("node_id", "")
        return handle

    async def run(self, handle: Any, robots: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run robots on the replica; a dead replica raises ReplicaLost."""
        try:
            return await handle.run_batch.remote(robots)
        except LOST_ERRORS as exc:
            raise ReplicaLost(type(exc).__name__) from exc

    async def health(self, handle: Any) -> HealthState:
        """Ask the replica's module for its health."""
        try:
            return HealthState(await handle.check_health.remote())
        except LOST_ERRORS as exc:
            raise ReplicaLost(type(exc).__name__) from exc

    async def cancel(self, handle: Any, robot_id: str) -> bool:
        """Ask the replica to stop a robot."""
        try:
            return bool(await handle.cancel.remote(robot_id))
        except LOST_ERRORS:
            return False

    async def stop(self, handle: Any) -> None:
        """Kill the replica actor for good."""
        try:
            ray.kill(handle, no_restart=True)
        except Exception:
            log.debug("replica already gone", exc_info=True)

    def node_of(self, handle: Any) -> str | None:
        """The node a replica was found or started on."""
        return self._node_of.get(handle._actor_id.hex())

    async def nodes(self) -> list[NodeView]:
        """Alive and dead nodes of the cluster with their total resources."""
        raw = await asyncio.to_thread(ray.nodes)
        return [
            NodeView(node_id=n["NodeID"], alive=bool(n["Alive"]), resources=n.get("Resources", {}))
            for n in raw
        ]


# -- documents: uploads on the head node's disk, fetched by OCR workers through Ray ----------

DOCUMENTS_NAME = "documents"
DOCUMENTS_TIMEOUT_S = 60.0

RemoteDocuments = ray.remote(DocumentShelf)


def documents_options(namespace: str) -> dict[str, Any]:
    """Ray options of the ``documents`` actor: named, detached, on the head node (its disk)."""
    return {
        "name": DOCUMENTS_NAME,
        "namespace": namespace,
        "lifetime": "detached",
        "max_restarts": -1,
        "max_task_retries": -1,
        "max_concurrency": 16,
        "num_cpus": 0,
        "resources": {HEAD_NODE_RESOURCE: 0.001},
    }


class RayDocuments:
    """The ``documents`` actor seen from a gateway (async) or an OCR worker (blocking).

    Workers call ``fetch`` and ``remember`` from the thread their robot runs in; the gateway
    awaits ``put`` and ``info`` on its event loop.
    """

    def __init__(self, namespace: str | None = None, timeout_s: float = DOCUMENTS_TIMEOUT_S):
        self._namespace = namespace
        self._timeout_s = timeout_s
        self._handle: Any = None

    def handle(self) -> Any:
        """The ``documents`` actor's handle, looked up once (in this actor's namespace)."""
        if self._handle is None:
            namespace = self._namespace or ray.get_runtime_context().namespace
            try:
                self._handle = ray.get_actor(DOCUMENTS_NAME, namespace=namespace)
            except ValueError:
                raise RetryableError("the documents actor is not running") from None
        return self._handle

    def fetch(self, doc_id: str, settings_hash: str) -> FetchedDocument:
        """A shared OCR result for the settings, else the document's bytes (empty if unknown)."""
        try:
            return ray.get(
                self.handle().fetch.remote(doc_id, settings_hash), timeout=self._timeout_s
            )
        except (*LOST_ERRORS, GetTimeoutError) as exc:
            self._handle = None
            raise RetryableError(f"the documents actor did not answer: {exc}") from None

    def remember(self, result: OcrResult) -> None:
        """Offer a fresh result to every worker; best effort, no waiting."""
        try:
            self.handle().remember.remote(result)
        except Exception:
            log.warning("could not share an OCR result with the documents actor", exc_info=True)

    async def put(self, data: bytes) -> dict[str, Any]:
        """Store a document; its id, size, type and ``created``, or ``{"error": reason}``."""
        return await asyncio.wait_for(self.handle().put.remote(data), self._timeout_s)

    async def info(self, doc_id: str) -> dict[str, Any] | None:
        """A stored document's id, size and type, or None."""
        return await asyncio.wait_for(self.handle().info.remote(doc_id), self._timeout_s)
