"""How the orchestrator reaches replicas: an interface, so supervision runs without Ray in tests.

The Ray implementation is ``RayReplicaDriver`` (``actors.ray``); unit tests use an in-process
fake (``tests/unit/fakes.py``).
"""

from __future__ import annotations

from typing import Protocol

from actors.deployment import ReplicaHandle
from runtime.messages import Dispatch, Outcome
from runtime.models import HealthState, ModuleSpec
from runtime.placement import NodeView


class ReplicaDriver(Protocol):
    """Starts, calls and stops replicas; raises ``ReplicaLost`` when one is gone."""

    async def start(self, spec: ModuleSpec, name: str, node_id: str | None = None) -> ReplicaHandle:
        """Create the replica named ``name`` (on ``node_id`` if given) and wait until it answers.

        Raises whatever the start failed with; the supervisor retries with a backoff.
        """

    async def find(self, name: str) -> ReplicaHandle | None:
        """Return a live replica already running under ``name`` (after a restart), or None."""

    async def run(self, handle: ReplicaHandle, dispatch: Dispatch) -> list[Outcome]:
        """Run robots on a replica; one outcome per robot, in order. ``ReplicaLost`` if gone."""

    async def health(self, handle: ReplicaHandle) -> HealthState:
        """Ask a replica's module for its health; ``ReplicaLost`` if the replica is gone."""

    async def cancel(self, handle: ReplicaHandle, robot_id: str) -> bool:
        """Ask a replica to stop a running robot; False if it is not running there."""

    async def stop(self, handle: ReplicaHandle) -> None:
        """Stop a replica for good (no error if it is already gone)."""

    def node_of(self, handle: ReplicaHandle) -> str | None:
        """The cluster node a replica runs on, when known."""

    async def nodes(self) -> list[NodeView]:
        """The cluster's nodes, alive and dead, with their total resources."""
