"""The ``robofleet`` command line: up, down, submit, status, modules."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cluster.chaos import add_chaos_parser
from cluster.client import GatewayClient, GatewayRequestFailed
from cluster.keys_cli import add_keys_parser, bootstrap_admin_key, cmd_keys
from runtime.config import Settings
from runtime.errors import RobofleetError
from runtime.lifecycle import TERMINAL_STATUSES

SOURCE_ROOT = Path(__file__).resolve().parents[1]
"""The tree ``cluster/`` sits in; a source checkout also has ``bench/`` there."""


def _settings(args: argparse.Namespace) -> Settings:
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
    return deploy.load_cluster_settings(getattr(args, "config", None), **overrides)


def _client(args: argparse.Namespace) -> GatewayClient:
    url = args.url or os.environ.get("ROBOFLEET_URL") or Settings().gateway_url()
    return GatewayClient(url, api_key=args.api_key or os.environ.get("ROBOFLEET_API_KEY"))


def cmd_up(args: argparse.Namespace) -> int:
    """Start (or join) Ray, deploy robofleet, and serve until Ctrl-C or `robofleet down`."""
    from cluster import deploy

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    admin_key = bootstrap_admin_key(settings)
    if admin_key is not None:
        print("created the first admin key (shown only this once; store it now):")
        print(f"  ROBOFLEET_API_KEY={admin_key}", flush=True)
    head = None
    if settings.ray_address:
        address = settings.ray_address
    else:
        address, head = deploy.start_head(settings)
    stop = threading.Event()
    pid_file = _pid_file(settings)
    pid_file.write_text(str(os.getpid()))
    try:
        deploy.connect(address, settings.namespace)
        # After ray.init, which installs a SIGTERM handler of its own that exits with 15.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        deployed = deploy.deploy(settings)
        store = settings.database_url and "PostgreSQL" or f"SQLite at {settings.data_dir}"
        print(f"robofleet is up (store: {store})")
        print(f"  gateway:   {deployed['url']}")
        print(f"  dashboard: http://127.0.0.1:{settings.dashboard_port}")
        print(f"  ray:       {address}")
        print("Press Ctrl-C (or run `robofleet down`) to stop.", flush=True)
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping robofleet...", flush=True)
        pid_file.unlink(missing_ok=True)
        try:
            import ray

            if ray.is_initialized():
                deploy.teardown(settings.namespace)
                ray.shutdown()
        finally:
            if head is not None:
                head.stop()
        print("stopped.", flush=True)
    return 0


def _pid_file(settings: Settings) -> Path:
    return settings.data_dir / "robofleet-up.pid"


def cmd_join(args: argparse.Namespace) -> int:
    """Join this machine to a robofleet cluster; Ctrl-C drains it and leaves."""
    import ray

    from cluster import deploy

    settings = _settings(args)
    resources = json.loads(args.resources) if args.resources else {}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    known = _node_ids(args.head, settings.namespace)
    worker = deploy.start_worker(
        args.head, resources, args.num_cpus, settings.data_dir / "ray-worker.log"
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
    """Stop the `robofleet up` of this data dir; with no such process, remove the actors."""
    import ray

    from cluster import deploy

    settings = _settings(args)
    pid_file = _pid_file(settings)
    if pid_file.exists():
        pid = int(pid_file.read_text().strip() or 0)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pid_file.unlink(missing_ok=True)
        else:
            deadline = time.monotonic() + 120
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            print(f"stopped robofleet (pid {pid}) and the Ray head it started")
            return 0
    address = settings.ray_address or f"127.0.0.1:{settings.ray_port}"
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


def _check_listening(address: str, timeout_s: float = 2.0) -> None:
    """Raise ``OSError`` unless a plain ``HOST:PORT`` accepts TCP; other forms pass to Ray."""
    host, _, port = address.rpartition(":")
    if "://" in address or not port.isdigit():
        return  # ray://..., auto: Ray resolves these itself
    host = host.strip("[]") or "127.0.0.1"
    with socket.create_connection((host, int(port)), timeout=timeout_s):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _payload(raw: str) -> dict[str, Any]:
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("the payload must be a JSON object")
    return value


def _bar(robot: dict[str, Any], width: int = 30) -> str:
    fraction = 1.0 if robot["status"] == "succeeded" else float(robot.get("progress") or 0.0)
    filled = int(fraction * width)
    message = robot.get("message") or ""
    bar = "#" * filled + "." * (width - filled)
    return f"\r[{bar}] {fraction:4.0%} {robot['status']:<9} {message[:40]:<40}"


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit one robot, optionally waiting for it with a progress bar."""
    client = _client(args)
    robot: dict[str, Any] = {"type": args.type, "payload": _payload(args.payload)}
    if args.priority is not None:
        robot["priority"] = args.priority
    answer = client.submit(robot)
    print(answer["id"] if not args.wait else f"submitted {answer['id']}", flush=True)
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        current = client.robot(answer["id"])
        if sys.stdout.isatty():
            print(_bar(current), end="", flush=True)
        if current["status"] in TERMINAL_STATUSES:
            print()
            print(json.dumps(current, indent=2))
            return 0 if current["status"] == "succeeded" else 1
        time.sleep(0.2)
    print(f"\ngave up waiting after {args.timeout:g}s", file=sys.stderr)
    return 2


