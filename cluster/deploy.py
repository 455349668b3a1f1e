"""Start or join Ray, deploy the robofleet actors, and take them down again."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import ray
from ray._private import ray_constants

from actors.ocr_worker import OCR_POOL
from actors.ray.cache import RemoteCache, cache_options
from actors.ray.common import GATEWAY_PREFIX, Handle, orchestrator_handle
from actors.ray.documents import RemoteDocuments, documents_options
from actors.ray.email_monitor import RemoteEmailMonitor, email_monitor_options
from actors.ray.notifier import RemoteNotifier, notifier_options
from actors.ray.orchestrator import RemoteOrchestrator, orchestrator_options
from cluster.up_record import TEMP_DIR_PREFIX, ProcessIdentity
from gateway.actor import RemoteGateway, gateway_name, gateway_options
from runtime.config import BUILTIN_MODULES, Settings, load_settings
from runtime.errors import ConfigError

log = logging.getLogger(__name__)

# Ray's token auth turns itself on for every later `ray start` once any local `ray.init()`
# has left a token in ~/.ray; robofleet decides explicitly instead. Set RAY_AUTH_MODE=token
# (and share the token with every node) to use it.
RAY_AUTH_MODE = "disabled"

DEFAULT_MODULES = [*BUILTIN_MODULES, OCR_POOL]
"""What a cluster runs when its settings name no modules: the built-ins and the OCR pool."""


def load_cluster_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """``load_settings`` with :data:`DEFAULT_MODULES` as the default; raises ``ConfigError``."""
    return load_settings(config_file, default_modules=DEFAULT_MODULES, **overrides)


def _ray_binary() -> str:
    candidate = Path(sys.executable).with_name("ray")
    return str(candidate) if candidate.exists() else (shutil.which("ray") or "ray")


def worker_env() -> dict[str, str]:
    """Environment for Ray processes: the current directory importable, for user modules."""
    env = dict(os.environ)
    env.setdefault("RAY_AUTH_MODE", RAY_AUTH_MODE)
    # robofleet drains its own actors before it stops Ray; Ray's drain on SIGTERM would only
    # hold a head whose robofleet is gone (a crashed `up`) for another 30 s.
    env.setdefault("RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S", "0")
    paths = [os.getcwd(), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class LocalRay:
    """Ray processes this command started with ``ray start --block``.

    Stopping them ends only those processes, never another Ray cluster on the machine. They
    run in their own session, so a Ctrl-C in the terminal reaches robofleet first, which
    drains and removes its actors before it stops Ray.
    """

    def __init__(
        self,
        command: list[str],
        log_path: Path,
        what: str,
        temp_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.what = what
        self.temp_dir = temp_dir
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as log_file:
            self.process = subprocess.Popen(
                [*command, "--block"],
                env={**worker_env(), **(env or {})},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_started(self, timeout_s: float = 120.0) -> None:
        """Wait until Ray reports its runtime started; raise ConfigError if it exits first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if "Ray runtime started" in text:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        tail = "\n".join(self.log_path.read_text(errors="replace").strip().splitlines()[-15:])
        raise ConfigError(f"could not start {self.what}:\n{tail}")

    @property
    def pid(self) -> int:
        """Pid of the ``ray start --block`` process."""
        return self.process.pid

    def session(self) -> str | None:
        """Name of the Ray session this head started (None before it has, or for a worker)."""
        if self.temp_dir is None:
            return None
        try:
            return Path(os.readlink(self.temp_dir / "session_latest")).name
        except OSError:
            return None

    def processes(self) -> tuple[ProcessIdentity, ...]:
        """The Ray processes running under ``ray start`` now (GCS, raylet, dashboard, ...)."""
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return ()
        found = []
        for child in children:
            try:
                found.append(ProcessIdentity.of(child.pid))
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return tuple(found)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the Ray processes this object started."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
"""Addresses that keep a Ray node on this machine."""

SINGLE_MACHINE_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray's single-machine mode (its default on macOS and Windows): the node's address stays
127.0.0.1 instead of being replaced by the host's, and every Ray server listens on loopback
only, the GCS included. A node address of 127.0.0.1 alone is not enough: Ray swaps it for the
host's address, and its servers then listen on every interface."""


def _single_machine_env(host: str) -> dict[str, str]:
    return dict(SINGLE_MACHINE_ENV) if host.strip("[]") in LOOPBACK_HOSTS else {}


def head_address(settings: Settings) -> str:
    """The GCS address (``HOST:PORT``) of the head ``robofleet up`` starts with ``settings``."""
    return f"{settings.ray_host}:{settings.ray_port}"


def check_head_host(settings: Settings) -> None:
    """Raise ``ConfigError`` unless ``settings.ray_host`` is one address: Ray advertises it to
    the other nodes, so a wildcard such as 0.0.0.0 cannot stand for it."""
    if settings.ray_host in ("", "0.0.0.0", "::", "*"):
        raise ConfigError(
            f"ROBOFLEET_RAY_HOST={settings.ray_host!r} names no single address: give the "
            "address of this machine that the other nodes reach (Ray advertises it to them)"
        )


