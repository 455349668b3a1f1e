"""Module replicas as Ray actors: the wrapper, its options, and the driver the orchestrator uses."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.ray.common import LOST_ERRORS, Handle, orchestrator_handle
from actors.ray.figures import ReplicaFigures, push_every
from actors.replica import ReplicaHost
from runtime.errors import ReplicaLost
from runtime.messages import Dispatch, Outcome, Progress, ReplicaPing
from runtime.models import HealthState, ModuleSpec
from runtime.placement import NodeView

__all__ = ["RayReplicaDriver", "ReplicaActor", "replica_options"]

log = logging.getLogger(__name__)

CONTROL_SLOTS = 8  # extra concurrency on a replica so health checks pass busy slots
START_TIMEOUT_S = 60.0
FIND_TIMEOUT_S = 10.0


class ReplicaActor(ReplicaHost):
    """A replica as a Ray actor: sends coalesced progress to the orchestrator and exports
    ``robofleet_replica_in_flight`` and ``robofleet_replica_runs_total`` to Ray's metrics."""

    async def __init__(  # type: ignore[misc]
        self, spec: dict[str, Any], replica_name: str, namespace: str
    ) -> None:
        # Ray awaits an async actor's __init__ before the first call.
        self._namespace = namespace
        self._orchestrator: Handle = None
        super().__init__(spec, replica_name, flush_progress=self._send_progress)
        self._figures = ReplicaFigures(self.spec.name, replica_name)
        self._figures_task = asyncio.get_running_loop().create_task(
            push_every(lambda: self._figures.push(self.in_flight, self.runs), lambda: False)
        )

    def ping(self) -> ReplicaPing:
        """Identify the replica, with the Ray node it runs on."""
        return dataclasses.replace(super().ping(), node_id=ray.get_runtime_context().get_node_id())

    def _send_progress(self, batch: list[Progress]) -> None:
        if self._orchestrator is None:
            self._orchestrator = orchestrator_handle(self._namespace)
        self._orchestrator.report_progress.remote(batch)


RemoteReplica = ray.remote(ReplicaActor)


def replica_options(
    spec: ModuleSpec, name: str, namespace: str, node_id: str | None = None
) -> dict[str, Any]:
    """Ray options of a module replica: named, detached, on the node placement chose.

    The spec's ``num_cpus``/``CPU`` and ``num_gpus``/``GPU`` resources become Ray's CPU and
    GPU counts, the rest custom resources; without ``node_id`` Ray spreads replicas.
    """
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


class RayReplicaDriver:
    """Reaches replicas as named Ray actors (the ``ReplicaDriver`` of a Ray cluster).

    A call to a replica that died raises :class:`~runtime.errors.ReplicaLost`.
    """

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._node_of: dict[str, str | None] = {}

    async def start(self, spec: ModuleSpec, name: str, node_id: str | None = None) -> Handle:
        """Create the replica actor and wait (up to 60 s) for its first answer.

        Raises a Ray actor error or ``TimeoutError`` when it does not come up; the
        half-started actor is killed first.
        """
        options = replica_options(spec, name, self.namespace, node_id)
        handle: Handle = RemoteReplica.options(**options).remote(
            spec.model_dump(by_alias=True), name, self.namespace
        )
        try:
            answer: ReplicaPing = await asyncio.wait_for(handle.ping.remote(), START_TIMEOUT_S)
        except (*LOST_ERRORS, TimeoutError):
            ray.kill(handle, no_restart=True)
            raise
        self._node_of[handle._actor_id.hex()] = answer.node_id
        return handle

    async def find(self, name: str) -> Handle | None:
        """Adopt a live replica of this name, if one survived an orchestrator restart."""
        try:
            handle = ray.get_actor(name, namespace=self.namespace)
        except ValueError:
            return None
        try:
            answer: ReplicaPing = await asyncio.wait_for(handle.ping.remote(), FIND_TIMEOUT_S)
        except (*LOST_ERRORS, TimeoutError):
            return None
        self._node_of[handle._actor_id.hex()] = answer.node_id
        return handle

    async def run(self, handle: Handle, dispatch: Dispatch) -> list[Outcome]:
        """Run robots on the replica: one outcome per robot, in order."""
        try:
            return await handle.run_batch.remote(dispatch)
        except LOST_ERRORS as exc:
            raise ReplicaLost(type(exc).__name__) from exc

    async def health(self, handle: Handle) -> HealthState:
        """Ask the replica's module for its health."""
        try:
            return HealthState(await handle.check_health.remote())
        except LOST_ERRORS as exc:
            raise ReplicaLost(type(exc).__name__) from exc

    async def cancel(self, handle: Handle, robot_id: str) -> bool:
        """Ask the replica to stop a robot; False when it is not running there (or gone)."""
        try:
            return bool(await handle.cancel.remote(robot_id))
        except LOST_ERRORS:
            return False

    async def stop(self, handle: Handle) -> None:
        """Kill the replica actor for good."""
        try:
            ray.kill(handle, no_restart=True)
        except Exception:
            log.debug("replica already gone", exc_info=True)

    def node_of(self, handle: Handle) -> str | None:
        """The node a replica was found or started on."""
        return self._node_of.get(handle._actor_id.hex())

    async def nodes(self) -> list[NodeView]:
        """Alive and dead nodes of the cluster with their total resources."""
        raw = await asyncio.to_thread(ray.nodes)
        return [
            NodeView(node_id=n["NodeID"], alive=bool(n["Alive"]), resources=n.get("Resources", {}))
            for n in raw
        ]
