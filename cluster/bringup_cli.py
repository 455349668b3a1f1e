"""``robofleet up``, ``robofleet join`` and ``robofleet down``: bring a deployment up and down.

``up`` checks everything it can before it creates anything (a ``robofleet up`` of the same
data dir still running or crashed, the ports it is about to use), then records what it starts
in the data dir (:mod:`cluster.up_record`) so that ``down``, or the next ``up`` after a crash,
can stop exactly those processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from cluster import up_record
from cluster.keys_cli import bootstrap_admin_key
from cluster.ports import WantedPort, check_ports, free_loopback_port
from cluster.up_record import HeadRecord, ProcessIdentity, UpRecord
from runtime.backup import BackupSchedule
from runtime.config import Settings
from runtime.errors import ConfigError, RobofleetError

UP_STOP_TIMEOUT_S = 120.0
"""How long ``down`` waits for a ``robofleet up`` to drain and stop before killing it."""


def cluster_settings(args: argparse.Namespace) -> Settings:
    """Settings of a bring-up command: config file, environment, then its flags."""
    from cluster import deploy

    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir).expanduser()
    if getattr(args, "address", None):
        overrides["ray_address"] = args.address
    if getattr(args, "port", None):
        overrides["gateway_port"] = args.port
    if getattr(args, "host", None):
        overrides["gateway_host"] = args.host
    if getattr(args, "ray_host", None):
        overrides["ray_host"] = args.ray_host
    if getattr(args, "prometheus", None):
        overrides["prometheus_url"] = args.prometheus
    return deploy.load_cluster_settings(getattr(args, "config", None), **overrides)


def _interrupt(*_: Any) -> NoReturn:
    raise KeyboardInterrupt


def cmd_up(args: argparse.Namespace) -> int:
    """Start (or join) Ray, deploy robofleet, and serve until Ctrl-C or `robofleet down`."""
    from cluster import deploy

    settings = cluster_settings(args)
    data_dir = settings.data_dir.expanduser()
    settle_previous_up(data_dir, recover=args.recover)
    if not settings.ray_address:
        deploy.check_head_host(settings)
    check_ports(up_ports(settings))
    fresh = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        admin_key = bootstrap_admin_key(settings)
    except BaseException:
        if fresh:  # an up that failed before it started leaves no data dir behind
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    if admin_key is not None:
        print("created the first admin key (shown only this once; store it now):")
        print(f"  ROBOFLEET_API_KEY={admin_key}", flush=True)
    # Until ray.init installs its own SIGTERM handler: stop what was started, then exit.
    signal.signal(signal.SIGTERM, _interrupt)
    record = UpRecord(ProcessIdentity.of(os.getpid()), settings.gateway_port)
    up_record.write(data_dir, record)
    head = None
    backups: BackupSchedule | None = None
    stop = threading.Event()
    try:
        if settings.ray_address:
            address = settings.ray_address
        else:
            address = deploy.head_address(settings)
            client_port = free_loopback_port()
            head = deploy.launch_head(settings, client_port)
            assert head.temp_dir is not None
            head_record = HeadRecord(
                launcher=ProcessIdentity.of(head.pid),
                address=address,
                temp_dir=str(head.temp_dir),
                ports={
                    "gcs": settings.ray_port,
                    "dashboard": settings.dashboard_port,
                    "client_server": client_port,
                    "metrics_export": settings.metrics_export_port,
                },
            )
            record = replace(record, head=head_record)
            up_record.write(data_dir, record)  # before waiting: a crash from here on is found
            head.wait_started()
            head_record = replace(head_record, session=head.session(), processes=head.processes())
            record = replace(record, head=head_record)
            up_record.write(data_dir, record)
        deploy.connect(address, settings.namespace)
        # After ray.init, which installs a SIGTERM handler of its own that exits with 15.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        deployed = deploy.deploy(settings)
        starting = deploy.wait_for_replicas(deployed["orchestrator"], stop=stop.is_set)
        store = settings.database_url and "PostgreSQL" or f"SQLite at {data_dir}"
        print(f"robofleet is up (store: {store})")
        print(f"  gateway:   {deployed['url']}")
        print(f"  dashboard: http://127.0.0.1:{settings.dashboard_port}")
        print(f"  ray:       {address}")
        print_refused_modules(deployed["orchestrator"])
        for name in starting:
            print(f"  still starting: module {name} (`robofleet modules` shows its replicas)")
        backups = BackupSchedule(settings)
        if backups.start():
            every = settings.backup_interval_s
            every_text = f"{every / 3600:g}h" if every % 3600 == 0 else f"{every:g}s"
            print(f"  backups:   every {every_text} into {settings.backups_dir()}")
        if head is not None:
            print_metrics_endpoints(settings, deploy.link_service_discovery(head, data_dir))
        print("Press Ctrl-C (or run `robofleet down`) to stop.", flush=True)
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not cut teardown
        print("\nstopping robofleet...", flush=True)
        if backups is not None:
            backups.stop()
        try:
            import ray

            if ray.is_initialized():
                deploy.teardown(settings.namespace)
                ray.shutdown()
        finally:
            if head is not None:
                head.stop()
            up_record.clear(data_dir, record)
        print("stopped.", flush=True)
    return 0


def print_metrics_endpoints(settings: Settings, service_discovery: Path | None) -> None:
    """Say where Prometheus finds robofleet's metrics: every gateway's ``/metrics``, Ray's
    metrics export of each node, and Ray's service-discovery file listing those."""
    host = "127.0.0.1" if settings.ray_host in ("0.0.0.0", "::") else settings.ray_host
    print(f"  metrics:   {settings.gateway_url()}/metrics (gateway, needs an API key)")
    print(f"             http://{host}:{settings.metrics_export_port}/metrics (Ray's export)")
    if service_discovery is not None:
        print(f"  prometheus file_sd: {service_discovery}")
    if settings.prometheus_url:
        print(f"  dashboard charts from Prometheus at {settings.prometheus_url}")


