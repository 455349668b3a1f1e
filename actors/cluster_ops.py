"""Cluster-facing orchestrator duties: noticing lost nodes, draining nodes, scaling modules."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from actors.fleet import ReplicaSlot, new_replica_slot
from runtime.errors import ModuleError
from runtime.models import ModuleSpec

if TYPE_CHECKING:
    from actors.orchestrator import Orchestrator

log = logging.getLogger(__name__)

NODE_WATCH_INTERVAL_S = 1.0


async def watch_nodes(orchestrator: Orchestrator) -> None:
    """Replace the replicas of nodes the cluster reports dead, before any call to them fails."""
    while not orchestrator.stopping:
        await asyncio.sleep(NODE_WATCH_INTERVAL_S)
        try:
            dead = {n.node_id for n in await orchestrator.driver.nodes() if not n.alive}
            for module in list(orchestrator.modules.values()):
                for replica in module.replicas:
                    if replica.node_id in dead and not replica.replacing:
                        orchestrator.supervisor.replace(module, replica, "its node was lost")
        except Exception:
            log.exception("node watch step failed")


async def drain_node(orchestrator: Orchestrator, node_id: str, timeout_s: float = 60.0) -> int:
    """Stop sending work to a node, let its robots finish, move its replicas elsewhere.

    Robots still running when ``timeout_s`` passes are requeued. Returns how many replicas
    were moved.
    """
    supervisor = orchestrator.supervisor
    supervisor.draining.add(node_id)
    on_node = [
        (module, replica)
        for module in orchestrator.modules.values()
        for replica in module.replicas
        if replica.node_id == node_id
    ]
    for _, replica in on_node:
        replica.alive = False  # routing skips it; running robots carry on
    deadline = time.monotonic() + timeout_s
    while any(r.in_flight for _, r in on_node) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for module, replica in on_node:
        supervisor.replace(module, replica, "its node is draining")
    return len(on_node)


async def scale_module(orchestrator: Orchestrator, name: str, replicas: int) -> dict[str, Any]:
    """Change a module's replica count at run time; new replicas use current placement."""
    module = orchestrator.modules.get(name)
    if module is None:
        raise ModuleError(f"no module named {name!r}")
    if not 0 <= replicas <= 256:
        raise ModuleError("replicas must be between 0 and 256")
    current = len(module.replicas)
    if replicas > current:
        for index in range(current, replicas):
            replica = new_replica_slot(module.spec, index)
            module.replicas.append(replica)
            orchestrator.supervisor.spawn(
                orchestrator.supervisor.bring_up(module, replica, reuse=False)
            )
    elif replicas < current:
        leaving = module.replicas[replicas:]
        del module.replicas[replicas:]
        for replica in leaving:
            replica.alive = False
            orchestrator.supervisor.spawn(_retire_when_idle(orchestrator, module, replica))
    spec = ModuleSpec.model_validate(
        {**module.spec.model_dump(by_alias=True), "replicas": replicas}
    )
    module.spec = spec
    await orchestrator.store.save_module(spec)
    return orchestrator.module_info(module)


async def _retire_when_idle(orchestrator: Orchestrator, module: Any, replica: ReplicaSlot) -> None:
    deadline = time.monotonic() + 60
    while replica.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if replica.in_flight:
        lost, replica.in_flight = replica.in_flight, set()
        orchestrator.requeue_lost(module, replica, lost, "scaled down")
    await orchestrator.supervisor.retire(replica)
