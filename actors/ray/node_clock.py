"""A tiny Ray task pinned to each node, asking for its clock and versions (``robofleet
doctor``): the skew between nodes' clocks, and the Python, Ray and robofleet each runs."""

from __future__ import annotations

import platform
import socket
import time
from dataclasses import dataclass
from importlib import metadata

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from runtime.wire import WireMessage

__all__ = ["NodeClock", "NodeFacts", "read_node_clocks"]


@dataclass(slots=True)
class NodeFacts(WireMessage):
    """Node → doctor: the node's clock (unix seconds) when the task ran, and its versions."""

    hostname: str
    unix_time: float
    python: str
    ray: str
    robofleet: str


@dataclass(slots=True)
class NodeClock:
    """A node's facts, and its clock's offset from the caller's with the bound on its error.

    ``skew_s`` is the node's time minus the caller's at the middle of the round trip;
    the true offset lies within ``uncertainty_s`` (half the round trip) of it.
    """

    node_id: str
    address: str
    facts: NodeFacts
    skew_s: float
    uncertainty_s: float


def _robofleet_version() -> str:
    try:
        return metadata.version("robofleet")
    except metadata.PackageNotFoundError:
        return "not installed"


@ray.remote(num_cpus=0, max_retries=0)
def _node_facts() -> NodeFacts:
    return NodeFacts(
        socket.gethostname(),
        time.time(),
        platform.python_version(),
        ray.__version__,
        _robofleet_version(),
    )


def read_node_clocks(timeout_s: float = 30.0) -> list[NodeClock]:
    """Run the task on every alive node of the connected cluster, twice each.

    The first run starts a worker (seconds); the second, on a warm worker, gives the
    round trip the skew is measured over. Raises ``ray.exceptions.GetTimeoutError`` when a
    node does not answer within ``timeout_s`` seconds.
    """
    clocks = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        task = _node_facts.options(scheduling_strategy=strategy)
        ray.get(task.remote(), timeout=timeout_s)
        sent = time.time()
        facts: NodeFacts = ray.get(task.remote(), timeout=timeout_s)
        received = time.time()
        clocks.append(
            NodeClock(
                node["NodeID"],
                str(node.get("NodeManagerAddress", "")),
                facts,
                facts.unix_time - (sent + received) / 2,
                (received - sent) / 2,
            )
        )
    return clocks