def print_refused_modules(orchestrator: Any) -> None:
    """Print each module start-up left out with the reason (it is otherwise only in the
    orchestrator actor's log under Ray's temp dir), e.g. a missing ``templates_dir``.

    ``orchestrator`` is the orchestrator actor's handle; waits at most 30 s for its answer.
    """
    import ray

    refused: dict[str, str] = ray.get(orchestrator.refused_modules.remote(), timeout=30)
    for name, reason in sorted(refused.items()):
        print(f"  NOT DEPLOYED: module {name}: {reason}")


def up_ports(settings: Settings) -> list[WantedPort]:
    """The ports ``robofleet up`` with ``settings`` listens on, checked before it starts."""
    gateway = WantedPort(
        "the gateway port",
        "--port or ROBOFLEET_GATEWAY_PORT",
        settings.gateway_host,
        settings.gateway_port,
    )
    if settings.ray_address:
        return [gateway]
    return [
        WantedPort("the Ray port", "ROBOFLEET_RAY_PORT", settings.ray_host, settings.ray_port),
        WantedPort(
            "the Ray dashboard port",
            "ROBOFLEET_DASHBOARD_PORT",
            "127.0.0.1",
            settings.dashboard_port,
        ),
        WantedPort(
            "the Ray metrics export port",
            "ROBOFLEET_METRICS_EXPORT_PORT",
            settings.ray_host,
            settings.metrics_export_port,
        ),
        gateway,
    ]


def settle_previous_up(data_dir: Path, recover: bool) -> None:
    """Deal with what an earlier ``robofleet up`` of ``data_dir`` recorded.

    Raises ``ConfigError`` when that ``up`` still runs, or when it is gone but its Ray head
    still runs and ``recover`` is false. With ``recover``, stops exactly that head. A record
    whose processes are all gone (or whose pids now name other processes) is removed.
    """
    record = up_record.read(data_dir)
    if record is None:
        return
    if record.up.find() is not None:
        raise ConfigError(
            f"robofleet up (pid {record.up.pid}) already runs for {data_dir}: "
            f"stop it with `robofleet down --data-dir {data_dir}`"
        )
    if record.head is not None and record.head.live():
        if not recover:
            raise ConfigError(
                f"the {record.head.describe()} of a robofleet up that did not stop "
                f"(pid {record.up.pid}) still runs for {data_dir}: `robofleet up --recover` "
                f"stops it and starts afresh, `robofleet down --data-dir {data_dir}` stops it"
            )
        print(f"stopping the orphaned {record.head.describe()} of {data_dir}", flush=True)
        stopped = up_record.stop_head(record.head)
        print(f"stopped it ({len(stopped)} Ray processes)", flush=True)
    up_record.clear(data_dir, record)