def cmd_status(args: argparse.Namespace) -> int:
    """Show one robot, or the newest robots."""
    client = _client(args)
    if args.nodes:
        for node in client.request("GET", "/v1/cluster")["nodes"]:
            state = "alive" if node["alive"] else "dead"
            resources = ", ".join(
                f"{k}={v:g}"
                for k, v in sorted(node["resources"].items())
                if k not in ("memory", "object_store_memory")
            )
            print(f"{node['node_id'][:12]}  {node['address']:<15} {state:<5} {resources}")
            for gateway in node["gateways"]:
                print(f"    {gateway}")
            for replica in node["replicas"]:
                print(f"    {replica}")
        return 0
    if args.id:
        print(json.dumps(client.robot(args.id), indent=2))
        return 0
    page = client.robots(status=args.status, limit=args.limit)
    for robot in page["robots"]:
        print(f"{robot['id']}  {robot['type']:<16} {robot['status']:<9} attempt {robot['attempt']}")
    return 0


def cmd_modules(args: argparse.Namespace) -> int:
    """List modules with their health, breaker and replicas, or scale one."""
    client = _client(args)
    if args.action == "scale":
        if args.name is None or args.replicas is None:
            raise ValueError("usage: robofleet modules scale NAME N")
        info = client.request("POST", f"/v1/modules/{args.name}/scale", {"replicas": args.replicas})
        print(f"{info['name']}: {len(info['replicas'])} replicas")
        return 0
    for module in client.modules():
        replicas = ", ".join(
            f"{r['name']}({r['in_flight']}/{r['slots']}{'' if r['alive'] else ' down'})"
            for r in module["replicas"]
        )
        print(
            f"{module['name']:<16} types={','.join(module['types'])} health={module['health']} "
            f"breaker={module['breaker']} queued={module['queued']} replicas: {replicas}"
        )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run ``python -m bench`` of the source tree with the arguments that follow.

    The harness ships with the source tree, not the package: without ``bench/`` beside
    ``cluster/`` this prints how to get it and returns 2. Otherwise it returns the
    harness's exit code.
    """
    if not (SOURCE_ROOT / "bench" / "__main__.py").is_file():
        print(
            f"error: the benchmarks are not here ({SOURCE_ROOT / 'bench'} is missing); they ship "
            "with robofleet's source tree: run `robofleet bench` (or `make bench`) in a clone",
            file=sys.stderr,
        )
        return 2
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SOURCE_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    process = subprocess.Popen([sys.executable, "-m", "bench", *args.bench_args], env=env)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue  # the harness got the Ctrl-C too: let it clean up and exit


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``robofleet`` command."""
    parser = argparse.ArgumentParser(prog="robofleet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def client_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--url", help="gateway URL (default: ROBOFLEET_URL or http://127.0.0.1:8080)"
        )
        p.add_argument("--api-key", help="API key (default: ROBOFLEET_API_KEY)")

    up = sub.add_parser("up", help="start Ray and robofleet in the foreground")
    up.add_argument("--config", help="TOML config file with [[modules]]")
    up.add_argument("--data-dir", help="where the SQLite store lives (default ~/.robofleet)")
    up.add_argument("--address", help="join this Ray cluster (HOST:PORT) instead of starting one")
    up.add_argument("--port", type=int, help="gateway port (default 8080)")
    up.add_argument("--host", help="gateway bind address (default 127.0.0.1)")
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

    down = sub.add_parser("down", help="remove robofleet's actors and stop the local Ray head")
    down.add_argument("--address", help="Ray cluster address (default 127.0.0.1:6380)")
    down.add_argument("--data-dir", help="data dir of the `robofleet up` to stop")
    down.add_argument(
        "--stop-ray",
        action="store_true",
        help="when no `robofleet up` runs here, also `ray stop` every local Ray process",
    )
    down.set_defaults(func=cmd_down)

    submit = sub.add_parser("submit", help="submit a robot")
    submit.add_argument("type")
    submit.add_argument("--payload", default="{}", help="JSON object, or @file")
    submit.add_argument("--priority", type=int)
    submit.add_argument(
        "--wait", action="store_true", help="wait for the outcome, showing progress"
    )
    submit.add_argument("--timeout", type=float, default=600.0)
    client_args(submit)
    submit.set_defaults(func=cmd_submit)

    status = sub.add_parser("status", help="show a robot, or the newest robots")
    status.add_argument("id", nargs="?")
    status.add_argument("--status", help="filter the list by status")
    status.add_argument("--limit", type=int, default=20)
    status.add_argument("--nodes", action="store_true", help="list nodes, gateways and replicas")
    client_args(status)
    status.set_defaults(func=cmd_status)

    modules = sub.add_parser("modules", help="list modules, or `modules scale NAME N`")
    modules.add_argument("action", nargs="?", choices=["scale"])
    modules.add_argument("name", nargs="?")
    modules.add_argument("replicas", nargs="?", type=int)
    client_args(modules)
    modules.set_defaults(func=cmd_modules)

    # Everything after `bench` goes to the harness's own parser (`robofleet bench --help`).
    bench = sub.add_parser(
        "bench", help="run the benchmarks (python -m bench)", add_help=False, prefix_chars="\0"
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)

    add_chaos_parser(sub, client_args)
    add_keys_parser(sub, client_args, lambda args: cmd_keys(args, _client(args)))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``robofleet`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GatewayRequestFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (RobofleetError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
