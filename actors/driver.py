"""How the orchestrator reaches replicas: an interface, so supervision runs without Ray in tests."""

from __future__ import annotations

from typing import Any, Protocol

from runtime.models import HealthState, ModuleSpec
from runtime.placement import NodeView


class ReplicaDriver(Protocol):
    """Starts, calls and stops replica actors; raises ``ReplicaLost`` when one is gone."""

    async def start(self, spec: ModuleSpec, name: str, node_id: str | None = None) -> Any:
        """Create the replica named ``name`` (on ``node_id`` if given) and wait until it answers."""

    async def find(self, name: str) -> Any | None:
        """Return a live replica already running under ``name`` (after a restart), or None."""

    async def run(self, handle: Any, robots: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run robots on a replica and return their outcomes."""

    async def health(self, handle: Any) -> HealthState:
        """Ask a replica's module for its health."""

    async def cancel(self, handle: Any, robot_id: str) -> bool:
        """Ask a replica to stop a running robot."""

    async def stop(self, handle: Any) -> None:
        """Stop a replica for good."""

    def node_of(self, handle: Any) -> str | None:
        """The cluster node a replica runs on, when known."""

    async def nodes(self) -> list[NodeView]:
        """The cluster's nodes with their total resources."""