def cmd_join(args: argparse.Namespace) -> int:
    """Join this machine to a robofleet cluster; Ctrl-C drains it and leaves."""
    import ray

    from cluster import deploy

    settings = cluster_settings(args)
    resources = json.loads(args.resources) if args.resources else {}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not args.no_gateway:
        port = args.port or settings.gateway_port
        host = args.host or settings.gateway_host
        check_ports([WantedPort("the gateway port", "--port", host, port)])
    known = _node_ids(args.head, settings.namespace)
    worker = deploy.start_worker(
        args.head,
        resources,
        args.num_cpus,
        settings.data_dir / "ray-worker.log",
        settings.metrics_export_port,
    )
    stop = threading.Event()
    node_id = None
    gateway_name = None
    try:
        deploy.connect(args.head, settings.namespace)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        node_id = _own_node_id(ray, known)
        print(f"joined {args.head} as node {node_id}")
        if not args.no_gateway:
            gateway_settings = _head_settings(settings, args)
            deployed = deploy.deploy_gateway(gateway_settings, node_id=node_id)
            gateway_name = deployed["gateway_name"]
            print(f"  gateway: {deployed['url']}")
        print("Press Ctrl-C to drain this node and leave.", flush=True)
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if node_id is not None and ray.is_initialized():
            print("\ndraining: no new work; running robots finish or are requeued...", flush=True)
            moved = deploy.leave(settings, node_id, gateway_name)
            print(f"moved {moved} replicas off this node")
            ray.shutdown()
        worker.stop()
    return 0


def _head_settings(local: Settings, args: argparse.Namespace) -> Settings:
    """The head's settings (same store, Redis and limits) with this node's HTTP address."""
    import ray

    from actors.ray.common import orchestrator_handle

    head = Settings.model_validate(
        ray.get(orchestrator_handle(local.namespace).cluster_settings.remote(), timeout=60)
    )
    overrides: dict[str, Any] = {"gateway_port": args.port or head.gateway_port}
    if args.host:
        overrides["gateway_host"] = args.host
    settings = head.model_copy(update=overrides)
    if not settings.database_url:
        print(
            "note: the head keeps its state in SQLite; a gateway on another machine cannot "
            "read that file. For several machines, run the head with ROBOFLEET_DATABASE_URL "
            "(PostgreSQL)."
        )
    return settings


def _node_ids(address: str, namespace: str) -> set[str]:
    """Ids of the cluster's nodes now, asked from a short-lived driver."""
    import ray

    from cluster import deploy

    deploy.connect(address, namespace)
    try:
        return {n["NodeID"] for n in ray.nodes()}
    finally:
        ray.shutdown()


def _own_node_id(ray: Any, known: set[str]) -> str:
    """The node `ray start` just added here: alive, not the head, not there before."""
    from actors.ray.common import HEAD_NODE_RESOURCE

    fresh = [
        n
        for n in ray.nodes()
        if n["Alive"]
        and n["NodeID"] not in known
        and HEAD_NODE_RESOURCE not in n.get("Resources", {})
    ]
    if len(fresh) != 1:
        raise RobofleetError(f"cannot tell which node joined: {len(fresh)} new nodes appeared")
    return fresh[0]["NodeID"]


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the `robofleet up` of this data dir (or the Ray head it left after a crash);
    with nothing recorded there, remove robofleet's actors from the cluster at the address."""
    import ray

    from cluster import deploy

    settings = cluster_settings(args)
    data_dir = settings.data_dir.expanduser()
    record = up_record.read(data_dir)
    if record is not None and stop_recorded(record, data_dir):
        return 0
    address = settings.ray_address or deploy.head_address(settings)
    try:
        _check_listening(address)  # Ray itself would retry an absent head for minutes
        deploy.connect(address, settings.namespace)
        removed = deploy.teardown(settings.namespace)
        ray.shutdown()
        print(f"removed {removed} robofleet actors")
    except Exception as exc:
        print(f"no robofleet cluster answered at {address} ({type(exc).__name__})")
    if args.stop_ray:
        deploy.stop_all_local_ray()
        print("stopped every Ray process of this user on this machine")
    return 0


