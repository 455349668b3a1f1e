"""A three-node Ray cluster on this machine (head, worker A with ``pool``, worker B with
``pool`` and ``ocr``) with robofleet deployed on it and a gateway on worker A."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MultiNode:
    """The cluster, its worker nodes by role, and the gateways' URLs."""

    cluster: Any
    settings: Any
    head_url: str
    worker_url: str
    api_key: str
    nodes: dict[str, Any] = field(default_factory=dict)

    def node_id(self, role: str) -> str:
        """Ray node id of a worker by role."""
        return self.nodes[role].node_id


MODULES = [
    {
        "name": "anywhere",
        "class": "tests.multinode.robots:Anywhere",
        "replicas": 3,
        "max_concurrency": 8,
    },
    {
        "name": "needs-ocr",
        "class": "tests.multinode.robots:NeedsOcr",
        "replicas": 2,
        "max_concurrency": 8,
        "resources": {"ocr": 0.1},
    },
    {
        "name": "pool",
        "class": "tests.multinode.robots:PoolWork",
        "replicas": 2,
        "max_concurrency": 60,
        "resources": {"pool": 0.1},
    },
]


@pytest.fixture(scope="session")
def multinode(tmp_path_factory: pytest.TempPathFactory):
    """Start the cluster, deploy robofleet, put a second gateway on worker A."""
    import ray
    from ray.cluster_utils import Cluster

    from cluster import deploy
    from runtime.config import Settings

    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "gcs_server_port": free_port(), "include_dashboard": False},
    )
    nodes = {
        "a": cluster.add_node(num_cpus=1, resources={"pool": 1}),
        "b": cluster.add_node(num_cpus=1, resources={"pool": 1, "ocr": 1}),
    }
    cluster.wait_for_nodes()
    ray.init(
        address=cluster.address, namespace="robofleet", logging_level="WARNING", log_to_driver=False
    )
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("multinode"),
        gateway_port=free_port(),
        health_interval_s=1.0,
        modules=MODULES,
    )
    try:
        head = deploy.deploy(settings)
        worker_settings = settings.model_copy(update={"gateway_port": free_port()})
        worker = deploy.deploy_gateway(worker_settings, node_id=nodes["a"].node_id)
        key = asyncio.run(_admin_key(settings))
        yield MultiNode(cluster, settings, head["url"], worker["url"], key, nodes)
    finally:
        ray.shutdown()
        cluster.shutdown()


async def _admin_key(settings: Any) -> str:
    from cluster.keys_cli import issue_admin_key

    key = await issue_admin_key(settings, "multinode-tests")
    assert key is not None
    return key


@pytest.fixture
async def http(multinode):
    """An aiohttp client session that sends the admin key."""
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=60),
        headers={"Authorization": f"Bearer {multinode.api_key}"},
    ) as session:
        yield session


async def wait_for(predicate, timeout_s: float = 60.0, interval_s: float = 0.5) -> None:
    """Poll an async predicate until it holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return
        import asyncio

        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s")
