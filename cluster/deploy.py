"""Start or join Ray, deploy the robofleet actors, and take them down again."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.remote import (
    RemoteCache,
    RemoteDocuments,
    RemoteOrchestrator,
    cache_options,
    documents_options,
    orchestrator_options,
)
from gateway.actor import RemoteGateway, gateway_name
from runtime.config import Settings
from runtime.errors import ConfigError

log = logging.getLogger(__name__)


def _ray_binary() -> str:
    candidate = Path(sys.executable).with_name("ray")
    return str(candidate) if candidate.exists() else (shutil.which("ray") or "ray")


def worker_env() -> dict[str, str]:
    """Environment for Ray processes: the current directory importable, for user modules."""
    env = dict(os.environ)
    paths = [os.getcwd(), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def start_head(settings: Settings) -> str:
    """Start a local Ray head (GCS on ``settings.ray_port``, dashboard on its port)."""
    command = [
        _ray_binary(),
        "start",
        "--head",
        f"--port={settings.ray_port}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={settings.dashboard_port}",
        "--include-dashboard=true",
        "--disable-usage-stats",
    ]
    result = subprocess.run(command, env=worker_env(), capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ConfigError(f"could not start the Ray head on port {settings.ray_port}:\n{tail}")
    return f"127.0.0.1:{settings.ray_port}"


def stop_head() -> None:
    """Stop the Ray processes started on this machine."""
    subprocess.run([_ray_binary(), "stop", "--force"], capture_output=True, env=worker_env())


def connect(address: str, namespace: str) -> None:
    """Attach this process to a running Ray cluster as a driver."""
    if not ray.is_initialized():
        ray.init(
            address=address, namespace=namespace, logging_level=logging.WARNING, log_to_driver=False
        )


def deploy_cache(settings: Settings, timeout_s: float = 120.0) -> Any:
    """Create (or find) the ``cache`` actor on the head node and wait until it answers."""
    cache = RemoteCache.options(**cache_options(settings.namespace), get_if_exists=True).remote(
        settings.model_dump(mode="json")
    )
    ray.get(cache.ready.remote(), timeout=timeout_s)
    return cache


def deploy(settings: Settings, timeout_s: float = 120.0) -> dict[str, Any]:
    """Create (or find) the orchestrator and this node's gateway; wait until both answer."""
    payload = settings.model_dump(mode="json")
    documents = deploy_documents(settings)
    orchestrator = RemoteOrchestrator.options(
        **orchestrator_options(settings.namespace), get_if_exists=True
    ).remote(payload)
    ray.get(orchestrator.ready.remote(), timeout=timeout_s)
    ray.get(documents.stats.remote(), timeout=timeout_s)
    cache = deploy_cache(settings, timeout_s)
    return {
        "orchestrator": orchestrator,
        "documents": documents,
        "cache": cache,
        **deploy_gateway(settings, timeout_s=timeout_s),
    }


def deploy_documents(settings: Settings) -> Any:
    """Create (or find) the ``documents`` actor on the head node and return its handle.

    It stores uploads on the head node's disk and keeps the OCR results workers share;
    workers on every node fetch documents from it through Ray, not a shared filesystem.
    """
    return RemoteDocuments.options(
        **documents_options(settings.namespace), get_if_exists=True
    ).remote(str(settings.documents_dir()), settings.max_document_bytes)


def deploy_gateway(
    settings: Settings, node_id: str | None = None, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Create (or find) the gateway of a node (this driver's node by default)."""
    payload = settings.model_dump(mode="json")
    node_id = node_id or ray.get_runtime_context().get_node_id()
    node_ip = next(
        (n["NodeManagerAddress"] for n in ray.nodes() if n["NodeID"] == node_id),
        ray.util.get_node_ip_address(),
    )
    name = gateway_name(node_ip, settings.gateway_port)
    gateway = RemoteGateway.options(
        name=name,
        namespace=settings.namespace,
        lifetime="detached",
        max_restarts=-1,
        num_cpus=0,
        max_concurrency=10_000,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        get_if_exists=True,
    ).remote(payload)
    url = ray.get(gateway.url.remote(), timeout=timeout_s)
    return {"gateway": gateway, "gateway_name": name, "url": url}


def start_worker(head_address: str, resources: dict[str, float], num_cpus: int | None) -> None:
    """Join this machine to a Ray cluster as a worker node."""
    import json

    command = [_ray_binary(), "start", f"--address={head_address}", "--disable-usage-stats"]
    if resources:
        command.append(f"--resources={json.dumps(resources)}")
    if num_cpus is not None:
        command.append(f"--num-cpus={num_cpus}")
    result = subprocess.run(command, env=worker_env(), capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ConfigError(f"could not join the Ray cluster at {head_address}:\n{tail}")


def leave(settings: Settings, node_id: str, gateway_name: str | None, timeout_s: float = 60.0) -> int:
    """Drain a node before it leaves: no new work, running robots finish or are requeued."""
    from actors.remote import get_orchestrator

    moved = ray.get(
        get_orchestrator(settings.namespace).drain_node.remote(node_id, timeout_s),
        timeout=timeout_s + 30,
    )
    if gateway_name:
        try:
            gateway = ray.get_actor(gateway_name, namespace=settings.namespace)
            ray.get(gateway.shutdown.remote(), timeout=5)
            ray.kill(gateway, no_restart=True)
        except Exception:
            log.debug("gateway %s already gone", gateway_name, exc_info=True)
    return moved


def robofleet_actor_names(namespace: str) -> list[str]:
    """Names of the live actors robofleet runs in its namespace."""
    named = ray.util.list_named_actors(all_namespaces=True)
    return [a["name"] for a in named if a.get("namespace") == namespace]


def teardown(namespace: str) -> int:
    """Kill every robofleet actor in the namespace (gateways first); return how many."""
    names = sorted(robofleet_actor_names(namespace), key=lambda n: not n.startswith("gateway:"))
    for name in names:
        try:
            handle = ray.get_actor(name, namespace=namespace)
            if name.startswith("gateway:"):
                try:
                    ray.get(handle.shutdown.remote(), timeout=5)
                except Exception:
                    log.debug("gateway %s did not shut down cleanly", name, exc_info=True)
            ray.kill(handle, no_restart=True)
        except ValueError:
            continue
    deadline = time.monotonic() + 10
    while robofleet_actor_names(namespace) and time.monotonic() < deadline:
        time.sleep(0.1)
    return len(names)