def launch_head(settings: Settings, client_server_port: int) -> LocalRay:
    """Launch a local Ray head without waiting for it (``LocalRay.wait_started`` waits).

    With ``settings.ray_host`` on loopback (the default) the head runs in Ray's single-machine
    mode (:data:`SINGLE_MACHINE_ENV`): every Ray server listens on 127.0.0.1 only, so nothing
    outside this machine reaches the cluster. Another address is advertised to the other
    nodes, and Ray's servers then listen on every interface (Ray offers no narrower bind). The
    GCS gets ``settings.ray_port``, the dashboard ``settings.dashboard_port`` on 127.0.0.1
    always, the Ray client server ``client_server_port``; Ray picks the other ports itself.
    Raises ``ConfigError`` for a ``ray_host`` that names no single address.
    """
    check_head_host(settings)
    temp_dir = Path(tempfile.mkdtemp(prefix=TEMP_DIR_PREFIX))
    command = [
        _ray_binary(),
        "start",
        "--head",
        f"--node-ip-address={settings.ray_host}",
        f"--port={settings.ray_port}",
        f"--ray-client-server-port={client_server_port}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={settings.dashboard_port}",
        "--include-dashboard=true",
        f"--metrics-export-port={settings.metrics_export_port}",
        "--disable-usage-stats",
        # A temp dir of its own keeps this head apart from any other Ray on the machine.
        f"--temp-dir={temp_dir}",
    ]
    return LocalRay(
        command,
        settings.data_dir / "ray-head.log",
        f"the Ray head on port {settings.ray_port}",
        temp_dir=temp_dir,
        env=head_env(settings),
    )


def head_env(settings: Settings) -> dict[str, str]:
    """Environment the Ray head of ``settings`` starts with, beyond :func:`worker_env`:
    single-machine mode on loopback, and ``RAY_PROMETHEUS_HOST`` for the dashboard's charts
    when ``settings.prometheus_url`` is set."""
    env = _single_machine_env(settings.ray_host)
    if settings.prometheus_url:
        env["RAY_PROMETHEUS_HOST"] = settings.prometheus_url
    return env


SERVICE_DISCOVERY_FILE = "prom_metrics_service_discovery.json"
"""Ray's Prometheus file-based service discovery: every node's metrics export address,
rewritten by the head's dashboard as nodes come and go (``file_sd_configs``)."""
STABLE_SERVICE_DISCOVERY = "ray-prometheus-sd.json"
"""Name of the link in the data dir that always points at the current head's file."""