def stop_recorded(record: UpRecord, data_dir: Path) -> bool:
    """Stop what ``record`` names and still runs as recorded; return whether anything did.

    A live ``robofleet up`` gets SIGTERM, and stops its actors and its head itself; a head
    whose ``up`` is gone is stopped directly. A pid that now names another process is left
    alone. The record is removed either way.
    """
    up = record.up.find()
    head = record.head
    try:
        if up is not None:
            print(f"stopping robofleet up (pid {up.pid})...", flush=True)
            up_record.stop_processes([up], UP_STOP_TIMEOUT_S)
            left = head.live() if head is not None else []
            if head is not None and left:
                up_record.stop_head(head)
            what = f" and the {head.describe()} it started" if head is not None else ""
            print(f"stopped robofleet up (pid {record.up.pid}){what}")
            return True
        if head is not None and head.live():
            print(
                f"robofleet up (pid {record.up.pid}) is gone; stopping the {head.describe()} "
                "it left running",
                flush=True,
            )
            stopped = up_record.stop_head(head)
            print(f"stopped the orphaned Ray head of {data_dir} ({len(stopped)} Ray processes)")
            return True
        for identity, what in [(record.up, "robofleet up"), *_launcher(head)]:
            if identity.pid_reused():
                print(
                    f"the {what} recorded in {data_dir} (pid {identity.pid}) is gone and its "
                    "pid now names another process: left alone"
                )
        return False
    finally:
        up_record.clear(data_dir, record)


def _launcher(head: HeadRecord | None) -> list[tuple[ProcessIdentity, str]]:
    return [] if head is None else [(head.launcher, "Ray head")]


def _check_listening(address: str, timeout_s: float = 2.0) -> None:
    """Raise ``OSError`` unless a plain ``HOST:PORT`` accepts TCP; other forms pass to Ray."""
    host, _, port = address.rpartition(":")
    if "://" in address or not port.isdigit():
        return  # ray://..., auto: Ray resolves these itself
    host = host.strip("[]") or "127.0.0.1"
    with socket.create_connection((host, int(port)), timeout=timeout_s):
        pass


def add_bringup_parsers(sub: Any) -> None:
    """Add ``up``, ``join`` and ``down`` to the ``robofleet`` subcommands ``sub``."""
    up = sub.add_parser("up", help="start Ray and robofleet in the foreground")
    up.add_argument("--config", help="TOML config file with [[modules]]")
    up.add_argument("--data-dir", help="where the SQLite store lives (default ~/.robofleet)")
    up.add_argument("--address", help="join this Ray cluster (HOST:PORT) instead of starting one")
    up.add_argument("--port", type=int, help="gateway port (default 8080)")
    up.add_argument("--host", help="gateway bind address (default 127.0.0.1)")
    up.add_argument(
        "--ray-host",
        help="address of this machine the Ray head listens on (default 127.0.0.1: this machine "
        "only); another address lets other machines join, and run code in the cluster",
    )
    up.add_argument(
        "--prometheus",
        metavar="URL",
        help="Prometheus the Ray dashboard queries for its charts, e.g. http://127.0.0.1:9090 "
        "(ROBOFLEET_PROMETHEUS_URL)",
    )
    up.add_argument(
        "--recover",
        action="store_true",
        help="stop the Ray head a crashed `robofleet up` of this data dir left running, then start",
    )
    up.set_defaults(func=cmd_up)

    join = sub.add_parser("join", help="join this machine to a robofleet cluster")
    join.add_argument("head", help="HEAD:PORT of the Ray head (robofleet up prints it)")
    join.add_argument("--resources", help="custom resources as JSON, e.g. '{\"ocr\": 1}'")
    join.add_argument("--num-cpus", type=int)
    join.add_argument("--port", type=int, help="port of this node's gateway (default 8080)")
    join.add_argument("--host", help="gateway bind address (default 127.0.0.1)")
    join.add_argument("--no-gateway", action="store_true", help="serve no HTTP on this node")
    join.add_argument("--config", help="TOML config file")
    join.add_argument("--data-dir", help="where this node keeps its Ray log (default ~/.robofleet)")
    join.set_defaults(func=cmd_join)

    down = sub.add_parser(
        "down", help="stop the `robofleet up` of a data dir, or the Ray head it left after a crash"
    )
    down.add_argument("--address", help="Ray cluster address (default 127.0.0.1:6380)")
    down.add_argument("--data-dir", help="data dir of the `robofleet up` to stop")
    down.add_argument(
        "--stop-ray",
        action="store_true",
        help="when no `robofleet up` is recorded here, also `ray stop` EVERY local Ray process",
    )
    down.set_defaults(func=cmd_down)
