"""Every ``ray.remote`` of the actor classes, their options, and the Ray replica driver.

This is the one module of ``actors/`` where Ray appears; the classes it wraps are plain.
"""

from __future__ import annotations

import logging
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

from actors.orchestrator import Orchestrator
from actors.replica import ReplicaHost
from runtime.config import Settings
from runtime.errors import ReplicaLost
from runtime.models import HealthState, ModuleSpec
from runtime.store import create_store

log = logging.getLogger(__name__)

ORCHESTRATOR_NAME = "orchestrator"
HEAD_NODE_RESOURCE = "node:__internal_head__"
CONTROL_SLOTS = 8  # extra concurrency on a replica so health checks pass busy slots
LOST_ERRORS = (RayActorError, ActorDiedError, ActorUnavailableError)


class OrchestratorActor(Orchestrator):
    """The orchestrator as a Ray actor: builds its store and driver from settings."""

    async def __init__(self, settings: dict[str, Any]) -> None:
        parsed = Settings(**settings)
        super().__init__(parsed, create_store(parsed), RayReplicaDriver(parsed.namespace))
        await self.start()

    def ready(self) -> bool:
        """Answer once the orchestrator has started (used by readiness checks)."""
        return True


class ReplicaActor(ReplicaHost):
    """A replica as a Ray actor: sends coalesced progress to the orchestrator."""

    def __init__(self, spec: dict[str, Any], replica_name: str, namespace: str) -> None:
        self._namespace = namespace
        self._orchestrator: Any = None
        super().__init__(spec, replica_name, flush_progress=self._send_progress)

    def _send_progress(self, batch: list[tuple[str, int, float, str | None]]) -> None:
        if self._orchestrator is None:
            self._orchestrator = ray.get_actor(ORCHESTRATOR_NAME, namespace=self._namespace)
        self._orchestrator.report_progress.remote(batch)


RemoteOrchestrator = ray.remote(OrchestratorActor)
RemoteReplica = ray.remote(ReplicaActor)


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


def replica_options(spec: ModuleSpec, name: str, namespace: str) -> dict[str, Any]:
    """Ray options of a module replica: named, detached, placed by the module's resources."""
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
        "scheduling_strategy": "SPREAD",
    }


def get_orchestrator(namespace: str) -> Any:
    """The orchestrator's handle."""
    return ray.get_actor(ORCHESTRATOR_NAME, namespace=namespace)


class RayReplicaDriver:
    """Reaches replicas as named Ray actors."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    async def start(self, spec: ModuleSpec, name: str) -> Any:
        """Create the replica actor and wait for its first answer."""
        options = replica_options(spec, name, self.namespace)
        handle = RemoteReplica.options(**options).remote(
            spec.model_dump(by_alias=True), name, self.namespace
        )
        try:
            await handle.ping.remote()
        except LOST_ERRORS:
            ray.kill(handle, no_restart=True)
            raise
        return handle

    async def find(self, name: str) -> Any | None:
        """Adopt a live replica of this name, if one survived an orchestrator restart."""
        try:
            handle = ray.get_actor(name, namespace=self.namespace)
        except ValueError:
            return None
        try:
            await handle.ping.remote()
        except LOST_ERRORS:
            return None
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
        """Ray does not expose a handle's node cheaply; the cluster view fills it in."""
        return None