def link_service_discovery(head: LocalRay, data_dir: Path) -> Path | None:
    """Point ``data_dir/ray-prometheus-sd.json`` at the service-discovery file of ``head``
    (in its temp dir, which changes with every ``robofleet up``), so a Prometheus config
    can name one path for good; returns the link (None for a head without a temp dir)."""
    if head.temp_dir is None:
        return None
    link = data_dir / STABLE_SERVICE_DISCOVERY
    target = head.temp_dir / SERVICE_DISCOVERY_FILE
    tmp = link.with_name(link.name + ".tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return link


def stop_all_local_ray() -> None:
    """Stop every Ray process of this user on this machine (``ray stop``)."""
    subprocess.run([_ray_binary(), "stop", "--force"], capture_output=True, env=worker_env())


def connect(address: str, namespace: str) -> None:
    """Attach this process to a running Ray cluster as a driver.

    A head on loopback runs in Ray's single-machine mode (:data:`SINGLE_MACHINE_ENV`); a driver
    outside that mode swaps 127.0.0.1 for the host's address before it connects, and finds
    nothing there. So this process enters the mode too: the environment variable for the
    processes it starts, and Ray's flag, which Ray reads from the environment only at import
    but looks up at each address resolution.
    """
    os.environ.setdefault("RAY_AUTH_MODE", RAY_AUTH_MODE)
    if _single_machine_env(address.rpartition(":")[0]):
        os.environ.update(SINGLE_MACHINE_ENV)
        ray_constants.ENABLE_RAY_CLUSTER = False
    if not ray.is_initialized():
        ray.init(
            address=address, namespace=namespace, logging_level=logging.WARNING, log_to_driver=False
        )


def deploy(settings: Settings, timeout_s: float = 120.0) -> dict[str, Any]:
    """Create (or find) the head's actors and this node's gateway; wait until all answer.

    The orchestrator, ``documents``, ``cache``, ``email-monitor``, ``notifier`` and the
    gateway are created together, so their worker processes start side by side rather than
    one after another (Ray queues a call to an actor until its constructor is done, so one
    that asks the orchestrator at start waits for it). The modules' replicas start in the
    background (:func:`wait_for_replicas` waits for them). Returns the handles and the
    gateway's ``url``; raises ``ray.exceptions.GetTimeoutError`` when the actors do not all
    answer within ``timeout_s`` seconds, or the error an actor's constructor raised.
    """
    payload = settings.model_dump(mode="json")
    namespace = settings.namespace
    head = {
        "orchestrator": RemoteOrchestrator.options(
            **orchestrator_options(namespace), get_if_exists=True
        ).remote(payload),
        "documents": deploy_documents(settings),
        "cache": RemoteCache.options(**cache_options(namespace), get_if_exists=True).remote(
            payload
        ),
        "email_monitor": RemoteEmailMonitor.options(
            **email_monitor_options(namespace), get_if_exists=True
        ).remote(payload),
        "notifier": RemoteNotifier.options(
            **notifier_options(namespace), get_if_exists=True
        ).remote(payload),
    }
    gateway = _create_gateway(settings)
    answered = [
        head["orchestrator"].ready.remote(),
        head["documents"].stats.remote(),
        head["cache"].ready.remote(),
        head["email_monitor"].ready.remote(),
        head["notifier"].ready.remote(),
        gateway["gateway"].url.remote(),
    ]
    *_, url = ray.get(answered, timeout=timeout_s)
    return {**head, **gateway, "url": url}


REPLICA_WAIT_S = 60.0
"""How long ``robofleet up`` waits for the modules' replicas before it says it is up."""


def wait_for_replicas(
    orchestrator: Handle, timeout_s: float = REPLICA_WAIT_S, stop: Callable[[], bool] = bool
) -> list[str]:
    """Wait until every replica of every module is alive, for ``timeout_s`` seconds at most
    or until ``stop()`` says so; return the names of the modules with a replica still not
    alive then (the last answer's; none when the orchestrator never answered, since
    ``deploy`` has just had it answer).

    A module that cannot be placed (no node has its resources) or is autoscaled at zero
    replicas is not waited for. Robots submitted meanwhile wait in their queue. Raises
    nothing: the modules' state is ``robofleet modules``' to show.
    """
    deadline = time.monotonic() + timeout_s
    starting: list[str] = []
    while True:
        try:
            modules = ray.get(orchestrator.list_modules.remote(), timeout=5.0)
        except Exception:  # a slow or restarting orchestrator: ask again
            pass
        else:
            starting = [
                m.name
                for m in modules
                if m.unplaceable is None and any(not replica.alive for replica in m.replicas)
            ]
            if not starting:
                return []
        if stop() or time.monotonic() >= deadline:
            return starting
        time.sleep(0.2)


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
    """Create (or find) the gateway of a node (this driver's node by default); wait until it
    answers. Returns ``gateway`` (the handle), ``gateway_name`` and ``url``."""
    gateway = _create_gateway(settings, node_id)
    return {**gateway, "url": ray.get(gateway["gateway"].url.remote(), timeout=timeout_s)}


def _create_gateway(settings: Settings, node_id: str | None = None) -> dict[str, Any]:
    node_id = node_id or ray.get_runtime_context().get_node_id()
    node_ip = next(
        (n["NodeManagerAddress"] for n in ray.nodes() if n["NodeID"] == node_id),
        ray.util.get_node_ip_address(),
    )
    name = gateway_name(node_ip, settings.gateway_port)
    gateway: Handle = RemoteGateway.options(
        **gateway_options(name, settings.namespace, node_id), get_if_exists=True
    ).remote(settings.model_dump(mode="json"))
    return {"gateway": gateway, "gateway_name": name}


def start_worker(
    head_address: str,
    resources: dict[str, float],
    num_cpus: int | None,
    log_path: Path,
    metrics_export_port: int | None = None,
) -> LocalRay:
    """Join this machine to a Ray cluster as a worker node (its metrics export on
    ``metrics_export_port`` when given, else a port Ray picks)."""
    import json

    command = [_ray_binary(), "start", f"--address={head_address}", "--disable-usage-stats"]
    if metrics_export_port is not None:
        command.append(f"--metrics-export-port={metrics_export_port}")
    if resources:
        command.append(f"--resources={json.dumps(resources)}")
    if num_cpus is not None:
        command.append(f"--num-cpus={num_cpus}")
    # A head on loopback is a single-machine cluster: a worker joining it stays there too.
    head_host = head_address.rpartition(":")[0]
    worker = LocalRay(
        command,
        log_path,
        f"a Ray worker joined to {head_address}",
        env=_single_machine_env(head_host),
    )
    worker.wait_started()
    return worker


def leave(
    settings: Settings, node_id: str, gateway_name: str | None, timeout_s: float = 60.0
) -> int:
    """Drain a node before it leaves: no new work, running robots finish or are requeued."""
    moved = ray.get(
        orchestrator_handle(settings.namespace).drain_node.remote(node_id, timeout_s),
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
    names = sorted(robofleet_actor_names(namespace), key=lambda n: not n.startswith(GATEWAY_PREFIX))
    for name in names:
        try:
            handle = ray.get_actor(name, namespace=namespace)
            if name.startswith(GATEWAY_PREFIX):
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
