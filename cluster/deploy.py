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

from actors.remote import RemoteOrchestrator, orchestrator_options
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


def deploy(settings: Settings, timeout_s: float = 120.0) -> dict[str, Any]:
    """Create (or find) the orchestrator and this node's gateway; wait until both answer."""
    payload = settings.model_dump(mode="json")
    orchestrator = RemoteOrchestrator.options(
        **orchestrator_options(settings.namespace), get_if_exists=True
    ).remote(payload)
    ray.get(orchestrator.ready.remote(), timeout=timeout_s)
    node_id = ray.get_runtime_context().get_node_id()
    node_ip = ray.util.get_node_ip_address()
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
    return {"orchestrator": orchestrator, "gateway": gateway, "gateway_name": name, "url": url}


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
