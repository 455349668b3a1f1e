"""Where a module's replicas go: only to nodes with the resources, spread across them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class NodeView:
    """What placement needs to know of one cluster node."""

    node_id: str
    alive: bool
    resources: Mapping[str, float] = field(default_factory=dict)
    draining: bool = False


def demand_of(resources: Mapping[str, float]) -> dict[str, float]:
    """A module spec's resources in Ray's names (``num_cpus`` is ``CPU``)."""
    names = {"num_cpus": "CPU", "num_gpus": "GPU"}
    return {names.get(k, k): float(v) for k, v in resources.items() if v}


def eligible(node: NodeView, demand: Mapping[str, float]) -> bool:
    """Whether a node is up, not draining, and has (in total) every resource a replica needs."""
    return (
        node.alive
        and not node.draining
        and all(node.resources.get(name, 0.0) >= amount for name, amount in demand.items())
    )


def choose_node(
    nodes: Sequence[NodeView],
    demand: Mapping[str, float],
    replicas_per_node: Mapping[str, int],
) -> str | None:
    """The eligible node holding the fewest replicas of this module (ties: the first), or None."""
    candidates = [n for n in nodes if eligible(n, demand)]
    if not candidates:
        return None
    return min(candidates, key=lambda n: replicas_per_node.get(n.node_id, 0)).node_id


def room_for(
    nodes: Sequence[NodeView],
    demand: Mapping[str, float],
    reserved: Mapping[str, Mapping[str, float]],
) -> int | None:
    """How many more replicas needing ``demand`` fit on the eligible nodes, given what the
    replicas already there ``reserved`` (by node id, then resource); None when ``demand``
    is empty (such replicas take nothing, so nothing bounds them)."""
    if not demand:
        return None
    room = 0
    for node in nodes:
        if not eligible(node, demand):
            continue
        used = reserved.get(node.node_id, {})
        fits = min(
            math.floor((node.resources.get(name, 0.0) - used.get(name, 0.0)) / amount + 1e-9)
            for name, amount in demand.items()
        )
        room += max(0, fits)
    return room
